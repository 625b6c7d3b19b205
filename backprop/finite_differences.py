"""Central differences: the numerical gradient and Jacobian that the book checks against.

∂f/∂x_i ≈ (f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i), with h_i = h0 · max(1, |x_i|): the
error is O(h²) from truncation and O(ε |f| / h) from rounding, balanced near h0 = ε^(1/3).
:func:`backprop.gradcheck` builds on these steps (in float64, with a Richardson step).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _validate as check


def check_options(h, tolerance, seed, warn):
    """h (None or a finite step > 0), tolerance (None or a finite number >= 0), seed, warn."""
    for name, value, low in (("h", h, "positive step"), ("tolerance", tolerance, "number >= 0")):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a {low} (a real number); got {type(value).__name__}")
        bad = not math.isfinite(value) or (value <= 0 if name == "h" else value < 0)
        if bad:
            raise ValueError(f"{name} must be a {low}; got {name}={value!r}")
    check.check_int(seed, "seed")
    if not isinstance(warn, (bool, np.bool_)):
        raise TypeError(f"warn must be True or False; got {type(warn).__name__}")



def step_sizes(x, indices, h) -> np.ndarray:
    """The step of each coordinate: h0 · max(1, |x_i|), h0 = h or ε^(1/3) of x's dtype."""
    h0 = float(np.finfo(x.dtype).eps) ** (1 / 3) if h is None else float(h)
    if not h0 > 0:
        raise ValueError(f"h must be a positive step; got {h}")
    with np.errstate(over="ignore"):  # an overflowing step is refused where it is taken
        return h0 * np.maximum(1.0, np.abs(x.ravel()[indices]))


def _float_array(x, name: str = "x") -> np.ndarray:
    """x as a NumPy float array (no mask, no objects), or TypeError naming it."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a plain float array; got a masked array (numpy.ma)")
    try:
        x = np.asarray(x)
    except (ValueError, TypeError) as err:
        raise TypeError(f"{name} must be a float array; got {type(x).__name__}") from err
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array; got dtype {x.dtype}")
    return x


def _value(f, v) -> float:
    """f(v) as a float; TypeError naming f when it is not one number."""
    value = f(v)
    if np.ndim(value) != 0:
        raise TypeError(f"f must return one number; got shape {np.shape(value)}")
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"f must return one number; got {type(value).__name__}") from err


def _indices(indices, size: int) -> np.ndarray:
    """Flat positions 0..size-1 as an intp vector, or a ValueError/TypeError naming them."""
    picked = None
    if not isinstance(indices, (str, bytes, dict, set)):
        try:
            picked = np.asarray(indices)
        except (ValueError, TypeError):  # a ragged list
            pass
    if picked is None or picked.dtype.kind not in "iu":
        raise TypeError(f"indices must be integer flat positions; got {type(indices).__name__}"
                        + (f" of dtype {picked.dtype}" if picked is not None else ""))
    if picked.ndim != 1:
        raise ValueError(f"indices must be a 1-D list of positions; got shape {picked.shape}")
    if picked.size and (picked.min() < 0 or picked.max() >= size):
        raise ValueError(f"indices must lie in 0..{size - 1} (x has {size} entries); got "
                         f"values from {picked.min()} to {picked.max()}")
    return picked.astype(np.intp)


def numerical_gradient(f, x, h=None, indices=None) -> np.ndarray:
    """∂f/∂x_i ≈ (f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i) for a scalar function f.

    x: a NumPy float array of any shape; f(x) returns a number. h_i = h0 · max(1, |x_i|)
    with h0 = h, or ε^(1/3) of x's dtype by default (one central difference, without the
    Richardson step that :func:`gradcheck` adds). f is called as f(x + h_i e_i), then
    f(x - h_i e_i), coordinate after coordinate, on copies of x. Returns an array of x's
    shape; with ``indices`` (flat positions), only those coordinates, as a 1-D array in
    that order.
    """
    if not callable(f):
        raise TypeError(f"f must be a function of x returning a number; got {type(f).__name__}")
    x = _float_array(x)
    check_options(h, None, 0, True)
    flat = x.ravel()
    picked = np.arange(flat.size) if indices is None else _indices(indices, flat.size)
    steps = step_sizes(x, picked, h)
    out = np.empty(picked.size)
    for k, (i, step) in enumerate(zip(picked, steps, strict=True)):
        plus, minus = flat.copy(), flat.copy()
        with np.errstate(over="ignore", invalid="ignore"):
            plus[i] += step
            minus[i] -= step
            width = plus[i] - minus[i]  # the step actually taken, after rounding x_i ± h_i
        if not (np.isfinite(width) and width > 0):
            raise ValueError(
                f"h = {h} gives no usable step at x[{i}] = {float(flat[i])!r}: x ± h is "
                f"{float(minus[i])!r}, {float(plus[i])!r} (the step overflows or vanishes "
                f"in {x.dtype})"
            )
        out[k] = (_value(f, plus.reshape(x.shape)) - _value(f, minus.reshape(x.shape))) / width
    return out.reshape(x.shape) if indices is None else out


def numerical_jacobian(f, x, h=None) -> np.ndarray:
    """J_ij = ∂f_i/∂x_j by central differences, for f from vectors to vectors.

    The usual Jacobian: one row per component of f(x), one column per component of x.
    The lecture writes ∂f/∂x for its transpose, ``numerical_jacobian(f, x).T``.
    """
    if not callable(f):
        raise TypeError(f"f must be a function of x returning a vector; got {type(f).__name__}")
    x = _float_array(x)
    if x.ndim != 1:
        raise ValueError(f"x must be a vector; got shape {x.shape}")
    columns = [numerical_gradient(lambda v, i=i: np.ravel(f(v))[i], x, h)
               for i in range(np.size(f(x)))]
    return np.stack(columns) if columns else np.zeros((0, x.size))
