"""Tensor ** k, Tensor / c, c / Tensor and Tensor / Tensor (issue 28) against HIPS autograd,
an autodiff written apart from this package, on NumPy and array_api_strict."""

from __future__ import annotations

import warnings

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from backprop.autodiff import Tensor

# Scalar functions of (a, b), a of shape (3, 4) with positive entries, b of shape (4,)
# (broadcast over the rows), each written once for Tensors and once for autograd.numpy.
FUNCTIONS = {
    "square": lambda a, b, np_: (a ** 2 * b).sum(),
    "power_2_5": lambda a, b, np_: (a ** 2.5).sum(),
    "power_half": lambda a, b, np_: (a ** 0.5 * b).sum(),
    "power_minus_1": lambda a, b, np_: (a ** -1).sum(),
    "power_numpy_scalar": lambda a, b, np_: (a ** np.float64(1.5)).sum(),
    "power_zero": lambda a, b, np_: (a ** 0 * b).sum(),
    "div_constant": lambda a, b, np_: ((a / 3.0) * (a / 3.0)).sum(),
    "constant_div": lambda a, b, np_: (2.0 / a).sum(),
    "array_div_tensor": lambda a, b, np_: (np.arange(1.0, 5.0) / a).sum(),
    "tensor_div_tensor": lambda a, b, np_: (a / b).sum(),
    "broadcast_div": lambda a, b, np_: ((b / a) * a).sum() + (a / b ** 2).sum(),
    "mixed": lambda a, b, np_: ((a ** 3 - 1.0 / a) / (b * b + 1.0)).mean(),
}


def _tensor_value_and_grads(fn, a, b, xp):
    ta, tb = Tensor(xp.asarray(a)), Tensor(xp.asarray(b))
    f = fn(ta, tb, xp)
    f.backward()
    gb = np.zeros_like(b) if tb.grad is None else np.asarray(tb.grad)  # f does not use b
    return float(f.data), np.asarray(ta.grad), gb


def _autograd_value_and_grads(fn, a, b):
    # autograd's arrays have .sum() and .mean() as NumPy's do, so the same lambda runs
    def f(a, b):
        return fn(a, b, anp)

    with warnings.catch_warnings():  # "Output seems independent of input" where f omits b
        warnings.simplefilter("ignore", UserWarning)
        return f(a, b), autograd.grad(f, 0)(a, b), autograd.grad(f, 1)(a, b)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
def test_power_and_division_match_autograd(name, backend):
    if backend == "numpy":
        xp = np
    else:
        xp = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(len(name))
    a = rng.uniform(0.5, 2.0, size=(3, 4))
    b = rng.uniform(0.5, 2.0, size=4)
    fn = FUNCTIONS[name]
    value, ga, gb = _tensor_value_and_grads(fn, a, b, xp)
    ref_value, ref_a, ref_b = _autograd_value_and_grads(fn, a, b)
    np.testing.assert_allclose(value, ref_value, rtol=1e-13)
    np.testing.assert_allclose(ga, ref_a, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gb, ref_b, rtol=1e-12, atol=1e-14)
    # the function depends on a (but for a ** 0 = 1): a zero gradient would be a bug
    assert np.any(ga != 0) or name == "power_zero"


def test_power_slope_by_hand():
    # d/dx x^2.5 = 2.5 x^1.5: at x = 4, 2.5 * 8 = 20; d/dx 3/x = -3/x² = -3/16
    x = Tensor(np.array([4.0]))
    (x ** 2.5).sum().backward()
    assert x.grad[0] == pytest.approx(20.0, rel=1e-15)
    x = Tensor(np.array([4.0]))
    (3.0 / x).sum().backward()
    assert x.grad[0] == pytest.approx(-3.0 / 16.0, rel=1e-15)


def test_division_of_a_constant_by_a_constant_array_is_not_recorded():
    a = Tensor(np.array([2.0, 4.0]))
    c = Tensor(np.array([1.0, 1.0]), requires_grad=False)
    out = (a / c).sum()
    out.backward()
    np.testing.assert_array_equal(a.grad, [1.0, 1.0])
    assert c.grad is None


@pytest.mark.parametrize("exponent", [Tensor(np.array(2.0)), np.array([2.0, 3.0]), "2", None,
                                      True, 1 + 2j])
def test_power_refuses_an_exponent_that_is_not_a_constant_real(exponent):
    a = Tensor(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="exponent must be a constant real number"):
        a ** exponent


def test_power_with_a_tensor_exponent_says_how_to_differentiate_it():
    a = Tensor(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"\(k \* x.log\(\)\).exp\(\)"):
        a ** Tensor(np.array(2.0))


def test_power_of_negative_base_with_fractional_exponent_is_nan_as_in_numpy():
    a = Tensor(np.array([-1.0, 4.0]))
    with np.errstate(invalid="ignore"):
        out = a ** 0.5
    assert np.isnan(out.data[0]) and out.data[1] == 2.0


def test_softplus_matches_autograd_and_does_not_overflow():
    x = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    t = Tensor(x)
    f = t.softplus().sum()
    f.backward()

    def ref(x):
        return anp.sum(anp.logaddexp(0.0, x))

    np.testing.assert_allclose(float(f.data), ref(x), rtol=1e-15)
    np.testing.assert_allclose(t.grad, autograd.grad(ref)(x), rtol=1e-14, atol=1e-300)
    assert t.grad[0] == 0.0 and t.grad[-1] == 1.0
