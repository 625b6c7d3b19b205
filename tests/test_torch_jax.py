"""backend='torch' and backend='jax': devices, 'auto', the one place θ is written, and the
agreements of the generic code (gradient, fit, save/load, the distributed gradient) with NumPy.

The whole unit suite runs on both through the ``backend`` fixture (conftest.py); these tests
cover what only these two backends have: a device setting, tensors of their own as input,
arrays that cannot be written (JAX), torch's float32 defaults.
"""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
from backprop import backend as be

needs_torch = pytest.mark.skipif(not be.torch_available(), reason="PyTorch is not installed")
needs_jax = pytest.mark.skipif(not be.jax_available(), reason="JAX is not installed")
NEW = [pytest.param("torch", marks=[pytest.mark.torch, needs_torch]),
       pytest.param("jax", marks=[pytest.mark.jax, needs_jax])]


def _problem(backend="numpy", **keywords):
    net = bp.Network([3, 6, 4, 2], hidden="tanh", output="softmax", seed=4, backend=backend,
                     **keywords)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((11, 3))
    return net, X, (X[:, 0] > 0).astype(np.int64)


# ---------------------------------------------------------------- names, devices, auto
@needs_torch
def test_torch_network_holds_float64_tensors_on_the_cpu():
    import torch

    net = bp.Network([2, 3, 1], backend="torch")
    assert (net.backend, net.device) == ("torch", "cpu")
    assert isinstance(net.theta_buffer, torch.Tensor)
    assert net.theta_buffer.dtype == torch.float64 and net.theta_buffer.device.type == "cpu"
    assert net.W[0].data_ptr() == net.theta_buffer.data_ptr()  # a view into θ
    assert be.device_name(net.xp) == "cpu"


@needs_jax
def test_jax_network_holds_float64_jax_arrays():
    import jax

    net = bp.Network([2, 3, 1], backend="jax", dtype="float64")
    assert (net.backend, net.device) == ("jax", "cpu")
    assert isinstance(net.theta_buffer, jax.Array) and str(net.theta_buffer.dtype) == "float64"
    assert jax.config.jax_enable_x64  # switched on by asking for the backend


@needs_torch
def test_torch_namespace_gives_python_numbers_numpy_dtypes():
    xp = bp.get_namespace("torch")
    assert str(xp.asarray([1.0, 2.0]).dtype) == "torch.float64"  # torch alone: float32
    assert str(xp.asarray([1, 2]).dtype) == "torch.int64"
    assert str(xp.zeros(3).dtype) == "torch.float64"
    assert str(xp.arange(3).dtype) == "torch.int64"
    assert str(xp.full((2,), 0.5).dtype) == "torch.float64"
    assert str(xp.zeros(3, dtype=xp.float32).dtype) == "torch.float32"  # an explicit dtype stays


@pytest.mark.parametrize("backend", NEW)
def test_repr_names_the_device_only_where_it_is_not_the_default(backend):
    net = bp.Network([2, 3, 1], backend=backend)
    assert repr(net) == (f"Network([2, 3, 1], hidden='relu', output='identity', "
                         f"loss='squared_error', dtype='float64', backend='{backend}', "
                         f"dim_theta=13)")


def test_auto_prefers_cupy_then_torch_on_cuda_or_mps_then_numpy(monkeypatch):
    monkeypatch.setattr(be, "cupy_available", lambda: False)
    monkeypatch.setattr(be, "torch_devices", lambda: ["cuda", "mps", "cpu"])
    assert be.resolve("auto") == ("torch", "cuda")
    monkeypatch.setattr(be, "torch_devices", lambda: ["mps", "cpu"])
    assert be.resolve("auto", dtype="float32") == ("torch", "mps")
    assert be.resolve("auto", dtype="float64") == ("numpy", None)  # MPS has no float64
    assert be.resolve("torch", "auto", dtype="float64") == ("torch", "cpu")
    assert be.resolve("torch", "auto", dtype="float32") == ("torch", "mps")
    monkeypatch.setattr(be, "torch_devices", lambda: ["cpu"])
    assert be.resolve("auto") == ("numpy", None)  # torch on the CPU is no faster than NumPy
    monkeypatch.setattr(be, "torch_devices", lambda: [])
    assert be.resolve("auto") == ("numpy", None)
    monkeypatch.setattr(be, "cupy_available", lambda: True)
    assert be.resolve("auto") == ("cupy", None)


def test_available_backends_include_the_installed_libraries():
    names = bp.available_backends()
    assert ("torch" in names) == be.torch_available()
    assert ("jax" in names) == be.jax_available()


# ---------------------------------------------------------------- hostile settings
def test_device_with_a_backend_that_has_none_is_refused():
    with pytest.raises(ValueError, match=r"device applies to backend='torch' or 'jax' only; "
                                         r"got device='cpu' with backend='numpy'"):
        bp.Network([2, 1], device="cpu")
    with pytest.raises(ValueError, match=r"device is chosen by backend='auto' itself; "
                                         r"got device='cuda'"):
        bp.Network([2, 1], backend="auto", device="cuda")


