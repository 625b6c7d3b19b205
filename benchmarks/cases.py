"""The benchmark's cases: shapes, data, the float64 reference, the floor, and the timers.

Shared by every worker process (``run.py --worker``); nothing here imports a library that
is timed, except inside the functions that need it.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from pathlib import Path

SHAPES = {
    "tiny": (64, [4, 16, 16, 3]),
    "small": (256, [64, 64, 10]),
    "medium": (256, [784, 256, 256, 10]),
    "large": (1024, [784, 1024, 1024, 10]),
}
QUICK_SHAPES = ["tiny", "small"]
# algorithm2 loops over examples in Python: time at most this many examples, then scale.
ALG2_EXAMPLES = {"tiny": 64, "small": 256, "medium": 32, "large": 8}
ALG2_EXAMPLES_QUICK = {"tiny": 16, "small": 16, "medium": 4, "large": 2}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def xla_flags(threads: int) -> str:
    """XLA_FLAGS for a JAX process with ``threads`` threads of CPU compute (read when JAX is
    imported): with one thread, Eigen's thread pool off and one intra-op thread."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
             if not f.lstrip("-").startswith(("xla_cpu_multi_thread_eigen",
                                              "intra_op_parallelism_threads"))]
    eigen = "false" if threads == 1 else "true"
    return " ".join(flags + [f"--xla_cpu_multi_thread_eigen={eigen}",
                             f"intra_op_parallelism_threads={threads}"])


def limit_threads(threads: int) -> list:
    """Cap every thread pool of this process at ``threads``; return threadpoolctl's view."""
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=threads)
    return [
        {k: d.get(k) for k in ("user_api", "internal_api", "version", "num_threads",
                               "architecture", "threading_layer")}
        for d in threadpool_info()
    ]


def case(shape: str, dtype: str):
    """(n, p, X, y, net) of a shape: the same data and θ in every process."""
    import numpy as np

    import backprop as bp

    n, p = SHAPES[shape]
    rng = np.random.default_rng(1234)
    X = rng.standard_normal((n, p[0])).astype(dtype)
    y = rng.integers(0, p[-1], size=n)
    net = bp.Network(p, hidden="relu", output="softmax", loss="cross_entropy", init="he",
                     seed=0, dtype=dtype)
    return n, p, X, y, net


def reference_gradient(shape: str, dtype: str):
    """The float64 gradient of the case, as a NumPy vector, for accuracy checks."""
    import numpy as np

    n, p, X, y, net = case(shape, dtype)
    net64 = net.copy(dtype="float64")
    return np.asarray(net64.gradient(X.astype("float64"), y), dtype="float64")


def rel_error(a, b) -> float:
    import numpy as np

    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def time_median(fn, *, budget: float, min_reps: int, max_reps: int, warmup: int, sync=None):
    """Median seconds of one call of fn (after ``warmup`` calls), and the number of calls."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        stop = time.perf_counter() + budget
        while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() < stop):
            t0 = time.perf_counter()
            fn()
            if sync:
                sync()
            times.append(time.perf_counter() - t0)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(times), len(times)


def time_blocks(fns, *, budget: float, min_blocks: int, warmup: int, block_s: float = 0.004):
    """Interleaved timing of several functions in this process.

    Each function is called in blocks of k calls (k chosen so that a block takes about
    ``block_s``); the blocks of the functions alternate until ``budget`` seconds have passed
    and each has at least ``min_blocks`` blocks. Returns, per function, (median over its
    blocks of the seconds per call, number of calls). Alternating blocks put every function
    through the same moments of a noisy machine, so their ratio is more stable than the ratio
    of times taken in different processes.
    """
    ks = []
    for fn in fns:
        for _ in range(warmup):
            fn()
        t0 = time.perf_counter()
        fn()
        ks.append(max(1, round(block_s / max(time.perf_counter() - t0, 1e-9))))
    per_call = [[] for _ in fns]
    gc_was = gc.isenabled()
    gc.disable()
    try:
        stop = time.perf_counter() + budget
        while len(per_call[0]) < min_blocks or time.perf_counter() < stop:
            for i, (fn, k) in enumerate(zip(fns, ks, strict=True)):
                t0 = time.perf_counter()
                for _ in range(k):
                    fn()
                per_call[i].append((time.perf_counter() - t0) / k)
    finally:
        if gc_was:
            gc.enable()
    return [(statistics.median(t), len(t) * k) for t, k in zip(per_call, ks, strict=True)]


def floor_fn(n, p, X, net, dtype):
    """Only the matrix products of one gradient, into preallocated buffers."""
    import numpy as np

    L = len(p) - 1
    Ws = [np.ascontiguousarray(W) for W in net.W]
    rng = np.random.default_rng(7)
    A = [X] + [np.empty((n, p[l]), dtype=dtype) for l in range(1, L + 1)]
    D = [None] + [rng.standard_normal((n, p[l])).astype(dtype) for l in range(1, L + 1)]
    D_prev = [None] + [np.empty((n, p[l - 1]), dtype=dtype) for l in range(1, L + 1)]
    gW = [np.empty_like(W) for W in Ws]

    def floor():
        # np.dot(..., out=): NumPy's cheapest call into BLAS for 2-D arrays
        for l in range(1, L + 1):  # Z_l = A_{l-1} W_l^T
            np.dot(A[l - 1], Ws[l - 1].T, out=A[l])
        for l in range(L, 0, -1):
            np.dot(D[l].T, A[l - 1], out=gW[l - 1])  # Delta_l^T A_{l-1}
            if l > 1:
                np.dot(D[l], Ws[l - 1], out=D_prev[l])  # Delta_l W_l

    return floor


def save(results: dict, output: str | None, quick: bool, default: Path) -> None:
    """Write ``results`` as JSON to ``output``, or to ``default`` unless the run is quick
    (a --quick run is a smoke test: its times are not kept)."""
    output = output or (None if quick else str(default))
    if output:
        Path(output).write_text(json.dumps(results, indent=1) + "\n")
        print(f"\nwrote {os.path.relpath(output)}")
