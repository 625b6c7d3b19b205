"""Checks of user input, shared by every public function.

Each check either returns the input as an array of the network's backend and dtype, or
raises a ValueError / TypeError whose message names the argument, what was expected and
what came. Nothing is broadcast, clipped or dropped on the way.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj, is_cupy_array

from .backend import backend_name, on_device


def _describe(x) -> str:
    shape = getattr(x, "shape", None)
    return f"{type(x).__name__} of shape {tuple(shape)}" if shape is not None else type(x).__name__


def _refuse_lossy_numpy(x, name: str):
    """``x`` as a plain ndarray, or TypeError where converting it would drop information.

    A masked array with masked entries (the mask would be dropped and the hidden values
    used), an object array (None, pandas.NA, nested arrays, Python objects: no faithful
    numeric dtype) and any non-numeric dtype (complex: the imaginary part would be lost;
    strings, dates, structured records) are refused. An ndarray subclass (np.matrix, a
    masked array with nothing masked) becomes a plain ndarray with the same entries.
    """
    if isinstance(x, np.ma.MaskedArray):
        masked = int(np.count_nonzero(np.ma.getmaskarray(x)))
        if masked:
            raise TypeError(
                f"{name} is a masked array (numpy.ma) with {masked} masked entr"
                f"{'y' if masked == 1 else 'ies'} of {x.size}; the mask would be dropped and "
                f"the hidden values used: pass {name}.filled(value) or keep only the unmasked "
                f"rows"
            )
        x = np.ma.getdata(x)
    if type(x) is not np.ndarray:
        x = np.asarray(x)
    if x.dtype.kind == "O":
        raise TypeError(
            f"{name} must be an array of numbers; got an object array of shape {x.shape} "
            f"(entries such as None, pandas.NA, arrays of other lengths or other Python "
            f"objects have no numeric dtype)"
        )
    if x.dtype.kind == "c":
        raise TypeError(
            f"{name} must hold real numbers; got dtype {x.dtype} (complex: the imaginary "
            f"part would be dropped)"
        )
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {x.dtype}")
    return x


# Where DLPack refuses: no __dlpack__ (AttributeError: a Dask array), a tensor that requires
# grad (BufferError), a dtype NumPy lacks such as bfloat16 (RuntimeError / TypeError).
_DLPACK_ERRORS = (AttributeError, BufferError, RuntimeError, TypeError, ValueError)


def _host(x, name: str) -> np.ndarray:
    """An array-API object of another CPU library as a NumPy array: through DLPack, else
    through NumPy's ``__array__`` protocol; TypeError naming ``name`` when neither reads it."""
    try:
        return np.from_dlpack(x)
    except _DLPACK_ERRORS as err:
        reason = err
    if hasattr(x, "__array__"):
        try:
            return np.asarray(x)
        except _DLPACK_ERRORS as err:
            reason = err
    raise TypeError(
        f"{name} is a {_describe(x)} that cannot be read as an array "
        f"({type(reason).__name__}: {reason}); pass a NumPy array of real numbers (a torch "
        f"tensor: {name}.detach().to(torch.float64).numpy())"
    )


def to_host(x, name: str) -> np.ndarray:
    """``x`` (an array of any backend, a list, a number) as a NumPy array, no dtype change;
    TypeError naming ``name`` where it cannot be read (or would lose its mask)."""
    if isinstance(x, np.ma.MaskedArray) and np.ma.count_masked(x):
        _refuse_lossy_numpy(x, name)  # raises: the mask would be dropped
    if isinstance(x, np.ndarray):
        return np.asarray(x)
    if is_cupy_array(x):
        return x.get()
    if is_array_api_obj(x) and not isinstance(x, np.generic):
        return _host(x, name)
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as err:
        raise TypeError(f"{name} must be an array of numbers; got {type(x).__name__} that "
                        f"NumPy cannot turn into one ({err})") from err


def _array_api_dtype(x: np.ndarray, name: str) -> np.ndarray:
    """A NumPy array of a dtype the array API lacks in the nearest one it has, for a backend
    other than NumPy: float16 -> float32 (exact); long double -> float64, refused where a
    finite entry is beyond float64's range (as NumPy's own cast to the dtype is, in _cast)."""
    if not x.dtype.isnative or not x.flags.c_contiguous:
        # torch reads neither another byte order nor negative strides; the others copy anyway
        x = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("="))
    if x.dtype == np.float16:
        return x.astype(np.float32)
    if x.dtype.kind == "f" and x.dtype.itemsize > 8:
        big = np.finfo(np.float64).max
        too_big = np.isfinite(x) & (np.abs(x) > big)
        if np.any(too_big):
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(too_big)), x.shape))
            value = np.format_float_scientific(x[index], precision=4, trim="-")
            raise ValueError(
                f"{name} has entries beyond the range of float64 (|value| <= {big:.4g}); "
                f"got {value} at index {index}"
            )
        return x.astype(np.float64)
    return x


