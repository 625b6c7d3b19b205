"""Side-by-side timings of one full gradient, and of the course's polyreg training run.

What is timed (one forward and one backward pass, ReLU hidden layers, softmax output with
cross-entropy, the mean over the batch) for four shapes, in float64 and float32:

    tiny    n = 64,   p = [4, 16, 16, 3]
    small   n = 256,  p = [64, 64, 10]
    medium  n = 256,  p = [784, 256, 256, 10]
    large   n = 1024, p = [784, 1024, 1024, 10]

by these "libraries", each in its own process:

    floor       only the matrix products a gradient needs (L forward, L weight gradients,
                L - 1 back-propagated deltas), written into preallocated buffers (out=)
    backprop    net.gradient(X, y): this package's public call, input checks included
    internal    net._loss_and_gradient(X, Y) on checked inputs (no validation)
    torch       PyTorch CPU autograd: F.linear/relu/cross_entropy, torch.autograd.grad
    sklearn     scikit-learn's MLPClassifier._backprop with preset coefs_/intercepts_
    algorithm2  bp.algorithm2 (the lecture's loop over examples); on medium/large only the
                first few examples are timed and the time is scaled by n / (examples timed)

Every library runs with the same number of threads (default 1: threadpoolctl for the BLAS,
torch.set_num_threads, and the OMP/OPENBLAS/MKL variables of the child process). A cell's
time is the median of repeated calls after warm-up. There are several rounds; in each round
the libraries run one after another in a rotated order, each in a fresh subprocess, and the
best round (lowest median) of each library is kept. Ratios are between those best times,
all from the same run.

Usage::

    python benchmarks/run.py                 # full run, writes benchmarks/results.json
    python benchmarks/run.py --quick         # smoke run: tiny/small shapes, one round
    python benchmarks/run.py --gpu           # CuPy backend vs torch CUDA (needs a GPU)

Missing optional libraries (torch, scikit-learn) are reported and skipped.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SHAPES = {
    "tiny": (64, [4, 16, 16, 3]),
    "small": (256, [64, 64, 10]),
    "medium": (256, [784, 256, 256, 10]),
    "large": (1024, [784, 1024, 1024, 10]),
}
QUICK_SHAPES = ["tiny", "small"]
LIBS = ["floor", "backprop", "internal", "torch", "sklearn", "algorithm2"]
GPU_LIBS = ["gpu_floor", "cupy", "torch_cuda"]
# algorithm2 loops over examples in Python: time at most this many examples, then scale.
ALG2_EXAMPLES = {"tiny": 64, "small": 256, "medium": 32, "large": 8}
ALG2_EXAMPLES_QUICK = {"tiny": 16, "small": 16, "medium": 4, "large": 2}

# Targets of the performance issue: (max ratio to the floor, max ratio to torch).
TARGETS = {
    "tiny": (4.5, 0.25),
    "small": (1.7, 0.45),
    "medium": (1.12, 1.0),
    "large": (1.12, 1.0),
}
POLYREG_TARGET = 30.0

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


# ============================================================================ worker side


def _limit_threads(threads: int) -> list:
    """Cap every thread pool of this process at ``threads``; return threadpoolctl's view."""
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=threads)
    return [
        {k: d.get(k) for k in ("user_api", "internal_api", "version", "num_threads",
                               "architecture", "threading_layer")}
        for d in threadpool_info()
    ]


def _case(shape: str, dtype: str):
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


def _reference_gradient(shape: str, dtype: str):
    """The float64 gradient of the case, as a NumPy vector, for accuracy checks."""
    import numpy as np

    n, p, X, y, net = _case(shape, dtype)
    net64 = net.copy(dtype="float64")
    return np.asarray(net64.gradient(X.astype("float64"), y), dtype="float64")


def _rel_error(a, b) -> float:
    import numpy as np

    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _time(fn, *, budget: float, min_reps: int, max_reps: int, warmup: int, sync=None):
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


def _time_blocks(fns, *, budget: float, min_blocks: int, warmup: int, block_s: float = 0.004):
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


def _floor_fn(n, p, X, net, dtype):
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


