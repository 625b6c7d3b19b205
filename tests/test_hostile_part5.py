"""Hostile input to issue 28's options, as test_hostile.py does for the core: the weight
penalty ``alpha``, 0/1 targets of binary cross-entropy, L-BFGS's arguments, Tensor powers.

Each call works and then gives what a reference computation gives, or raises a ValueError
or TypeError naming the argument, leaving θ as it was. SciPy missing gives a
ModuleNotFoundError naming scipy, before any work.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from test_hostile import ANYTHING, FEW, SCALARS, SOME, X5, attempt, maybe_hostile, near, weighted

import backprop as bp
from backprop.autodiff import Tensor

ALPHAS = weighted(st.floats(min_value=0, max_value=1e3), st.sampled_from(
    [-1e-12, -1.0, math.nan, math.inf, -math.inf, np.float32(0.5), np.int64(2), 0, True,
     np.bool_(False), "0.1", None, 1j, [0.1], np.array(0.1), np.array([0.1])]), SCALARS)


@SOME
@given(alpha=ALPHAS)
@example(alpha=np.array(0.1))
def test_network_alpha(alpha):
    ok, net = attempt(lambda: bp.Network([3, 4, 2], alpha=alpha), ["alpha"])
    if ok:
        assert isinstance(net.alpha, float) and math.isfinite(net.alpha) and net.alpha >= 0
        assert net.alpha == float(alpha)
        # and the penalty is (α/2n) Σ ‖W_l‖², on top of the unpenalised loss
        X = X5
        Y = np.zeros((5, 2))
        plain = bp.Network([3, 4, 2])
        expected = plain.loss(X, Y) + net.alpha / 10 * sum(np.sum(W * W) for W in plain.W)
        assert net.loss(X, Y) == pytest.approx(expected, rel=1e-12)


@FEW
@given(alpha=ALPHAS)
def test_copy_alpha(alpha):
    net = bp.Network([3, 4, 2], alpha=0.5)
    ok, other = attempt(lambda: net.copy(alpha=alpha), ["alpha"])
    assert net.alpha == 0.5
    if ok:
        assert other.alpha == (0.5 if alpha is None else float(alpha))  # None: as it was
        np.testing.assert_array_equal(other.theta, net.theta)


Y01 = (np.arange(10).reshape(5, 2) % 3 == 0).astype(np.float64)


@SOME
@given(y=maybe_hostile(Y01, (5, 2)), alpha=st.sampled_from([0.0, 0.3]))
@example(y=np.where(Y01 == 1, 0.5, 0.0), alpha=0.0)
@example(y=Y01.astype(np.int8), alpha=0.0)
@example(y=Y01.astype(bool), alpha=0.3)
def test_binary_targets(y, alpha):
    net = bp.Network([3, 4, 2], hidden="tanh", output="sigmoid", loss="binary_cross_entropy",
                     alpha=alpha, seed=1)
    ok, value = attempt(lambda: net.loss_and_gradient(X5, y), ["y"], net)
    if ok:
        Y = np.asarray(y, dtype=np.float64)
        assert Y.shape == (5, 2) and np.all((Y == 0) | (Y == 1))  # only 0/1 rows get through
        loss, grad = value
        Z = net.forward(X5)[0][-1]
        reference = np.mean(np.sum(np.logaddexp(0, Z) - Y * Z, axis=1)) + alpha / 10 * sum(
            np.sum(W * W) for W in net.W)
        assert loss == pytest.approx(reference, rel=1e-12)
        assert np.all(np.isfinite(grad))


@FEW
@given(y=maybe_hostile(Y01[:, 0], (5,)))
def test_binary_targets_one_output(y):
    net = bp.Network([3, 4, 1], hidden="tanh", output="sigmoid", loss="binary_cross_entropy")
    ok, loss = attempt(lambda: net.loss(X5, y), ["y"], net)
    if ok:
        Y = np.asarray(y, dtype=np.float64).reshape(5, -1)
        assert np.all((Y == 0) | (Y == 1))
        assert math.isfinite(loss) and loss > 0


@FEW
@given(Y_true=weighted(st.just(Y01), near((5, 2)), ANYTHING),
       Y_pred=weighted(st.just(Y01[::-1]), near((5, 2)), ANYTHING))
def test_multilabel_accuracy(Y_true, Y_pred):
    ok, value = attempt(lambda: bp.multilabel_accuracy(Y_true, Y_pred), ["Y_true", "Y_pred"])
    if ok:
        a, b = np.asarray(Y_true), np.asarray(Y_pred)
        assert value == np.mean(np.all(a == b, axis=1))


LBFGS_NAMES = ["m", "gtol", "ftol", "max_evaluations"]


@SOME
@given(name=st.sampled_from(LBFGS_NAMES), value=weighted(
    st.sampled_from([0, -1, 1.5, -1e-3, math.nan, math.inf, True, "10", None]), ANYTHING))
@example(name="gtol", value=0)
def test_lbfgs_constructor(name, value):
    ok, opt = attempt(lambda: bp.LBFGS(**{name: value}), [name])
    if ok:
        assert getattr(opt, name) == value


@FEW
@given(batch_size=weighted(st.integers(-1, 7), ANYTHING), iterations=st.integers(-1, 3))
def test_fit_lbfgs(batch_size, iterations):
    net = bp.Network([3, 4, 2], hidden="tanh", seed=1)
    y = np.zeros((5, 2))
    ok, history = attempt(lambda: bp.fit(net, X5, y, optimizer="lbfgs", batch_size=batch_size,
                                         iterations=iterations),
                          ["batch_size", "iterations"], net)
    if ok:
        assert 0 <= history.iterations <= iterations
        assert history.train_loss[-1] <= history.train_loss[0]


def test_scipy_missing(monkeypatch):
    net = bp.Network([3, 4, 2], seed=1)
    theta = net.theta
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(ModuleNotFoundError, match="scipy"):
        bp.fit(net, X5, np.zeros((5, 2)), optimizer="lbfgs", iterations=2)
    np.testing.assert_array_equal(net.theta, theta)


@SOME
@given(exponent=weighted(st.floats(-3, 3), st.integers(-3, 3), ANYTHING))
@example(exponent=Tensor(np.array(2.0)))
def test_tensor_power(exponent):
    x = np.array([0.5, 1.0, 2.0])
    t = Tensor(x)
    ok, out = attempt(lambda: t ** exponent, ["exponent"])
    if ok:
        k = float(exponent)
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(out.data, x ** k, rtol=1e-14)
            out.sum().backward()
            np.testing.assert_allclose(t.grad, k * x ** (k - 1) if k else 0 * x, rtol=1e-13)