def to_backend(xp, x, name: str):
    """``x`` as an array of namespace ``xp`` (no dtype change yet); TypeError if not numeric
    or if the conversion would drop information (a mask, an imaginary part, objects)."""
    target = backend_name(xp)
    if is_cupy_array(x) and target != "cupy":
        raise TypeError(
            f"{name} is a CuPy (GPU) array but the network's backend is {target!r}; "
            f"move it with backprop.to_numpy({name}) or build the network with backend='cupy'"
        )
    if isinstance(x, np.generic):  # a NumPy scalar such as y[0]: no __dlpack__, make it 0-D
        x = np.asarray(x)
    if not is_array_api_obj(x):
        if isinstance(x, (str, bytes, dict, set)) or x is None:
            raise TypeError(f"{name} must be an array of numbers; got {type(x).__name__}")
        try:
            with warnings.catch_warnings():
                # NumPy warns for a ragged nested list (refused below) and for masked entries
                warnings.simplefilter("ignore")
                # np.ma keeps the masks of masked arrays inside a list (np.asarray drops them)
                x = np.ma.asarray(x)
        except (ValueError, TypeError) as err:
            raise TypeError(
                f"{name} must be an array of numbers; got {type(x).__name__} that NumPy cannot "
                f"turn into one ({err})"
            ) from err
    if isinstance(x, np.ndarray):
        x = _refuse_lossy_numpy(x, name)
    elif target == "numpy" or backend_name(array_namespace(x)) != target:
        # another library's array (array_api_strict, Dask, torch, ...): read on the host
        x = _refuse_lossy_numpy(_host(x, name), name)
    else:  # the backend's own array, perhaps on another device
        x = on_device(xp, x)
    if target != "numpy" and isinstance(x, np.ndarray):
        x = xp.asarray(_array_api_dtype(x, name))  # NumPy into another library, on its device
    if xp.isdtype(x.dtype, "complex floating"):
        raise TypeError(
            f"{name} must hold real numbers; got dtype {x.dtype} (complex: the imaginary "
            f"part would be dropped)"
        )
    if xp.isdtype(x.dtype, "bool"):
        raise TypeError(f"{name} must hold numbers, not booleans; got dtype {x.dtype}")
    return x


def _first_where(xp, mask):
    """(index tuple, flat position) of the first True entry of a boolean array."""
    flat = xp.reshape(mask, (-1,))
    k = int(xp.argmax(xp.astype(flat, xp.int8)))
    index, rest = [], k
    for size in reversed(tuple(mask.shape)):
        index.append(rest % size)
        rest //= size
    return tuple(reversed(index)), k


def _check_finite(xp, x, name: str) -> None:
    if xp.isdtype(x.dtype, "real floating") and not bool(xp.all(xp.isfinite(x))):
        bad = ~xp.isfinite(x)
        index, k = _first_where(xp, bad)
        value = float(xp.reshape(x, (-1,))[k])
        count = int(xp.sum(xp.astype(bad, xp.int64)))
        raise ValueError(
            f"{name} contains NaN or inf; every entry must be finite; got {value} at index "
            f"{index} ({count} non-finite of {_size(x)} entries, shape {tuple(x.shape)})"
        )


def _size(x) -> int:
    return math.prod(int(s) for s in x.shape)


def _cast(xp, x, dtype, name: str):
    """``x`` cast to ``dtype``; ValueError (not a silent inf) if a value is beyond its range."""
    if xp.isdtype(x.dtype, "real floating") and _size(x) > 0:
        big = xp.finfo(dtype).max
        if xp.finfo(x.dtype).max > big:
            too_big = xp.abs(x) > big
            if bool(xp.any(too_big)):
                index, k = _first_where(xp, too_big)
                dtype_name = getattr(dtype, "__name__", None) or str(dtype).rsplit(".", 1)[-1]
                raise ValueError(
                    f"{name} has entries beyond the range of {dtype_name} (|value| <= {big:.4g}); "
                    f"got {float(xp.reshape(x, (-1,))[k]):.4g} at index {index}"
                )
    return xp.astype(x, dtype, copy=False)


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
    return _cast(xp, X, dtype, name)


