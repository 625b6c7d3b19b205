"""The lecture's facts, each checked numerically: dim θ, the theorem's formulas for δ_l and
∂C/∂W_l, the two δ_L shortcuts, the reduced softmax, and the course's worked network."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import backprop as bp

# ----------------------------------------------------------------------------- dim θ


def test_dim_theta_of_the_course_network_is_481():
    net = bp.Network([1, 20, 20, 1], hidden="relu", output="identity", init="normal")
    # Σ_l (p_{l-1} p_l + p_l) = (20 + 20) + (400 + 20) + (20 + 1)
    assert net.dim_theta == 481 == net.theta.size
    n_weights = sum(W.shape[0] * W.shape[1] for W in net.W)
    n_biases = sum(b.shape[0] for b in net.b)
    assert (n_weights, n_biases) == (440, 41)


@pytest.mark.parametrize("p", [[5, 1], [2, 7, 3], [4, 4, 4, 4, 4], [10, 1, 10, 2]])
def test_dim_theta_formula(p):
    assert bp.Network(p).dim_theta == sum(p[l - 1] * p[l] + p[l] for l in range(1, len(p)))


def test_course_network_gradient_on_the_course_data(backend):
    """The course's [1, 20, 20, 1] ReLU net with N(0, 1) parameters, on its data set."""
    X, y = bp.datasets.polyreg()  # equal to the course's generator: test_datasets.py
    net = bp.Network([1, 20, 20, 1], hidden="relu", output="identity", init="normal", seed=0,
                     backend=backend)
    assert net.loss(X, y) > 25.0  # untrained: worse than the noise variance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bp.KinkWarning)  # ReLU: a step may cross a kink
        result = bp.gradcheck(net, X, y, sample=25)
    assert result.passed, str(result)
    # one steepest-descent step along -∂ℓ/∂θ lowers ℓ_τ (the reason for computing it)
    grad = bp.to_numpy(net.gradient(X, y))
    loss0 = net.loss(X, y)
    net.theta = net.theta - 1e-4 / max(1.0, np.linalg.norm(grad)) * grad
    assert net.loss(X, y) < loss0


# ----------------------------------------------------------------------------- the theorem


def _single_example(backend, hidden, output="identity", loss=None, seed=3):
    net = bp.Network([3, 5, 4, 2], hidden=hidden, output=output, loss=loss, init="normal",
                     seed=seed, backend=backend)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(3)
    y = int(rng.integers(0, net.K)) if net.loss_name == "cross_entropy" else rng.standard_normal(2)
    return net, x, y


def _tail_cost(net, l, z_l, y):
    """C as a function of z_l alone: run layers l+1..L in NumPy from a_l = S_l(z_l)."""
    z = z_l
    for k in range(l + 1, net.L + 1):
        a = bp.to_numpy(net.S(k - 1).S(z))  # a_{k-1} = S(z_{k-1}), a hidden layer
        z = bp.to_numpy(net.W[k - 1]) @ a + bp.to_numpy(net.b[k - 1])  # z_k
    # output layer and loss, through the package's public tables, on one NumPy row
    xp = bp.get_namespace("numpy")
    output, loss = bp.OUTPUTS[net.output], bp.LOSSES[net.loss_name]
    Z = z[None, :]
    if net.loss_name == "cross_entropy":
        return float(loss.from_logits_xp(xp, output.logits_xp(xp, Z), np.eye(net.K)[[y]])[0])
    return float(loss.value_xp(xp, output.S_xp(xp, Z), np.asarray(y, float)[None, :])[0])


