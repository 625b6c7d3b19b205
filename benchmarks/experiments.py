"""The two measurements besides the gradient table: the course's polyreg training run
(10^4 SGD steps) and the memory one gradient call allocates."""

from __future__ import annotations

import gc
import time

from cases import case, rel_error

# The polyreg runs that are compared per step (the gradient alone, the lean loop, bp.fit)
# are repeated this many times in alternation, and each one's best repetition is kept.
POLYREG_REPEATS = 5


def _polyreg_setup():
    """(u, y, the pre-drawn batch indices (iterations, batch), a new-network function)."""
    import numpy as np

    import backprop as bp

    iters, batch = 10_000, 20
    u, y = bp.datasets.polyreg()
    # The stream fit(..., replacement=True, seed=0) draws its batches from: the same batches.
    idx = np.random.default_rng(0).integers(0, u.shape[0], size=(iters, batch))

    def new_net():
        return bp.Network([1, 20, 20, 1], hidden="relu", output="identity", init="normal",
                          seed=0)

    return u, y, idx, new_net


def polyreg(quick: bool) -> dict:
    """10^4 SGD steps, batch 20, lr 0.005, [1, 20, 20, 1] ReLU: fast paths vs algorithm2.

    Timed, in alternation (best of POLYREG_REPEATS): the gradient alone on the pre-drawn
    batches (net.batch_loss_and_gradient, no step), the lean loop (the same and the step
    θ -= α g), and bp.fit on the same batches; then bp.algorithm2 on a prefix of them.
    """
    import numpy as np

    import backprop as bp

    u, y, idx, new_net = _polyreg_setup()
    iters, batch = idx.shape
    lr = 0.005
    slow_iters = 50 if quick else 1000
    fast_iters = 2000 if quick else iters
    Xb = np.ascontiguousarray(u[idx])  # (iters, batch, 1)
    Yb = np.ascontiguousarray(y[idx])
    kwargs = {"optimizer": bp.SGD(lr=lr), "batch_size": batch, "iterations": fast_iters,
              "replacement": True, "seed": 0, "evaluate_every": fast_iters}
    out: dict = {"iterations": iters, "batch": batch, "learning_rate": lr}

    def gradient_only():
        net = new_net()
        gradient = net.batch_loss_and_gradient
        t0 = time.perf_counter()
        for t in range(fast_iters):
            gradient(Xb[t], Yb[t])
        return time.perf_counter() - t0, net

    def lean_loop():  # the fast batch gradient on pre-drawn batches, θ updated in place
        net = new_net()
        theta, gradient = net.theta_buffer, net.batch_loss_and_gradient
        t0 = time.perf_counter()
        for t in range(fast_iters):
            _, g = gradient(Xb[t], Yb[t])
            theta -= lr * g
        return time.perf_counter() - t0, net

    # bp.fit on the same task. The whole-set loss is evaluated once at the end (as the
    # course's example reports it), not after every 5-step "epoch" of batches drawn with
    # replacement.
    def fit():
        net = new_net()
        t0 = time.perf_counter()
        bp.fit(net, u, y, **kwargs)
        return time.perf_counter() - t0, net

    runs = {"gradient_loop": gradient_only, "lean_loop": lean_loop, "fit": fit}
    best: dict = {}
    nets: dict = {}
    for _ in range(1 if quick else POLYREG_REPEATS):
        for name, run in runs.items():
            seconds, nets[name] = run()
            best[name] = min(seconds, best.get(name, np.inf))
    scale = iters / fast_iters
    out["gradient_loop_seconds"] = best["gradient_loop"] * scale
    out["lean_loop_seconds"] = best["lean_loop"] * scale
    out["fit_seconds"] = best["fit"] * scale
    out["lean_loop_iterations_timed"] = out["fit_iterations_timed"] = fast_iters
    out["repeats"] = 1 if quick else POLYREG_REPEATS
    out["fit_kwargs"] = {k: str(v) for k, v in kwargs.items()}
    if fast_iters == iters:
        out["final_training_loss"] = nets["lean_loop"].loss(u, y)
        out["fit_final_training_loss"] = nets["fit"].loss(u, y)
    # fit draws the same batches as the lean loop and makes the same steps
    out["theta_rel_difference_fit_vs_lean_loop"] = rel_error(nets["fit"].theta,
                                                            nets["lean_loop"].theta)

    # Literal algorithm2 every iteration (a prefix of the same batches), W_l, b_l in place.
    slow = new_net()
    t0 = time.perf_counter()
    for t in range(slow_iters):
        dW, db, _ = bp.algorithm2(slow, Xb[t], Yb[t])
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
        _, g = check.batch_loss_and_gradient(Xb[t], Yb[t])
        theta_check = check.theta_buffer
        theta_check -= lr * g
    theta_fast_k = np.asarray(check.theta)
    out["theta_rel_difference_after_algorithm2_prefix"] = rel_error(slow.theta, theta_fast_k)
    out["speedup_lean_loop_vs_algorithm2"] = (out["algorithm2_seconds_extrapolated"]
                                              / out["lean_loop_seconds"])
    out["speedup_fit_vs_algorithm2"] = out["algorithm2_seconds_extrapolated"] / out["fit_seconds"]
    return out