@needs_torch
def test_unknown_or_absent_torch_device_is_refused():
    with pytest.raises(ValueError, match=r"device must be one of \('cpu', 'cuda', 'mps', "
                                         r"'auto'\) for backend='torch'; got 'gpu'"):
        bp.Network([2, 1], backend="torch", device="gpu")
    with pytest.raises(TypeError, match=r"device must be a string.*got int"):
        bp.Network([2, 1], backend="torch", device=0)
    if "cuda" not in be.torch_devices():
        with pytest.raises(ValueError, match=r"device='cuda' is not usable here: torch sees "
                                             r"\['cpu'\]"):
            bp.Network([2, 1], backend="torch", device="cuda")


def test_mps_in_float64_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(be, "torch_devices", lambda: ["mps", "cpu"])
    with pytest.raises(ValueError, match=r"device='mps' computes in float32 only.*got "
                                         r"dtype='float64': pass dtype='float32'"):
        be.resolve("torch", "mps", "float64")
    assert be.resolve("torch", "mps", "float32") == ("torch", "mps")


def test_missing_library_is_named(monkeypatch):
    monkeypatch.setattr(be, "torch_available", lambda: False)
    monkeypatch.setattr(be, "jax_available", lambda: False)
    with pytest.raises(ValueError, match=r"backend='torch' needs PyTorch, which is not installed"):
        bp.Network([2, 1], backend="torch")
    with pytest.raises(ValueError, match=r"backend='jax' needs JAX, which is not installed"):
        bp.Network([2, 1], backend="jax")


@pytest.mark.parametrize("backend", NEW)
def test_jax_device_other_than_cpu_and_copy_to_numpy_with_a_device_are_refused(backend):
    net = bp.Network([2, 1], backend=backend)
    with pytest.raises(ValueError, match=r"device applies to backend='torch' or 'jax' only"):
        net.copy(backend="numpy", device="cpu")
    assert net.copy(backend="numpy").device is None
    if backend == "jax":
        with pytest.raises(ValueError, match=r"device must be one of \('cpu', 'auto'\) for "
                                             r"backend='jax'; got 'cuda'"):
            bp.Network([2, 1], backend="jax", device="cuda")


@pytest.mark.parametrize("backend", NEW)
def test_theta_buffer_refuses_a_wrong_shape_or_dtype(backend):
    net = bp.Network([2, 3, 1], backend=backend)
    before = net.theta
    with pytest.raises(ValueError, match=r"theta_buffer must be set to a flat array.*dtype "
                                         r"float64 and length dim\(theta\) = 13; got"):
        net.theta_buffer = net.xp.zeros(12, dtype=net.xp.float64)
    with pytest.raises(ValueError, match=r"theta_buffer must be set.*got .*float32"):
        net.theta_buffer = net.xp.zeros(13, dtype=net.xp.float32)
    np.testing.assert_array_equal(net.theta, before)


# ---------------------------------------------------------------- θ written in one place
@pytest.mark.parametrize("backend", ["numpy", "array_api_strict", *NEW])
def test_every_write_of_theta_reaches_W_b_and_the_computation(backend):
    """net.theta = ..., net.W[i] = ..., net.b[i] = ... and net.theta_buffer -= step change
    θ, W_l, b_l and the outputs alike, also on JAX, whose arrays cannot be written."""
    net, X, y = _problem(backend)
    ref = net.copy(backend="numpy")
    step = np.linspace(-0.1, 0.1, net.dim_theta)
    for target in (net, ref):
        target.theta = target.theta + 1.0
        target.W[1] = np.full((4, 6), 0.25)
        target.b[2] = [0.5, -0.5]
        target.theta_buffer -= target.xp.asarray(step, dtype=target.xp.float64)
    np.testing.assert_array_equal(net.theta, ref.theta)
    np.testing.assert_array_equal(bp.to_numpy(net.W[1]), 0.25 - step[24:48].reshape(4, 6))
    np.testing.assert_array_equal(bp.to_numpy(net.b[2]), ref.b[2])
    assert net.loss(X, y) == pytest.approx(ref.loss(X, y), rel=1e-13)


@needs_jax
def test_write_on_jax_returns_a_new_array_and_leaves_the_old():
    xp = bp.get_namespace("jax")
    x = xp.zeros(4)
    y = be.write(x, slice(1, 3), 7.0)
    assert y is not x
    np.testing.assert_array_equal(np.asarray(x), [0, 0, 0, 0])
    np.testing.assert_array_equal(np.asarray(y), [0, 7, 7, 0])
    z = np.zeros(4)
    assert be.write(z, 0, 1.0) is z and z[0] == 1.0  # NumPy: in place


