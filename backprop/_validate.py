"""Checks of user input, shared by every public function.

Each check either returns the input as an array of the network's backend and dtype, or
raises a ValueError / TypeError whose message names the argument, what was expected and
what came. Nothing is broadcast, clipped or dropped on the way.
"""

from __future__ import annotations

import numbers

import numpy as np
from array_api_compat import is_array_api_obj, is_cupy_array

from .backend import backend_name


def _describe(x) -> str:
    shape = getattr(x, "shape", None)
    return f"{type(x).__name__} of shape {tuple(shape)}" if shape is not None else type(x).__name__


def to_backend(xp, x, name: str):
    """``x`` as an array of namespace ``xp`` (no dtype change yet); TypeError if it is not numeric."""
    target = backend_name(xp)
    if is_cupy_array(x) and target != "cupy":
        raise TypeError(
            f"{name} is a CuPy (GPU) array but the network's backend is {target!r}; "
            f"move it with backprop.to_numpy({name}) or build the network with backend='cupy'"
        )
    if not is_array_api_obj(x):
        if isinstance(x, (str, bytes, dict, set)) or x is None:
            raise TypeError(f"{name} must be an array of numbers; got {type(x).__name__}")
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as err:
            raise TypeError(f"{name} must be an array of numbers; got {type(x).__name__}") from err
    if isinstance(x, np.ndarray) and x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {x.dtype}")
    if target == "numpy" and not isinstance(x, np.ndarray):
        x = np.from_dlpack(x)  # an array_api_strict (or other CPU) array
    elif target != "numpy" and isinstance(x, np.ndarray):
        x = xp.asarray(x)
    if xp.isdtype(x.dtype, "complex floating"):
        raise TypeError(f"{name} must hold real numbers; got dtype {x.dtype}")
    if xp.isdtype(x.dtype, "bool"):
        raise TypeError(f"{name} must hold numbers, not booleans; got dtype {x.dtype}")
    return x


def _check_finite(xp, x, name: str) -> None:
    if xp.isdtype(x.dtype, "real floating") and not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} contains NaN or inf; every entry must be finite")


def check_X(xp, X, p0: int, dtype, name: str = "X"):
    """A batch X of shape (n, p_0) with n >= 1 and finite entries, cast to ``dtype``."""
    X = to_backend(xp, X, name)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n, p_0) = (n, {p0}), one example per row; "
            f"got shape {tuple(X.shape)}"
        )
    if X.shape[1] != p0:
        raise ValueError(
            f"{name} must have p_0 = {p0} columns (the network's input width); "
            f"got shape {tuple(X.shape)}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(X.shape)}); need n >= 1")
    _check_finite(xp, X, name)
    return xp.astype(X, dtype, copy=False)


def check_labels(xp, y, n: int, K: int, name: str = "y"):
    """Integer class labels of shape (n,) in 0..K-1 (whole-number floats accepted), as int64."""
    y = to_backend(xp, y, name)
    if y.ndim == 2 and y.shape[1] == 1:
        raise ValueError(
            f"{name} must be a 1-D array of class labels of shape (n,) = ({n},); got shape "
            f"{tuple(y.shape)}: pass {name}.ravel() (a column would broadcast into an (n, n) loss)"
        )
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of class labels of shape (n,) = ({n},); "
            f"got shape {tuple(y.shape)}"
        )
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} labels but X has n = {n} rows")
    if xp.isdtype(y.dtype, "real floating"):
        _check_finite(xp, y, name)
        if not bool(xp.all(y == xp.round(y))):
            raise ValueError(f"{name} must hold whole-number class labels 0..{K - 1}; got fractions")
    y = xp.astype(y, xp.int64)
    lo, hi = int(xp.min(y)), int(xp.max(y))
    if lo < 0 or hi > K - 1:
        raise ValueError(
            f"{name} must hold class labels in 0..{K - 1} (K = {K} classes); "
            f"got values from {lo} to {hi}"
        )
    return y


def one_hot(xp, y, K: int, dtype):
    """Rows e_{y_i + 1}: the one-hot matrix of labels y, shape (n, K)."""
    return xp.astype(y[:, None] == xp.arange(K, dtype=y.dtype)[None, :], dtype)


def check_targets(xp, y, n: int, p_L: int, dtype, name: str = "y"):
    """Regression targets of shape (n, p_L) (or (n,) when p_L = 1), finite, cast to ``dtype``."""
    y = to_backend(xp, y, name)
    if y.ndim == 1 and p_L == 1:
        y = xp.reshape(y, (y.shape[0], 1))
    if y.ndim != 2 or y.shape[1] != p_L:
        allowed = f"(n, {p_L})" + (" or (n,)" if p_L == 1 else "")
        raise ValueError(
            f"{name} must have shape {allowed}, one row of p_L = {p_L} targets per example; "
            f"got shape {tuple(y.shape)}"
        )
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} rows but X has n = {n} rows")
    _check_finite(xp, y, name)
    return xp.astype(y, dtype, copy=False)


def check_theta(xp, theta, dim: int, dtype, name: str = "theta"):
    """A flat parameter vector of length dim(θ), finite, cast to ``dtype``."""
    theta = to_backend(xp, theta, name)
    if theta.ndim != 1 or theta.shape[0] != dim:
        raise ValueError(
            f"{name} must be a flat vector of length dim(theta) = {dim}; got shape {tuple(theta.shape)}"
        )
    _check_finite(xp, theta, name)
    return xp.astype(theta, dtype, copy=False)


def check_int(value, name: str, minimum: int = 0) -> int:
    """A Python integer >= minimum (bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {_describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)
