"""Saving and loading a network: one ``.npz`` file, no pickle, written atomically.

The file holds plain arrays only (read without pickle):

    format   "backprop.Network"     a tag, so a foreign .npz is recognised as such
    version  1                      the layout of this file
    theta    θ, flat, in the network's dtype (W_1 row-major, b_1, ..., W_L, b_L)
    p        the widths [p_0, ..., p_L]
    hidden   the L-1 hidden activation names
    output, loss, init, dtype   names;   seed   the initialisation seed (an int64)
    alpha    the weight penalty's α (a float64); optional: a file without it (written
             before the penalty existed) loads with α = 0

:func:`save` writes to a temporary file in the target's folder and renames it over the
target (``os.replace``, atomic on POSIX and Windows), so a failure part-way never leaves a
half-written file: the old file, if any, stays as it was. The result has the permissions an
ordinary write gives (the umask for a new file, the old permission bits when replacing one,
without set-user-ID, set-group-ID or sticky bits, which a write clears too), and a symbolic
link is written through to its target. Only a regular file is ever replaced: a FIFO or a
device node (``/dev/null``) is refused, not turned into a regular file.

:func:`load` reads only a regular file (a device such as ``/dev/zero`` would be read
without end, a FIFO would block), and trusts nothing in it: it reads each member's header
(shape and dtype) and checks p, the dtype and θ's length against one another and against
the bytes the file really holds before it reads anything large, and it never unpickles. A
file it cannot trust is refused with a ValueError that says what is wrong.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile

import numpy as np

from .backend import get_namespace

FORMAT = "backprop.Network"
VERSION = 1
KEYS = ("format", "version", "theta", "p", "hidden", "output", "loss", "init", "seed", "dtype")
OPTIONAL_KEYS = ("alpha",)  # added to version 1 later; absent means its default
SMALL_ENTRY_BYTES = 1 << 20  # every member but θ is a few names and numbers


def _path(path, name: str = "path") -> str:
    """A path given as str, bytes or os.PathLike, as a str; TypeError naming the argument."""
    try:
        path = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(
            f"{name} must be a file name (str, bytes or os.PathLike); got {type(path).__name__}"
        ) from None
    if not path or "\0" in path:
        raise ValueError(f"{name} must be a file name, non-empty and without NUL characters; "
                         f"got {path!r}")
    return path


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no way to read it but to set it: put it straight back
    os.umask(mask)
    return mask


def _kind(mode: int) -> str:
    """What a file that is not a regular one is, from its st_mode: 'a FIFO', ..."""
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def _target(path: str) -> tuple[str, int]:
    """(the file to replace, following symbolic links; the mode the result should have)."""
    if path.endswith(os.sep) or (os.altsep and path.endswith(os.altsep)):
        # realpath would drop the separator and save to the file of that name
        raise ValueError(f"path must name a file; got {path!r}, which ends with a path "
                         f"separator (a folder's name)")
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(
            21, f"cannot save the network to {path!r}: it is a directory", path
        )
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, 0o666 & ~_umask()  # a new file: what open(path, "w") would give
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(
            f"cannot save the network to {path!r}: it is {_kind(st.st_mode)}, not a regular "
            f"file; save writes (and replaces only) a regular .npz file"
        )
    # replacing: keep the permission bits; set-ID bits on a network file would be a hazard
    mode = stat.S_IMODE(st.st_mode) & 0o777
    if not os.access(target, os.W_OK):  # open(path, "w") would be refused too
        raise PermissionError(
            13, f"cannot save the network to {path!r}: the existing file is not writable", path
        )
    return target, mode


def _arrays(net) -> dict:
    theta = net.theta  # a NumPy copy, in the network's dtype
    if not np.all(np.isfinite(theta)):
        raise ValueError(
            f"theta has {int(np.sum(~np.isfinite(theta)))} NaN or inf entries (did training "
            f"diverge?); refusing to save a network that could not be loaded"
        )
    return {
        "format": np.asarray(FORMAT),
        "version": np.asarray(VERSION, dtype=np.int64),
        "theta": theta,
        "p": np.asarray(net.p, dtype=np.int64),
        "hidden": np.asarray(list(net.hidden), dtype=np.str_),
        "output": np.asarray(net.output),
        "loss": np.asarray(net.loss_name),
        "init": np.asarray(net.init),
        "seed": np.asarray(net.seed, dtype=np.int64),  # Network keeps seeds within int64
        "dtype": np.asarray(net.dtype),
        "alpha": np.asarray(net.alpha, dtype=np.float64),
    }


def save(net, path) -> str:
    """Write ``net`` to the ``.npz`` file ``path`` (replaced atomically); returns the path.

    path: str, bytes or os.PathLike, used as given (no suffix is added); a symbolic link is
    followed and its target replaced. θ is stored exactly, in its dtype. A θ with NaN or
    inf entries is refused (ValueError), since it could not be loaded; so are a path that
    ends with a separator ("x.npz/") and an existing target that is not a regular file (a
    FIFO, a device). A place that cannot be written, or a write that fails part-way (no
    space left, the file-size limit), raises the OSError (PermissionError,
    FileNotFoundError, IsADirectoryError, ...) with the path in its message; the old file,
    if any, is then unchanged.
    """
    path = _path(path)
    arrays = _arrays(net)
    target, mode = _target(path)
    folder = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=folder, prefix="." + os.path.basename(target) + ".", suffix=".tmp"
        )
    except OSError as err:
        raise type(err)(
            err.errno, f"cannot save the network to {path!r}: cannot create a file in "
            f"{folder!r} ({err.strerror})", path
        ) from err
    try:
        with os.fdopen(fd, "wb") as f:
            os.chmod(tmp, mode)  # mkstemp makes 0600 files
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):  # ENOSPC, EFBIG, EIO, ...: say which save failed
            raise type(err)(
                err.errno, f"cannot save the network to {path!r}: {err.strerror or err} (the "
                f"old file, if any, is unchanged)", path
            ) from err
        raise
    return path


class _FileError(ValueError):
    """A file that is not a trustworthy backprop network (a ValueError for the caller)."""


def _header(zf, info, path: str, check_size: bool = True):
    """(shape, dtype, bytes of data) of the .npy member ``info``, from its header alone;
    with check_size, a ValueError unless the member holds exactly those bytes."""
    key = info.filename[:-4]
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise _FileError(f"{path}: entry {key!r} has an unknown .npy version {version}")
        start = f.tell()
    if dtype.hasobject:
        raise _FileError(
            f"{path}: entry {key!r} holds Python objects (dtype {dtype}); a backprop network "
            f"file holds only numbers and strings, and objects are never unpickled"
        )
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if check_size and info.file_size != start + nbytes:
        raise _FileError(
            f"{path}: entry {key!r} declares shape {shape} of {dtype} ({nbytes} bytes) but "
            f"holds {info.file_size - start} bytes"
        )
    return shape, dtype, nbytes


def _members(zf, path: str, size: int) -> tuple[dict, list]:
    """{key: ZipInfo} of the required entries, after checking that each one's declared size
    is backed by bytes really in the file (no zip bomb, no size that is only claimed)."""
    infos = {info.filename[:-4]: info for info in zf.infolist() if info.filename.endswith(".npy")}
    missing = [key for key in KEYS if key not in infos]
    if "format" in missing:
        raise _FileError(
            f"{path}: not a backprop network file (no 'format' entry; it holds "
            f"{sorted(infos)})"
        )
    for key, info in infos.items():
        if key not in KEYS and key not in OPTIONAL_KEYS:
            continue
        # deflate expands at most ~1032-fold; a stored member is as long as it says
        ratio = 1 if info.compress_type == zipfile.ZIP_STORED else 1100
        if info.header_offset + info.compress_size > size or (
            info.file_size > ratio * info.compress_size + 1024
        ):
            raise _FileError(
                f"{path}: entry {key!r} claims {info.file_size} bytes that the file "
                f"({size} bytes) does not hold"
            )
    return infos, missing


def _read(zf, info):
    """The array in member ``info``; small entries only, or θ once its size is checked."""
    with zf.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _small(zf, infos, key: str, path: str):
    shape, dtype, nbytes = _header(zf, infos[key], path)
    if nbytes > SMALL_ENTRY_BYTES:
        raise _FileError(
            f"{path}: entry {key!r} declares shape {shape} of {dtype} ({nbytes} bytes); "
            f"a backprop network file keeps it under {SMALL_ENTRY_BYTES} bytes"
        )
    return _read(zf, infos[key])


def _scalar_str(value, key: str, path: str) -> str:
    if value.ndim != 0 or value.dtype.kind != "U":
        raise _FileError(f"{path}: entry {key!r} must be a single string; got {value.dtype} "
                         f"array of shape {value.shape}")
    return str(value[()])


def _scalar_int(value, key: str, path: str) -> int:
    if value.ndim != 0 or value.dtype.kind not in "iu":
        raise _FileError(f"{path}: entry {key!r} must be a single integer; got {value.dtype} "
                         f"array of shape {value.shape}")
    return int(value)


def _description(zf, infos, missing, path: str) -> dict:
    """The checked small entries: names, p (a list of ints), hidden, seed."""
    tag = _scalar_str(_small(zf, infos, "format", path), "format", path)
    if tag != FORMAT:
        raise _FileError(f"{path}: format tag is {tag!r}, expected {FORMAT!r}")
    if missing:
        raise _FileError(f"{path}: incomplete backprop network file; missing {missing}")
    version = _scalar_int(_small(zf, infos, "version", path), "version", path)
    if version != VERSION:
        raise _FileError(f"{path}: file version {version}; this backprop reads version {VERSION}")
    d = {k: _scalar_str(_small(zf, infos, k, path), k, path)
         for k in ("output", "loss", "init", "dtype")}
    if d["dtype"] not in ("float64", "float32"):
        raise _FileError(f"{path}: dtype must be 'float64' or 'float32'; got {d['dtype']!r}")
    p = _small(zf, infos, "p", path)
    if p.ndim != 1 or p.dtype.kind not in "iu":
        raise _FileError(f"{path}: p must be a 1-D integer array; got {p.dtype} of shape {p.shape}")
    d["p"] = [int(w) for w in p]
    if any(w < 1 for w in d["p"]) or len(d["p"]) < 2:
        raise _FileError(f"{path}: p must list at least two widths >= 1; got {d['p']}")
    hidden = _small(zf, infos, "hidden", path)
    if hidden.ndim != 1 or (hidden.size and hidden.dtype.kind != "U"):
        raise _FileError(f"{path}: hidden must be a 1-D array of names; got {hidden.dtype}")
    d["hidden"] = [str(h) for h in hidden]
    d["seed"] = _scalar_int(_small(zf, infos, "seed", path), "seed", path)
    d["alpha"] = 0.0
    if "alpha" in infos:
        alpha = _small(zf, infos, "alpha", path)
        if alpha.ndim != 0 or alpha.dtype.kind != "f":
            raise _FileError(f"{path}: entry 'alpha' must be a single float; got {alpha.dtype} "
                             f"array of shape {alpha.shape}")
        d["alpha"] = float(alpha)
    return d


def _theta(zf, info, d: dict, path: str):
    """θ, after its header has shown the length that p needs and the stored dtype."""
    p = d["p"]
    dim = sum(p[l] * p[l + 1] + p[l + 1] for l in range(len(p) - 1))
    shape, dtype, _ = _header(zf, info, path, check_size=False)
    # either byte order: a big-endian float64 is the same numbers
    if len(shape) != 1 or dtype.kind != "f" or dtype.newbyteorder("=") != np.dtype(d["dtype"]):
        raise _FileError(
            f"{path}: theta must be a flat {d['dtype']} vector; got {dtype} array of "
            f"shape {shape}"
        )
    if shape[0] != dim:
        raise _FileError(
            f"{path}: theta has length {shape[0]} but p = {p} needs dim(theta) = {dim}"
        )
    _header(zf, info, path)  # and the member really holds those dim entries
    return _read(zf, info).astype(np.dtype(d["dtype"]), copy=False)


def _open_regular(path: str):
    """(the file opened for reading in binary, its size), if it is a regular file.

    Opened without blocking (a FIFO would wait for a writer), then checked on the open
    descriptor, so what is checked is what is read: a device such as /dev/zero is refused
    before it is read without end.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, f"cannot load a network from {path!r}: it is a "
                                        f"directory", path)
        if not stat.S_ISREG(st.st_mode):
            raise _FileError(f"{path}: not a regular file ({_kind(st.st_mode)}); a backprop "
                             f"network file is a regular .npz file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def _open(f, path: str):
    magic = f.read(6)
    f.seek(0)
    if magic == b"\x93NUMPY":
        raise _FileError(f"{path}: not a backprop network file (a .npy array, not an .npz archive)")
    try:
        return zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as err:
        raise _FileError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from err


def load(path, backend=None):
    """The :class:`backprop.Network` stored in ``path`` by :func:`save`, on ``backend``.

    path: str, bytes or os.PathLike. backend: 'numpy' (the default, also for None),
    'array_api_strict', 'cupy' or 'auto'. Raises FileNotFoundError for a missing file and
    ValueError for a file that is not a readable backprop network (not an .npz, truncated,
    corrupt, another format tag or version, missing entries, Python objects, a θ whose
    length or dtype does not fit the stored sizes, sizes the file does not really hold), or
    that is not a regular file at all (a FIFO, a device). Sizes are checked from the headers
    before anything large is read or allocated. θ stored in either byte order is read.
    """
    from .network import Network

    backend = "numpy" if backend is None else backend
    get_namespace(backend)  # a bad backend name is the caller's error, not the file's
    path = _path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    f, size = _open_regular(path)
    with f, _open(f, path) as zf:
        try:
            infos, missing = _members(zf, path, size)
            d = _description(zf, infos, missing, path)
            theta = _theta(zf, infos["theta"], d, path)
        except _FileError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as err:
            # a member that does not decompress, fails its CRC, is cut short or has a
            # malformed header (NumPy's own words about pickles are not passed on)
            reason = str(err) if "pickle" not in str(err) else "not a plain array"
            raise _FileError(f"{path}: corrupt .npz file ({type(err).__name__}: {reason})") from err
    try:
        net = Network(d["p"], hidden=d["hidden"], output=d["output"], loss=d["loss"],
                      init=d["init"], seed=d["seed"], dtype=d["dtype"], backend=backend,
                      alpha=d["alpha"])
    except (ValueError, TypeError) as err:
        raise _FileError(f"{path}: the stored network description is invalid: {err}") from err
    try:
        net.theta = theta
    except ValueError as err:
        raise _FileError(f"{path}: {err}") from err
    return net
