"""backprop.save / backprop.load: exact round trips, atomic writes, clear errors on bad files."""

from __future__ import annotations

import os
import pathlib

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
    net._theta[3] = np.nan
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
    assert set(entries) == set(io.KEYS)
    assert str(entries["format"]) == "backprop.Network" and int(entries["version"]) == 1
    assert entries["theta"].dtype == np.float64 and entries["theta"].shape == (54,)
    assert list(entries["p"]) == [3, 5, 4, 2] and list(entries["hidden"]) == ["tanh", "tanh"]


def test_pathlib_and_str_paths(tmp_path):
    net = _trained()
    bp.save(net, str(tmp_path / "a.npz"))
    bp.save(net, pathlib.Path(tmp_path) / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
