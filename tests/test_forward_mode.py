"""Forward mode (bp.jvp) and the Hessian-vector product (bp.hvp, forward-over-reverse).

jvp against gradient·v and central differences of the loss; hvp against HIPS autograd's
Hessian-vector product (an independent automatic differentiator), against central
differences of the gradient, and against its own symmetry and linearity.
"""

from __future__ import annotations

import numpy as np
import pytest
from autograd import hessian_vector_product
from test_autodiff import PAIRS, make_net
from test_reference_autograd import training_loss

import backprop as bp
from backprop import hessian


def direction(net, seed=7):
    """A random direction in θ, as an array of net's backend."""
    v = np.random.default_rng(seed).standard_normal(net.dim_theta)
    return net.xp.asarray(v, dtype=net.W[0].dtype)


@pytest.mark.parametrize("output, loss, hidden", PAIRS)
def test_jvp_equals_gradient_dot_v(backend, batch, output, loss, hidden):
    net = make_net(output, loss, hidden, backend)
    X, y = batch(net, 8, seed=1)
    v = direction(net)
    expected = float(bp.to_numpy(net.gradient(X, y)) @ bp.to_numpy(v))
    assert abs(expected) > 1e-3
    assert bp.jvp(net, X, y, v) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("output, loss, hidden", PAIRS)
def test_jvp_matches_central_differences(batch, output, loss, hidden):
    net = make_net(output, loss, hidden)
    X, y = batch(net, 8, seed=2)
    v, theta, h = bp.to_numpy(direction(net)), net.theta, 1e-5
    fd = (net.loss_at(theta + h * v, X, y) - net.loss_at(theta - h * v, X, y)) / (2 * h)
    assert bp.jvp(net, X, y, v) == pytest.approx(fd, rel=1e-7)


def test_forward_mode_gradient_is_the_gradient(backend, batch, rel):
    net = make_net("softmax", "cross_entropy", "tanh", backend, p=[3, 4, 3])
    X, y = batch(net, 6)
    assert rel(bp.forward_mode.gradient(net, X, y), net.gradient(X, y)) < 1e-12


def test_jvp_rejects_a_wrong_direction(batch):
    net = make_net("identity", "squared_error", "relu")
    X, y = batch(net, 3)
    with pytest.raises(ValueError, match=f"length dim\\(theta\\) = {net.dim_theta}; got shape"):
        bp.jvp(net, X, y, np.ones(net.dim_theta + 1))


def reference_hvp(net, X, y, v):
    """H v from HIPS autograd, on the network's loss written again in autograd.numpy."""
    def loss(theta):
        return training_loss(theta, list(net.p), list(net.hidden), net.output, net.loss_name,
                             X, y)

    return hessian_vector_product(loss)(net.theta, bp.to_numpy(v))


@pytest.mark.parametrize("output, loss, hidden", PAIRS)
def test_hvp_matches_autograd(backend, batch, rel, output, loss, hidden):
    net = make_net(output, loss, hidden, backend)
    X, y = batch(net, 8, seed=3)
    v = direction(net)
    reference = reference_hvp(net, X, y, v)
    assert np.linalg.norm(reference) > 1e-3
    assert rel(bp.hvp(net, X, y, v), reference) < 1e-9


@pytest.mark.parametrize("output, loss, hidden", PAIRS)
def test_hvp_matches_differences_of_the_gradient(batch, rel, output, loss, hidden):
    net = make_net(output, loss, hidden)
    X, y = batch(net, 8, seed=4)
    v, theta, h = bp.to_numpy(direction(net)), net.theta, 1e-5
    plus, minus = net.copy(), net.copy()
    plus.theta, minus.theta = theta + h * v, theta - h * v
    fd = (plus.gradient(X, y) - minus.gradient(X, y)) / (2 * h)
    assert rel(bp.hvp(net, X, y, v), fd) < 1e-6


