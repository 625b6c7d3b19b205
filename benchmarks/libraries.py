"""One setup per library, in a table: how each way of computing the gradient is called.

A setup takes a case (``SimpleNamespace(shape, dtype, n, p, X, y, net, floor, quick)``)
and returns ``(fn, grad, info)``: the function to time, the gradient it computed (a NumPy
vector in θ's order, or None when there is none to check) and notes for the JSON.
:func:`bench_cell` times one (library, shape, dtype) cell; GPU cells have their own table.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

from cases import (
    ALG2_EXAMPLES,
    ALG2_EXAMPLES_QUICK,
    case,
    floor_fn,
    reference_gradient,
    rel_error,
    time_blocks,
    time_median,
)


def _floor(c):
    return c.floor, None, {}


def _backprop(c):
    import numpy as np

    def fn():
        return c.net.gradient(c.X, c.y)

    return fn, np.asarray(fn()), {}


def _internal(c):
    """The gradient on a batch checked once: Network.batch_loss_and_gradient."""
    import numpy as np

    Xc, Yc = c.net.checked_batch(c.X, c.y)

    def fn():
        return c.net.batch_loss_and_gradient(Xc, Yc)

    return fn, np.asarray(fn()[1]), {}


def torch_gradient(net, X, y, dtype: str, device: str):
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


def torch_blas() -> str:
    """The BLAS that torch was built with (from torch.__config__.show())."""
    import re

    import torch

    found = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return f"BLAS_INFO={found.group(1)}" if found else "BLAS_INFO unknown"


def _torch(c):
    import numpy as np

    fn = torch_gradient(c.net, c.X, c.y, c.dtype, "cpu")
    grad = np.concatenate([g.detach().numpy().ravel() for g in fn()])
    return fn, grad, {"torch_blas": torch_blas()}


def _sklearn(c):
    """MLPClassifier's own gradient routine (a private method: the call its solvers make)."""
    import numpy as np
    from sklearn.neural_network import MLPClassifier

    n, p, dtype, L = c.n, c.p, c.dtype, len(c.p) - 1
    clf = MLPClassifier(hidden_layer_sizes=tuple(p[1:-1]), activation="relu", alpha=0.0)
    clf.n_layers_ = L + 1
    clf.n_outputs_ = p[-1]
    clf.out_activation_ = "softmax"
    clf.coefs_ = [np.ascontiguousarray(np.asarray(W).T) for W in c.net.W]
    clf.intercepts_ = [np.array(b) for b in c.net.b]
    Y = np.zeros((n, p[-1]), dtype=dtype)
    Y[np.arange(n), c.y] = 1
    activations = [c.X] + [None] * L
    deltas = [None] * L
    coef_grads = [np.empty((p[l], p[l + 1]), dtype=dtype) for l in range(L)]
    intercept_grads = [np.empty(p[l + 1], dtype=dtype) for l in range(L)]

    def fn():
        return clf._backprop(c.X, Y, None, activations, deltas, coef_grads, intercept_grads)

    _, cg, ig = fn()
    return fn, np.concatenate([part for l in range(L) for part in (cg[l].T.ravel(), ig[l])]), {}


def _algorithm2(c):
    import numpy as np

    import backprop as bp

    m = min(c.n, (ALG2_EXAMPLES_QUICK if c.quick else ALG2_EXAMPLES)[c.shape])
    Xm, ym = c.X[:m], c.y[:m]

    def fn():
        return bp.algorithm2(c.net, Xm, ym)

    dW, db = fn()[:2]  # (dW, db, G)
    grad_m = np.concatenate([part for l in range(c.net.L) for part in
                             (np.asarray(dW[l]).ravel(), np.asarray(db[l]))])
    ref_m = np.asarray(c.net.gradient(Xm, ym))
    info = {"rel_error_vs_backprop_same_examples": rel_error(grad_m, ref_m),
            "examples_timed": m, "scaled_by": c.n / m}
    return fn, None, info


def _jax(c):
    """JAX on the CPU: jit(value_and_grad) of the same loss, each call waited for
    (block_until_ready); the first call (tracing and XLA compilation) is timed apart."""
    import time

    import jax
    import numpy as np

    step, sync = jax_gradient(c.net, c.X, c.y, "cpu")
    t0 = time.perf_counter()
    _, grads = step()
    sync()
    compile_s = time.perf_counter() - t0
    grad = np.concatenate([np.asarray(g).ravel() for pair in grads for g in pair])
    if grad.dtype != np.dtype(c.dtype):  # a JAX that ignores jax_enable_x64 computes float32
        raise RuntimeError(f"JAX computed the {c.dtype} case in {grad.dtype}")

    def fn():
        step()
        sync()

    return fn, grad, {"jax": jax.__version__, "compile_seconds": compile_s,
                      "xla_flags": os.environ.get("XLA_FLAGS", "")}


SETUPS = {"floor": _floor, "backprop": _backprop, "internal": _internal, "torch": _torch,
          "jax": _jax, "sklearn": _sklearn, "algorithm2": _algorithm2}
LIBS = list(SETUPS)