def check_labels(xp, y, n: int, K: int, name: str = "y"):
    """Integer class labels of shape (n,) in 0..K-1 (whole-number floats accepted), as int64."""
    y = to_backend(xp, y, name)
    if y.ndim != 1:
        column = y.ndim == 2 and y.shape[1] == 1
        hint = f": pass {name}.ravel() (a column would broadcast into an (n, n) loss)"
        raise ValueError(
            f"{name} must be a 1-D array of class labels of shape (n,) = ({n},); "
            f"got shape {tuple(y.shape)}" + (hint if column else "")
        )
    if y.shape[0] != n:
        raise ValueError(
            f"{name} has {y.shape[0]} labels (shape {tuple(y.shape)}) but X has n = {n} rows; "
            f"need one label per example"
        )
    if xp.isdtype(y.dtype, "real floating"):
        _check_finite(xp, y, name)
        fractional = y != xp.round(y)
        if bool(xp.any(fractional)):
            index, k = _first_where(xp, fractional)
            raise ValueError(
                f"{name} must hold whole-number class labels 0..{K - 1}; "
                f"got {float(y[k])} at index {index[0]}"
            )
    if n == 0:
        return xp.astype(y, xp.int64)
    # Range check before the cast to int64, so a float label such as 1e30 cannot wrap around.
    lo, hi = xp.min(y), xp.max(y)
    if lo < 0 or hi > K - 1:
        as_float = xp.isdtype(y.dtype, "real floating")
        show = (lambda v: f"{float(v):g}") if as_float else (lambda v: f"{int(v)}")
        raise ValueError(
            f"{name} must hold class labels in 0..{K - 1} (K = {K} classes); "
            f"got values from {show(lo)} to {show(hi)}"
        )
    return xp.astype(y, xp.int64)


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
        raise ValueError(
            f"{name} has {y.shape[0]} rows (shape {tuple(y.shape)}) but X has n = {n} rows; "
            f"need one row of targets per example"
        )
    _check_finite(xp, y, name)
    return _cast(xp, y, dtype, name)


def check_binary_targets(xp, Y, name: str = "y"):
    """Y itself when every entry is 0 or 1 (the targets of binary cross-entropy), else a
    ValueError naming ``name``, the first offending entry and its index."""
    bad = (Y != 0) & (Y != 1)
    if bool(xp.any(bad)):
        index, k = _first_where(xp, bad)
        raise ValueError(
            f"{name} must hold 0/1 targets (1: label k applies) for loss="
            f"'binary_cross_entropy'; got {float(xp.reshape(Y, (-1,))[k])!r} at index "
            f"{tuple(int(i) for i in index)}"
        )
    return Y


def check_theta(xp, theta, dim: int, dtype, name: str = "theta"):
    """A flat parameter vector of length dim(θ), finite, cast to ``dtype``."""
    theta = to_backend(xp, theta, name)
    if theta.ndim != 1 or theta.shape[0] != dim:
        raise ValueError(
            f"{name} must be a flat vector of length dim(theta) = {dim}; "
            f"got shape {tuple(theta.shape)}"
        )
    _check_finite(xp, theta, name)
    return _cast(xp, theta, dtype, name)


def check_bool(value, name: str) -> bool:
    """True or False (also NumPy's bool); anything else, even a truthy string, is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")
    return bool(value)


def check_nonnegative(value, name: str) -> float:
    """A finite real number >= 0 (bool refused), as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0; got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {name}={value!r}")
    return value


def check_int(value, name: str, minimum: int = 0) -> int:
    """A Python integer >= minimum (bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {_describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_backward(xp, activations, Delta_L, p, dtype):
    """(A_0..A_{L-1}, Delta_L) checked and cast: the inputs of ``Network.backward``.

    activations: the list [a_0, ..., a_L] that ``forward`` returns; every a_l (l < L) of shape
    (n, p_l) and Delta_L of shape (n, p_L), all finite.
    """
    L = len(p) - 1
    if not isinstance(activations, (list, tuple)) or len(activations) != L + 1:
        raise TypeError(
            f"activations must be the list [a_0, ..., a_L] of L + 1 = {L + 1} arrays that "
            f"forward(X) returns; got {type(activations).__name__}"
            + (f" of length {len(activations)}" if hasattr(activations, "__len__") else "")
        )
    A = [to_backend(xp, a, f"activations[{l}]") for l, a in enumerate(activations)]
    Delta = to_backend(xp, Delta_L, "Delta_L")
    n = A[0].shape[0] if A[0].ndim == 2 else -1
    named = [(f"activations[{l}]", A[l], p[l]) for l in range(L)]
    for name, x, width in named + [("Delta_L", Delta, p[L])]:
        if tuple(x.shape) != (n, width):
            raise ValueError(
                f"{name} must have shape (n, {width}) with the n = {n} rows of "
                f"activations[0]; got shape {tuple(x.shape)}"
            )
    # finite, and cast to the network's dtype (the shapes are right by now)
    A = [check_X(xp, A[l], p[l], dtype, f"activations[{l}]") for l in range(L)]
    return A, check_X(xp, Delta, p[L], dtype, "Delta_L")
