"""backprop.save / backprop.load: exact round trips, atomic writes, clear errors on bad files."""

from __future__ import annotations

import io as io_module
import os
import pathlib
import stat
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import backprop as bp
from backprop import io


def _trained(backend="numpy", dtype="float64", **kwargs):
    options = dict(hidden="tanh", output="identity", init="normal", seed=7)
    options.update(kwargs)
    net = bp.Network([3, 5, 4, 2], backend=backend, dtype=dtype, **options)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    bp.fit(net, X, y, optimizer=bp.Adam(0.01), iterations=5)  # θ no longer its initial value
    return net


def _same_network(a, b):
    assert (a.p, a.hidden, a.output, a.loss_name, a.init, a.seed, a.dtype) == (
        b.p, b.hidden, b.output, b.loss_name, b.init, b.seed, b.dtype)
    assert a.theta.dtype == b.theta.dtype
    np.testing.assert_array_equal(a.theta, b.theta)  # bit for bit


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_is_exact(backend, dtype, tmp_path):
    net = _trained(backend, dtype)
    path = tmp_path / "net.npz"
    assert bp.save(net, path) == str(path)
    back = bp.load(path, backend=backend)
    assert back.backend == net.backend
    _same_network(net, back)
    X = np.random.default_rng(1).standard_normal((4, 3))
    np.testing.assert_array_equal(bp.to_numpy(back.predict(X)), bp.to_numpy(net.predict(X)))


def test_round_trip_of_a_classifier_with_mixed_activations(tmp_path):
    net = bp.Network([4, 6, 5, 3], hidden=["relu", "logistic"], output="softmax_reduced",
                     init="xavier", seed=11)
    bp.save(net, tmp_path / "c.npz")
    back = bp.load(str(tmp_path / "c.npz"))
    _same_network(net, back)
    assert back.K == 4


def test_load_onto_another_backend(tmp_path):
    net = _trained("numpy")
    bp.save(net, tmp_path / "n.npz")
    back = bp.load(tmp_path / "n.npz", backend="array_api_strict")
    assert back.backend == "array_api_strict"
    _same_network(net, back)
    assert bp.load(tmp_path / "n.npz").backend == "numpy"  # the default


def test_save_replaces_an_existing_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "net.npz"
    bp.save(_trained(seed=1), path)
    net = _trained(seed=2)
    bp.save(net, path)
    _same_network(net, bp.load(path))
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]


def test_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "net.npz"
    bp.save(_trained(seed=1), path)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"half a file")  # something reaches the disk, then the write fails
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        bp.save(_trained(seed=2), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]  # the temporary file is gone


def test_failed_first_save_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", lambda *a, **k: (_ for _ in ()).throw(OSError("no")))
    with pytest.raises(OSError):
        bp.save(_trained(), tmp_path / "net.npz")
    assert os.listdir(tmp_path) == []


