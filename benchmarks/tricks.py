"""What each trick of the NumPy kernel saves: the kernel timed against itself with one trick
switched off, in alternating blocks in one process (so that every variant meets the same
moments of a busy machine).

    kernel       net.batch_loss_and_gradient on a checked batch (the kernel, every trick on)
    readable     bp.gradients.batch_gradient: the array-API code, no trick at all
    no reuse     the kernel, its workspace freed before every call (new arrays each time)
    no in-place  the kernel with the activation table's S and S' (new arrays) for the hidden layers
    no fused     the kernel with the general output code of losses.py instead of the fused,
                 transposed softmax/cross-entropy form
    biases added the kernel with every bias added after its product (and summed apart), where
                 it would ride in the products ([W_l | b_l] against a row of ones)

Usage::

    python benchmarks/tricks.py            # writes benchmarks/results-tricks.json (~1 min)
    python benchmarks/tricks.py --quick    # a few seconds, writes nothing unless --output
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from cases import THREAD_VARS, case, limit_threads, save, time_blocks

HERE = Path(__file__).resolve().parent
SHAPES = ["tiny", "small", "medium"]


def _variants(net, X, y):
    """{name: function of no arguments}: the kernel and the kernel with one trick off."""
    import backprop as bp
    from backprop import _numpy_kernel as nk

    Xc, Yc = net.checked_batch(X, y)
    hidden = [net.S(l) for l in range(1, net.L)]

    def kernel_like(**change):
        k = nk.Kernel(net.theta_buffer, net.layers, hidden, net.output_layer, net.loss_function,
                      net.K)
        for key, value in change.items():
            setattr(k, key, value)
        return k

    plain = kernel_like(S=[(nk.generic_forward(a), False) for a in hidden],
                        dS=[nk.generic_backward(a) for a in hidden])
    general = kernel_like(output_form=nk.general_output)
    fresh = kernel_like()
    added = kernel_like()
    added.workspaces.dim_theta = None  # no dim θ: never the biases in the products

    def no_reuse():
        fresh.workspaces.clear()
        return fresh.loss_and_gradient(Xc, Yc)

    return {
        "kernel": lambda: net.batch_loss_and_gradient(Xc, Yc),
        "readable": lambda: bp.gradients.batch_gradient(net, Xc, Yc),
        "no reuse": no_reuse,
        "no in-place": lambda: plain.loss_and_gradient(Xc, Yc),
        "no fused": lambda: general.loss_and_gradient(Xc, Yc),
        "biases added": lambda: added.loss_and_gradient(Xc, Yc),
    }


def measure(shape: str, dtype: str, budget: float) -> dict:
    """Seconds per call of every variant, and each one's time over the kernel's."""
    n, p, X, y, net = case(shape, dtype)
    variants = _variants(net, X, y)
    timed = time_blocks(list(variants.values()), budget=budget, min_blocks=5, warmup=3)
    seconds = {name: t for name, (t, _) in zip(variants, timed, strict=True)}
    return {"n": n, "p": p, "seconds": seconds,
            "over_kernel": {name: t / seconds["kernel"] for name, t in seconds.items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    for var in THREAD_VARS:
        os.environ[var] = "1"
    pools = limit_threads(1)
    budget = 0.3 if args.quick else 4.0
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "dtype": "float64", "threads": 1,
               "threadpools": pools, "shapes": {}}
    for shape in SHAPES:
        results["shapes"][shape] = cell = measure(shape, "float64", budget)
        print(f"{shape:<7} " + "  ".join(f"{k} {v:5.2f}x" for k, v in cell["over_kernel"].items()),
              flush=True)
    save(results, args.output, args.quick, HERE / "results-tricks.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
