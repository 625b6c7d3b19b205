"""backprop.activations: S, S' and S' written through a = S(z), on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
from backprop.activations import get_activation

NAMES = sorted(bp.ACTIVATIONS)
# Points away from the ReLU kink at 0, so that every S is differentiable there.
Z_GRID = np.array([-6.0, -2.5, -1.0, -0.3, -1e-3, 1e-3, 0.2, 0.7, 1.5, 4.0, 9.0])


def test_table_holds_the_lecture_activations():
    assert set(NAMES) == {"identity", "logistic", "relu", "tanh"}


@pytest.mark.parametrize(
    "name, z, expected",
    [
        ("identity", [-2.0, 0.0, 3.5], [-2.0, 0.0, 3.5]),
        ("relu", [-2.0, 0.0, 3.5], [0.0, 0.0, 3.5]),
        ("logistic", [0.0, math.log(3.0), -math.log(3.0)], [0.5, 0.75, 0.25]),
        ("tanh", [0.0, math.log(2.0)], [0.0, 0.6]),  # tanh(ln 2) = (4 - 1)/(4 + 1)
    ],
)
def test_S_at_known_points(xp, name, z, expected):
    a = bp.ACTIVATIONS[name].S(xp.asarray(z))
    np.testing.assert_allclose(bp.to_numpy(a), expected, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize(
    "name, z, expected",
    [
        ("identity", [-2.0, 0.0, 3.5], [1.0, 1.0, 1.0]),
        ("relu", [-2.0, 0.0, 3.5], [0.0, 0.0, 1.0]),  # S'(0) = 0 by convention
        ("logistic", [0.0, math.log(3.0)], [0.25, 0.1875]),  # σ(1 - σ) = 3/4 · 1/4
        ("tanh", [0.0, math.log(2.0)], [1.0, 0.64]),
    ],
)
def test_S_prime_at_known_points(xp, name, z, expected):
    d = bp.ACTIVATIONS[name].S_prime(xp.asarray(z))
    np.testing.assert_allclose(bp.to_numpy(d), expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_S_prime_matches_central_differences(xp, name):
    act = bp.ACTIVATIONS[name]
    h = 1e-5
    z = xp.asarray(Z_GRID)
    numeric = (bp.to_numpy(act.S(z + h)) - bp.to_numpy(act.S(z - h))) / (2 * h)
    np.testing.assert_allclose(bp.to_numpy(act.S_prime(z)), numeric, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_S_prime_from_a_equals_S_prime_of_z(xp, name):
    act = bp.ACTIVATIONS[name]
    z = xp.asarray(np.concatenate([Z_GRID, [0.0, -30.0, 30.0]]))
    np.testing.assert_allclose(
        bp.to_numpy(act.S_prime_from_a(act.S(z))), bp.to_numpy(act.S_prime(z)), rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("name", NAMES)
def test_shape_and_dtype_are_kept(xp, name):
    act = bp.ACTIVATIONS[name]
    for dtype in (xp.float64, xp.float32):
        z = xp.reshape(xp.asarray(np.linspace(-3, 3, 12), dtype=dtype), (3, 4))
        for out in (act.S(z), act.S_prime(z), act.S_prime_from_a(act.S(z))):
            assert out.shape == (3, 4)
            assert out.dtype == dtype


def test_logistic_has_no_overflow_for_huge_arguments(xp):
    # pytest turns RuntimeWarning (overflow in exp) into an error, so this also checks
    # that no warning is issued.
    z = xp.asarray([-1e4, -745.0, -50.0, 0.0, 50.0, 745.0, 1e4])
    act = bp.ACTIVATIONS["logistic"]
    a = bp.to_numpy(act.S(z))
    d = bp.to_numpy(act.S_prime(z))
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))
    assert a[0] == 0.0 and a[-1] == 1.0 and a[3] == 0.5
    assert np.all((a >= 0) & (a <= 1))
    assert np.all(np.diff(a) >= 0)
    np.testing.assert_allclose(a[2], math.exp(-50.0) / (1 + math.exp(-50.0)), rtol=1e-14)


def test_logistic_symmetry(xp):
    z = np.linspace(-40, 40, 81)
    act = bp.ACTIVATIONS["logistic"]
    a = bp.to_numpy(act.S(xp.asarray(z)))
    b = bp.to_numpy(act.S(xp.asarray(-z)))
    np.testing.assert_allclose(a + b, 1.0, rtol=0, atol=1e-15)


def test_logistic_small_tail_is_accurate(xp):
    # σ(-30) ≈ e^{-30}; a naive 1 - σ(30) would give about 1e-13 relative accuracy at best.
    a = float(bp.to_numpy(bp.ACTIVATIONS["logistic"].S(xp.asarray([-30.0])))[0])
    assert a == pytest.approx(math.exp(-30) / (1 + math.exp(-30)), rel=1e-14)


def test_relu_derivative_is_zero_or_one(xp):
    z = xp.asarray([-1.0, -1e-300, 0.0, 1e-300, 1.0])
    d = bp.to_numpy(bp.ACTIVATIONS["relu"].S_prime(z))
    np.testing.assert_array_equal(d, [0.0, 0.0, 0.0, 1.0, 1.0])


def test_sigmoid_is_an_alias_of_logistic():
    assert get_activation("sigmoid") is bp.ACTIVATIONS["logistic"]
    net = bp.Network([2, 3, 1], hidden="sigmoid", output="sigmoid")
    assert net.hidden == ["logistic"] and net.output == "logistic"


def test_unknown_activation_name():
    with pytest.raises(ValueError, match=r"hidden must be one of \[.*'relu'.*\]; got 'softplus'"):
        get_activation("softplus", "hidden")


def test_activation_name_must_be_a_string():
    with pytest.raises(TypeError, match=r"activation must be an activation name \(str\); got int"):
        get_activation(3)