def test_non_finite_theta_is_not_saved(tmp_path):
    path = tmp_path / "net.npz"
    bp.save(_trained(), path)
    before = path.read_bytes()
    net = _trained()
    net.theta_buffer[3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        bp.save(net, path)
    assert path.read_bytes() == before


# ----------------------------------------------------------------------------- bad files


def _entries(path):
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "good.npz"
    bp.save(_trained(), path)
    return path


def test_truncated_file(saved):
    data = saved.read_bytes()
    for keep in (len(data) // 2, len(data) - 30, 10):
        saved.write_bytes(data[:keep])
        with pytest.raises(ValueError, match="good.npz"):
            bp.load(saved)


def test_corrupt_file(saved):
    data = bytearray(saved.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(255 - v for v in data[middle : middle + 16])
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt|not a readable"):
        bp.load(saved)


def test_garbage_and_npy_files(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(os.urandom(200))
    with pytest.raises(ValueError, match="not a readable .npz"):
        bp.load(junk)
    npy = tmp_path / "array.npy"
    np.save(npy, np.arange(5.0))
    with pytest.raises(ValueError, match="not an .npz archive"):
        bp.load(npy)


def test_foreign_npz(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(ValueError, match="not a backprop network file"):
        bp.load(path)


def _rewrite(path, **changes):
    entries = _entries(path)
    for key, value in changes.items():
        if value is None:
            del entries[key]
        else:
            entries[key] = value
    np.savez(path, **entries)


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(format=np.asarray("keras.Model")), "format tag is 'keras.Model'"),
        (dict(format=np.arange(3)), "'format' must be a single string"),
        (dict(theta=None), r"missing \['theta'\]"),
        (dict(p=None, seed=None), r"missing \['p', 'seed'\]"),
        (dict(version=np.asarray(2)), "version 2"),
        (dict(theta=np.zeros(50)), r"length 50 but p = \[3, 5, 4, 2\] needs dim\(theta\) = 54"),
        (dict(theta=np.zeros(54, dtype=np.float32)), "float64 vector; got float32"),
        (dict(theta=np.zeros((54, 1))), "flat float64 vector"),
        (dict(theta=np.full(54, np.inf)), "NaN or inf"),
        (dict(dtype=np.asarray("float16")), "dtype must be 'float64' or 'float32'"),
        (dict(output=np.asarray("banana")), "description is invalid.*banana"),
        (dict(hidden=np.asarray(["tanh"])), "description is invalid"),
        (dict(p=np.asarray([3.0, 5.0, 4.0, 2.0])), "integer array"),
        (dict(seed=np.asarray("seven")), "'seed' must be a single integer"),
    ],
)
def test_mismatched_entries(saved, changes, match):
    _rewrite(saved, **changes)
    with pytest.raises(ValueError, match=match):
        bp.load(saved)


def test_missing_file_and_bad_backend(saved, tmp_path):
    with pytest.raises(FileNotFoundError):
        bp.load(tmp_path / "nothing.npz")
    with pytest.raises(ValueError, match="backend must be one of"):
        bp.load(saved, backend="tensorflow")


def test_file_layout(saved):
    entries = _entries(saved)
    assert set(entries) == set(io.KEYS) | set(io.OPTIONAL_KEYS)
    assert entries["alpha"].dtype == np.float64 and float(entries["alpha"]) == 0.0
    assert str(entries["format"]) == "backprop.Network" and int(entries["version"]) == 1
    assert entries["theta"].dtype == np.float64 and entries["theta"].shape == (54,)
    assert list(entries["p"]) == [3, 5, 4, 2] and list(entries["hidden"]) == ["tanh", "tanh"]


def test_pathlib_and_str_paths(tmp_path):
    net = _trained()
    bp.save(net, str(tmp_path / "a.npz"))
    bp.save(net, pathlib.Path(tmp_path) / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


# ----------------------------------------------------------------------------- issue 11: save


@pytest.fixture
def umask():
    """Set the umask for one test, and put the old one back."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002], ids=["022", "077", "002"])
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path, umask, mask):
    # Before: every saved file was 0600 (mkstemp's mode), whatever the umask.
    umask(mask)
    bp.save(_trained(), tmp_path / "net.npz")
    with open(tmp_path / "plain", "wb"):
        pass
    expected = 0o666 & ~mask
    assert stat.S_IMODE(os.stat(tmp_path / "net.npz").st_mode) == expected
    assert stat.S_IMODE(os.stat(tmp_path / "plain").st_mode) == expected


def test_replacing_keeps_the_existing_mode(tmp_path, umask):
    # Before: overwriting turned a 0644 (or 0640) file into 0600.
    umask(0o022)
    path = tmp_path / "net.npz"
    bp.save(_trained(seed=1), path)
    os.chmod(path, 0o640)
    bp.save(_trained(seed=2), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    _same_network(_trained(seed=2), bp.load(path))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_save_writes_through_a_symlink(tmp_path):
    # Before: the link was replaced by a regular file and its target kept the old network.
    real = tmp_path / "models" / "net.npz"
    real.parent.mkdir()
    bp.save(_trained(seed=1), real)
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    net = _trained(seed=2)
    assert bp.save(net, link) == str(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    _same_network(net, bp.load(real))
    assert sorted(os.listdir(real.parent)) == ["net.npz"]  # no temporary left behind


def test_a_place_that_cannot_be_written_is_named(tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "net.npz"
    with pytest.raises(FileNotFoundError, match=r"cannot save the network to .*folder/net\.npz"):
        bp.save(_trained(), missing)
    with pytest.raises(IsADirectoryError, match=r"cannot save the network to .*: it is a "
                                                r"directory"):
        bp.save(_trained(), tmp_path)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions that apply (not root)")
def test_a_read_only_folder_is_named(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o500)
    try:
        with pytest.raises(PermissionError, match=r"cannot save the network to .*ro/net\.npz"):
            bp.save(_trained(), folder / "net.npz")
    finally:
        os.chmod(folder, 0o700)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions that apply (not root)")
def test_a_read_only_file_is_not_replaced(tmp_path):
    path = tmp_path / "net.npz"
    bp.save(_trained(seed=1), path)
    os.chmod(path, 0o444)
    before = path.read_bytes()
    with pytest.raises(PermissionError, match=r"the existing file is not writable"):
        bp.save(_trained(seed=2), path)
    assert path.read_bytes() == before and stat.S_IMODE(os.stat(path).st_mode) == 0o444


def test_refusals_of_the_system_are_named_even_as_root(tmp_path, monkeypatch):
    # The two tests above skip under root, for whom permissions do not apply: here the
    # system's answers are simulated.
    path = tmp_path / "net.npz"
    bp.save(_trained(seed=1), path)
    before = path.read_bytes()
    monkeypatch.setattr(os, "access", lambda p, mode: False)
    with pytest.raises(PermissionError, match=r"net\.npz.*the existing file is not writable"):
        bp.save(_trained(seed=2), path)
    monkeypatch.undo()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(io.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"cannot save the network to .*net\.npz.*cannot "
                                              r"create a file in .*Permission denied"):
        bp.save(_trained(seed=2), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["net.npz"]


def test_bytes_and_pathlike_paths_work_for_save_and_load(tmp_path):
    # Before: save(net, b"x.npz") raised a TypeError while load accepted bytes.
    net = _trained()
    path = os.fsencode(tmp_path / "b.npz")
    assert bp.save(net, path) == os.fsdecode(path)
    _same_network(net, bp.load(path))
    _same_network(net, bp.load(pathlib.Path(os.fsdecode(path))))
    for bad in ("", b"", str(tmp_path / "a\0b.npz")):
        with pytest.raises(ValueError, match=r"path must be a file name, non-empty and without "
                                             r"NUL characters"):
            bp.save(net, bad)
        with pytest.raises(ValueError, match=r"path must be a file name"):
            bp.load(bad)
    for bad in (3, None, ["net.npz"]):
        with pytest.raises(TypeError, match=r"path must be a file name \(str, bytes or "
                                            r"os.PathLike\)"):
            bp.save(net, bad)
        with pytest.raises(TypeError, match=r"path must be a file name"):
            bp.load(bad)


def test_the_largest_seed_is_saved_and_loaded_and_a_larger_one_refused(tmp_path):
    # Before: Network(seed=2**70) was accepted but save raised OverflowError.
    net = bp.Network([2, 3, 1], hidden="tanh", seed=2**63 - 1)
    bp.save(net, tmp_path / "s.npz")
    back = bp.load(tmp_path / "s.npz")
    assert back.seed == 2**63 - 1
    _same_network(net, back)
    for seed in (2**63, 2**70):
        with pytest.raises(ValueError, match="seed"):
            bp.Network([2, 3, 1], seed=seed)


# ----------------------------------------------------------------------------- issue 11: load


def _craft(path, p=(3, 5, 4, 2), theta_shape=None, theta_bytes=None, **changes):
    """A small .npz that claims p and a θ header of theta_shape, with few real bytes."""
    entries = {
        "format": np.asarray("backprop.Network"), "version": np.asarray(1),
        "p": np.asarray(p, dtype=np.int64), "hidden": np.asarray(["tanh"] * (len(p) - 2)),
        "output": np.asarray("identity"), "loss": np.asarray("squared_error"),
        "init": np.asarray("he"), "seed": np.asarray(0), "dtype": np.asarray("float64"),
    }
    entries.update(changes)
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in entries.items():
            buffer = io_module.BytesIO()
            np.lib.format.write_array(buffer, value, allow_pickle=False)
            zf.writestr(key + ".npy", buffer.getvalue())
        header = io_module.BytesIO()
        shape = theta_shape if theta_shape is not None else (
            sum(p[l] * p[l + 1] + p[l + 1] for l in range(len(p) - 1)),)
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": shape})
        zf.writestr("theta.npy", header.getvalue() + (theta_bytes or b"\0" * 64))
    return path


def _load_bounded(path):
    """load(path) must raise ValueError within 1 s and 8 MB of Python allocations.

    Memory is the criterion (tracemalloc counts NumPy's buffers too); the time bound is
    generous (the refusal takes about a millisecond), measured after a first untimed call
    so that one-off imports do not count.
    """
    with pytest.raises(ValueError):
        bp.load(path)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as info:
            bp.load(path)
    finally:
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seconds < 1.0, f"took {seconds:.2f} s"
    assert peak < 8 << 20, f"allocated {peak / 2**20:.0f} MiB"
    assert "allow_pickle" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("p", [(1, 2**40, 1), (1, 5_000_000, 1)])
def test_huge_p_is_refused_from_the_headers(tmp_path, p):
    # Before: p = [1, 2**40, 1] raised MemoryError; [1, 5_000_000, 1] cost 0.5 s and 190 MB.
    message = _load_bounded(_craft(tmp_path / "p.npz", p=p))
    assert "theta" in message and "holds 64 bytes" in message


def test_theta_header_declaring_10_to_the_12_entries(tmp_path):
    # Before: MemoryError.
    message = _load_bounded(_craft(tmp_path / "t.npz", theta_shape=(10**12,)))
    assert "theta has length 1000000000000 but p = [3, 5, 4, 2] needs dim(theta) = 54" in message


def test_a_zip_directory_that_lies_about_a_member_size(tmp_path):
    path = _craft(tmp_path / "lie.npz", p=(1, 2**20, 1))
    data = bytearray(path.read_bytes())
    entry = data.rindex(b"PK\x01\x02")  # the central directory entry of theta.npy (the last)
    data[entry + 24 : entry + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # its uncompressed size
    path.write_bytes(bytes(data))
    message = _load_bounded(path)
    assert "does not hold" in message or "corrupt" in message


def test_random_bytes_never_suggest_allow_pickle(tmp_path):
    # Before: NumPy's advice to load with allow_pickle=True was passed on.
    rng = np.random.default_rng(0)
    for k, size in enumerate([1, 200, 5000]):
        junk = tmp_path / f"junk{k}.npz"
        junk.write_bytes(rng.bytes(size))
        assert "not a readable .npz" in _load_bounded(junk)
    looks_pickled = tmp_path / "p.npz"
    looks_pickled.write_bytes(b"\x80\x04\x95" + rng.bytes(100))  # a pickle's first bytes
    assert "not a readable .npz" in _load_bounded(looks_pickled)


def test_object_entries_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, **_entries_of(_trained()), allow_pickle=True)
    entries = _entries_of(_trained())
    entries["hidden"] = np.array(["tanh", None], dtype=object)
    np.savez(path, **entries, allow_pickle=True)
    message = _load_bounded(path)
    assert "entry 'hidden' holds Python objects" in message


@pytest.mark.parametrize("version", [0, -1, 2, 10**9])
def test_other_versions_are_refused(tmp_path, version):
    message = _load_bounded(_craft(tmp_path / "v.npz", version=np.asarray(version)))
    assert f"file version {version}; this backprop reads version 1" in message


def _entries_of(net):
    return {key: value for key, value in io._arrays(net).items()}
