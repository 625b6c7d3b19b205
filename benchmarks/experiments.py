"""The two measurements besides the gradient table: the course's polyreg training run
(10^4 SGD steps) and the memory one gradient call allocates."""

from __future__ import annotations

import gc
import time

from cases import case, rel_error


def polyreg(quick: bool) -> dict:
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
    theta = net.theta_buffer
    t0 = time.perf_counter()
    for t in range(fast_iters):
        _, g = net.batch_loss_and_gradient(Xb[t], Yb[t])
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
