"""bp.autodiff, the small reverse-mode tape: each operation against central differences,
and the network's loss rebuilt from Tensors against net.gradient for every output/loss pair."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
from backprop.autodiff import Tensor

# Every (output, loss) pair the package offers, each with a hidden activation to go through.
PAIRS = [
    ("identity", "squared_error", "relu"),
    ("logistic", "squared_error", "tanh"),
    ("relu", "squared_error", "logistic"),
    ("tanh", "squared_error", ["tanh", "relu"]),
    ("softmax", "squared_error", "tanh"),
    ("softmax", "cross_entropy", ["relu", "logistic"]),
    ("softmax_reduced", "cross_entropy", "tanh"),
]


def make_net(output, loss, hidden, backend="numpy", p=None, seed=3):
    p = p or ([4, 6, 5, 3] if isinstance(hidden, list) else [4, 7, 3])
    return bp.Network(p, hidden=hidden, output=output, loss=loss, init="xavier", seed=seed,
                      backend=backend)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at the NumPy array x."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


# Scalar functions of (a, b), a of shape (3, 4), b of shape (4,) (broadcast over rows).
OPS = {
    "add_broadcast": lambda a, b: ((a + b) * (a + b)).sum(),
    "sub_rsub": lambda a, b: ((a - b) * (1.0 - a)).sum(),
    "mul_reused": lambda a, b: (a * a * b).mean(),
    "matmul_T": lambda a, b: ((a @ a.T) * (a @ a.T)).sum(),
    "sum_axis": lambda a, b: (a.sum(axis=0) * b).sum(),
    "mean_axis": lambda a, b: (a.mean(axis=1) * a.mean(axis=1)).sum(),
    "exp_log": lambda a, b: ((a * a + 1.0).log() + (b * 0.5).exp()).sum(),
    "tanh": lambda a, b: (a.tanh() * b).sum(),
    "logistic": lambda a, b: (a.logistic() * b).sum(),
    "relu": lambda a, b: (a.relu() * b).sum(),
    "neg": lambda a, b: (-(a * b)).sum(),
    "logsumexp": lambda a, b: (a + b).logsumexp(axis=1, keepdims=False).sum(),
    "logsumexp_keep": lambda a, b: ((a + b).logsumexp(axis=0) * b).sum(),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_operation_gradient_matches_differences(backend, name):
    rng = np.random.default_rng(len(name))
    a0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(4)
    a0[np.abs(a0) < 0.05] = 0.3  # stay off ReLU's kink
    xp = bp.get_namespace(backend)
    a, b = Tensor(xp.asarray(a0)), Tensor(xp.asarray(b0))
    out = OPS[name](a, b)
    out.backward()

    def value(A, B):
        return float(OPS[name](Tensor(xp.asarray(A)), Tensor(xp.asarray(B))).data)

    ga = numeric_grad(lambda A: value(A, b0), a0)
    gb = numeric_grad(lambda B: value(a0, B), b0)
    np.testing.assert_allclose(bp.to_numpy(a.grad), ga, rtol=1e-6, atol=1e-8)
    if b.grad is None:  # b was not used
        assert np.all(gb == 0)
    else:
        np.testing.assert_allclose(bp.to_numpy(b.grad), gb, rtol=1e-6, atol=1e-8)


def test_bias_gradient_is_the_column_sum():
    A = Tensor(np.arange(6.0).reshape(3, 2))
    b = Tensor(np.array([0.5, -1.0]))
    (A + b).sum().backward()
    np.testing.assert_array_equal(b.grad, [3.0, 3.0])
    np.testing.assert_array_equal(A.grad, np.ones((3, 2)))


def test_reused_tensor_accumulates_every_path():
    x = Tensor(np.array([2.0, -3.0]))
    y = x * x + x * 3.0  # dy/dx = 2x + 3
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [7.0, -3.0])


def test_backward_twice_gives_the_same_gradient():
    x = Tensor(np.array([1.0, 2.0]))
    f = (x * x).sum()
    f.backward()
    f.backward()  # grads are reset, not doubled
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_logsumexp_is_stable_for_huge_logits():
    z = Tensor(np.array([[1e4, 0.0, -1e4]]))
    out = z.logsumexp(axis=1, keepdims=False)
    out.sum().backward()
    assert float(out.data[0]) == 1e4
    np.testing.assert_allclose(z.grad, [[1.0, 0.0, 0.0]], atol=1e-300)


def test_backward_needs_a_scalar():
    with pytest.raises(ValueError, match=r"scalar Tensor.*shape \(2,\)"):
        Tensor(np.ones(2)).backward()


def test_deep_graph_needs_no_recursion():
    x = Tensor(np.array(1.0))
    y = x
    for _ in range(5000):
        y = y * 1.0 + 0.0
    y.backward()
    assert float(x.grad) == 1.0


@pytest.mark.parametrize("output, loss, hidden", PAIRS)
def test_autodiff_reproduces_network_gradient(backend, batch, rel, output, loss, hidden):
    net = make_net(output, loss, hidden, backend)
    X, y = batch(net, 9, seed=4)
    value = bp.autodiff.loss(net, X, y)
    assert float(value.data) == pytest.approx(net.loss(X, y), rel=1e-13)
    g = bp.autodiff.gradient(net, X, y)
    assert np.linalg.norm(bp.to_numpy(g)) > 0
    assert rel(g, net.gradient(X, y)) < 1e-12


def test_leaf_tensors_hold_the_layer_gradients(batch):
    net = make_net("softmax", "cross_entropy", "tanh")
    X, y = batch(net, 5)
    params = bp.autodiff.parameters(net)
    assert [t.name for t in params] == ["W_1", "b_1", "W_2", "b_2"]
    bp.autodiff.loss(net, X, y, params).backward()
    Ws, bs = net.unflatten(net.gradient(X, y))
    np.testing.assert_allclose(params[2].grad, Ws[1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(params[1].grad, bs[0], rtol=1e-12, atol=1e-15)


def test_loss_rejects_wrong_parameter_count(batch):
    net = make_net("identity", "squared_error", "relu")
    X, y = batch(net, 3)
    with pytest.raises(ValueError, match="2L = 4 Tensors; got 2"):
        bp.autodiff.loss(net, X, y, bp.autodiff.parameters(net)[:2])


def test_graph_lists_each_node_after_its_inputs():
    W, x = Tensor(np.ones((2, 3)), name="W"), Tensor(np.ones(3), name="x")
    f = ((x @ W.T).tanh() * 2.0).sum()
    order = f.graph()
    assert [t.op or t.name for t in order] == ["x", "W", "T", "matmul", "tanh", "mul", "sum"]
    assert repr(order[3]) == "Tensor(shape=(2,), matmul)"


def test_constants_are_not_in_the_graph():
    x = Tensor(np.ones(2))
    c = Tensor(np.full(2, 3.0), requires_grad=False)
    f = (x * c - c).sum()
    assert c not in f.graph()
    f.backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
