"""Which array library a network computes with.

Every other module is written once against the Python array API standard, through the
namespace returned here, so the same lines run on NumPy, on CuPy (a GPU) and on the
minimal reference implementation ``array_api_strict``. Random numbers are always drawn
with NumPy's Generator and then moved to the device, so a seed means the same network
on every backend.
"""

from __future__ import annotations

import importlib.util

import numpy as np

BACKENDS = ("numpy", "cupy", "array_api_strict", "auto")


def cupy_available() -> bool:
    """True when CuPy imports and sees a usable CUDA device."""
    try:
        import cupy
    except Exception:  # ImportError, or a CUDA library that fails to load
        return False
    try:
        return bool(cupy.is_available())
    except Exception:
        return False


def available_backends() -> list[str]:
    """The backend names that work on this machine, in order of preference."""
    names = ["numpy", "array_api_strict"]
    if importlib.util.find_spec("array_api_strict") is None:
        names.remove("array_api_strict")
    if cupy_available():
        names.insert(0, "cupy")
    return names


def get_namespace(backend: str = "numpy"):
    """The array-API namespace for a backend name.

    ``"numpy"`` and ``"cupy"`` give array-api-compat's wrapped namespaces (their arrays are
    plain ``numpy.ndarray`` / ``cupy.ndarray``); ``"auto"`` picks CuPy when
    ``cupy.is_available()``, NumPy otherwise.
    """
    if not isinstance(backend, str):
        raise TypeError(
            f"backend must be a string, one of {BACKENDS}; got {type(backend).__name__}"
        )
    if backend == "auto":
        backend = "cupy" if cupy_available() else "numpy"
    if backend == "numpy":
        import array_api_compat.numpy as xp

        return xp
    if backend == "cupy":
        if not cupy_available():
            raise ValueError(
                "backend='cupy' needs CuPy and a CUDA device, but cupy.is_available() is False "
                "(or CuPy is not installed: pip install -r requirements-gpu.txt); "
                "use backend='numpy' or backend='auto'"
            )
        import array_api_compat.cupy as xp

        return xp
    if backend == "array_api_strict":
        try:
            import array_api_strict as xp
        except ImportError as err:  # pragma: no cover - it is in requirements.txt
            raise ValueError(
                "backend='array_api_strict' needs the array-api-strict package"
            ) from err
        return xp
    raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")


def backend_name(xp) -> str:
    """The short name ('numpy', 'cupy', 'array_api_strict') of a namespace from get_namespace."""
    name = xp.__name__
    if name.endswith("numpy"):
        return "numpy"
    if name.endswith("cupy"):
        return "cupy"
    return name


def to_numpy(x) -> np.ndarray:
    """A NumPy copy (or view, for NumPy input) of an array from any backend."""
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.startswith("cupy"):
        return x.get()
    if hasattr(x, "__dlpack__"):
        return np.from_dlpack(x)
    return np.asarray(x)


def dtype_of(xp, name: str):
    """The backend dtype object for 'float64' or 'float32'."""
    if name not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32'; got {name!r}")
    return getattr(xp, name)
