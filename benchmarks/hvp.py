"""Part IV costs, measured side by side in one run: hvp against gradient, forward against
reverse mode, and memory against the number of checkpoints.

1. hvp: ``bp.hvp(net, X, y, v)`` (forward-over-reverse) against one gradient on
   p = [784, 256, 256, 10], n = 256, ReLU hidden layers, softmax with cross-entropy. Two
   gradients are timed: ``net.gradient`` (the package's fast NumPy path) and the plain
   array-API form (``bp.checkpoint.gradient`` with every layer kept, the same generic code
   that hvp is written in). The claim: hvp costs at most 4 gradients.
2. Forward against reverse mode: the full gradient by forward mode (dim θ calls of jvp),
   by reverse mode (one ``net.gradient``, one ``bp.autodiff.gradient``), and one loss
   evaluation, for networks [4, w, w, 3], n = 64, as dim θ grows.
3. Memory against k: tracemalloc peak and time of ``bp.checkpoint.gradient(..., k)`` on a
   24-layer network of width 32, n = 2048.

Each time is the least of many measurements of the process's CPU time (so that time spent
waiting for a core on a shared machine does not count), the compared calls measured in
alternation, with one BLAS thread.

Usage::

    python benchmarks/hvp.py            # about a minute
    python benchmarks/hvp.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

import backprop as bp


def _cpu_time(f, number):
    """CPU seconds of this process per call, over `number` calls of f."""
    start = time.process_time()
    for _ in range(number):
        f()
    return (time.process_time() - start) / number


def _best_of_rounds(calls, rounds=3, repeat=5, min_time=0.02):
    """{name: least time per call}, the calls alternating measurement by measurement.

    Time is the process's CPU time (one BLAS thread), not wall-clock time: on a machine
    shared with other jobs, time spent waiting for a core is not counted. Each
    measurement lasts at least ``min_time`` CPU seconds (the number of calls is chosen
    once per call, after a warm-up).
    """
    number = {}
    for name, f in calls.items():
        k = 1
        while _cpu_time(f, k) * k < min_time:
            k *= 2
        number[name] = k
    best = {name: float("inf") for name in calls}
    for _ in range(rounds * repeat):
        for name, f in calls.items():
            best[name] = min(best[name], _cpu_time(f, number[name]))
    return best


def hvp_cost():
    net = bp.Network([784, 256, 256, 10], hidden="relu", output="softmax", seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((256, 784)), rng.integers(0, 10, 256)
    v = rng.standard_normal(net.dim_theta)
    t = _best_of_rounds({
        "gradient": lambda: net.gradient(X, y),
        "gradient_generic": lambda: bp.checkpoint.gradient(net, X, y),
        "hvp": lambda: bp.hvp(net, X, y, v),
        "gradient_and_hvp": lambda: bp.hessian.gradient_and_hvp(net, X, y, v),
    }, rounds=5, repeat=5, min_time=0.05)
    return {**t, "hvp_over_gradient": t["hvp"] / t["gradient"],
            "hvp_over_gradient_generic": t["hvp"] / t["gradient_generic"]}


def forward_vs_reverse(widths=(2, 4, 8, 16, 32)):
    rows = []
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 4)), rng.integers(0, 3, 64)
    for w in widths:
        net = bp.Network([4, w, w, 3], hidden="tanh", output="softmax", seed=0)
        v = rng.standard_normal(net.dim_theta)
        t = _best_of_rounds({
            "loss": lambda net=net: net.loss(X, y),
            "reverse": lambda net=net: net.gradient(X, y),
            "autodiff": lambda net=net: bp.autodiff.gradient(net, X, y),
            "jvp": lambda net=net, v=v: bp.jvp(net, X, y, v),
        }, rounds=2, repeat=3, min_time=0.02)
        t["forward"] = _cpu_time(lambda net=net: bp.forward_mode.gradient(net, X, y), 1)
        rows.append({"width": w, "dim_theta": net.dim_theta, **t,
                     "forward_over_reverse": t["forward"] / t["reverse"],
                     "reverse_over_loss": t["reverse"] / t["loss"]})
    return rows


def memory_vs_k(ks=(1, 2, 3, 4, 5, 6, 8, 12, 24)):
    net = bp.Network([32] * 24 + [10], hidden="tanh", output="softmax", init="xavier", seed=0)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((2048, 32)), rng.integers(0, 10, 2048)
    rows = []
    for k in ks:
        tracemalloc.start()
        bp.checkpoint.gradient(net, X, y, k)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append({"k": k, "peak_MB": peak / 1e6})
    times = _best_of_rounds({k: lambda k=k: bp.checkpoint.gradient(net, X, y, k) for k in ks},
                            rounds=2, repeat=3, min_time=0.05)
    for row in rows:
        row["time_s"] = times[row["k"]]
        row["time_over_k24"] = times[row["k"]] / times[24]
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    with threadpool_limits(1):
        out = {"hvp": hvp_cost()}
        h = out["hvp"]
        print("hvp on [784, 256, 256, 10], n = 256 (ms):")
        for name in ("gradient", "gradient_generic", "hvp", "gradient_and_hvp"):
            print(f"  {name:18s} {1e3 * h[name]:8.2f}")
        print(f"  hvp / gradient = {h['hvp_over_gradient']:.2f}  "
              f"(against the generic gradient: {h['hvp_over_gradient_generic']:.2f})")
        print(f"  claim 'hvp costs at most 4 gradients': "
              f"{'holds' if h['hvp_over_gradient'] <= 4 else 'FAILS'}")
        out["modes"] = forward_vs_reverse()
        print("\nfull gradient, [4, w, w, 3], n = 64 (ms): forward mode vs reverse mode")
        print(f"  {'dim θ':>6} {'loss':>7} {'reverse':>8} {'autodiff':>9} {'jvp':>7} "
              f"{'forward':>9} {'fwd/rev':>8} {'rev/loss':>8}")
        for r in out["modes"]:
            print(f"  {r['dim_theta']:6d} {1e3 * r['loss']:7.3f} {1e3 * r['reverse']:8.3f} "
                  f"{1e3 * r['autodiff']:9.3f} {1e3 * r['jvp']:7.3f} {1e3 * r['forward']:9.1f} "
                  f"{r['forward_over_reverse']:8.0f} {r['reverse_over_loss']:8.2f}")
        out["memory"] = memory_vs_k()
        print("\ncheckpointed gradient, 24 layers of width 32, n = 2048:")
        print(f"  {'k':>3} {'peak MB':>8} {'time ms':>8} {'time/k=24':>9}")
        for r in out["memory"]:
            print(f"  {r['k']:3d} {r['peak_MB']:8.2f} {1e3 * r['time_s']:8.2f} "
                  f"{r['time_over_k24']:9.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
