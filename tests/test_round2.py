"""Issue 26, "Reliability, second round": tests for each finding, seen to fail before its fix
(except the parameter cases that already worked, and the last test, a guard that the Tensor
changes keep autodiff.gradient).

Every call either gives the right result or raises a ValueError / TypeError naming the
argument, with what was expected and what came; θ, the History and files are never left
corrupted. The distributed findings (3, 8, 9 and the Dask array of 10) are tested in
test_distributed.py, which has the cluster.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

import backprop as bp
from backprop import autodiff, checkpoint, forward_mode, hessian
from backprop.autodiff import Tensor


def _line(w, b=0.0):
    """g = w x + b, one input, one output, squared error."""
    net = bp.Network([1, 1], output="identity")
    net.theta = np.array([w, b])
    return net


X21 = np.linspace(-1, 1, 21).reshape(-1, 1)


# ----------------------------------------------------------------------------- 1: evaluation 0


def test_early_stopping_can_keep_the_initial_theta():
    """θ_0 = (0.4, 0) fits the validation targets 0.4 x exactly; training towards y = x only
    makes the validation loss worse, so the best θ is θ_0, evaluation 0."""
    net = _line(0.4)
    h = bp.fit(net, X21, X21, optimizer=bp.SteepestDescent(0.05), epochs=50,
               validation=(X21, 0.4 * X21), early_stopping=2)
    assert h.val_loss[0] == 0.0 and np.all(h.val_loss[1:] > 0)
    assert h.best_evaluation == int(np.argmin(h.val_loss)) == 0 and h.best_epoch == 0.0
    assert h.stopped_early and len(h.val_loss) == 3 and h.iterations == 2
    np.testing.assert_array_equal(net.theta, [0.4, 0.0])


# ----------------------------------------------------------------------------- 2: divergence


class _BlowUp(bp.SteepestDescent):
    """Steepest descent whose step number ``at`` (1-based) throws θ to 1e200: finite, but
    every loss overflows to inf."""

    def __init__(self, lr, at):
        super().__init__(lr)
        self.at = at

    def update(self, net, grad):
        super().update(net, grad)
        if self.t + 1 == self.at:
            net.theta_buffer[...] = 1e200


def test_divergence_under_early_stopping_keeps_the_best_theta():
    reference = _line(0.0)
    h_ref = bp.fit(reference, X21, X21, optimizer=bp.SteepestDescent(0.05), epochs=30,
                   validation=(X21, 0.4 * X21), early_stopping=100)
    best = h_ref.best_evaluation
    assert 0 < best < 25  # the validation loss falls, then rises
    net = _line(0.0)
    with pytest.raises(bp.DivergenceError, match="training loss is inf at iteration 27") as err:
        bp.fit(net, X21, X21, optimizer=_BlowUp(0.05, at=27), epochs=30,
               validation=(X21, 0.4 * X21), early_stopping=100)
    h = err.value.history
    assert h.best_evaluation == best == int(np.argmin(h.val_loss))
    np.testing.assert_array_equal(h.val_loss[:27], h_ref.val_loss[:27])
    assert len(h.val_loss) == 28 and np.isinf(h.val_loss[27])  # the evaluation that overflowed
    assert net.loss(X21, 0.4 * X21) == pytest.approx(h.val_loss[best], rel=1e-12)
    assert f"best one under early stopping (evaluation {best}" in str(err.value)


def test_a_validation_loss_that_is_not_finite_is_divergence_under_early_stopping():
    """Decided: under early stopping the validation loss picks θ, so one that overflows (θ
    finite, targets finite) is a DivergenceError naming it; θ is the best one so far."""
    net = _line(1.0)
    big = np.full((3, 1), 1e200)
    with pytest.raises(bp.DivergenceError, match="validation loss is inf at iteration 0") as err:
        bp.fit(net, X21, X21, iterations=3, validation=(big, np.zeros(3)), early_stopping=2)
    assert err.value.history.best_evaluation is None and err.value.history.iterations == 0
    np.testing.assert_array_equal(net.theta, [1.0, 0.0])
    # without early stopping it is only recorded, as before
    h = bp.fit(net, X21, X21, iterations=3, validation=(big, np.zeros(3)))
    assert np.all(np.isinf(h.val_loss)) and h.iterations == 3


# ----------------------------------------------------------------------------- 17: stopped_early


def test_stopped_early_only_when_iterations_were_cut():
    """stopped_early is True exactly when fewer steps ran than the stopping rule asked for;
    patience running out at the last step cuts nothing. A step of 1e-300 leaves θ as it
    is (every validation loss ties); θ_0 = (0.4, 0) only gets worse."""
    for lr, w0 in [(1e-300, 1.0), (0.05, 0.4)]:
        for T in range(1, 5):
            for patience in range(1, 4):
                h = bp.fit(_line(w0), X21, X21, optimizer=bp.SGD(lr), iterations=T,
                           validation=(X21, 0.4 * X21), early_stopping=patience)
                assert h.stopped_early == (h.iterations < T), (lr, T, patience)
                assert h.iterations == min(T, patience) and h.best_evaluation == 0


# ----------------------------------------------------------------------------- 16: the hook


@pytest.mark.parametrize("gradient, error, match", [
    (np.float64(0.5), ValueError, r"loss_and_gradient.* length dim\(theta\) = 2; got shape \(\)"),
    (np.zeros(3), ValueError, r"loss_and_gradient.* length dim\(theta\) = 2; got shape \(3,\)"),
    (np.zeros(2, complex), TypeError, r"loss_and_gradient.*complex"),
    ("ab", TypeError, r"loss_and_gradient"),
])
def test_the_hook_output_is_checked(gradient, error, match):
    net = _line(1.0)
    steps = []

    def hook(idx):
        steps.append(idx)
        if len(steps) < 3:
            return net.loss_and_gradient(X21, X21)
        return 1.0, gradient

    with pytest.raises(error, match=match) as caught:
        bp.fit(net, X21, X21, optimizer=bp.SGD(0.1), iterations=5, loss_and_gradient=hook)
    assert caught.value.history.iterations == 2  # the History so far, θ after two steps
    reference = _line(1.0)
    bp.fit(reference, X21, X21, optimizer=bp.SGD(0.1), iterations=2)
    np.testing.assert_array_equal(net.theta, reference.theta)


@pytest.mark.parametrize("loss", [np.array([1.0, 2.0]), 1 + 2j, None, "1.0", True])
def test_the_hook_loss_must_be_a_real_number(loss):
    net = _line(1.0)
    with pytest.raises(TypeError, match=r"loss_and_gradient.*loss"):
        bp.fit(net, X21, X21, iterations=2, loss_and_gradient=lambda idx: (loss, np.zeros(2)))
    np.testing.assert_array_equal(net.theta, [1.0, 0.0])


def test_the_hook_may_return_a_list_and_a_0d_loss():
    net, reference = _line(1.0), _line(1.0)

    def hook(idx):
        loss, grad = net.loss_and_gradient(X21, X21)
        return np.asarray(loss), grad.tolist()

    bp.fit(net, X21, X21, optimizer=bp.SGD(0.1), iterations=3, loss_and_gradient=hook)
    bp.fit(reference, X21, X21, optimizer=bp.SGD(0.1), iterations=3)
    np.testing.assert_array_equal(net.theta, reference.theta)
    with pytest.raises(TypeError, match="loss_and_gradient.* pair"):
        bp.fit(net, X21, X21, iterations=1, loss_and_gradient=lambda idx: np.zeros(2))


# ----------------------------------------------------------------------------- np.True_


def test_fit_takes_numpy_booleans_like_check_bool_does():
    """Decided: replacement and progress accept np.True_ / np.False_, as every other flag of
    the package (check_bool) does; other truthy values stay refused."""
    net = _line(1.0)
    h = bp.fit(net, X21, X21, batch_size=5, iterations=2, replacement=np.True_,
               progress=np.False_)
    assert h.replacement is True and h.iterations == 2
    with pytest.raises(TypeError, match=r"replacement must be True or False; got 1 \(int\)"):
        bp.fit(net, X21, X21, batch_size=5, iterations=2, replacement=1)


# ----------------------------------------------------------------------------- 4, 18: Tensor


def _numerical(f, x):
    return bp.numerical_gradient(f, x)


@pytest.mark.parametrize("shape_a, shape_b", [
    ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)), ((4, 2, 3), (3, 5)), ((2, 3), (4, 3, 2)),
    ((4, 2, 3), (4, 3, 5)), ((1, 2, 3), (4, 3, 5)),
])
def test_matmul_gradients_of_1d_and_batched_operands(shape_a, shape_b):
    rng = np.random.default_rng(0)
    A0, B0, C = rng.standard_normal(shape_a), rng.standard_normal(shape_b), None
    C = rng.standard_normal(np.matmul(A0, B0).shape)  # f = Σ C ⊙ (A @ B)
    A, B = Tensor(A0.copy()), Tensor(B0.copy())
    out = A @ B
    (out * C).sum().backward()
    assert A.grad.shape == shape_a and B.grad.shape == shape_b
    np.testing.assert_allclose(A.grad, _numerical(lambda a: np.sum(C * (a @ B0)), A0), rtol=1e-6)
    np.testing.assert_allclose(B.grad, _numerical(lambda b: np.sum(C * (A0 @ b)), B0), rtol=1e-6)


def test_matmul_of_a_0d_operand_is_refused_naming_the_shapes():
    with pytest.raises(ValueError, match=r"@ needs operands of at least 1 dimension; got "
                                         r"shapes \(\) and \(3,\)"):
        Tensor(np.asarray(2.0)) @ Tensor(np.ones(3))


@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), ((0, 1), False),
                                            (1, False), (-1, True), ((0, 2), True)])
def test_logsumexp_sum_and_mean_over_any_axes(axis, keepdims):
    x0 = np.random.default_rng(1).standard_normal((2, 3, 4))
    w = np.random.default_rng(2).standard_normal(np.sum(x0, axis=axis, keepdims=keepdims).shape)

    def lse(a):
        m = np.max(a, axis=axis, keepdims=True)
        out = m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))
        return out if keepdims else np.squeeze(out, axis=axis if axis is not None else None)

    for name, f in [("logsumexp", lse),
                    ("sum", lambda a: np.sum(a, axis=axis, keepdims=keepdims)),
                    ("mean", lambda a: np.mean(a, axis=axis, keepdims=keepdims))]:
        x = Tensor(x0.copy())
        out = getattr(x, name)(axis=axis, keepdims=keepdims)
        np.testing.assert_allclose(out.data, f(x0), rtol=1e-13)
        (out * w).sum().backward()
        np.testing.assert_allclose(x.grad, _numerical(lambda a, f=f: np.sum(w * f(a)), x0),
                                   rtol=1e-6, err_msg=name)


def test_ndarray_at_tensor_is_a_tensor():
    M, v0 = np.arange(6.0).reshape(2, 3), np.array([1.0, -2.0, 0.5])
    v = Tensor(v0.copy())
    out = M @ v
    assert isinstance(out, Tensor)
    np.testing.assert_array_equal(out.data, M @ v0)
    out.sum().backward()
    np.testing.assert_array_equal(v.grad, M.sum(axis=0))


def test_tensor_gradients_are_arrays_of_their_own():
    a, b = Tensor(np.ones(3)), Tensor(np.ones(3))
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad[0] = 5.0  # writable, and b's gradient does not move
    np.testing.assert_array_equal(b.grad, np.ones(3))


# ----------------------------------------------------------------------------- 5: copy(dtype)


def test_copy_to_float32_refuses_a_theta_beyond_its_range():
    net = bp.Network([2, 3, 1])
    theta = net.theta
    theta[4] = 1e300
    net.theta = theta
    with pytest.raises(ValueError, match=r"copy\(dtype='float32'\).*beyond the range of float32.*"
                                         r"got 1e\+300 at index \(4,\)"):
        net.copy(dtype="float32")
    np.testing.assert_array_equal(net.theta, theta)
    small = bp.Network([2, 3, 1]).copy(dtype="float32")  # an ordinary θ still copies
    assert small.dtype == "float32" and np.all(np.isfinite(small.theta))


# ----------------------------------------------------------------------------- 6, 7, 19: files


def _child(code, *args, timeout=60):
    """Run ``code`` in a child Python that imports backprop from here, with 2 GiB of
    address space: a load that reads without end fails there, not in the test process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    prelude = ("import resource\n"
               "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.RLIM_INFINITY))\n")
    try:
        return subprocess.run([sys.executable, "-c", prelude + code, *args], capture_output=True,
                              text=True, env=env, timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        return "timed out"


LOAD = (
    "import sys, backprop as bp\n"
    "try:\n"
    "    bp.load(sys.argv[1])\n"
    "except Exception as err:\n"
    "    print('ValueError' if isinstance(err, ValueError) else type(err).__name__, err)\n"
)


def test_load_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = str(tmp_path / "pipe.npz")
    os.mkfifo(fifo)
    for path, kind in [("/dev/zero", "a character device"), (fifo, "a FIFO")]:
        out = _child(LOAD, path, timeout=30)  # today's code: a FIFO blocks until killed
        assert out.startswith(f"ValueError {path}: not a regular file ({kind})"), (path, out)
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        bp.load(tmp_path)


def test_save_refuses_to_replace_what_is_not_a_regular_file(tmp_path):
    net = bp.Network([2, 3, 1])
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"pipe\.npz'.* a FIFO, not a regular file"):
        bp.save(net, fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    target = tmp_path / "elsewhere" / "pipe"
    target.parent.mkdir()
    os.mkfifo(target)
    link = tmp_path / "link.npz"
    os.symlink(target, link)  # followed to its target, which is refused
    with pytest.raises(ValueError, match=r"link\.npz'.* a FIFO, not a regular file"):
        bp.save(net, link)
    assert os.path.islink(link) and stat.S_ISFIFO(os.stat(target).st_mode)
    try:  # a device node of our own (root only), never the system's /dev/null
        os.mknod(tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        return
    with pytest.raises(ValueError, match=r"a character device, not a regular file"):
        bp.save(net, tmp_path / "null")
    assert stat.S_ISCHR(os.stat(tmp_path / "null").st_mode)


def test_save_refuses_a_path_that_names_a_folder(tmp_path):
    net = bp.Network([2, 3, 1])
    path = str(tmp_path / "x.npz") + os.sep
    with pytest.raises(ValueError, match=r"ends with a path separator"):
        bp.save(net, path)
    assert not os.path.exists(tmp_path / "x.npz")


def test_a_save_that_runs_out_of_space_names_the_path(tmp_path, monkeypatch):
    net = bp.Network([2, 3, 1])
    path = tmp_path / "net.npz"
    bp.save(net, path)
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(bp.io.np, "savez", full)
    with pytest.raises(OSError, match=rf"cannot save the network to {str(path)!r}: No space") as e:
        bp.save(bp.Network([2, 3, 1], seed=5), path)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["net.npz"]


def test_a_save_beyond_the_file_size_limit_names_the_path(tmp_path):
    """A real EFBIG: the file-size limit (RLIMIT_FSIZE) set below the file's size, in a child
    process (SIGXFSZ ignored, so the write fails instead of killing it)."""
    path = str(tmp_path / "big.npz")
    code = (
        "import resource, signal, sys, errno\n"
        "import backprop as bp\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit("
        "resource.RLIMIT_FSIZE)[1]))\n"
        "try:\n"
        "    bp.save(bp.Network([100, 100]), sys.argv[1])\n"
        "except OSError as err:\n"
        "    print(err.errno == errno.EFBIG, err.strerror)\n"
    )
    out = _child(code, path)
    assert out.startswith(f"True cannot save the network to {path!r}"), out
    assert os.listdir(tmp_path) == []


def test_save_drops_setuid_bits_of_the_file_it_replaces(tmp_path):
    """Decided: the result has the old file's permission bits, never set-user/group-ID."""
    path = tmp_path / "net.npz"
    bp.save(bp.Network([2, 3, 1]), path)
    os.chmod(path, 0o6750)
    bp.save(bp.Network([2, 3, 1], seed=1), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o750


def test_load_reads_a_big_endian_theta(tmp_path):
    """Decided: θ stored big-endian is the same numbers; it loads, converted to native order."""
    net = bp.Network([2, 3, 1], seed=3)
    arrays = bp.io._arrays(net)
    arrays["theta"] = arrays["theta"].astype(">f8")
    path = tmp_path / "big_endian.npz"
    np.savez(path, **arrays)
    loaded = bp.load(path)
    np.testing.assert_array_equal(loaded.theta, net.theta)
    assert loaded.theta.dtype == np.float64


# ----------------------------------------------------------------------------- 10, 11: arrays


class _Refusing:
    """An array-API object whose __dlpack__ refuses, as a torch tensor that requires grad
    does (BufferError) or one of dtype bfloat16 (RuntimeError); NumPy cannot read it."""

    def __init__(self, error):
        self.error, self.shape, self.ndim = error, (21, 1), 2

    def __array_namespace__(self, api_version=None):
        return np

    def __dlpack__(self, **kwargs):
        raise self.error("refused")

    def __dlpack_device__(self):
        return (1, 0)


class _NoDLPack:
    """An array-API object without __dlpack__ that NumPy reads (a Dask array's shape)."""

    shape, ndim = (21, 1), 2

    def __array_namespace__(self, api_version=None):
        return np

    def __array__(self, dtype=None, copy=None):
        return X21.copy()


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("error", [BufferError, RuntimeError])
def test_an_array_whose_dlpack_refuses_is_a_type_error_naming_it(backend, error):
    net = _line(1.0).copy(backend=backend)
    with pytest.raises(TypeError, match=r"^X .*_Refusing.*cannot be read .*refused"):
        net.loss(_Refusing(error), X21)
    with pytest.raises(TypeError, match=r"^y_true .*_Refusing"):
        bp.accuracy(_Refusing(error), [0])


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
def test_an_array_without_dlpack_is_read_through_numpy(backend):
    net = _line(1.0).copy(backend=backend)
    assert net.loss(_NoDLPack(), X21) == pytest.approx(0.0)
    assert net.loss(_NoDLPack(), 2 * X21) == pytest.approx(np.mean(X21**2))


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_float16_and_longdouble_on_array_api_strict_as_on_numpy(dtype):
    X = X21.astype(dtype)
    on_numpy = _line(1.5).loss(X, X21)
    on_strict = _line(1.5).copy(backend="array_api_strict").loss(X, X21)
    assert on_strict == pytest.approx(on_numpy, rel=1e-14)
    assert on_numpy == pytest.approx(0.25 * np.mean(X21**2), rel=1e-3)


def test_longdouble_beyond_float64_is_refused_on_array_api_strict():
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 on this platform")
    X = np.ones((3, 1), dtype=np.longdouble)
    X[1, 0] = np.longdouble(10) ** 400
    for backend in ["numpy", "array_api_strict"]:
        with pytest.raises(ValueError, match=r"X has entries beyond the range of float64.*"
                                             r"at index \(1, 0\)"):
            _line(1.0).copy(backend=backend).loss(X, np.zeros(3))


# ----------------------------------------------------------------------------- 12-14: metrics


def test_confusion_matrix_with_K_a_small_numpy_integer():
    labels = np.array([0, 15, 3, 15], dtype=np.uint8)
    K = labels.max() + 1  # np.uint8(16): K·K would wrap to 0
    C = bp.confusion_matrix(labels, labels, K)
    assert C.shape == (16, 16) and C.sum() == 4 and C[15, 15] == 2 and np.trace(C) == 4


def test_accuracy_refuses_labels_beyond_int64():
    with pytest.raises(ValueError, match=r"y_true must hold integer labels in 0\.\.2\*\*63 - 1;"
                                         r" got values 1e\+19\.\.3e\+19"):
        bp.accuracy([1e19, 3e19], [2e19, 4e19])
    with pytest.raises(ValueError, match=r"y_pred must hold .* got values .*9223372036854775808"):
        bp.accuracy(np.array([1, 2], np.uint64), np.array([1, 2**63], np.uint64))
    assert bp.accuracy([2.0**62, 1.0], [2.0**62, 0.0]) == 0.5  # large but exact: fine


def test_predict_labels_of_a_one_class_softmax_is_class_0():
    net = bp.Network([2, 3, 1], output="softmax")
    labels = bp.predict_labels(net, np.ones((4, 2)))
    np.testing.assert_array_equal(labels, [0, 0, 0, 0])
    assert bp.accuracy(np.zeros(4, int), labels) == 1.0
    bp.confusion_matrix(np.zeros(4, int), labels, net.K)  # labels in 0..K-1 = 0..0


# ----------------------------------------------------------------------------- 15: v


@pytest.mark.parametrize("call", [forward_mode.jvp, hessian.hvp, hessian.gradient_and_hvp,
                                  lambda net, X, y, v: net.jvp(X, y, v),
                                  lambda net, X, y, v: net.hvp(X, y, v)])
@pytest.mark.parametrize("v, error", [([1.0, 2.0], ValueError), (np.full(13, np.nan), ValueError),
                                      ("abc", TypeError), (np.zeros(13, complex), TypeError)])
def test_jvp_and_hvp_errors_name_v(call, v, error):
    net = bp.Network([2, 3, 1])
    with pytest.raises(error) as caught:
        call(net, np.ones((2, 2)), np.ones(2), v)
    message = str(caught.value)
    assert message.startswith("v ") and "vector" not in message.split()[0]


# ----------------------------------------------------------------------------- checkpoints=1


def test_checkpoints_1_keeps_all_L_activations_and_recomputes_none(monkeypatch):
    """Decided, as PyTorch's checkpoint_sequential with one segment: k = 1 is one segment of
    all L layers, which the backward pass needs at once, so the forward pass keeps its L
    activations and nothing is recomputed (plain back-propagation's memory). In general
    the peak is the k checkpoints plus the longest segment (checkpoint.peak_activations)."""
    net = bp.Network([3, 4, 4, 4, 4, 4, 2], hidden="tanh", seed=2)
    X, y = np.random.default_rng(0).standard_normal((5, 3)), np.zeros((5, 2))
    calls = []
    S = net.S

    def counting(l):
        act = S(l)

        class Counted:
            def __getattr__(self, name):
                return getattr(act, name)

            def S_xp(self, xp, Z):
                calls.append(l)
                return act.S_xp(xp, Z)

        return Counted()

    object.__setattr__(net, "S", counting)
    for k, recomputed in [(1, 0), (None, 0), (6, 0), (2, 2), (3, 2)]:
        calls.clear()
        grad = checkpoint.gradient(net, X, y, k)
        assert len(calls) == net.L + recomputed, k
        np.testing.assert_allclose(grad, bp.Network.gradient(net, X, y), rtol=1e-13)
    assert checkpoint.peak_activations(6, 1) == 6 == checkpoint.peak_activations(6, 6)
    assert checkpoint.peak_activations(6, 2) == 2 + 3 - 1
    assert "one segment of all L layers" in checkpoint.gradient.__doc__


def test_checkpoints_1_holds_every_hidden_activation_at_once(batch):
    """Measured: n = 1024 rows of width 32 (256 kB a layer) on 12 layers; k = 1 holds as
    much as plain back-propagation (k = L), k = 3 about half of it."""
    net = bp.Network([32] * 12 + [10], hidden="tanh", output="softmax", init="xavier", seed=0)
    X, y = batch(net, 1024)

    def peak_bytes(k):
        tracemalloc.start()
        try:
            checkpoint.gradient(net, X, y, k)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    one, every, three = peak_bytes(1), peak_bytes(None), peak_bytes(3)
    assert one > 11 * 1024 * 32 * 8  # the eleven hidden a_l at once (and a_0 = X)
    assert 0.9 * every < one < 1.1 * every
    assert three < 0.75 * one
    assert checkpoint.peak_activations(12, 3) == 6 < checkpoint.peak_activations(12, 1) == 12


# ----------------------------------------------------------------------------- autodiff.gradient


def test_autodiff_gradient_still_equals_algorithm_2():
    """The Tensor changes above keep the network's reverse-mode gradient."""
    net = bp.Network([3, 5, 4], hidden="tanh", output="softmax", seed=1)
    X, y = np.random.default_rng(0).standard_normal((6, 3)), np.arange(6) % 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(autodiff.gradient(net, X, y), net.gradient(X, y), rtol=1e-12)