def _bench_cell(lib: str, shape: str, dtype: str, quick: bool) -> dict:
    """Time one (library, shape, dtype) cell in this process."""
    import numpy as np

    n, p, X, y, net = _case(shape, dtype)
    L = len(p) - 1
    budget = 0.15 if quick else 1.0
    min_blocks = 3 if quick else 7
    warmup = 1 if quick else 3
    info: dict = {}
    grad = None

    floor = _floor_fn(n, p, X, net, dtype)
    if lib == "floor":
        fn = floor

    elif lib == "backprop":
        def fn():
            return net.gradient(X, y)

        grad = np.asarray(fn())

    elif lib == "internal":
        Xc, Yc = net._check_Xy(X, y)

        def fn():
            return net._loss_and_gradient(Xc, Yc)

        grad = np.asarray(fn()[1])

    elif lib == "torch":
        fn = _torch_gradient(net, X, y, dtype, "cpu")
        grad = np.concatenate([g.detach().numpy().ravel() for g in fn()])
        info["torch_blas"] = _torch_blas()

    elif lib == "sklearn":
        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(hidden_layer_sizes=tuple(p[1:-1]), activation="relu", alpha=0.0)
        clf.n_layers_ = L + 1
        clf.n_outputs_ = p[-1]
        clf.out_activation_ = "softmax"
        clf.coefs_ = [np.ascontiguousarray(np.asarray(W).T) for W in net.W]
        clf.intercepts_ = [np.array(b) for b in net.b]
        Y = np.zeros((n, p[-1]), dtype=dtype)
        Y[np.arange(n), y] = 1
        activations = [X] + [None] * L
        deltas = [None] * L
        coef_grads = [np.empty((p[l], p[l + 1]), dtype=dtype) for l in range(L)]
        intercept_grads = [np.empty(p[l + 1], dtype=dtype) for l in range(L)]

        def fn():
            return clf._backprop(X, Y, None, activations, deltas, coef_grads, intercept_grads)

        _, cg, ig = fn()
        grad = np.concatenate([part for l in range(L) for part in (cg[l].T.ravel(), ig[l])])

    elif lib == "algorithm2":
        import backprop as bp

        m = min(n, (ALG2_EXAMPLES_QUICK if quick else ALG2_EXAMPLES)[shape])
        Xm, ym = X[:m], y[:m]

        def fn():
            return bp.algorithm2(net, Xm, ym)

        dW, db = fn()
        grad_m = np.concatenate([part for l in range(L) for part in
                                 (np.asarray(dW[l]).ravel(), np.asarray(db[l]))])
        ref_m = np.asarray(net.gradient(Xm, ym))
        info["rel_error_vs_backprop_same_examples"] = _rel_error(grad_m, ref_m)
        info["examples_timed"] = m
        info["scaled_by"] = n / m
        budget, min_blocks, warmup = (0.1, 1, 0) if quick else (0.5, 3, 1)
    else:
        raise ValueError(f"unknown library {lib!r}")

    if grad is not None:
        info["rel_error_vs_float64"] = _rel_error(grad, _reference_gradient(shape, dtype))
    if lib in ("floor", "algorithm2"):
        [(seconds, reps)] = _time_blocks([fn], budget=budget, min_blocks=min_blocks,
                                         warmup=warmup)
    else:  # the floor again, in alternating blocks, for a same-process ratio
        (seconds, reps), (floor_s, _) = _time_blocks(
            [fn, floor], budget=budget, min_blocks=min_blocks, warmup=warmup)
        info["floor_seconds_same_process"] = floor_s
    if lib == "algorithm2":
        seconds *= n / info["examples_timed"]
    return {"seconds": seconds, "reps": reps, **info}


def _torch_blas() -> str:
    """The BLAS that torch was built with (from torch.__config__.show())."""
    import re

    import torch

    found = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return f"BLAS_INFO={found.group(1)}" if found else "BLAS_INFO unknown"


