"""One layer step composed everywhere: an activation added to the table works in every part,
and the readable code and the NumPy kernel, switched by ``kernel=``, give the same numbers.

softplus, S(z) = ln(1 + e^z), is not in the package. Added at run time as one entry of the
activation table, it must work in the gradient (kernel and readable code), gradcheck,
checkpointing, forward mode, the Hessian-vector product and the tape, as a hidden layer and
as the output layer, against HIPS autograd (an independent differentiator) and finite
differences of the gradient.
"""

from __future__ import annotations

import pickle

import autograd.numpy as anp
import numpy as np
import pytest
import test_reference_autograd as reference
from autograd import grad, hessian

import backprop as bp
from backprop.activations import ACTIVATIONS, Activation


def _softplus(xp, z):
    # ln(1 + e^z) = max(z, 0) + ln(1 + e^{-|z|}): no overflow for large |z|
    return xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))


def _sigma(xp, z):
    return ACTIVATIONS["logistic"].S_xp(xp, z)


SOFTPLUS = Activation(
    "softplus",
    _softplus,
    _sigma,  # S' = σ
    lambda xp, a: -xp.expm1(-a),  # σ(z) = 1 - e^{-a} for a = ln(1 + e^z)
    lambda xp, z: _sigma(xp, z) * (1 - _sigma(xp, z)),  # S'' = σ (1 - σ)
)


@pytest.fixture
def softplus(monkeypatch):
    """softplus in the package's table (and in the autograd reference's) for one test."""
    monkeypatch.setitem(ACTIVATIONS, "softplus", SOFTPLUS)
    monkeypatch.setitem(reference.ACT, "softplus", lambda z: anp.logaddexp(0.0, z))
    yield SOFTPLUS
    bp.OUTPUTS.pop("softplus", None)  # the output entry derived from it by get_output


CASES = [  # (hidden, output, loss)
    (["softplus", "tanh"], "softmax", "cross_entropy"),
    (["relu", "softplus"], "softplus", "squared_error"),
]


def _setup(hidden, output, loss, backend="numpy", kernel=True):
    p = [3, 5, 4, 2]
    net = bp.Network(p, hidden=hidden, output=output, loss=loss, init="xavier", seed=7,
                     backend=backend, kernel=kernel)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((9, 3))
    y = rng.integers(0, 2, 9) if loss == "cross_entropy" else rng.standard_normal((9, 2))
    return net, X, y


def _reference_loss(net, X, y):
    return lambda theta: reference.training_loss(theta, list(net.p), net.hidden, net.output,
                                                 net.loss_name, X, y)


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("hidden, output, loss", CASES)
def test_an_added_activation_works_in_every_part(softplus, hidden, output, loss, backend):
    net, X, y = _setup(hidden, output, loss, backend)
    assert net.hidden == hidden and net.output == output
    f = _reference_loss(net, X, y)
    theta = net.theta
    want = grad(f)(theta)
    scale = np.linalg.norm(want)

    def close(a, b, tol=1e-12):
        assert np.linalg.norm(bp.to_numpy(a) - b) <= tol * scale

    close(net.gradient(X, y), want)
    if backend == "numpy":
        close(net.copy(kernel=False).gradient(X, y), want)
    assert net.loss(X, y) == pytest.approx(f(theta), rel=1e-13)
    close(bp.autodiff.gradient(net, X, y), want)  # the tape
    close(net.gradient(X, y, checkpoints=2), want)
    v = np.random.default_rng(3).standard_normal(net.dim_theta)
    assert net.jvp(X, y, v) == pytest.approx(float(want @ v), rel=1e-12)
    H_v = hessian(f)(theta) @ v
    np.testing.assert_allclose(bp.to_numpy(net.hvp(X, y, v)), H_v, rtol=0,
                               atol=1e-11 * np.linalg.norm(H_v))
    result = bp.gradcheck(net, X, y)
    assert result.passed, str(result)
    wrong = bp.to_numpy(net.gradient(X, y)).copy()
    wrong[0] *= 1.01  # gradcheck must see a wrong gradient on this network too
    assert not bp.gradcheck(net, X, y, gradient=wrong).passed


def test_the_readable_code_and_the_kernel_give_the_same_numbers():
    for output, loss in [("softmax", "cross_entropy"), ("logistic", "squared_error"),
                         ("softmax_reduced", "cross_entropy"), ("identity", "squared_error")]:
        net, X, y = _setup(["relu", "tanh"], output, loss)
        readable = net.copy(kernel=False)
        assert net.kernel and not readable.kernel
        np.testing.assert_array_equal(readable.theta, net.theta)
        g_kernel, g_readable = net.gradient(X, y), readable.gradient(X, y)
        assert type(g_readable) is np.ndarray
        np.testing.assert_allclose(g_readable, g_kernel, rtol=1e-13, atol=1e-16)
        assert readable.loss(X, y) == pytest.approx(net.loss(X, y), rel=1e-14)
        for mine, theirs in zip(*(m.forward(X)[1] for m in (readable, net)), strict=True):
            np.testing.assert_allclose(mine, theirs, rtol=1e-14, atol=1e-16)
        assert readable.kept_workspaces() == [] and len(net.kept_workspaces()) == 1


def test_the_tape_keeps_float32_on_the_reduced_softmax():
    # [0, z] is z times a constant matrix of the network's dtype, not a float64 one
    net, X, y = _setup(["relu", "tanh"], "softmax_reduced", "cross_entropy")
    net32 = net.copy(dtype="float32")
    tape = bp.autodiff.gradient(net32, X.astype(np.float32), y)
    assert tape.dtype == np.float32
    np.testing.assert_allclose(tape, net32.gradient(X.astype(np.float32), y), rtol=2e-5,
                               atol=1e-6)


def test_the_kernel_switch_is_kept_by_copies_and_pickles_and_checked():
    readable = bp.Network([2, 3, 1], kernel=False)
    assert repr(readable).endswith(", backend='numpy', kernel=False, dim_theta=13)")
    assert "kernel" not in repr(bp.Network([2, 3, 1]))
    assert not pickle.loads(pickle.dumps(readable)).kernel
    assert not readable.copy(dtype="float32").kernel
    assert readable.copy(kernel=True).kernel
    assert not bp.Network([2, 3, 1], backend="array_api_strict").kernel  # NumPy only
    with pytest.raises(TypeError, match=r"^kernel must be True or False; got 'no' \(str\)$"):
        bp.Network([2, 3, 1], kernel="no")
    with pytest.raises(TypeError, match=r"^kernel must be True or False; got 0 \(int\)$"):
        readable.copy(kernel=0)
    with pytest.raises(AttributeError, match="net.kernel is fixed"):
        readable.kernel = True


def test_no_test_reaches_a_private_attribute_of_a_network():
    """Tests use the documented interface (net.kernel, net.kept_workspaces(), theta_buffer);
    the attributes that Network keeps for itself are named here, from its own source."""
    import inspect
    import pathlib
    import re

    private = set(re.findall(r"self\.(_[a-z]\w*)\b", inspect.getsource(bp.Network)))
    assert {"_kernel", "_theta", "_config"} <= private
    pattern = re.compile(r"\.(" + "|".join(sorted(private)) + r")\b")
    found = []
    for path in sorted(pathlib.Path(__file__).parent.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line) and "self." not in line:
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert found == []
