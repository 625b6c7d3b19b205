"""backprop.backend: namespaces, moving arrays, and the same θ on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
from backprop import backend as be


def test_get_namespace_numpy_makes_plain_ndarrays():
    xp = bp.get_namespace("numpy")
    assert be.backend_name(xp) == "numpy"
    assert type(xp.asarray([1.0, 2.0])) is np.ndarray


def test_get_namespace_array_api_strict_is_not_numpy():
    xp = bp.get_namespace("array_api_strict")
    assert be.backend_name(xp) == "array_api_strict"
    x = xp.asarray([1.0, 2.0])
    assert not isinstance(x, np.ndarray)
    np.testing.assert_array_equal(bp.to_numpy(x), [1.0, 2.0])


def test_auto_is_cupy_then_torch_on_cuda_then_numpy():
    cuda = "cuda" in be.torch_devices()
    expected = "cupy" if bp.cupy_available() else "torch" if cuda else "numpy"
    assert be.backend_name(bp.get_namespace("auto")) == expected
    assert bp.Network([2, 1], backend="auto").backend == expected


def test_available_backends_lists_what_works():
    names = bp.available_backends()
    expected_order = ((["cupy"] if bp.cupy_available() else []) + ["numpy", "array_api_strict"]
                      + (["torch"] if be.torch_available() else [])
                      + (["jax"] if be.jax_available() else []))
    assert names == expected_order
    for name in names:
        assert be.backend_name(bp.get_namespace(name)) == name


def test_backend_fixture_gives_working_namespace(backend, xp):
    x = xp.asarray([[1.0, 2.0], [3.0, 4.0]])
    y = x @ xp.asarray([[1.0], [1.0]])
    assert be.backend_name(xp) == backend
    np.testing.assert_array_equal(bp.to_numpy(y), [[3.0], [7.0]])


def test_to_numpy_round_trip(xp):
    a = np.arange(6.0).reshape(2, 3)
    moved = xp.asarray(a)
    back = bp.to_numpy(moved)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, a)


def test_to_numpy_of_ndarray_is_the_same_object():
    a = np.ones(3)
    assert bp.to_numpy(a) is a


@pytest.mark.parametrize("name", ["float64", "float32"])
def test_dtype_of(xp, name):
    assert be.dtype_of(xp, name) == getattr(xp, name)


def test_dtype_of_refuses_other_names(xp):
    with pytest.raises(ValueError, match=r"dtype must be 'float64' or 'float32'; got 'int32'"):
        be.dtype_of(xp, "int32")


def test_get_namespace_refuses_non_string():
    with pytest.raises(TypeError, match=r"backend must be a string.*got int"):
        bp.get_namespace(3)


@pytest.mark.skipif(bp.cupy_available(), reason="this machine has CuPy and a GPU")
def test_cupy_unavailable_message():
    assert not bp.cupy_available()
    with pytest.raises(ValueError, match=r"backend='cupy'.*cupy\.is_available\(\) is False"):
        bp.get_namespace("cupy")


@pytest.mark.parametrize("init", ["normal", "xavier", "he"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_seed_gives_the_same_theta_on_every_backend(backend, init, dtype):
    reference = bp.Network([3, 5, 4, 2], hidden="tanh", init=init, seed=7, dtype=dtype)
    net = bp.Network([3, 5, 4, 2], hidden="tanh", init=init, seed=7, dtype=dtype, backend=backend)
    assert net.theta.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(net.theta, reference.theta)
    other_seed = bp.Network([3, 5, 4, 2], hidden="tanh", init=init, seed=8, backend=backend)
    assert not np.array_equal(other_seed.theta, bp.Network([3, 5, 4, 2], init=init, seed=7).theta)


def test_same_outputs_and_gradient_on_every_backend(backend, batch, rel):
    reference = bp.Network([3, 6, 3], hidden="logistic", output="softmax", seed=3)
    net = reference.copy(backend=backend)
    assert net.backend == backend
    X, y = batch(reference, 7)
    assert rel(net.predict(X), reference.predict(X)) < 1e-14
    assert rel(net.gradient(X, y), reference.gradient(X, y)) < 1e-14
    assert abs(net.loss(X, y) - reference.loss(X, y)) < 1e-14


def test_network_accepts_arrays_of_another_cpu_library(backend):
    """Every network takes array_api_strict input (moved through DLPack or asarray)."""
    xps = bp.get_namespace("array_api_strict")
    net = bp.Network([2, 3, 1], hidden="tanh", backend=backend, seed=1)
    X = xps.asarray([[0.5, -1.0], [2.0, 0.0]])
    expected = bp.Network([2, 3, 1], hidden="tanh", seed=1).predict(np.asarray([[0.5, -1.0], [2.0, 0.0]]))
    np.testing.assert_allclose(bp.to_numpy(net.predict(X)), expected, rtol=1e-15)
