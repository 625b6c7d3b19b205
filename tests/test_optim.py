"""backprop.optim: each optimiser's first steps by hand, loss decrease, state, bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
from backprop.optim import OPTIMIZERS, get_optimizer


def _problem(backend="numpy", dtype="float64", seed=0):
    """A small regression network and batch: [2, 6, 1] tanh, 32 examples of a smooth target."""
    net = bp.Network([2, 6, 1], hidden="tanh", output="identity", seed=seed, backend=backend,
                     dtype=dtype)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(32, 2))
    y = np.sin(2 * X[:, :1]) + X[:, 1:] ** 2
    return net, X, y


def _np(a):
    return np.asarray(bp.to_numpy(a), dtype=np.float64)


# ----------------------------------------------------------------------------- first steps by hand


def test_steepest_descent_first_step(backend):
    net, X, y = _problem(backend)
    theta0, g = net.theta, net.gradient(X, y)
    bp.SteepestDescent(lr=0.1).step(net, g)
    np.testing.assert_allclose(net.theta, theta0 - 0.1 * _np(g), rtol=0, atol=1e-12)


def test_sgd_step_and_default_lr(backend):
    net, X, y = _problem(backend)
    opt = bp.SGD()
    assert opt.lr == 0.005  # the course's learning rate
    theta0, g = net.theta, net.gradient(X, y)
    opt.step(net, g)
    np.testing.assert_allclose(net.theta, theta0 - 0.005 * _np(g), rtol=0, atol=1e-12)


def test_momentum_first_two_steps(backend):
    net, X, y = _problem(backend)
    lr, beta = 0.05, 0.8
    opt = bp.Momentum(lr, beta=beta)
    theta0, g0 = net.theta, net.gradient(X, y)
    opt.step(net, g0)
    v1 = -lr * _np(g0)  # v_1 = β·0 - α g_0
    np.testing.assert_allclose(net.theta, theta0 + v1, rtol=0, atol=1e-12)
    g1 = net.gradient(X, y)
    opt.step(net, g1)
    v2 = beta * v1 - lr * _np(g1)
    np.testing.assert_allclose(net.theta, theta0 + v1 + v2, rtol=0, atol=1e-12)


def test_adam_first_two_steps(backend):
    net, X, y = _problem(backend)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    opt = bp.Adam(lr, b1, b2, eps)
    theta0, g0 = net.theta, _np(net.gradient(X, y))
    opt.step(net, net.xp.asarray(g0))
    # t = 1: m̂ = g, v̂ = g², so the step is α g / (|g| + ε)
    theta1 = theta0 - lr * g0 / (np.abs(g0) + eps)
    np.testing.assert_allclose(net.theta, theta1, rtol=0, atol=1e-12)
    g1 = _np(net.gradient(X, y))
    opt.step(net, net.xp.asarray(g1))
    m = b1 * (1 - b1) * g0 + (1 - b1) * g1
    v = b2 * (1 - b2) * g0**2 + (1 - b2) * g1**2
    m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
    np.testing.assert_allclose(net.theta, theta1 - lr * m_hat / (np.sqrt(v_hat) + eps),
                               rtol=0, atol=1e-12)


def test_barzilai_borwein_first_two_steps(backend):
    net, X, y = _problem(backend)
    lr0 = 0.05
    opt = bp.BarzilaiBorwein(lr0)
    theta0, g0 = net.theta, _np(net.gradient(X, y))
    opt.step(net, net.xp.asarray(g0))
    theta1 = theta0 - lr0 * g0
    np.testing.assert_allclose(net.theta, theta1, rtol=0, atol=1e-12)
    g1 = _np(net.gradient(X, y))
    opt.step(net, net.xp.asarray(g1))
    d_theta, d_g = theta1 - theta0, g1 - g0
    alpha = (d_theta @ d_g) / (d_g @ d_g)  # the short BB step
    assert alpha > 0
    np.testing.assert_allclose(net.theta, theta1 - alpha * g1, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "factor, alpha_factor",
    [
        (1.0, 1.0),  # Δg = 0: division by zero guarded, falls back to lr0
        (2.0, 1.0),  # Δθ·Δg < 0 (no positive curvature): falls back to lr0
        (0.5, 2.0),  # Δg = -g/2, Δθ = -lr0 g: α = (lr0/2 |g|²) / (|g|²/4) = 2 lr0
    ],
)
def test_barzilai_borwein_guard(backend, factor, alpha_factor):
    net, X, y = _problem(backend)
    lr0 = 0.01
    opt = bp.BarzilaiBorwein(lr0)
    g = _np(net.gradient(X, y))
    opt.step(net, net.xp.asarray(g))
    theta1 = net.theta
    opt.step(net, net.xp.asarray(factor * g))
    expected = theta1 - alpha_factor * lr0 * factor * g
    np.testing.assert_allclose(net.theta, expected, rtol=0, atol=1e-12)
    assert np.all(np.isfinite(net.theta))


# ----------------------------------------------------------------------------- they train


@pytest.mark.parametrize(
    "make, batch_size",
    [
        (lambda: bp.SteepestDescent(0.05), None),
        (lambda: bp.BarzilaiBorwein(0.05), None),
        (lambda: bp.SGD(0.05), 8),
        (lambda: bp.Momentum(0.02, beta=0.9), 8),
        (lambda: bp.Adam(0.01), 8),
    ],
    ids=["steepest_descent", "barzilai_borwein", "sgd", "momentum", "adam"],
)
def test_optimiser_reduces_the_loss(backend, make, batch_size):
    net, X, y = _problem(backend)
    before = net.loss(X, y)
    history = bp.fit(net, X, y, optimizer=make(), batch_size=batch_size, iterations=200)
    after = net.loss(X, y)
    assert after < 0.25 * before, (before, after)
    assert history.train_loss[-1] == pytest.approx(after, rel=1e-12)


# ----------------------------------------------------------------------------- state


@pytest.mark.parametrize("make", [lambda: bp.Momentum(0.1), lambda: bp.Adam(0.1),
                                  lambda: bp.BarzilaiBorwein(0.1)])
def test_reset_forgets_the_state(make):
    net, X, y = _problem()
    opt = make()
    theta0, g = net.theta, net.gradient(X, y)
    opt.step(net, g)
    first = net.theta - theta0
    opt.step(net, net.gradient(X, y))
    assert opt.t == 2
    opt.reset()
    assert opt.t == 0
    net.theta = theta0
    opt.step(net, g)
    np.testing.assert_array_equal(net.theta - theta0, first)


@pytest.mark.parametrize("make", [lambda: bp.Momentum(0.1), lambda: bp.Adam(0.1),
                                  lambda: bp.BarzilaiBorwein(0.1)])
def test_state_lives_in_the_networks_namespace_and_dtype(backend, make):
    net, X, y = _problem(backend, dtype="float32")
    opt = make()
    opt.step(net, net.gradient(X, y))
    opt.step(net, net.gradient(X, y))
    assert net.theta_buffer.dtype == net.xp.float32
    for key in opt.state:
        buffer = getattr(opt, key)
        assert buffer.dtype == net.xp.float32
        assert type(buffer) is type(net.theta_buffer)


def test_views_stay_valid_after_steps():
    net, X, y = _problem()
    W1 = net.W[0]
    for opt in (bp.SGD(0.1), bp.Momentum(0.1), bp.Adam(0.1), bp.BarzilaiBorwein(0.1)):
        opt.step(net, net.gradient(X, y))
        opt.step(net, net.gradient(X, y))
    np.testing.assert_array_equal(bp.to_numpy(W1).ravel(), net.theta[: W1.size])


def test_state_for_another_network_is_refused():
    net, X, y = _problem()
    opt = bp.Adam()
    opt.step(net, net.gradient(X, y))
    other = bp.Network([3, 2])
    with pytest.raises(ValueError, match="call reset"):
        opt.step(other, other.theta_buffer * 0)


def test_gradient_of_wrong_length_is_refused():
    net, X, y = _problem()
    with pytest.raises(ValueError, match=r"dim\(theta\) = 25"):
        bp.SGD().step(net, net.xp.zeros(24, dtype=net.xp.float64))


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "make, name, value",
    [
        (lambda: bp.SteepestDescent(0), "lr", "0.0"),
        (lambda: bp.SteepestDescent(-0.1), "lr", "-0.1"),
        (lambda: bp.SGD(lr=-1), "lr", "-1.0"),
        (lambda: bp.SGD(lr=math.nan), "lr", "nan"),
        (lambda: bp.SGD(lr=math.inf), "lr", "inf"),
        (lambda: bp.BarzilaiBorwein(0), "lr0", "0.0"),
        (lambda: bp.Momentum(0, beta=0.9), "lr", "0.0"),
        (lambda: bp.Momentum(0.1, beta=1.0), "beta", "1.0"),
        (lambda: bp.Momentum(0.1, beta=-0.1), "beta", "-0.1"),
        (lambda: bp.Adam(lr=-1e-3), "lr", "-0.001"),
        (lambda: bp.Adam(beta1=1.0), "beta1", "1.0"),
        (lambda: bp.Adam(beta2=1.5), "beta2", "1.5"),
        (lambda: bp.Adam(beta2=-0.5), "beta2", "-0.5"),
        (lambda: bp.Adam(eps=0.0), "eps", "0.0"),
        (lambda: bp.Adam(eps=-1e-8), "eps", "-1e-08"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_them(make, name, value):
    with pytest.raises(ValueError, match=rf"{name}={value}"):
        make()


@pytest.mark.parametrize(
    "make", [lambda: bp.SGD(lr="0.1"), lambda: bp.SGD(lr=True), lambda: bp.Adam(beta1=None)]
)
def test_non_numbers_raise_type_error(make):
    with pytest.raises(TypeError, match="must be"):
        make()


def test_beta_zero_is_allowed_and_gives_plain_steps():
    net, X, y = _problem()
    theta0, g = net.theta, net.gradient(X, y)
    opt = bp.Momentum(0.1, beta=0.0)
    opt.step(net, g)
    g1 = net.gradient(X, y)
    theta1 = net.theta
    opt.step(net, g1)
    np.testing.assert_allclose(net.theta, theta1 - 0.1 * _np(g1), rtol=0, atol=1e-12)
    assert not np.array_equal(theta0, theta1)


def test_get_optimizer_by_name_and_bad_types():
    assert isinstance(get_optimizer("adam"), bp.Adam)
    assert get_optimizer("sgd").lr == 0.005
    opt = bp.Momentum(0.1)
    assert get_optimizer(opt) is opt
    assert set(OPTIMIZERS) == {"steepest_descent", "sgd", "barzilai_borwein", "momentum", "adam",
                               "lbfgs"}
    with pytest.raises(ValueError, match="must be one of"):
        get_optimizer("rmsprop")
    with pytest.raises(TypeError, match="instance"):
        get_optimizer(bp.Adam)
    with pytest.raises(TypeError, match="Optimizer"):
        get_optimizer(0.01)


def test_repr_shows_the_hyperparameters():
    assert repr(bp.Momentum(0.1, beta=0.5)) == "Momentum(lr=0.1, beta=0.5)"
    assert repr(bp.BarzilaiBorwein(0.01)) == "BarzilaiBorwein(lr0=0.01)"


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_offered_name_trains_with_its_documented_defaults(name):
    # steepest_descent and momentum used to fail by name ("needs a learning rate").
    net, X, y = _problem()
    loss0 = net.loss(X, y)
    opt = get_optimizer(name)
    assert type(opt) is OPTIMIZERS[name]
    defaults = {"sgd": ("lr", 0.005), "steepest_descent": ("lr", 0.005),
                "momentum": ("lr", 0.005), "adam": ("lr", 1e-3), "barzilai_borwein": ("lr0", 1e-3),
                "lbfgs": ("m", 10)}
    key, value = defaults[name]
    assert getattr(opt, key) == value
    bp.fit(net, X, y, optimizer=name, iterations=30)
    assert net.loss(X, y) < loss0


def test_step_checks_the_gradient_and_leaves_theta_when_it_refuses():
    net, X, y = _problem()
    theta0 = net.theta
    with pytest.raises(ValueError, match=r"grad must .*length dim\(theta\) = \d+; got shape \(2,\)"):
        bp.SGD().step(net, [1, 2])
    bad = np.ones(net.dim_theta)
    bad[3] = np.nan
    with pytest.raises(ValueError, match=r"grad contains NaN or inf"):
        bp.Adam().step(net, bad)
    with pytest.raises(TypeError, match=r"grad"):
        bp.SGD().step(net, "not a gradient")
    np.testing.assert_array_equal(net.theta, theta0)
    # a list of the right length is an array-like like any other: the same step as the array
    twin = net.copy()
    grad = net.gradient(X, y)
    bp.SGD(lr=0.1).step(net, grad.tolist())
    bp.SGD(lr=0.1).step(twin, grad)
    np.testing.assert_array_equal(net.theta, twin.theta)


def test_steepest_descents_overwriting_update_gives_the_numbers_of_update():
    # fit's own gradient buffer may be overwritten: θ += (-α g) is θ -= α g to the last bit
    net = bp.Network([3, 5, 2], seed=1)
    ref = net.copy()
    grad = np.random.default_rng(0).standard_normal(net.dim_theta)
    opt = bp.SGD(lr=0.037)
    opt.update(ref, grad)
    scratch = grad.copy()
    opt.update_overwriting(net.theta_buffer, scratch)
    np.testing.assert_array_equal(net.theta, ref.theta)
    np.testing.assert_array_equal(scratch, -0.037 * grad)