def test_hvp_of_a_deep_mixed_network_matches_autograd(batch, rel):
    net = bp.Network([3, 6, 5, 5, 4, 3], hidden=["tanh", "logistic", "identity", "relu"],
                     output="softmax", loss="cross_entropy", init="xavier", seed=11)
    X, y = batch(net, 10, seed=5)
    v = direction(net, seed=3)
    assert rel(bp.hvp(net, X, y, v), reference_hvp(net, X, y, v)) < 1e-9


def test_hvp_is_symmetric_and_linear(batch):
    net = make_net("tanh", "squared_error", ["logistic", "tanh"])
    X, y = batch(net, 6)
    u, v = direction(net, 1), direction(net, 2)
    Hu, Hv = bp.hvp(net, X, y, u), bp.hvp(net, X, y, v)
    assert float(u @ Hv) == pytest.approx(float(v @ Hu), rel=1e-12)
    np.testing.assert_allclose(bp.hvp(net, X, y, 2 * u - 3 * v), 2 * Hu - 3 * Hv,
                               rtol=1e-10, atol=1e-12)


def test_hvp_of_linear_least_squares_is_2_XtX_v(batch):
    # L = 1, identity output: ℓ = (1/n) Σ ||y - W x - b||², so H is block 2/n [x;1][x;1]^T.
    net = bp.Network([3, 1], hidden=[], output="identity", seed=2)
    X, y = batch(net, 7)
    Xb = np.hstack([X, np.ones((7, 1))])
    v = direction(net)
    np.testing.assert_allclose(bp.hvp(net, X, y, v), 2 / 7 * Xb.T @ Xb @ v, rtol=1e-12)


def test_gradient_and_hvp_returns_the_gradient(batch, rel):
    net = make_net("softmax_reduced", "cross_entropy", "tanh")
    X, y = batch(net, 5)
    v = direction(net)
    g, Hv = hessian.gradient_and_hvp(net, X, y, v)
    assert rel(g, net.gradient(X, y)) < 1e-13
    assert rel(Hv, bp.hvp(net, X, y, v)) == 0


@pytest.mark.parametrize("output", ["softmax", "softmax_reduced"])
def test_general_delta_tangent_equals_the_closed_form(output):
    # R{δ_L} = R{J^T} u + J^T (∂²C/∂g²) ġ, with no shortcut, against R{δ_L} = ġ.
    rng = np.random.default_rng(0)
    xp = bp.get_namespace("numpy")
    out, loss = bp.OUTPUTS[output], bp.LOSSES["cross_entropy"]
    Z, Zdot = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    G = out.S_xp(xp, Z)
    Y = np.eye(G.shape[1])[rng.integers(0, G.shape[1], 5)]
    general = hessian.delta_L_tangent_general(xp, out, loss, Z, G, Y, Zdot)
    closed = hessian.delta_L_tangent(xp, out, loss, Z, G, Y, Zdot)
    np.testing.assert_allclose(general, closed, rtol=1e-12, atol=1e-14)
    assert np.abs(closed).max() > 1e-2


@pytest.mark.parametrize("name", ["identity", "logistic", "relu", "tanh"])
def test_S_second_matches_differences_of_S_prime(name):
    act = bp.ACTIVATIONS[name]
    z = np.linspace(-3, 3, 13) + 0.05  # off ReLU's kink
    h = 1e-6
    fd = (act.S_prime(z + h) - act.S_prime(z - h)) / (2 * h)
    np.testing.assert_allclose(act.S_second(z), fd, rtol=1e-6, atol=1e-9)


def test_network_methods_are_the_module_functions(batch):
    net = make_net("softmax", "cross_entropy", "tanh")
    X, y = batch(net, 6)
    v = direction(net)
    assert net.jvp(X, y, v) == bp.jvp(net, X, y, v)
    np.testing.assert_array_equal(net.hvp(X, y, v), bp.hvp(net, X, y, v))