def _gpu_cell(lib: str, shape: str, dtype: str, quick: bool) -> dict:
    """Time one GPU cell: CuPy floor, the package on CuPy, or torch CUDA autograd."""
    import numpy as np

    n, p, X, y, net = _case(shape, dtype)
    L = len(p) - 1
    budget = 0.15 if quick else 1.0
    info: dict = {}
    if lib in ("gpu_floor", "cupy"):
        import cupy as cp

        sync = cp.cuda.Device().synchronize
        gnet = net.copy(backend="cupy")
        Xg, yg = cp.asarray(X), cp.asarray(y)
        if lib == "cupy":
            def fn():
                return gnet.gradient(Xg, yg)

            info["rel_error_vs_float64"] = _rel_error(
                cp.asnumpy(fn()), _reference_gradient(shape, dtype))
        else:
            Ws = [cp.ascontiguousarray(W) for W in gnet.W]
            A = [Xg] + [cp.empty((n, p[l]), dtype=dtype) for l in range(1, L + 1)]
            D = [None] + [cp.ones((n, p[l]), dtype=dtype) for l in range(1, L + 1)]
            D_prev = [None] + [cp.empty((n, p[l - 1]), dtype=dtype) for l in range(1, L + 1)]
            gW = [cp.empty_like(W) for W in Ws]

            def fn():
                for l in range(1, L + 1):
                    cp.matmul(A[l - 1], Ws[l - 1].T, out=A[l])
                for l in range(L, 0, -1):
                    cp.matmul(D[l].T, A[l - 1], out=gW[l - 1])
                    if l > 1:
                        cp.matmul(D[l], Ws[l - 1], out=D_prev[l])
        info["device"] = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    elif lib == "torch_cuda":
        import torch

        sync = torch.cuda.synchronize
        fn = _torch_gradient(net, X, y, dtype, "cuda")
        grad = np.concatenate([g.detach().cpu().numpy().ravel() for g in fn()])
        info["rel_error_vs_float64"] = _rel_error(grad, _reference_gradient(shape, dtype))
        info["device"] = torch.cuda.get_device_name(0)
    else:
        raise ValueError(f"unknown GPU library {lib!r}")
    seconds, reps = _time(fn, budget=budget, min_reps=5, max_reps=100_000,
                          warmup=2 if quick else 10, sync=sync)
    return {"seconds": seconds, "reps": reps, **info}


