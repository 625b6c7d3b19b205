"""Saving and loading a network: one ``.npz`` file, no pickle, written atomically.

The file holds plain arrays only (read with ``allow_pickle=False``):

    format   "backprop.Network"     a tag, so a foreign .npz is recognised as such
    version  1                      the layout of this file
    theta    θ, flat, in the network's dtype (W_1 row-major, b_1, ..., W_L, b_L)
    p        the widths [p_0, ..., p_L]
    hidden   the L-1 hidden activation names
    output, loss, init, dtype   names;   seed   the initialisation seed

:func:`save` writes to a temporary file in the target's folder and renames it over the
target (``os.replace``, atomic on POSIX and Windows), so a failure part-way never leaves a
half-written file: the old file, if any, stays as it was. :func:`load` rebuilds the network
with :class:`backprop.Network` and sets θ; it refuses a file it cannot trust with a
ValueError that says what is wrong.
"""

from __future__ import annotations

import os
import tempfile
import zipfile

import numpy as np

from .backend import get_namespace, to_numpy

FORMAT = "backprop.Network"
VERSION = 1
KEYS = ("format", "version", "theta", "p", "hidden", "output", "loss", "init", "seed", "dtype")


def save(net, path) -> str:
    """Write ``net`` to the ``.npz`` file ``path`` (replaced atomically); returns the path.

    θ is stored exactly, in its dtype; the name is used as given (no suffix is added).
    A θ with NaN or inf entries is refused (ValueError), since it could not be loaded.
    """
    path = os.fspath(path)
    theta = np.array(to_numpy(net._theta), copy=True)
    if not np.all(np.isfinite(theta)):
        raise ValueError(
            f"theta has {int(np.sum(~np.isfinite(theta)))} NaN or inf entries (did training "
            f"diverge?); refusing to save a network that could not be loaded"
        )
    arrays = {
        "format": np.asarray(FORMAT),
        "version": np.asarray(VERSION, dtype=np.int64),
        "theta": theta,
        "p": np.asarray(net.p, dtype=np.int64),
        "hidden": np.asarray(list(net.hidden), dtype=np.str_),
        "output": np.asarray(net.output),
        "loss": np.asarray(net.loss_name),
        "init": np.asarray(net.init),
        "seed": np.asarray(net.seed, dtype=np.int64),
        "dtype": np.asarray(net.dtype),
    }
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return path


class _FileError(ValueError):
    """A file that is not a trustworthy backprop network (a ValueError for the caller)."""


def _scalar_str(data, key: str, path: str) -> str:
    value = data[key]
    if value.ndim != 0 or value.dtype.kind != "U":
        raise _FileError(f"{path}: entry {key!r} must be a single string; got {value.dtype} "
                         f"array of shape {value.shape}")
    return str(value[()])


def _scalar_int(data, key: str, path: str) -> int:
    value = data[key]
    if value.ndim != 0 or value.dtype.kind not in "iu":
        raise _FileError(f"{path}: entry {key!r} must be a single integer; got {value.dtype} "
                         f"array of shape {value.shape}")
    return int(value)


def load(path, backend=None):
    """The :class:`backprop.Network` stored in ``path`` by :func:`save`, on ``backend``.

    backend: 'numpy' (the default, also for None), 'array_api_strict', 'cupy' or 'auto'.
    Raises FileNotFoundError for a missing file and ValueError for a file that is not a
    readable backprop network (not an .npz, truncated, corrupt, another format tag or
    version, missing entries, a θ whose length or dtype does not fit the stored sizes).
    """
    from .network import Network

    backend = "numpy" if backend is None else backend
    get_namespace(backend)  # a bad backend name is the caller's error, not the file's
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise _FileError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from err
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise _FileError(f"{path}: not a backprop network file (a .npy array, not an .npz archive)")
    with data:
        try:
            missing = [key for key in KEYS if key not in data.files]
            if "format" in missing:
                raise _FileError(
                    f"{path}: not a backprop network file (no 'format' entry; it holds "
                    f"{sorted(data.files)})"
                )
            tag = _scalar_str(data, "format", path)
            if tag != FORMAT:
                raise _FileError(f"{path}: format tag is {tag!r}, expected {FORMAT!r}")
            if missing:
                raise _FileError(f"{path}: incomplete backprop network file; missing {missing}")
            version = _scalar_int(data, "version", path)
            if version != VERSION:
                raise _FileError(
                    f"{path}: file version {version}; this backprop reads version {VERSION}"
                )
            theta = data["theta"]
            p = data["p"]
            hidden = data["hidden"]
            names = {
                key: _scalar_str(data, key, path) for key in ("output", "loss", "init", "dtype")
            }
            seed = _scalar_int(data, "seed", path)
        except _FileError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            # a member that does not decompress, fails its CRC or is cut short
            raise _FileError(f"{path}: corrupt .npz file ({type(err).__name__}: {err})") from err

    if names["dtype"] not in ("float64", "float32"):
        raise _FileError(f"{path}: dtype must be 'float64' or 'float32'; got {names['dtype']!r}")
    if theta.ndim != 1 or theta.dtype != np.dtype(names["dtype"]):
        raise _FileError(
            f"{path}: theta must be a flat {names['dtype']} vector; got {theta.dtype} array of "
            f"shape {theta.shape}"
        )
    if p.ndim != 1 or p.dtype.kind not in "iu":
        raise _FileError(f"{path}: p must be a 1-D integer array; got {p.dtype} of shape {p.shape}")
    if hidden.ndim != 1 or (hidden.size and hidden.dtype.kind != "U"):
        raise _FileError(f"{path}: hidden must be a 1-D array of names; got {hidden.dtype}")
    try:
        net = Network(
            [int(w) for w in p],
            hidden=[str(h) for h in hidden],
            output=names["output"],
            loss=names["loss"],
            init=names["init"],
            seed=seed,
            dtype=names["dtype"],
            backend=backend,
        )
    except (ValueError, TypeError) as err:
        raise _FileError(f"{path}: the stored network description is invalid: {err}") from err
    if theta.shape[0] != net.dim_theta:
        raise _FileError(
            f"{path}: theta has length {theta.shape[0]} but p = {list(net.p)} needs "
            f"dim(theta) = {net.dim_theta}"
        )
    try:
        net.theta = theta
    except ValueError as err:
        raise _FileError(f"{path}: {err}") from err
    return net