@pytest.mark.parametrize("hidden", ["logistic", "tanh", "relu"])
def test_delta_recursion_with_D_equals_elementwise_form(backend, hidden):
    """δ_{l-1} = D_{l-1} W_l^T δ_l (the theorem) equals S'(z_{l-1}) ⊙ W_l^T δ_l (Algorithm 1,
    line 10), and then ∂C/∂W_l = δ_l a_{l-1}^T, ∂C/∂b_l = δ_l match Algorithm 1."""
    net, x, y = _single_example(backend, hidden)
    zs, activations = net.forward(x[None, :])
    z = {l: bp.to_numpy(zs[l - 1])[0] for l in range(1, net.L + 1)}
    a = {l: bp.to_numpy(activations[l])[0] for l in range(0, net.L + 1)}
    W = {l: bp.to_numpy(net.W[l - 1]) for l in range(1, net.L + 1)}
    delta_D = {net.L: 2 * (a[net.L] - y)}  # identity output, squared error
    delta_odot = {net.L: delta_D[net.L].copy()}
    for l in range(net.L, 1, -1):
        S_prime = bp.to_numpy(bp.ACTIVATIONS[hidden].S_prime(np.asarray(z[l - 1])))
        D = np.diag(S_prime)
        delta_D[l - 1] = D @ W[l].T @ delta_D[l]
        delta_odot[l - 1] = S_prime * (W[l].T @ delta_odot[l])
        np.testing.assert_allclose(delta_D[l - 1], delta_odot[l - 1], rtol=1e-14, atol=1e-15)
    dW, db, g = bp.algorithm1(net, x, y)
    np.testing.assert_allclose(bp.to_numpy(g), a[net.L], rtol=1e-14)
    for l in range(1, net.L + 1):
        np.testing.assert_allclose(bp.to_numpy(dW[l - 1]), np.outer(delta_D[l], a[l - 1]), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(bp.to_numpy(db[l - 1]), delta_D[l], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("hidden, output, loss", [
    ("tanh", "identity", None), ("logistic", "softmax", None), ("tanh", "softmax_reduced", None),
    ("logistic", "logistic", None), ("tanh", "softmax", "squared_error"),
])
def test_delta_l_is_dC_dz_l(hidden, output, loss):
    """δ_l := ∂C/∂z_l, by central differences of C in z_l, for every layer l."""
    net, x, y = _single_example("numpy", hidden, output, loss)
    zs, _ = net.forward(x[None, :])
    # δ_l from the batch recursion for one example: ∂C/∂b_l = δ_l
    _, db, _ = bp.algorithm1(net, x, y)
    for l in range(1, net.L + 1):
        z_l = bp.to_numpy(zs[l - 1])[0]
        numeric = bp.numerical_gradient(lambda z, l=l: _tail_cost(net, l, z, y), z_l, h=1e-6)
        np.testing.assert_allclose(bp.to_numpy(db[l - 1]), numeric, rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- δ_L shortcuts


@pytest.mark.parametrize("output_name", ["softmax", "softmax_reduced"])
def test_softmax_cross_entropy_delta_is_g_minus_e_y(backend, output_name):
    """δ_{L,k} = g_k - 1{y = k-1}: the fused form equals the general (∂S_L/∂z_L)(∂C/∂g)."""
    net = bp.Network([3, 4, 3], hidden="tanh", output=output_name, seed=2, backend=backend)
    xp = net.xp
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, net.K, 6)
    zs, activations = net.forward(X)
    Z, G = zs[-1], activations[-1]
    Y = xp.asarray(np.eye(net.K)[y])
    general = bp.to_numpy(bp.output_delta_general(xp, bp.OUTPUTS[net.output], bp.LOSSES[net.loss_name], Z, G, Y))
    fused = bp.to_numpy(bp.output_delta(xp, bp.OUTPUTS[net.output], bp.LOSSES[net.loss_name], Z, G, Y))
    g_minus_e_y = bp.to_numpy(G) - np.eye(net.K)[y]
    if output_name == "softmax_reduced":
        g_minus_e_y = g_minus_e_y[:, 1:]  # no logit of class 0 to differentiate by
    np.testing.assert_allclose(general, g_minus_e_y, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fused, g_minus_e_y, rtol=1e-15, atol=1e-16)


@pytest.mark.parametrize("output_name", ["identity", "logistic", "relu", "tanh"])
def test_elementwise_squared_error_delta_is_S_prime_times_2_residual(backend, output_name):
    """δ_L = S'_L(z_L) ⊙ 2(g - y) (no 1/2 in the loss): fused equals general."""
    net = bp.Network([3, 4, 2], hidden="tanh", output=output_name, init="normal", seed=5, backend=backend)
    xp = net.xp
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    zs, activations = net.forward(X)
    Z, G, Y = zs[-1], activations[-1], xp.asarray(y)
    expected = bp.to_numpy(bp.ACTIVATIONS[output_name].S_prime(Z)) * 2 * (bp.to_numpy(G) - y)
    general = bp.to_numpy(bp.output_delta_general(xp, bp.OUTPUTS[net.output], bp.LOSSES[net.loss_name], Z, G, Y))
    fused = bp.to_numpy(bp.output_delta(xp, bp.OUTPUTS[net.output], bp.LOSSES[net.loss_name], Z, G, Y))
    np.testing.assert_allclose(general, expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(fused, expected, rtol=1e-14, atol=1e-15)


def test_identity_output_delta_is_twice_the_residual():
    """With Loss = ||y - g||² and no 1/2, δ_L = 2(g - y) for an identity output."""
    net = bp.Network([2, 1], output="identity")
    net.W[0] = np.array([[1.0, 1.0]])
    net.b[0] = np.array([0.0])
    dW, db, g = bp.algorithm1(net, np.array([1.0, 2.0]), 1.0)  # g = 3
    assert float(bp.to_numpy(db[0])[0]) == 4.0  # 2 (3 - 1)
    np.testing.assert_array_equal(bp.to_numpy(dW[0]), [[4.0, 8.0]])


def test_cross_entropy_is_log_sum_exp_minus_true_logit(backend):
    """-ln g_{y+1} = -z_{y+1} + ln Σ_k exp(z_k), averaged into ℓ_τ."""
    net = bp.Network([3, 4, 4], hidden="relu", output="softmax", seed=9, backend=backend)
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((7, 3)), rng.integers(0, 4, 7)
    Z = bp.to_numpy(net.forward(X)[0][-1])
    expected = np.mean(-Z[np.arange(7), y] + np.log(np.exp(Z).sum(axis=1)))
    assert net.loss(X, y) == pytest.approx(expected, rel=1e-13)


# ----------------------------------------------------------------------------- reduced softmax


def _bce(g, y):
    return float(np.mean(-(y * np.log(g) + (1 - y) * np.log(1 - g))))


def test_reduced_softmax_with_two_classes_is_a_logistic_output(backend):
    """K = 2 from one logit: g_2 = e^z / (1 + e^z) = σ(z), the logistic output, and the
    cross-entropy -ln g_{y+1} is the binary cross-entropy of σ(z)."""
    reduced = bp.Network([3, 4, 1], hidden="tanh", output="softmax_reduced", seed=4, backend=backend)
    logistic = bp.Network([3, 4, 1], hidden="tanh", output="logistic", seed=4, backend=backend)
    np.testing.assert_array_equal(reduced.theta, logistic.theta)
    assert reduced.K == 2 and logistic.K == 1
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
    G2 = bp.to_numpy(reduced.predict(X))
    sigma = bp.to_numpy(logistic.predict(X))[:, 0]
    np.testing.assert_allclose(G2[:, 1], sigma, rtol=1e-14)
    np.testing.assert_allclose(G2[:, 0], 1 - sigma, rtol=1e-13)  # g_1 = 1 - g_2
    assert reduced.loss(X, y) == pytest.approx(_bce(sigma, y), rel=1e-13)


def test_reduced_softmax_gradient_is_the_logistic_binary_cross_entropy_gradient(backend):
    """Same θ, same data: ∂ℓ/∂θ of the reduced softmax with cross-entropy equals the gradient
    of the binary cross-entropy of the logistic network (central differences)."""
    reduced = bp.Network([3, 4, 1], hidden="tanh", output="softmax_reduced", seed=4, backend=backend)
    logistic = bp.Network([3, 4, 1], hidden="tanh", output="logistic", seed=4)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)

    def bce_at(theta):
        logistic.theta = theta
        return _bce(bp.to_numpy(logistic.predict(X))[:, 0], y)

    numeric = bp.numerical_gradient(bce_at, logistic.theta, h=1e-6)
    analytic = bp.to_numpy(reduced.gradient(X, y))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_reduced_and_logistic_output_deltas_agree(backend):
    """δ_L = g_2 - 1{y = 1} for the reduced softmax, and σ'(z) ∂BCE/∂g = σ(z) - y."""
    xp = bp.get_namespace(backend)
    Z = xp.asarray([[-3.0], [-0.5], [0.0], [0.7], [4.0]])
    labels = np.array([1, 0, 1, 1, 0])
    reduced = bp.OUTPUTS["softmax_reduced"]
    ce = bp.LOSSES["cross_entropy"]
    G = reduced.S_xp(xp, Z)
    delta = bp.to_numpy(bp.output_delta(xp, reduced, ce, Z, G, xp.asarray(np.eye(2)[labels])))
    sigma = bp.to_numpy(bp.ACTIVATIONS["logistic"].S(Z))
    np.testing.assert_allclose(delta, sigma - labels[:, None], rtol=1e-14, atol=1e-16)
    # the general formula with an explicit binary cross-entropy on the logistic output
    bce = bp.losses.Loss(
        "binary_cross_entropy",
        lambda xp, G, Y: -(Y * xp.log(G) + (1 - Y) * xp.log(1 - G))[:, 0],
        lambda xp, G, Y: -Y / G + (1 - Y) / (1 - G),
        classification=False,
    )
    logistic = bp.OUTPUTS["logistic"]
    Y = xp.asarray(labels[:, None].astype(float))
    general = bp.to_numpy(bp.output_delta_general(xp, logistic, bce, Z, logistic.S_xp(xp, Z), Y))
    np.testing.assert_allclose(general, sigma - labels[:, None], rtol=1e-12, atol=1e-15)


def test_reduced_softmax_probabilities_sum_to_one(backend):
    """The errata's g_1 = 1 - Σ_{k=2}^{p_L} g_k (the slide's sum runs from k = 0)."""
    net = bp.Network([2, 5, 3], output="softmax_reduced", seed=1, backend=backend)
    G = bp.to_numpy(net.predict(np.random.default_rng(0).standard_normal((6, 2))))
    assert G.shape == (6, 4)
    np.testing.assert_allclose(G[:, 0], 1 - G[:, 1:].sum(axis=1), rtol=1e-13)


# ----------------------------------------------------------------------------- Algorithm 2


def test_algorithm2_averages_algorithm1(backend):
    """∂ℓ_τ/∂W_l = (1/n) Σ_i ∂C_i/∂W_l and the same for b_l (Algorithm 2, line 3)."""
    net = bp.Network([2, 3, 2], hidden="logistic", output="softmax", seed=6, backend=backend)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((4, 2)), rng.integers(0, 2, 4)
    per_example = [bp.algorithm1(net, X[i], y[i]) for i in range(4)]
    dW, db, _ = bp.algorithm2(net, X, y)
    for l in range(net.L):
        np.testing.assert_allclose(
            bp.to_numpy(dW[l]), np.mean([bp.to_numpy(r[0][l]) for r in per_example], axis=0), rtol=1e-14
        )
        np.testing.assert_allclose(
            bp.to_numpy(db[l]), np.mean([bp.to_numpy(r[1][l]) for r in per_example], axis=0), rtol=1e-14
        )


# ----------------------------------------------------------------------------- saturation


def test_logistic_saturates_and_relu_does_not(xp):
    z = xp.asarray([0.0, 5.0, 20.0, 40.0])
    logistic = bp.to_numpy(bp.ACTIVATIONS["logistic"].S_prime(z))
    relu = bp.to_numpy(bp.ACTIVATIONS["relu"].S_prime(z[1:]))
    assert logistic[0] == 0.25
    # σ'(z) = e^{-z} / (1 + e^{-z})² ≈ e^{-z}: exponentially small (computed as σ(1 - σ),
    # it keeps only the absolute accuracy of σ, about 1e-16)
    assert logistic[2] == pytest.approx(math.exp(-20), rel=1e-6)
    assert logistic[3] < 1e-16
    np.testing.assert_array_equal(relu, [1.0, 1.0, 1.0])
    assert math.isclose(float(logistic[1]), math.exp(-5) / (1 + math.exp(-5)) ** 2, rel_tol=1e-13)


def test_every_line_of_algorithms_1_and_2_is_cited_in_gradients_py():
    """Chapter 4 prints the source of Algorithm 1 beside the slide, each statement tagged
    ``# line N``: every line 1..11 of the lecture's Algorithm 1 must be cited so."""
    import inspect
    import re

    source = inspect.getsource(bp.gradients)
    cited = {int(n) for n in re.findall(r"#\s*line (\d+)", source)}
    assert set(range(1, 12)) <= cited, f"lines of Algorithm 1 cited: {sorted(cited)}"