def bench_cell(lib: str, shape: str, dtype: str, quick: bool) -> dict:
    """Time one (library, shape, dtype) cell in this process."""
    n, p, X, y, net = case(shape, dtype)
    c = SimpleNamespace(shape=shape, dtype=dtype, n=n, p=p, X=X, y=y, net=net, quick=quick,
                        floor=floor_fn(n, p, X, net, dtype))
    if lib not in SETUPS:
        raise ValueError(f"unknown library {lib!r}")
    fn, grad, info = SETUPS[lib](c)
    budget, min_blocks, warmup = (0.15, 3, 1) if quick else (1.0, 7, 3)
    if lib == "algorithm2":
        budget, min_blocks, warmup = (0.1, 1, 0) if quick else (0.5, 3, 1)
    if grad is not None:
        info["rel_error_vs_float64"] = rel_error(grad, reference_gradient(shape, dtype))
    if lib in ("floor", "algorithm2"):
        [(seconds, reps)] = time_blocks([fn], budget=budget, min_blocks=min_blocks,
                                        warmup=warmup)
    else:  # the floor again, in alternating blocks, for a same-process ratio
        (seconds, reps), (floor_s, _) = time_blocks(
            [fn, c.floor], budget=budget, min_blocks=min_blocks, warmup=warmup)
        info["floor_seconds_same_process"] = floor_s
    if lib == "algorithm2":
        seconds *= n / info["examples_timed"]
    return {"seconds": seconds, "reps": reps, **info}


# ----------------------------------------------------------------------------- GPU


def cupy_device_name() -> str:
    """The name of CuPy's device 0 (bytes in the CuPy versions seen so far; str is accepted)."""
    import cupy as cp

    name = cp.cuda.runtime.getDeviceProperties(0)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def _gpu_floor(c):
    import cupy as cp

    n, p, L, dtype = c.n, c.p, len(c.p) - 1, c.dtype
    Ws = [cp.ascontiguousarray(W) for W in c.net.copy(backend="cupy").W]
    A = [cp.asarray(c.X)] + [cp.empty((n, p[l]), dtype=dtype) for l in range(1, L + 1)]
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

    device = cupy_device_name()
    return fn, None, {"device": device}, cp.cuda.Device().synchronize


def _cupy(c):
    import cupy as cp

    gnet = c.net.copy(backend="cupy")
    Xg, yg = cp.asarray(c.X), cp.asarray(c.y)

    def fn():
        return gnet.gradient(Xg, yg)

    device = cupy_device_name()
    return fn, cp.asnumpy(fn()), {"device": device}, cp.cuda.Device().synchronize


def _torch_cuda(c):
    import numpy as np
    import torch

    fn = torch_gradient(c.net, c.X, c.y, c.dtype, "cuda")
    grad = np.concatenate([g.detach().cpu().numpy().ravel() for g in fn()])
    return fn, grad, {"device": torch.cuda.get_device_name(0)}, torch.cuda.synchronize


def _backprop_torch_cuda(c):
    """The package's own back-propagation computing on torch CUDA tensors (backend="torch"),
    beside torch's autograd on the same device."""
    import torch

    gnet = c.net.copy(backend="torch", device="cuda")
    Xg, yg = torch.asarray(c.X, device="cuda"), torch.asarray(c.y, device="cuda")

    def fn():
        return gnet.gradient(Xg, yg)

    return fn, fn().cpu().numpy(), {"device": torch.cuda.get_device_name(0)}, torch.cuda.synchronize


def jax_gradient(net, X, y, device: str):
    """A function returning (loss, parameter gradients) by jax.jit(jax.value_and_grad) at the
    network's θ, on JAX's ``device`` platform ('cpu' or 'gpu'), and one that waits for it."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)  # float32 inputs still compute in float32
    dev = jax.devices(device)[0]
    params = [(jax.device_put(np.asarray(W), dev), jax.device_put(np.asarray(b), dev))
              for W, b in zip(net.W, net.b, strict=True)]
    Xj = jax.device_put(X, dev)
    yj = jax.device_put(y.astype(np.int32), dev)

    def loss(params, X, y):
        a = X
        for W, b in params[:-1]:
            a = jax.nn.relu(a @ W.T + b)
        W, b = params[-1]
        logp = jax.nn.log_softmax(a @ W.T + b)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    step = jax.jit(jax.value_and_grad(loss))
    last = []

    def fn():
        last[:] = [step(params, Xj, yj)]
        return last[0]

    def sync():
        jax.block_until_ready(last[0])

    return fn, sync


def _jax_gpu(c):
    import jax
    import numpy as np

    fn, sync = jax_gradient(c.net, c.X, c.y, "gpu")
    _, grads = fn()
    grad = np.concatenate([np.asarray(g).ravel() for pair in grads for g in pair])
    if grad.dtype != np.dtype(c.dtype):  # a JAX that ignores jax_enable_x64 computes float32
        raise RuntimeError(f"JAX computed the {c.dtype} case in {grad.dtype}")
    return fn, grad, {"device": str(jax.devices("gpu")[0]), "jax": jax.__version__}, sync


GPU_SETUPS = {"gpu_floor": _gpu_floor, "cupy": _cupy, "torch_cuda": _torch_cuda,
              "backprop_torch": _backprop_torch_cuda, "jax_gpu": _jax_gpu}
GPU_LIBS = list(GPU_SETUPS)


def gpu_cell(lib: str, shape: str, dtype: str, quick: bool, budget: float | None = None) -> dict:
    """Time one GPU cell: CuPy floor, the package on CuPy, torch CUDA autograd or JAX;
    ``budget`` seconds of timed calls (default 1.0, 0.15 when quick)."""
    n, p, X, y, net = case(shape, dtype)
    if lib not in GPU_SETUPS:
        raise ValueError(f"unknown GPU library {lib!r}")
    c = SimpleNamespace(shape=shape, dtype=dtype, n=n, p=p, X=X, y=y, net=net, quick=quick)
    fn, grad, info, sync = GPU_SETUPS[lib](c)
    if grad is not None:
        info["rel_error_vs_float64"] = rel_error(grad, reference_gradient(shape, dtype))
    budget = budget if budget is not None else (0.15 if quick else 1.0)
    seconds, reps = time_median(fn, budget=budget, min_reps=5,
                                max_reps=100_000, warmup=2 if quick else 10, sync=sync)
    return {"seconds": seconds, "reps": reps, **info}
