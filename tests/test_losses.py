"""backprop.losses: softmax heads, the two losses, and δ_L (general and fused)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
from backprop.losses import get_loss, get_output, log_softmax, softmax

# Every output/loss pair the package allows.
PAIRS = [(o, "squared_error") for o in ("identity", "logistic", "relu", "tanh", "softmax")] + [
    ("softmax", "cross_entropy"),
    ("softmax_reduced", "cross_entropy"),
]
FUSED = [
    (o, "squared_error") for o in ("identity", "logistic", "relu", "tanh")
] + [("softmax", "cross_entropy"), ("softmax_reduced", "cross_entropy")]


def _case(output_name, loss_name, n=5, p_L=3, seed=0):
    """Logits Z (n, p_L) away from 0, outputs G = S_L(Z) and targets Y (n, K), NumPy."""
    rng = np.random.default_rng(seed)
    output = get_output(output_name)
    K = output.n_outputs(p_L)
    Z = rng.uniform(0.1, 2.0, (n, p_L)) * rng.choice([-1.0, 1.0], (n, p_L))
    if loss_name == "cross_entropy":
        Y = np.eye(K)[rng.integers(0, K, n)]
    else:
        Y = rng.standard_normal((n, K))
    return output, get_loss(loss_name), Z, Y


def _G(xp, output, Z):
    return output.S_xp(xp, xp.asarray(Z))


# ----------------------------------------------------------------------------- softmax


def test_softmax_known_values(xp):
    Z = xp.asarray([[0.0, math.log(2.0), math.log(3.0)]])
    np.testing.assert_allclose(bp.to_numpy(softmax(xp, Z)), [[1 / 6, 2 / 6, 3 / 6]], rtol=1e-15)


def test_softmax_rows_are_probability_vectors_and_shift_invariant(xp):
    Z = np.random.default_rng(1).normal(0, 5, (6, 4))
    G = bp.to_numpy(softmax(xp, xp.asarray(Z)))
    np.testing.assert_allclose(G.sum(axis=1), 1.0, rtol=1e-15)
    assert np.all(G > 0)
    shifted = bp.to_numpy(softmax(xp, xp.asarray(Z + 123.0)))
    np.testing.assert_allclose(shifted, G, rtol=1e-12)


def test_softmax_and_log_softmax_stay_finite_for_logits_1e4(xp):
    Z = xp.asarray([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]])
    G = bp.to_numpy(softmax(xp, Z))
    logG = bp.to_numpy(log_softmax(xp, Z))
    assert np.all(np.isfinite(G)) and np.all(np.isfinite(logG))
    np.testing.assert_allclose(G, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]], atol=1e-300)
    np.testing.assert_allclose(logG[0], [0.0, -2e4, -1e4], rtol=1e-15)
    np.testing.assert_allclose(logG[1], -math.log(3.0), rtol=1e-15)


def test_log_softmax_equals_log_of_softmax(xp):
    Z = np.random.default_rng(2).normal(0, 3, (5, 4))
    np.testing.assert_allclose(
        bp.to_numpy(log_softmax(xp, xp.asarray(Z))),
        np.log(bp.to_numpy(softmax(xp, xp.asarray(Z)))),
        rtol=1e-13,
    )


def test_reduced_softmax_is_softmax_with_class_0_logit_fixed_at_0(xp):
    Z = np.random.default_rng(3).normal(0, 2, (4, 2))
    reduced = get_output("softmax_reduced")
    G = bp.to_numpy(_G(xp, reduced, Z))
    full = bp.to_numpy(softmax(xp, xp.asarray(np.hstack([np.zeros((4, 1)), Z]))))
    assert G.shape == (4, 3)
    np.testing.assert_allclose(G, full, rtol=1e-15)
    # g_1 = 1 - Σ_{k=2}^{K} g_k (the lecture's remark on removing an output node).
    np.testing.assert_allclose(G[:, 0], 1 - G[:, 1:].sum(axis=1), rtol=1e-14)


def test_n_outputs():
    assert get_output("softmax").n_outputs(4) == 4
    assert get_output("softmax_reduced").n_outputs(4) == 5
    assert get_output("identity").n_outputs(2) == 2


# ----------------------------------------------------------------------------- losses


def test_squared_error_has_no_one_half(xp):
    G = xp.asarray([[1.0, 2.0], [0.0, 0.0]])
    Y = xp.asarray([[0.0, 0.0], [3.0, -4.0]])
    loss = get_loss("squared_error")
    np.testing.assert_array_equal(bp.to_numpy(loss.value_xp(xp, G, Y)), [5.0, 25.0])
    np.testing.assert_array_equal(bp.to_numpy(loss.dC_dg_xp(xp, G, Y)), [[2.0, 4.0], [-6.0, 8.0]])


def test_cross_entropy_is_minus_log_of_the_true_class_probability(xp):
    G = xp.asarray([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]])
    Y = xp.asarray([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    value = bp.to_numpy(get_loss("cross_entropy").value_xp(xp, G, Y))
    np.testing.assert_allclose(value, [-math.log(0.5), -math.log(0.05)], rtol=1e-15)


def test_cross_entropy_from_logits_equals_definition(xp):
    output, loss, Z, Y = _case("softmax", "cross_entropy", n=6, p_L=4)
    from_logits = bp.to_numpy(loss.from_logits_xp(xp, xp.asarray(Z), xp.asarray(Y)))
    by_definition = bp.to_numpy(loss.value_xp(xp, _G(xp, output, Z), xp.asarray(Y)))
    np.testing.assert_allclose(from_logits, by_definition, rtol=1e-13)
    # the lecture's closed form -z_{y+1} + ln Σ_k exp(z_k)
    closed = -np.sum(Z * Y, axis=1) + np.log(np.exp(Z).sum(axis=1))
    np.testing.assert_allclose(from_logits, closed, rtol=1e-13)


def test_cross_entropy_from_logits_is_finite_for_logits_1e4(xp):
    loss = get_loss("cross_entropy")
    Z = xp.asarray([[1e4, -1e4], [1e4, -1e4], [-1e4, -1e4]])
    Y = xp.asarray([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    value = bp.to_numpy(loss.from_logits_xp(xp, Z, Y))
    np.testing.assert_allclose(value, [0.0, 2e4, math.log(2.0)], rtol=1e-15, atol=0)


@pytest.mark.parametrize("loss_name", ["squared_error", "cross_entropy"])
def test_dC_dg_matches_central_differences(xp, loss_name):
    output_name = "softmax" if loss_name == "cross_entropy" else "identity"
    output, loss, Z, Y = _case(output_name, loss_name)
    G = bp.to_numpy(_G(xp, output, Z))

    def cost(g, i):  # C_i as a function of g_i alone
        return bp.to_numpy(loss.value_xp(xp, xp.asarray(g[None, :]), xp.asarray(Y[i : i + 1])))[0]

    numeric = np.stack([bp.numerical_gradient(lambda g, i=i: cost(g, i), G[i], h=1e-6)
                        for i in range(G.shape[0])])
    analytic = bp.to_numpy(loss.dC_dg_xp(xp, xp.asarray(G), xp.asarray(Y)))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-8)


# ----------------------------------------------------------------------------- δ_L


def _per_example_cost(xp, output, loss, Z, Y):
    """C_i(z) for every row: from logits for cross-entropy, from g otherwise (NumPy)."""
    Zx, Yx = xp.asarray(Z), xp.asarray(Y)
    if loss.from_logits_xp is not None:
        return bp.to_numpy(loss.from_logits_xp(xp, output.logits_xp(xp, Zx), Yx))
    return bp.to_numpy(loss.value_xp(xp, output.S_xp(xp, Zx), Yx))


@pytest.mark.parametrize("output_name, loss_name", PAIRS)
def test_general_delta_is_dC_dz(xp, output_name, loss_name):
    """δ_L = ∂C/∂z_L, checked against central differences of C in z_L, every pair."""
    output, loss, Z, Y = _case(output_name, loss_name)
    G = _G(xp, output, Z)
    Delta = bp.to_numpy(bp.output_delta_general(xp, output, loss, xp.asarray(Z), G, xp.asarray(Y)))
    assert Delta.shape == Z.shape
    numeric = np.stack([
        bp.numerical_gradient(
            lambda z, i=i: _per_example_cost(xp, output, loss, z[None, :], Y[i : i + 1])[0],
            Z[i], h=1e-6)
        for i in range(Z.shape[0])
    ])
    np.testing.assert_allclose(Delta, numeric, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("output_name, loss_name", FUSED)
def test_fused_delta_equals_general_delta(xp, output_name, loss_name):
    output, loss, Z, Y = _case(output_name, loss_name, n=7, p_L=4, seed=5)
    assert output_name in loss.fused
    args = (xp.asarray(Z), _G(xp, output, Z), xp.asarray(Y))
    fused = bp.to_numpy(bp.output_delta(xp, output, loss, *args))
    general = bp.to_numpy(bp.output_delta_general(xp, output, loss, *args))
    np.testing.assert_allclose(fused, general, rtol=1e-12, atol=1e-15)


def test_fused_softmax_cross_entropy_is_g_minus_e_y(xp):
    output, loss, Z, Y = _case("softmax", "cross_entropy", n=4, p_L=3, seed=9)
    G = _G(xp, output, Z)
    Delta = bp.to_numpy(bp.output_delta(xp, output, loss, xp.asarray(Z), G, xp.asarray(Y)))
    np.testing.assert_array_equal(Delta, bp.to_numpy(G) - Y)


@pytest.mark.parametrize("name", ["identity", "logistic", "relu", "tanh"])
def test_fused_elementwise_squared_error_is_S_prime_times_2_residual(xp, name):
    output, loss, Z, Y = _case(name, "squared_error", seed=4)
    G = _G(xp, output, Z)
    Delta = bp.to_numpy(bp.output_delta(xp, output, loss, xp.asarray(Z), G, xp.asarray(Y)))
    expected = bp.to_numpy(bp.ACTIVATIONS[name].S_prime(xp.asarray(Z))) * 2 * (bp.to_numpy(G) - Y)
    np.testing.assert_allclose(Delta, expected, rtol=1e-14, atol=1e-15)


def test_softmax_with_squared_error_has_no_fused_form(xp):
    output, loss, Z, Y = _case("softmax", "squared_error")
    assert "softmax" not in loss.fused
    args = (xp.asarray(Z), _G(xp, output, Z), xp.asarray(Y))
    np.testing.assert_array_equal(
        bp.to_numpy(bp.output_delta(xp, output, loss, *args)),
        bp.to_numpy(bp.output_delta_general(xp, output, loss, *args)),
    )


def test_softmax_vjp_equals_explicit_jacobian(xp):
    """(∂S_L/∂z) v with ∂S_L/∂z = diag(g) - g g^T, formed as a matrix per example."""
    rng = np.random.default_rng(6)
    output = get_output("softmax")
    Z, V = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    G = bp.to_numpy(_G(xp, output, Z))
    product = bp.to_numpy(output.vjp_xp(xp, xp.asarray(Z), xp.asarray(G), xp.asarray(V)))
    for i in range(3):
        J = np.diag(G[i]) - np.outer(G[i], G[i])
        np.testing.assert_allclose(product[i], J @ V[i], rtol=1e-13, atol=1e-16)


def test_general_cross_entropy_delta_breaks_where_fused_does_not(xp):
    """At logits ±1e4 the general formula divides by g = 0; the fused one stays finite."""
    output, loss = get_output("softmax"), get_loss("cross_entropy")
    Z = xp.asarray([[1e4, -1e4]])
    Y = xp.asarray([[0.0, 1.0]])
    G = _G(xp, output, Z)
    fused = bp.to_numpy(bp.output_delta(xp, output, loss, Z, G, Y))
    np.testing.assert_array_equal(fused, [[1.0, -1.0]])
    with np.errstate(divide="ignore", invalid="ignore"):
        general = bp.to_numpy(bp.output_delta_general(xp, output, loss, Z, G, Y))
    assert not np.all(np.isfinite(general))


@pytest.mark.parametrize("output_name", ["softmax", "softmax_reduced"])
def test_network_cross_entropy_finite_for_logits_1e4(backend, output_name):
    """A network whose logits are ±1e4 still gives a finite loss and gradient."""
    K = 3
    p_L = K if output_name == "softmax" else K - 1
    net = bp.Network([2, p_L], output=output_name, backend=backend)
    W = np.zeros((p_L, 2))
    W[:, 0] = 1e4 * np.where(np.arange(p_L) % 2 == 0, 1.0, -1.0)
    net.W[0] = W
    net.b[0] = np.zeros(p_L)
    X = np.array([[1.0, 0.0], [-1.0, 0.0]])
    y = np.array([1, 0])
    loss, grad = net.loss_and_gradient(X, y)
    grad = bp.to_numpy(grad)
    assert math.isfinite(loss) and loss > 1e3
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    G = bp.to_numpy(net.predict(X))
    assert np.all(np.isfinite(G))
    np.testing.assert_allclose(G.sum(axis=1), 1.0, rtol=1e-15)


def test_unknown_output_and_loss_names():
    with pytest.raises(ValueError, match=r"output must be one of \[.*'softmax'.*\]; got 'softmin'"):
        get_output("softmin")
    with pytest.raises(ValueError, match=r"loss must be one of \['binary_cross_entropy', 'cross_entropy', "
                       r"'squared_error'\]; got 'hinge'"):
        get_loss("hinge")


def test_output_and_loss_names_must_be_strings():
    with pytest.raises(TypeError, match=r"output must be an output-layer name \(str\); got NoneType"):
        get_output(None)
    with pytest.raises(TypeError, match=r"loss must be a loss name \(str\); got float"):
        get_loss(1.0)


def test_network_logistic_output_without_overflow_for_z_1e4(backend):
    """Logistic hidden and output units at z = ±1e4: no overflow warning (an error under
    this project's pytest settings), finite loss and gradient, g exactly 0 or 1."""
    net = bp.Network([1, 2, 1], hidden="logistic", output="logistic", backend=backend)
    net.W[0] = np.array([[1e4], [-1e4]])
    net.b[0] = np.zeros(2)
    net.W[1] = np.array([[1e4, -1e4]])
    net.b[1] = np.array([0.0])
    X = np.array([[1.0], [-1.0]])
    G = bp.to_numpy(net.predict(X))
    np.testing.assert_array_equal(G, [[1.0], [0.0]])  # z_2 = ±1e4
    loss, grad = net.loss_and_gradient(X, np.array([0.0, 1.0]))
    assert loss == 1.0
    assert np.all(np.isfinite(bp.to_numpy(grad)))


def test_output_heads_have_S_and_S_prime_like_the_activations():
    # net.S(L) is an Output: it answers S and, where element-wise, S' as net.S(l < L) does.
    net = bp.Network([2, 3, 2], hidden="tanh", output="logistic")
    Z = np.array([[-1.0, 0.5]])
    np.testing.assert_allclose(net.S(2).S(Z), 1 / (1 + np.exp(-Z)), rtol=1e-15)
    g = 1 / (1 + np.exp(-Z))
    np.testing.assert_allclose(net.S(2).S_prime(Z), g * (1 - g), rtol=1e-14)
    soft = bp.Network([2, 3], output="softmax").S(1)
    np.testing.assert_allclose(soft.S(Z).sum(axis=1), 1.0, rtol=1e-15)
    with pytest.raises(TypeError, match="not element-wise"):
        soft.S_prime(Z)