@pytest.mark.parametrize("backend", NEW)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "barzilai_borwein"])
def test_fit_follows_numpy(backend, optimizer):
    net, X, y = _problem(backend)
    ref = net.copy(backend="numpy")
    keywords = dict(optimizer=optimizer, iterations=6, seed=2)
    if optimizer != "barzilai_borwein":
        keywords["batch_size"] = 5
    history = bp.fit(net, X, y, **keywords)
    expected = bp.fit(ref, X, y, **keywords)
    np.testing.assert_allclose(net.theta, ref.theta, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(history.loss, expected.loss, rtol=1e-12)
    assert not np.array_equal(net.theta, _problem()[0].theta)  # it moved


@pytest.mark.parametrize("backend", NEW)
def test_early_stopping_restores_the_best_theta(backend):
    net, X, y = _problem(backend)
    ref = net.copy(backend="numpy")
    keywords = dict(optimizer="sgd", epochs=5, batch_size=4, validation=(X[:5], y[:5]),
                    early_stopping=2, seed=1)
    history = bp.fit(net, X, y, **keywords)
    expected = bp.fit(ref, X, y, **keywords)
    assert history.best_evaluation == expected.best_evaluation
    np.testing.assert_allclose(net.theta, ref.theta, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- agreements with NumPy
@pytest.mark.parametrize("backend", NEW)
def test_own_tensors_are_accepted_as_input(backend):
    net, X, y = _problem(backend)
    ref = net.copy(backend="numpy")
    Xb, yb = net.xp.asarray(X), net.xp.asarray(y)
    np.testing.assert_allclose(bp.to_numpy(net.gradient(Xb, yb)), ref.gradient(X, y),
                               rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match=r"y must hold class labels in 0..1 \(K = 2 classes\); "
                                         r"got values from 0 to 5"):
        net.gradient(Xb, net.xp.asarray(5 * y))


@needs_torch
def test_torch_takes_what_numpy_takes_without_a_warning(recwarn):
    """Unsigned labels (torch has no min of uint32), a read-only array (a JAX array read by
    NumPy), a tensor that requires grad: the same gradient as NumPy's, and no warning."""
    import torch

    net, X, y = _problem("torch")
    expected = net.copy(backend="numpy").gradient(X, y)
    inputs = [(X, y.astype(np.uint64)), (X, torch.asarray(y.astype(np.uint32))),
              (torch.asarray(X).requires_grad_(True), y)]
    frozen = X.copy()
    frozen.flags.writeable = False
    inputs.append((frozen, y.astype(np.uint16)))
    for Xi, yi in inputs:
        np.testing.assert_allclose(bp.to_numpy(net.gradient(Xi, yi)), expected, rtol=1e-13,
                                   atol=1e-15)
    with pytest.raises(ValueError, match=r"y must hold class labels in 0..1 \(K = 2 classes\); "
                                         r"got values from 0 to 7"):
        net.gradient(X, np.array([7] + [0] * 10, dtype=np.uint32))
    assert not [w for w in recwarn if "torch" in str(w.message).lower()]


@pytest.mark.parametrize("backend", NEW)
def test_jvp_hvp_checkpoints_and_gradcheck_agree_with_numpy(backend):
    net, X, y = _problem(backend)
    ref = net.copy(backend="numpy")
    v = np.random.default_rng(3).standard_normal(net.dim_theta)
    assert net.jvp(X, y, v) == pytest.approx(ref.jvp(X, y, v), rel=1e-12)
    np.testing.assert_allclose(bp.to_numpy(net.hvp(X, y, v)), ref.hvp(X, y, v), rtol=1e-11,
                               atol=1e-13)
    np.testing.assert_allclose(bp.to_numpy(net.gradient(X, y, checkpoints=2)),
                               ref.gradient(X, y), rtol=1e-13, atol=1e-15)
    result = bp.gradcheck(net, X, y)
    assert result.passed and result.max_rel_error < 1e-7


@pytest.mark.parametrize("backend", NEW)
def test_save_and_load_on_the_backend(backend, tmp_path):
    net, X, y = _problem(backend)
    bp.fit(net, X, y, iterations=3)
    bp.save(net, tmp_path / "net.npz")
    back = bp.load(tmp_path / "net.npz", backend=backend, device="cpu")
    assert (back.backend, back.device) == (backend, "cpu")
    np.testing.assert_array_equal(back.theta, net.theta)
    on_numpy = bp.load(tmp_path / "net.npz")
    assert on_numpy.backend == "numpy" and on_numpy.device is None
    np.testing.assert_array_equal(on_numpy.theta, net.theta)
    with pytest.raises(ValueError, match=r"device applies to backend='torch' or 'jax' only"):
        bp.load(tmp_path / "net.npz", device="cpu")


@pytest.mark.parametrize("backend", NEW)
def test_pickle_and_copy_keep_backend_and_device(backend):
    import copy
    import pickle

    net = _problem(backend)[0]
    for other in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net), net.copy(dtype="float32")):
        assert (other.backend, other.device) == (backend, "cpu")
        np.testing.assert_allclose(other.theta, net.theta, rtol=1e-7)


@pytest.mark.parametrize("backend", NEW)
def test_distributed_gradient_converts_shards_to_numpy(client, backend):
    from backprop import distributed

    net, X, y = _problem(backend)
    g = distributed.gradient(net, X, y, client=client)
    assert be.backend_name(bp.get_namespace(backend)) == backend
    assert type(g) is type(net.theta_buffer)
    np.testing.assert_allclose(bp.to_numpy(g), net.copy(backend="numpy").gradient(X, y),
                               rtol=1e-12, atol=1e-15)
