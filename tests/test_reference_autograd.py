"""Whole-network gradients against an independent automatic differentiator (HIPS autograd).

The network function ℓ_τ(θ) is written again here in autograd.numpy, from the flat θ
(unflattened by this file's own code, in the documented order W_1 row-major, b_1, ...,
W_L, b_L), and autograd's reverse-mode gradient is compared with net.gradient.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import example, given
from hypothesis import strategies as st
from rounding import assert_within_rounding, gradient_error_bound

import backprop as bp


def unflatten(theta, p):
    """[(W_l, b_l) for l = 1..L] from a flat θ, W_l of shape (p_l, p_{l-1})."""
    layers, k = [], 0
    for l in range(1, len(p)):
        W = anp.reshape(theta[k : k + p[l] * p[l - 1]], (p[l], p[l - 1]))
        k += p[l] * p[l - 1]
        b = theta[k : k + p[l]]
        k += p[l]
        layers.append((W, b))
    assert k == len(theta)
    return layers


ACT = {
    "identity": lambda z: z,
    # z·1{z > 0}: slope 0 at z = 0, the package's convention (anp.maximum would give 1/2
    # there, and he/xavier's b = 0 behind a dead unit puts z exactly at 0)
    "relu": lambda z: z * (z > 0),
    "tanh": anp.tanh,
    "logistic": lambda z: _logistic(z),
}


def _logistic(z):
    """1/(1 + e^{-z}) for z >= 0 and e^z/(1 + e^z) below: never overflows, and accurate to a
    few ulps relative to a itself for any z (0.5(1 + tanh(z/2)) is not, for a near 0, by
    more than tests/rounding.py allows). Not through e^{-|z|}: autograd's |z|' is 0 at 0."""
    pos = anp.exp(-anp.where(z >= 0, z, 0.0))
    neg = anp.exp(anp.where(z < 0, z, 0.0))
    return anp.where(z >= 0, 1.0 / (1.0 + pos), neg / (1.0 + neg))


def _log_softmax(Z):
    m = anp.max(Z, axis=1, keepdims=True)
    return Z - m - anp.log(anp.sum(anp.exp(Z - m), axis=1, keepdims=True))


def training_loss(theta, p, hidden, output, loss, X, y):
    """ℓ_τ(θ) = (1/n) Σ_i Loss(y_i, g(x_i | θ)), in autograd.numpy."""
    layers = unflatten(theta, p)
    A = X
    for l, (W, b) in enumerate(layers[:-1]):
        A = ACT[hidden[l]](anp.dot(A, W.T) + b)
    W, b = layers[-1]
    Z = anp.dot(A, W.T) + b
    n = X.shape[0]
    if output == "softmax_reduced":
        Z = anp.concatenate([anp.zeros((n, 1)), Z], axis=1)  # class 0's logit fixed at 0
    if loss == "cross_entropy":
        Y = np.eye(Z.shape[1])[y]
        return -anp.sum(_log_softmax(Z) * Y) / n
    if output == "softmax":
        G = anp.exp(_log_softmax(Z))
    else:
        G = ACT[output](Z)
    return anp.sum((y - G) ** 2) / n


def _case(p, hidden, output, loss, init, seed, n):
    hidden_list = [hidden] * (len(p) - 2) if isinstance(hidden, str) else list(hidden)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p[0]))
    K = p[-1] + (output == "softmax_reduced")
    y = rng.integers(0, K, n) if loss == "cross_entropy" else rng.standard_normal((n, p[-1]))
    return hidden_list, X, y


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    s = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if s == 0 else float(np.linalg.norm(a - b) / s)


ARCHITECTURES = [
    # p, hidden, output, loss, init
    ([1, 20, 20, 1], "relu", "identity", "squared_error", "normal"),  # the course's network
    ([3, 8, 2], "tanh", "identity", "squared_error", "xavier"),
    ([4, 6, 5, 3], ["logistic", "relu"], "logistic", "squared_error", "xavier"),
    ([2, 5, 5, 5, 2], ["tanh", "identity", "logistic"], "tanh", "squared_error", "xavier"),
    ([3, 7, 2], "relu", "relu", "squared_error", "he"),
    ([5, 6, 4], "tanh", "softmax", "squared_error", "xavier"),
    ([5, 9, 4], "relu", "softmax", "cross_entropy", "he"),
    ([4, 10, 6, 3], ["tanh", "logistic"], "softmax", "cross_entropy", "normal"),
    ([3, 6, 1], "tanh", "softmax_reduced", "cross_entropy", "xavier"),
    ([6, 8, 8, 3], ["relu", "tanh"], "softmax_reduced", "cross_entropy", "he"),
    ([2, 3], [], "softmax", "cross_entropy", "normal"),  # L = 1: multinomial logistic regression
    ([4, 1], [], "logistic", "squared_error", "normal"),
]


@pytest.mark.parametrize("p, hidden, output, loss, init", ARCHITECTURES)
def test_gradient_matches_autograd(backend, p, hidden, output, loss, init):
    hidden_list, X, y = _case(p, hidden, output, loss, init, seed=len(p) + p[1], n=9)
    net = bp.Network(p, hidden=hidden_list, output=output, loss=loss, init=init, seed=21,
                     backend=backend)
    theta = net.theta
    reference_loss = training_loss(theta, p, hidden_list, output, loss, X, y)
    reference = grad(training_loss)(theta, p, hidden_list, output, loss, X, y)
    assert np.linalg.norm(reference) > 0
    value, gradient = net.loss_and_gradient(X, y)
    assert value == pytest.approx(float(reference_loss), rel=1e-12)
    assert _rel(bp.to_numpy(gradient), reference) < 1e-10
    # Algorithm 2 (the loop over examples) too
    dW, db, _ = bp.algorithm2(net, X, y)
    assert _rel(bp.to_numpy(net.flatten(dW, db)), reference) < 1e-10


@pytest.mark.parametrize("p, hidden, output, loss, init", ARCHITECTURES[6:10])
def test_algorithm1_matches_autograd_per_example(p, hidden, output, loss, init):
    """∂C_i/∂θ for single examples: Algorithm 1 against autograd on n = 1."""
    hidden_list, X, y = _case(p, hidden, output, loss, init, seed=5, n=3)
    net = bp.Network(p, hidden=hidden_list, output=output, loss=loss, init=init, seed=2)
    theta = net.theta
    for i in range(3):
        reference = grad(training_loss)(theta, p, hidden_list, output, loss, X[i : i + 1], y[i : i + 1])
        dW, db, _ = bp.algorithm1(net, X[i], y[i])
        assert _rel(bp.to_numpy(net.flatten(dW, db)), reference) < 1e-10


@st.composite
def architectures(draw):
    L = draw(st.integers(1, 4))
    p = draw(st.lists(st.integers(1, 10), min_size=L + 1, max_size=L + 1))
    hidden = draw(st.lists(st.sampled_from(sorted(ACT)), min_size=L - 1, max_size=L - 1))
    output, loss = draw(st.sampled_from([
        ("identity", "squared_error"), ("logistic", "squared_error"), ("relu", "squared_error"),
        ("tanh", "squared_error"), ("softmax", "squared_error"), ("softmax", "cross_entropy"),
        ("softmax_reduced", "cross_entropy"),
    ]))
    init = draw(st.sampled_from(["xavier", "he"]))
    seed = draw(st.integers(0, 2**31))
    n = draw(st.integers(1, 8))
    return p, hidden, output, loss, init, seed, n


# Judged against what rounding allows (tests/rounding.py), not against the size of the
# gradient: the pinned example saturates its tanh output, where the package's S' = 1 - a²
# from a rounded a = tanh(z) is far less accurate, relative to itself, than autograd's
# 1/cosh²(z); relative to the gradient they differ by 2.1e-8 (the old bound was 1e-10).
@example(arch=([1, 1, 1], ["identity"], "tanh", "squared_error", "xavier", 3, 1))
@given(arch=architectures())
def test_random_architectures_match_autograd(backend, arch):
    p, hidden, output, loss, init, seed, n = arch
    _, X, y = _case(p, hidden, output, loss, init, seed, n)
    net = bp.Network(p, hidden=hidden, output=output, loss=loss, init=init, seed=seed, backend=backend)
    reference = grad(training_loss)(net.theta, p, hidden, output, loss, X, y)
    assert_within_rounding(bp.to_numpy(net.gradient(X, y)), reference,
                           gradient_error_bound(net, X, y))
