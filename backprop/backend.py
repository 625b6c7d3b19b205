"""Which array library a network computes with, and on which device.

Every other module is written once against the Python array API standard, through the
namespace returned here, so the same lines run on NumPy, on CuPy (an NVIDIA GPU), on the
minimal reference implementation ``array_api_strict``, on PyTorch tensors (CPU, CUDA or
Apple's MPS) and on JAX arrays. Random numbers are always drawn with NumPy's Generator and
then moved to the device, so a seed means the same network on every backend.

Where a library departs from the standard, it is mended here, once:

* PyTorch keeps a tensor on the device it was made on, and makes new ones on the CPU unless
  told otherwise: :func:`get_namespace` gives torch a namespace whose array-creating
  functions (``asarray``, ``zeros``, ``arange``, ...) put their arrays on the network's
  device, so no other line names a device. Its default floating dtype is float32: the
  package passes every dtype explicitly, as the standard allows.
* JAX arrays cannot be written (``x[i] = v`` raises): :func:`write` is the one place an
  array is written, in place where the library allows it and as a new array where it does
  not. The network's θ is written only through it (``Network.theta_buffer``).
* JAX computes in float32 unless its process-wide switch ``jax_enable_x64`` is on: asking for
  backend='jax' turns it on (it stays on for the whole Python process, as in any program
  that imports JAX and sets it).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util

import numpy as np
from array_api_compat import is_jax_array, is_torch_array, is_writeable_array

BACKENDS = ("numpy", "cupy", "array_api_strict", "torch", "jax", "auto")
# the devices a backend can be asked for ("auto" picks the best one there is)
DEVICES = {"torch": ("cpu", "cuda", "mps", "auto"), "jax": ("cpu", "auto")}
DEFAULT_DEVICE = {"torch": "cpu", "jax": "cpu"}
# the creation functions of the standard that take a device (the *_like ones follow their input)
_CREATION = ("asarray", "arange", "empty", "eye", "full", "linspace", "ones", "zeros")


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


def torch_available() -> bool:
    """True when PyTorch imports."""
    return importlib.util.find_spec("torch") is not None


def jax_available() -> bool:
    """True when JAX imports."""
    return importlib.util.find_spec("jax") is not None


def torch_devices() -> list[str]:
    """The torch devices usable here, best first: 'cuda' and 'mps' where present, then 'cpu'."""
    if not torch_available():
        return []
    import torch

    names = ["cuda"] if torch.cuda.is_available() else []
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names + ["cpu"]


def available_backends() -> list[str]:
    """The backend names that work on this machine, in order of preference."""
    names = ["numpy", "array_api_strict", "torch", "jax"]
    found = {"array_api_strict": importlib.util.find_spec("array_api_strict") is not None,
             "torch": torch_available(), "jax": jax_available()}
    names = [name for name in names if found.get(name, True)]
    if cupy_available():
        names.insert(0, "cupy")
    return names


def resolve(backend, device=None, dtype: str = "float64") -> tuple[str, str | None]:
    """(backend name, device) for what a caller asked: 'auto' made concrete, names checked.

    backend='auto' picks CuPy when it is usable, else torch on CUDA or MPS, else NumPy (MPS
    only for float32: it has no float64). device: for 'torch' one of 'cpu' (the default),
    'cuda', 'mps' or 'auto' (the best of these present); for 'jax' 'cpu' (the default; JAX
    on a GPU is not offered yet); None for every other backend, whose arrays live where the
    library puts them (CuPy: its current GPU).
    """
    if not isinstance(backend, str):
        raise TypeError(
            f"backend must be a string, one of {BACKENDS}; got {type(backend).__name__}"
        )
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if backend == "auto":
        if device is not None:
            raise ValueError(
                f"device is chosen by backend='auto' itself; got device={device!r} (name the "
                f"backend too, e.g. backend='torch', device={device!r})"
            )
        if cupy_available():
            return "cupy", None
        gpus = [d for d in torch_devices() if d == "cuda" or (d == "mps" and dtype == "float32")]
        return ("torch", gpus[0]) if gpus else ("numpy", None)
    if backend not in DEVICES:
        if device is not None:
            raise ValueError(
                f"device applies to backend='torch' or 'jax' only; got device={device!r} with "
                f"backend={backend!r} (leave device out)"
            )
        return backend, None
    choices = DEVICES[backend]
    if device is None:
        device = DEFAULT_DEVICE[backend]
    if not isinstance(device, str):
        raise TypeError(
            f"device must be a string, one of {choices}, for backend={backend!r}; "
            f"got {type(device).__name__}"
        )
    if device not in choices:
        raise ValueError(f"device must be one of {choices} for backend={backend!r}; "
                         f"got {device!r}")
    if backend == "torch":
        present = torch_devices()
        if not present:
            raise ValueError(
                "backend='torch' needs PyTorch, which is not installed "
                "(pip install torch, or the extra backprop-book[torch]); "
                "use backend='numpy'"
            )
        if device == "auto":
            device = next(d for d in present if d != "mps" or dtype == "float32")
        if device not in present:
            raise ValueError(
                f"device={device!r} is not usable here: torch sees {present} "
                f"(torch {_version('torch')}); use device='cpu' or device='auto'"
            )
        if device == "mps" and dtype != "float32":
            raise ValueError(
                f"device='mps' computes in float32 only (Apple's GPU has no float64); "
                f"got dtype={dtype!r}: pass dtype='float32'"
            )
    if backend == "jax":
        if not jax_available():
            raise ValueError(
                "backend='jax' needs JAX, which is not installed (pip install 'jax[cpu]'); "
                "use backend='numpy'"
            )
        device = "cpu"
    return backend, device


def _version(module: str) -> str:
    try:
        return importlib.import_module(module).__version__
    except Exception:  # pragma: no cover - only called once the module is known to import
        return "?"


class OnDevice:
    """An array namespace whose array-creating functions put their arrays on ``device``, and
    give Python numbers NumPy's dtypes (float64 for floats: torch's own default is float32).

    Every other name is the wrapped namespace's own. For PyTorch, which creates tensors on
    the CPU unless told otherwise, and JAX: the package's code calls ``xp.asarray(...)``,
    ``xp.zeros(...)``, ... without a device and gets arrays beside the network's θ, in the
    dtype NumPy and array_api_strict would give.
    """

    def __init__(self, xp, device, name: str, prepare=None):
        self._xp, self.device, self.__name__ = xp, device, name
        self._prepare = prepare  # what asarray's input passes through first, if anything

    def __getattr__(self, attr):
        value = getattr(self._xp, attr)
        if attr in _CREATION:
            value = self._creator(attr, value)
        setattr(self, attr, value)  # looked up once: later calls find it on the instance
        return value

    def _creator(self, attr, make):
        xp, float64 = self._xp, self._xp.float64

        def create(*args, device=None, dtype=None, **kwargs):
            device = self.device if device is None else device
            if attr == "asarray" and self._prepare is not None:
                args = (self._prepare(args[0]),) + args[1:]
            if dtype is None and attr == "asarray" and not hasattr(args[0], "dtype"):
                # Python numbers and lists take NumPy's dtype (float64, int64 or bool)
                dtype = getattr(xp, np.asarray(args[0]).dtype.name)
            elif dtype is None and attr in ("arange", "full"):
                numbers = [a for a in args if isinstance(a, (bool, int, float))]
                kind = np.result_type(*numbers).name if numbers else None
                dtype = getattr(xp, kind) if kind in ("float64", "int64", "bool") else None
            elif dtype is None and attr not in ("asarray", "arange", "full"):
                dtype = float64  # zeros, ones, empty, eye, linspace
            return make(*args, device=device, dtype=dtype, **kwargs)

        return create

    def __repr__(self) -> str:
        return f"<array namespace {self.__name__} on {self.device}>"

    def __reduce__(self):
        return _namespace_on, (self.__name__, device_name(self))


def _namespace_on(name: str, device: str):
    return get_namespace(name, device)


def get_namespace(backend: str = "numpy", device=None):
    """The array-API namespace for a backend name (and, for torch and JAX, a device).

    ``"numpy"`` and ``"cupy"`` give array-api-compat's wrapped namespaces (their arrays
    are plain ``numpy.ndarray`` / ``cupy.ndarray``), ``"torch"`` its wrapper of torch
    (``torch.Tensor``), ``"jax"`` ``jax.numpy`` with float64 switched on; the last two
    on ``device``. :func:`resolve` checks the names and makes ``"auto"`` concrete:
    CuPy, else torch on a GPU, else NumPy.
    """
    backend, device = resolve(backend, device)
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
    return _on_device(backend, device)  # torch or JAX: creation functions on the device


def _torch_input(x):
    """``x`` as ``torch.asarray`` takes it without complaint: a tensor detached from autograd
    (the package differentiates by itself), a NumPy array writable (torch warns otherwise)
    and, for unsigned integers wider than 8 bits, which torch stores but hardly computes with
    (no min, no comparison), as int64 (float64 beyond int64's range)."""
    if is_torch_array(x) and x.requires_grad:
        return x.detach()
    if is_torch_array(x) and str(x.dtype) in ("torch.uint16", "torch.uint32", "torch.uint64"):
        x = x.cpu().numpy()  # converted below, then moved back to the device
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "u" and x.dtype.itemsize > 1:
            beyond = x.size > 0 and int(x.max()) > np.iinfo(np.int64).max
            return x.astype(np.float64 if beyond else np.int64)
        if not x.flags.writeable:
            return x.copy()
    return x


@functools.cache
def _on_device(backend: str, device: str) -> OnDevice:
    """The one OnDevice namespace of torch or JAX on ``device`` (made on first use)."""
    if backend == "torch":
        import array_api_compat.torch as xp

        return OnDevice(xp, device, "torch", prepare=_torch_input)
    import jax

    # float64 is off in JAX by default; the switch is process-wide (see the module's note)
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return OnDevice(jnp, jax.devices(device)[0], "jax")


def backend_name(xp) -> str:
    """The short name ('numpy', 'cupy', 'array_api_strict', 'torch', 'jax') of a namespace,
    from get_namespace or from array_api_compat.array_namespace."""
    name = xp.__name__
    for short in ("torch", "jax", "cupy"):
        if name == short or name.startswith(short + ".") or name.endswith("." + short):
            return short
    if name.endswith("numpy"):
        return "numpy"
    return name


def device_name(xp) -> str | None:
    """The device ('cpu', 'cuda', 'mps') of a namespace from get_namespace; None for the
    backends without a device setting (NumPy, CuPy, array_api_strict)."""
    device = getattr(xp, "device", None)
    if device is None or not isinstance(xp, OnDevice):
        return None
    return "cpu" if getattr(device, "platform", None) == "cpu" else str(device)


def on_device(xp, x):
    """``x``, an array of ``xp``'s library, on ``xp``'s device (a torch tensor on the CPU
    moved to the GPU of a CUDA network); unchanged for the backends without a device."""
    return xp.asarray(x) if isinstance(xp, OnDevice) else x


def write(x, index, value):
    """``x`` with ``x[index] = value``: written in place and returned, or, for a library whose
    arrays cannot be written (JAX), a new array (``x.at[index].set(value)``).

    The one place the package writes into an array it keeps: callers always use the array
    returned, e.g. ``theta = write(theta, slice(0, 3), v)``.
    """
    if is_writeable_array(x):
        x[index] = value
        return x
    if is_jax_array(x):
        return x.at[index].set(value)
    raise TypeError(f"cannot write into an array of type {type(x).__name__}")


def to_numpy(x) -> np.ndarray:
    """A NumPy copy (or view, for NumPy input and CPU tensors) of an array from any backend."""
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.startswith("cupy"):
        return x.get()
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    if hasattr(x, "__dlpack__"):
        return np.from_dlpack(x)
    return np.asarray(x)


def dtype_of(xp, name: str):
    """The backend dtype object for 'float64' or 'float32'."""
    if name not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32'; got {name!r}")
    return getattr(xp, name)