def polyreg_jax(quick: bool) -> dict:
    """The polyreg run in JAX (float64, the same θ_0 and batches): a jitted SGD step
    (value_and_grad and θ - α g in one jit) called from a Python loop, and the whole run as
    one compiled lax.scan. Compile times apart; final θ compared with the package's."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    u, y, idx, new_net = _polyreg_setup()
    iters, batch = idx.shape
    lr = 0.005
    n_timed = 2000 if quick else iters
    net = new_net()
    params = [(jnp.asarray(np.asarray(W)), jnp.asarray(np.asarray(b)))
              for W, b in zip(net.W, net.b, strict=True)]
    # NumPy batches for the Python loop (indexing a JAX array is one more dispatched
    # operation per step), and as JAX arrays for the scan
    Xn = np.ascontiguousarray(u[idx[:n_timed]])
    Yn = np.ascontiguousarray(y[idx[:n_timed]])
    Xb, Yb = jnp.asarray(Xn), jnp.asarray(Yn)

    def loss(params, X, Y):  # squared error ||g - y||^2, mean over the batch
        a = X
        for W, b in params[:-1]:
            a = jax.nn.relu(a @ W.T + b)
        W, b = params[-1]
        return jnp.mean(jnp.sum((a @ W.T + b - Y) ** 2, axis=1))

    grad = jax.value_and_grad(loss)

    def sgd(params, X, Y):
        value, g = grad(params, X, Y)
        return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g), value

    step = jax.jit(sgd)

    @jax.jit
    def scan(params, Xb, Yb):
        return jax.lax.scan(lambda p, batch: sgd(p, *batch), params, (Xb, Yb))

    out: dict = {"iterations": iters, "iterations_timed": n_timed, "jax": jax.__version__,
                 "xla_flags": __import__("os").environ.get("XLA_FLAGS", "")}
    t0 = time.perf_counter()
    jax.block_until_ready(step(params, Xn[0], Yn[0]))
    out["step_compile_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(scan(params, Xb, Yb))
    out["scan_compile_seconds"] = time.perf_counter() - t0
    best_loop = best_scan = np.inf
    for _ in range(1 if quick else POLYREG_REPEATS):
        p = params
        t0 = time.perf_counter()
        for t in range(n_timed):
            p, _ = step(p, Xn[t], Yn[t])
        jax.block_until_ready(p)
        best_loop = min(best_loop, time.perf_counter() - t0)
        t0 = time.perf_counter()
        q, _ = jax.block_until_ready(scan(params, Xb, Yb))
        best_scan = min(best_scan, time.perf_counter() - t0)
    out["step_loop_seconds"] = best_loop * iters / n_timed
    out["scan_seconds"] = best_scan * iters / n_timed
    out["repeats"] = 1 if quick else POLYREG_REPEATS
    # the package's lean loop on the same batches, for the final θ
    ref = new_net()
    for t in range(n_timed):
        _, g = ref.batch_loss_and_gradient(Xn[t], Yn[t])
        theta_ref = ref.theta_buffer
        theta_ref -= lr * g
    flat = np.concatenate([np.asarray(a).ravel() for pair in p for a in pair])
    flat_scan = np.concatenate([np.asarray(a).ravel() for pair in q for a in pair])
    out["theta_rel_difference_vs_backprop"] = rel_error(flat, ref.theta)
    out["theta_rel_difference_scan_vs_backprop"] = rel_error(flat_scan, ref.theta)
    return out


def memory(dtype: str) -> dict:
    """tracemalloc peak of net.gradient on 'large' (NumPy reports its buffers to tracemalloc)."""
    import tracemalloc

    import numpy as np

    n, p, X, y, net = case("large", dtype)
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
