"""backprop._numpy_kernel: the same numbers as the readable batch gradient, and a package
that still works without it."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import backprop as bp
from backprop import _numpy_kernel as kernel
from backprop.gradients import batch_gradient

PAIRS = [(out, "squared_error") for out in ("identity", "logistic", "relu", "tanh", "softmax")]
PAIRS += [("softmax", "cross_entropy"), ("softmax_reduced", "cross_entropy")]
HIDDEN = ["identity", "logistic", "relu", "tanh"]


def _batch(net, n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, net.p[0])).astype(net.dtype)
    if net.loss_name == "cross_entropy":
        return X, rng.integers(0, net.K, n)
    return X, rng.standard_normal((n, net.p[-1])).astype(net.dtype)


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("biases", ["in the products", "added"])
@pytest.mark.parametrize("blocks", ["one block", "blocks of 64 columns, nothing kept"])
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, loss", PAIRS)
def test_kernel_equals_the_readable_batch_gradient(monkeypatch, output, loss, hidden, blocks,
                                                   biases):
    if blocks != "one block":
        monkeypatch.setattr(kernel, "BLOCK_BYTES", 1)
        monkeypatch.setattr(kernel, "WORKSPACE_BYTES", 1)
    monkeypatch.setattr(kernel, "AUG_ENTRIES", 10**6 if biases == "in the products" else 0)
    # widths 9 and 40: hidden layers on both sides of the ReLU's sign/comparison switch
    # (200 x 9 < 2048 <= 200 x 40 entries); 200 columns = 3 blocks of 64 and one of 8.
    net = bp.Network([5, 40, 9, 3], hidden=hidden, output=output, loss=loss, seed=2)
    assert net.kernel and not net.copy(kernel=False).kernel
    aug = kernel.rides_in_products(net.p, net.dim_theta, 200)
    assert aug == (biases == "in the products")
    X, y = _batch(net, 200)
    Xc, Y = net.checked_batch(X, y)
    loss_ref, grad_ref = batch_gradient(net, Xc, Y)
    for _ in range(2):  # the second call reuses whatever the first one kept
        loss_k, grad_k = net.batch_loss_and_gradient(Xc, Y)
        assert _rel(grad_k, grad_ref) < 1e-13
        assert float(loss_k) == pytest.approx(float(loss_ref), rel=1e-13)
    assert len(net.kept_workspaces()) == (1 if blocks == "one block" else 0)
    out = np.empty(net.dim_theta)
    _, written = net.batch_loss_and_gradient(Xc, Y, out=out, with_loss=False)
    assert written is out and _rel(out, grad_ref) < 1e-13


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_in_float32_and_on_strided_input(dtype):
    net = bp.Network([6, 12, 4], hidden="tanh", output="softmax", dtype=dtype, seed=1)
    X, y = _batch(net, 50)
    X = np.asfortranarray(np.repeat(X, 2, axis=1))[:, ::2]  # neither C nor F contiguous
    Xc, Y = net.checked_batch(X, y)
    ref = batch_gradient(net.copy(dtype="float64"), Xc.astype(np.float64), Y.astype(np.float64))
    grad = net.batch_loss_and_gradient(Xc, Y)[1]
    assert grad.dtype == np.dtype(dtype)
    assert _rel(grad.astype(np.float64), ref[1]) < (1e-13 if dtype == "float64" else 1e-5)


def test_workspace_cache_keeps_at_most_the_limit():
    net = bp.Network([3, 8, 2], hidden="relu", seed=0)
    for n in range(1, 3 * kernel.WORKSPACES_KEPT):
        net.gradient(*_batch(net, n))
        assert len(net.kept_workspaces()) <= kernel.WORKSPACES_KEPT
    assert len(net.kept_workspaces()) == kernel.WORKSPACES_KEPT
    net.release_workspace()
    assert net.kept_workspaces() == []
    g = net.gradient(*_batch(net, 5))  # works again after the release
    assert g.shape == (net.dim_theta,)


def test_two_threads_never_share_a_workspace():
    net = bp.Network([3, 8, 2], hidden="relu", seed=0)
    barrier = threading.Barrier(2)
    want = net.gradient(*_batch(net, 16))
    net.release_workspace()
    got = {}

    def work(name):
        barrier.wait()
        got[name] = [net.gradient(*_batch(net, 16)) for _ in range(3)]  # its own, reused

    threads = [threading.Thread(target=work, args=(k,)) for k in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [n for n, _ in net.kept_workspaces()] == [16, 16]  # one per thread, no more
    for grads in got.values():
        for g in grads:
            np.testing.assert_array_equal(g, want)


def test_the_package_works_without_the_kernel():
    code = (
        "import sys; sys.modules['backprop._numpy_kernel'] = None\n"
        "import numpy as np, backprop as bp\n"
        "net = bp.Network([3, 7, 2], hidden='tanh', output='softmax', seed=4)\n"
        "assert not net.kernel\n"
        "X = np.random.default_rng(0).standard_normal((20, 3)); y = np.arange(20) % 2\n"
        "print(repr(net.loss(X, y)), *net.gradient(X, y)[:3])\n"
        "bp.fit(net, X, y, iterations=3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    values = [float(v) for v in out.stdout.split()]
    net = bp.Network([3, 7, 2], hidden="tanh", output="softmax", seed=4)
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.arange(20) % 2
    assert values[0] == pytest.approx(net.loss(X, y), rel=1e-14)
    np.testing.assert_allclose(values[1:], net.gradient(X, y)[:3], rtol=1e-12)


@pytest.mark.parametrize("output, loss", PAIRS)
def test_kernel_forward_equals_the_readable_forward(output, loss):
    net = bp.Network([5, 12, 7, 3], hidden=["relu", "logistic"], output=output, loss=loss)
    X, _ = _batch(net, 30)
    Z, A = net.forward(X)  # the kernel's
    Z_ref, A_ref = bp.gradients.forward(net, X)
    for mine, ref in zip(Z + A, Z_ref + A_ref, strict=True):
        np.testing.assert_allclose(mine, ref, rtol=1e-14, atol=1e-15)


def test_an_out_buffer_given_again_keeps_its_views_and_gets_each_new_gradient():
    # The kernel keeps the per-layer views of the last out= buffer (fit's) in the workspace;
    # a new buffer, a new θ and a new batch must each still be written in full.
    net = bp.Network([3, 8, 5, 2], hidden="relu", output="softmax", seed=1)
    ref = net.copy(kernel=False)
    first, second = np.empty(net.dim_theta), np.empty(net.dim_theta)
    for seed, out in enumerate([first, first, second, first, second]):
        X, y = _batch(net, 12, seed)
        Xc, Y = net.checked_batch(X, y)
        out[...] = np.nan
        loss, grad = net.batch_loss_and_gradient(Xc, Y, out=out)
        loss_ref, grad_ref = ref.batch_loss_and_gradient(Xc, Y)
        assert grad is out and _rel(out, grad_ref) < 1e-13
        assert float(loss) == pytest.approx(float(loss_ref), rel=1e-13)
        net.theta = net.theta - 0.1 * grad
        ref.theta = net.theta
    net.release_workspace()
    assert net.kept_workspaces() == []


def test_the_biases_ride_in_the_products_while_the_entries_moved_cost_less_than_the_calls():
    # 2 dim θ + n p_0 <= AUG_ENTRIES (2L - 3): with p = [2, 16, 16, 3] (dim θ = 371), up to
    # n = 1165, where 742 + 2330 is exactly 3 calls' 3072; never with one layer (2L - 3 < 0).
    p = [2, 16, 16, 3]
    net = bp.Network(p, hidden="relu", output="softmax", seed=0)
    assert net.dim_theta == 371 and kernel.AUG_ENTRIES == 1024
    assert kernel.rides_in_products(p, 371, 1165) and not kernel.rides_in_products(p, 371, 1166)
    assert not kernel.rides_in_products([3, 2], 8, 1)
    ref = net.copy(kernel=False)
    for n, aug in [(1165, True), (1166, False)]:
        X, y = _batch(net, n, seed=n)
        assert _rel(net.gradient(X, y), ref.gradient(X, y)) < 1e-13
        # the workspace kept has the gathered [W_l | b_l] and X^T's array exactly when aug
        nbytes = kernel.Workspace.layout(p, np.dtype("float64"), n, aug)[2]
        assert net.kept_workspaces()[-1] == (n, nbytes)
        assert nbytes != kernel.Workspace.layout(p, np.dtype("float64"), n, not aug)[2]


@pytest.mark.parametrize("biases", ["in the products", "added"])
@pytest.mark.parametrize("flag, garbage, retried", [
    ("invalid value encountered in dot", False, True),  # spurious: kept, bit for bit
    ("invalid value encountered in dot", True, False),  # a NaN each time: raised
    ("overflow encountered in dot", False, False),  # not the flag BLAS raises on its own
])
def test_a_products_invalid_flag_on_finite_numbers_is_not_an_error(monkeypatch, biases, flag,
                                                                    garbage, retried):
    # CI twice stopped on "invalid value encountered in dot" from a one-row float32 product
    # with finite X and θ. This dot computes the product, then raises the flag (the suite
    # turns RuntimeWarning into an error) on its first call, as numpy does after BLAS.
    monkeypatch.setattr(kernel, "AUG_ENTRIES", 10**6 if biases == "in the products" else 0)
    net = bp.Network([3, 5, 4, 2], hidden="tanh", output="softmax", seed=0, dtype="float32")
    X, y = _batch(net, 1)
    Xc, Y = net.checked_batch(X, y)
    expected = net.batch_loss_and_gradient(Xc, Y)
    net.release_workspace()  # a new plan binds the dot below
    real_dot, calls = np.dot, []

    def flagging_dot(a, b, out=None):
        result = real_dot(a, b, out)
        calls.append(np.geterr()["invalid"])
        if garbage:  # a true NaN: there again on the second pass
            result[...] = np.nan
        if len(calls) == 1:
            raise RuntimeWarning(flag)
        return result

    monkeypatch.setattr(np, "dot", flagging_dot)
    if not retried:
        with pytest.raises(RuntimeWarning, match=flag):
            net.batch_loss_and_gradient(Xc, Y)
        assert calls[1:] == (["ignore"] * (len(calls) - 1) if garbage else [])
        return
    loss, grad = net.batch_loss_and_gradient(Xc, Y)
    assert calls[0] != "ignore" and set(calls[1:]) == {"ignore"}  # the second pass, no flag
    assert kernel.rides_in_products(net.p, net.dim_theta, 1) == (biases == "in the products")
    np.testing.assert_array_equal(grad, expected[1])
    assert loss == expected[0]