def _torch_gradient(net, X, y, dtype: str, device: str):
    """A function computing the gradient with PyTorch autograd (F.linear, relu, cross_entropy)
    at the network's θ, on ``device`` ('cpu' or 'cuda'): returns the parameter gradients."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    dev, tdtype, L = torch.device(device), getattr(torch, dtype), net.L
    Ws = [torch.tensor(np.asarray(W), dtype=tdtype, device=dev, requires_grad=True)
          for W in net.W]
    bs = [torch.tensor(np.asarray(b), dtype=tdtype, device=dev, requires_grad=True)
          for b in net.b]
    params = [t for pair in zip(Ws, bs, strict=True) for t in pair]
    Xt = torch.from_numpy(X).to(dev)
    yt = torch.from_numpy(y.astype(np.int64)).to(dev)

    def fn():
        a = Xt
        for l in range(L - 1):
            a = torch.relu(F.linear(a, Ws[l], bs[l]))
        loss = F.cross_entropy(F.linear(a, Ws[-1], bs[-1]), yt)
        return torch.autograd.grad(loss, params)

    return fn


def _polyreg(quick: bool) -> dict:
    """10^4 SGD steps, batch 20, lr 0.005, [1, 20, 20, 1] ReLU: fast paths vs algorithm2."""
    import numpy as np

    import backprop as bp

    iters, batch, lr = 10_000, 20, 0.005
    slow_iters = 50 if quick else 1000
    fast_iters = 2000 if quick else iters
    u, y = bp.datasets.polyreg()
    rng = np.random.default_rng(0)
    idx = rng.integers(0, u.shape[0], size=(iters, batch))  # drawn with replacement
    Xb = np.ascontiguousarray(u[idx])  # (iters, batch, 1)
    Yb = np.ascontiguousarray(y[idx])

    def new_net():
        return bp.Network([1, 20, 20, 1], hidden="relu", output="identity", init="normal",
                          seed=0)

    out: dict = {"iterations": iters, "batch": batch, "learning_rate": lr}

    # Lean loop: the fast batch gradient on pre-drawn batches, θ updated in place.
    net = new_net()
    theta = net._theta
    t0 = time.perf_counter()
    for t in range(fast_iters):
        _, g = net._loss_and_gradient(Xb[t], Yb[t])
        theta -= lr * g
    fast_s = time.perf_counter() - t0
    out["lean_loop_seconds"] = fast_s * iters / fast_iters
    out["lean_loop_iterations_timed"] = fast_iters
    if fast_iters == iters:
        out["final_training_loss"] = net.loss(u, y)

    # Literal algorithm2 every iteration (a prefix of the same batches), W_l, b_l in place.
    slow = new_net()
    t0 = time.perf_counter()
    for t in range(slow_iters):
        dW, db = bp.algorithm2(slow, Xb[t], Yb[t])
        for l in range(slow.L):
            W, b = slow.W[l], slow.b[l]
            W -= lr * dW[l]
            b -= lr * db[l]
    slow_s = time.perf_counter() - t0
    out["algorithm2_iterations_timed"] = slow_iters
    out["algorithm2_seconds_extrapolated"] = slow_s * iters / slow_iters
    # The same steps by the fast path give the same θ (up to rounding).
    check = new_net()
    for t in range(slow_iters):
        _, g = check._loss_and_gradient(Xb[t], Yb[t])
        check._theta -= lr * g
    theta_fast_k = np.asarray(check.theta)
    out["theta_rel_difference_after_algorithm2_prefix"] = _rel_error(slow.theta, theta_fast_k)
    out["speedup_lean_loop_vs_algorithm2"] = (out["algorithm2_seconds_extrapolated"]
                                              / out["lean_loop_seconds"])

    # bp.fit on the same task. The whole-set loss is evaluated once at the end (as the
    # course's example reports it), not after every 5-step "epoch" of batches drawn with
    # replacement.
    kwargs = {"optimizer": bp.SGD(lr=lr), "batch_size": batch, "iterations": fast_iters,
              "replacement": True, "seed": 0, "evaluate_every": fast_iters}
    net = new_net()
    t0 = time.perf_counter()
    bp.fit(net, u, y, **kwargs)
    out["fit_seconds"] = (time.perf_counter() - t0) * iters / fast_iters
    out["fit_iterations_timed"] = fast_iters
    out["fit_kwargs"] = {k: str(v) for k, v in kwargs.items()}
    if fast_iters == iters:
        out["fit_final_training_loss"] = net.loss(u, y)
    out["speedup_fit_vs_algorithm2"] = out["algorithm2_seconds_extrapolated"] / out["fit_seconds"]
    return out


def _memory(dtype: str) -> dict:
    """tracemalloc peak of net.gradient on 'large' (NumPy reports its buffers to tracemalloc)."""
    import tracemalloc

    import numpy as np

    n, p, X, y, net = _case("large", dtype)
    itemsize = np.dtype(dtype).itemsize
    keep = n * sum(p[1:]) * itemsize  # a_1, ..., a_{L-1} and z_L (or g): n (p_1 + ... + p_L)
    out = {"activations_bytes": keep, "grad_bytes": net.dim_theta * itemsize,
           "X_bytes": X.nbytes}
    tracemalloc.start()
    for label in ("first_call", "second_call", "third_call"):
        gc.collect()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        g = net.gradient(X, y)
        after, peak = tracemalloc.get_traced_memory()
        out[f"{label}_peak_extra_bytes"] = peak - before
        out[f"{label}_retained_bytes"] = after - before
        del g
    tracemalloc.stop()
    return out


def worker(args) -> None:
    """Child process: one library (or polyreg / memory), every requested cell."""
    for var in THREAD_VARS:
        os.environ[var] = str(args.threads)
    import numpy  # noqa: F401  (load every BLAS first, so threadpoolctl sees and caps it)

    import backprop  # noqa: F401

    result: dict = {"cells": {}}
    if args.worker in ("torch", "torch_cuda"):
        import torch

        torch.set_num_threads(args.threads)
        result["torch_threads"] = torch.get_num_threads()
    elif args.worker == "sklearn":
        import sklearn.neural_network  # noqa: F401  (scikit-learn may bring its own BLAS)
    result["threadpools"] = _limit_threads(args.threads)
    if args.worker == "polyreg":
        result["polyreg"] = _polyreg(args.quick)
    elif args.worker == "memory":
        result["memory"] = {dt: _memory(dt) for dt in args.dtypes.split(",")}
    else:
        cell = _gpu_cell if args.worker in GPU_LIBS else _bench_cell
        for dtype in args.dtypes.split(","):
            for shape in args.shapes.split(","):
                result["cells"][f"{shape}/{dtype}"] = cell(args.worker, shape, dtype, args.quick)
    Path(args.worker_out).write_text(json.dumps(result))


# ============================================================================ parent side


def _available(lib: str) -> str | None:
    """None if the library can run here, else the reason it cannot."""
    import importlib.util

    need = {"torch": "torch", "sklearn": "sklearn", "torch_cuda": "torch",
            "cupy": "cupy", "gpu_floor": "cupy"}.get(lib)
    if need and importlib.util.find_spec(need) is None:
        wanted = "requirements-gpu.txt" if need == "cupy" else "benchmarks/requirements.txt"
        return f"{need} is not installed (pip install -r {wanted})"
    if lib in GPU_LIBS:
        if lib == "torch_cuda":
            import torch

            if not torch.cuda.is_available():
                return "torch.cuda.is_available() is False"
        else:
            import backprop as bp

            if not bp.cupy_available():
                return "CuPy sees no CUDA device"
    return None


def _run_worker(lib: str, args, env) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", lib,
               "--worker-out", str(out), "--threads", str(args.threads),
               "--shapes", args.shapes, "--dtypes", args.dtypes]
        if args.quick:
            cmd.append("--quick")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout)[-2000:]
            raise RuntimeError(f"worker {lib!r} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(out.read_text())


def _machine(threads: int) -> dict:
    import numpy as np

    import backprop as bp

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "backprop": bp.__version__}
    for name, module in (("torch", "torch"), ("scikit-learn", "sklearn"),
                         ("threadpoolctl", "threadpoolctl"), ("cupy", "cupy")):
        try:
            versions[name] = __import__(module).__version__
        except Exception:
            versions[name] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "threads_per_library": threads,
        "versions": versions,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                if os.environ.get(k)},
    }


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def _ratio(a, b):
    return None if a is None or b is None else a / b


def _summarise(best: dict, shapes: list, dtypes: list) -> tuple[dict, list, str]:
    """Ratios between best times, the target checks, and the printed table."""
    ratios: dict = {}
    targets: list = []
    lines = []
    head = (f"{'shape':<7} {'floor':>10} {'backprop':>10} {'/floor':>7} {'/torch':>7} "
            f"{'internal':>10} {'/floor':>7} {'torch':>10} {'/floor':>7} {'sklearn':>10} "
            f"{'/torch':>7} {'algorithm2':>10} {'/backprop':>9}")
    for dtype in dtypes:
        lines.append(f"\n{dtype}  (best round's median per call; ratios are time / time)")
        lines.append(head)
        lines.append("-" * len(head))
        for shape in shapes:
            key = f"{shape}/{dtype}"
            t = {lib: best.get(lib, {}).get(key, {}).get("seconds") for lib in LIBS}
            r = {
                "backprop/floor": _ratio(t["backprop"], t["floor"]),
                "backprop/torch": _ratio(t["backprop"], t["torch"]),
                "internal/floor": _ratio(t["internal"], t["floor"]),
                "torch/floor": _ratio(t["torch"], t["floor"]),
                "sklearn/torch": _ratio(t["sklearn"], t["torch"]),
                "sklearn/floor": _ratio(t["sklearn"], t["floor"]),
                "algorithm2/backprop": _ratio(t["algorithm2"], t["backprop"]),
            }
            ratios[key] = r
            lines.append(
                f"{shape:<7} {_fmt_time(t['floor']):>10} {_fmt_time(t['backprop']):>10} "
                f"{_fmt_ratio(r['backprop/floor']):>7} {_fmt_ratio(r['backprop/torch']):>7} "
                f"{_fmt_time(t['internal']):>10} {_fmt_ratio(r['internal/floor']):>7} "
                f"{_fmt_time(t['torch']):>10} {_fmt_ratio(r['torch/floor']):>7} "
                f"{_fmt_time(t['sklearn']):>10} {_fmt_ratio(r['sklearn/torch']):>7} "
                f"{_fmt_time(t['algorithm2']):>10} {_fmt_ratio(r['algorithm2/backprop']):>9}"
            )
            max_floor, max_torch = TARGETS[shape]
            for what, value, limit in (("backprop/floor", r["backprop/floor"], max_floor),
                                       ("backprop/torch", r["backprop/torch"], max_torch)):
                targets.append({"cell": key, "ratio": what, "method": "best rounds",
                                "value": value, "limit": limit,
                                "met": None if value is None else value <= limit})
    return ratios, targets, "\n".join(lines)


def _paired(all_rounds: list, lib: str, key: str):
    """Median over rounds of (time of lib) / (floor timed in alternating blocks with it)."""
    values = []
    for rnd in all_rounds:
        cell = rnd["results"].get(lib, {}).get(key)
        if cell and cell.get("floor_seconds_same_process"):
            values.append(cell["seconds"] / cell["floor_seconds_same_process"])
    return statistics.median(values) if values else None


def _summarise_paired(all_rounds: list, shapes: list, dtypes: list) -> tuple[dict, list, str]:
    """Same-process ratios: each library against the floor timed beside it."""
    ratios: dict = {}
    targets: list = []
    head = (f"{'shape':<7} {'backprop':>9} {'internal':>9} {'torch':>9} {'sklearn':>9} "
            f"{'backprop/torch':>15}")
    lines = []
    for dtype in dtypes:
        lines.append(f"\n{dtype}  (same-process ratios to the floor, median over rounds)")
        lines.append(head)
        lines.append("-" * len(head))
        for shape in shapes:
            key = f"{shape}/{dtype}"
            r = {f"{lib}/floor": _paired(all_rounds, lib, key)
                 for lib in ("backprop", "internal", "torch", "sklearn")}
            r["backprop/torch"] = _ratio(r["backprop/floor"], r["torch/floor"])
            ratios[key] = r
            lines.append(
                f"{shape:<7} {_fmt_ratio(r['backprop/floor']):>9} "
                f"{_fmt_ratio(r['internal/floor']):>9} {_fmt_ratio(r['torch/floor']):>9} "
                f"{_fmt_ratio(r['sklearn/floor']):>9} {_fmt_ratio(r['backprop/torch']):>15}"
            )
            max_floor, max_torch = TARGETS[shape]
            for what, limit in (("backprop/floor", max_floor), ("backprop/torch", max_torch)):
                value = r[what]
                targets.append({"cell": key, "ratio": what, "method": "same process",
                                "value": value, "limit": limit,
                                "met": None if value is None else value <= limit})
    return ratios, targets, "\n".join(lines)


def _gpu_table(best: dict, shapes: list, dtypes: list) -> str:
    lines = [f"{'cell':<16} {'floor':>10} {'cupy':>10} {'/floor':>7} {'torch_cuda':>10} "
             f"{'cupy/torch':>10}"]
    for dtype in dtypes:
        for shape in shapes:
            key = f"{shape}/{dtype}"
            t = {lib: best.get(lib, {}).get(key, {}).get("seconds") for lib in GPU_LIBS}
            lines.append(
                f"{key:<16} {_fmt_time(t['gpu_floor']):>10} {_fmt_time(t['cupy']):>10} "
                f"{_fmt_ratio(_ratio(t['cupy'], t['gpu_floor'])):>7} "
                f"{_fmt_time(t['torch_cuda']):>10} "
                f"{_fmt_ratio(_ratio(t['cupy'], t['torch_cuda'])):>10}"
            )
    return "\n".join(lines)


def _report(results: dict, tables: bool = True) -> None:
    """Print a CPU run's tables, polyreg times, memory and unmet targets from its results."""
    if tables:
        print(f"{results['label'] or 'run'} of {results['date']}, {results['machine']['cpu']}, "
              f"{results['machine']['threads_per_library']} thread(s) per library")
        print(results["table"])
        print(results["table_same_process"])
    p = results.get("polyreg")
    if p:
        print(f"\npolyreg, [1, 20, 20, 1], {p['iterations']} SGD steps of batch "
              f"{p['batch']} (best of {p.get('runs', 2)} run(s)):")
        print(f"  lean loop (net._loss_and_gradient): {_fmt_time(p['lean_loop_seconds'])}"
              + ("" if p["lean_loop_iterations_timed"] == p["iterations"] else
                 f" (extrapolated from {p['lean_loop_iterations_timed']} steps)"))
        print(f"  bp.fit:                             {_fmt_time(p['fit_seconds'])}")
        print(f"  bp.algorithm2 each step:            "
              f"{_fmt_time(p['algorithm2_seconds_extrapolated'])} (extrapolated from "
              f"{p['algorithm2_iterations_timed']} steps)")
        print(f"  speed-up lean loop: {p['speedup_lean_loop_vs_algorithm2']:.0f}x, "
              f"bp.fit: {p['speedup_fit_vs_algorithm2']:.0f}x "
              f"(target >= {POLYREG_TARGET:.0f}x)")
    if results.get("memory"):
        print("\nmemory of net.gradient on large (tracemalloc; MiB):")
        mib = 1 << 20
        for dtype, m in results["memory"].items():
            print(f"  {dtype}: activations {m['activations_bytes'] / mib:.1f}, "
                  f"gradient {m['grad_bytes'] / mib:.1f}; peak extra: first call "
                  f"{m['first_call_peak_extra_bytes'] / mib:.1f}, second call "
                  f"{m['second_call_peak_extra_bytes'] / mib:.1f}; retained after a call "
                  f"{m['second_call_retained_bytes'] / mib:.1f}")
    met = [t for t in results["targets"] if t["met"] is not None]
    print(f"\ntargets met: {sum(t['met'] for t in met)} of {len(met)}")
    for t in met:
        if not t["met"]:
            how = f" [{t['method']}]" if "method" in t else ""
            print(f"  unmet: {t['cell']} {t['ratio']} = {t['value']:.2f} "
                  f"(limit {t['limit']}){how}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny and small shapes, one round, short timings")
    parser.add_argument("--gpu", action="store_true",
                        help="time the CuPy backend against torch CUDA (needs a GPU)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of every library (default 5, 1 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="threads per library (default 1)")
    parser.add_argument("--shapes", default=None,
                        help=f"comma-separated subset of {','.join(SHAPES)}")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--libs", default=None, help=f"comma-separated subset of {LIBS}")
    parser.add_argument("--no-polyreg", action="store_true", help="skip the polyreg experiment")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument("--output", default=None,
                        help="JSON file to write (default benchmarks/results.json, or "
                             "results-gpu.json with --gpu; none with --quick unless given)")
    parser.add_argument("--label", default="", help="a note stored in the JSON (e.g. 'before')")
    parser.add_argument("--show", metavar="JSON", default=None,
                        help="print the tables of a stored CPU run (e.g. "
                             "benchmarks/results.json) and time nothing")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        worker(args)
        return 0
    if args.show:
        _report(json.loads(Path(args.show).read_text()))
        return 0

    shapes = (args.shapes.split(",") if args.shapes
              else (QUICK_SHAPES if args.quick else list(SHAPES)))
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {list(SHAPES)}")
    args.shapes = ",".join(shapes)
    dtypes = args.dtypes.split(",")
    rounds = args.rounds or (1 if args.quick else 5)
    libs = args.libs.split(",") if args.libs else (GPU_LIBS if args.gpu else LIBS)

    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(args.threads)

    machine = _machine(args.threads)
    skipped = {}
    for lib in list(libs):
        reason = _available(lib)
        if reason:
            skipped[lib] = reason
            libs.remove(lib)
    if args.gpu and not libs:
        print("--gpu: nothing to run here:", "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        return 1

    print(f"CPU: {machine['cpu']} ({machine['usable_cpus']} usable), threads per library: "
          f"{args.threads}; {rounds} round(s); shapes {shapes}; dtypes {dtypes}")
    for lib, reason in skipped.items():
        print(f"  skipped {lib}: {reason}")

    all_rounds = []
    best: dict = {}
    pools: dict = {}
    for r in range(rounds):
        order = libs[r % len(libs):] + libs[: r % len(libs)]
        this_round = {}
        for lib in order:
            if lib in skipped:
                continue
            t0 = time.perf_counter()
            try:
                res = _run_worker(lib, args, env)
            except RuntimeError as err:  # report it and go on with the other libraries
                skipped[lib] = str(err).splitlines()[-1]
                print(f"  {lib} failed, skipped from now on: {skipped[lib]}")
                continue
            this_round[lib] = res["cells"]
            pools[lib] = {"threadpools": res["threadpools"]}
            if "torch_threads" in res:
                pools[lib]["torch_threads"] = res["torch_threads"]
            for key, cell in res["cells"].items():
                if key not in best.setdefault(lib, {}) or \
                        cell["seconds"] < best[lib][key]["seconds"]:
                    best[lib][key] = dict(cell, round=r)
            print(f"  round {r + 1}/{rounds}: {lib:<10} {time.perf_counter() - t0:6.1f} s",
                  flush=True)
        all_rounds.append({"order": order, "results": this_round})

    results = {
        "label": args.label,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine,
        "settings": {"rounds": rounds, "quick": args.quick, "shapes": {s: SHAPES[s] for s in
                     shapes}, "dtypes": dtypes, "libraries": libs, "skipped": skipped,
                     "algorithm2_examples_timed": ALG2_EXAMPLES_QUICK if args.quick
                     else ALG2_EXAMPLES, "gpu": args.gpu},
        "threadpools": pools,
        "best": best,
        "rounds": all_rounds,
    }
    blas = next((p for p in pools.get("floor", pools.get("backprop", {}))
                 .get("threadpools", []) if p["user_api"] == "blas"), None)
    if blas:
        machine["numpy_blas"] = blas
        print(f"NumPy BLAS: {blas['internal_api']} {blas['version']} ({blas['architecture']}), "
              f"{blas['num_threads']} thread(s)")
    if "torch" in best:
        torch_blas = next(iter(best["torch"].values())).get("torch_blas")
        machine["torch_blas"] = torch_blas
        print(f"torch: {machine['versions']['torch']}, {torch_blas}, "
              f"{pools['torch'].get('torch_threads')} thread(s)")

    if args.gpu:
        table = _gpu_table(best, shapes, dtypes)
        print(table)
        results["table"] = table
    else:
        ratios, targets, table = _summarise(best, shapes, dtypes)
        paired, paired_targets, paired_table = _summarise_paired(all_rounds, shapes, dtypes)
        print(table)
        print(paired_table)
        targets += paired_targets
        results.update(ratios=ratios, ratios_same_process=paired, targets=targets,
                       table=table, table_same_process=paired_table)

        if not args.no_polyreg:
            poly = [_run_worker("polyreg", args, env)["polyreg"]
                    for _ in range(1 if args.quick else 2)]
            best_poly = min(poly, key=lambda d: d["lean_loop_seconds"])
            best_poly["algorithm2_seconds_extrapolated"] = min(
                d["algorithm2_seconds_extrapolated"] for d in poly)
            best_poly["speedup_lean_loop_vs_algorithm2"] = (
                best_poly["algorithm2_seconds_extrapolated"] / best_poly["lean_loop_seconds"])
            best_poly["fit_seconds"] = min(d["fit_seconds"] for d in poly)
            best_poly["speedup_fit_vs_algorithm2"] = (
                best_poly["algorithm2_seconds_extrapolated"] / best_poly["fit_seconds"])
            best_poly["runs"] = len(poly)
            results["polyreg"] = best_poly
            speedup = best_poly["speedup_fit_vs_algorithm2"]
            targets.append({"cell": "polyreg", "ratio": "algorithm2/fit", "value": speedup,
                            "limit": POLYREG_TARGET, "met": speedup >= POLYREG_TARGET})

        if not args.no_memory and "large" in shapes:
            results["memory"] = _run_worker("memory", args, env)["memory"]
        _report(results, tables=False)

    # A GPU run never overwrites the stored CPU results (the book reads both files).
    default = "results-gpu.json" if args.gpu else "results.json"
    output = args.output or (None if args.quick else str(HERE / default))
    if output:
        Path(output).write_text(json.dumps(results, indent=1) + "\n")
        print(f"\nwrote {os.path.relpath(output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
