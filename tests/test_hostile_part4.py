"""Hostile input to Part IV and the metrics (issue 26), as test_hostile.py does for the core.

The modules of Part IV (autodiff, forward_mode, hessian, checkpoint, distributed) and
backprop.metrics get anything at all and near misses: each call works, and then gives what
the core gives (net.loss, net.gradient, a directional derivative, ...), or it raises a
ValueError or TypeError naming the argument, leaving θ as it was. The Tensor of autodiff
gets operands of every shape: its gradients are those of finite differences, or it refuses
the shapes, naming them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_hostile import (
    ANYTHING,
    DTYPE,
    FEW,
    KINDS,
    SCALARS,
    SETTINGS,
    SOME,
    X5,
    _net,
    _valid_y,
    attempt,
    hostile_args,
    maybe_hostile,
    near,
    weighted,
)

import backprop as bp
from backprop import autodiff, checkpoint, distributed, forward_mode, hessian
from backprop.autodiff import Tensor

DIM = {"reg": 26, "clf": 31}  # dim θ of test_hostile's two networks


def _y(kind, data):
    return data.draw(maybe_hostile(_valid_y(kind), (5, 2) if kind == "reg" else (5,)))


def _tame(*arrays) -> bool:
    """True when every array is finite and small: where two ways of computing the same
    number may be compared (1e300 overflows differently in each)."""
    try:
        return all(np.all(np.abs(np.asarray(a, dtype=np.float64)) <= 10) for a in arrays)
    except (TypeError, ValueError):
        return False


def _close(a, b, dtype):
    rtol = 1e-9 if dtype == "float64" else 2e-3
    a, b = np.asarray(bp.to_numpy(a), np.float64), np.asarray(bp.to_numpy(b), np.float64)
    scale = max(np.max(np.abs(b), initial=0.0), 1e-30 if dtype == "float64" else 1e-6)
    assert np.max(np.abs(a - b), initial=0.0) <= rtol * scale, (a, b)


# ----------------------------------------------------------------------------- autodiff


@SOME
@given(kind=KINDS, dtype=DTYPE, X=maybe_hostile(X5, (5, 3)), data=st.data())
def test_autodiff_loss_and_gradient(kind, dtype, X, data):
    net = _net(kind, dtype)
    y = _y(kind, data)
    ok, loss = attempt(lambda: autodiff.loss(net, X, y), ["X", "y"], net)
    ok2, grad = attempt(lambda: autodiff.gradient(net, X, y), ["X", "y"], net)
    ok3, reference = attempt(lambda: net.gradient(X, y), ["X", "y"], net)
    assert ok == ok2 == ok3  # the same checks as the network's own
    if ok:
        assert loss.shape == () and grad.shape == (net.dim_theta,)
        assert grad.dtype == np.dtype(dtype)
        if _tame(X, y):
            _close(loss.data, net.loss(X, y), dtype)
            _close(grad, reference, dtype)


@FEW
@given(params=st.one_of(ANYTHING.filter(lambda p: p is not None),
                        st.lists(st.just(Tensor(np.ones(2))), max_size=5)))
def test_autodiff_loss_params(params):
    net = _net("reg")
    ok, value = attempt(lambda: autodiff.loss(net, X5, _valid_y("reg"), params), ["params"] +
                        [f"params[{i}]" for i in range(4)], net)
    assert not ok  # nothing drawn here is [W_1, b_1, W_2, b_2]


def _stack_shapes():
    """Pairs of operand shapes for @: 1-D, 2-D and stacks, mostly compatible, some not."""
    side = st.integers(1, 3)
    return st.tuples(st.lists(side, min_size=1, max_size=3),
                     st.lists(side, min_size=1, max_size=3), st.booleans()).map(_match)


def _match(args):
    a, b, compatible = args
    a, b = list(a), list(b)
    if compatible:  # the inner lengths agree: a's last, b's first (1-D) or second-to-last
        b[0 if len(b) == 1 else -2] = a[-1]
        if len(a) > 2 and len(b) > 2:  # stack axes broadcast: equal or 1
            b[-3] = a[-3] if b[-3] != 1 else 1
    return tuple(a), tuple(b)


@SOME
@given(shapes=_stack_shapes(), seed=st.integers(0, 3))
def test_tensor_matmul_of_any_shapes(shapes, seed):
    shape_a, shape_b = shapes
    rng = np.random.default_rng(seed)
    A0, B0 = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    try:
        C0 = A0 @ B0
    except ValueError:  # NumPy refuses: so must Tensor, naming both shapes
        with pytest.raises(ValueError, match=r"@ .*got shapes|@ cannot multiply") as err:
            Tensor(A0) @ Tensor(B0)
        assert str(shape_a) in str(err.value) and str(shape_b) in str(err.value)
        return
    W = rng.standard_normal(np.shape(C0))
    A, B = Tensor(A0.copy()), Tensor(B0.copy())
    out = A @ B
    np.testing.assert_allclose(out.data, C0, rtol=1e-13)
    (out * W).sum().backward()
    np.testing.assert_allclose(A.grad, bp.numerical_gradient(lambda a: np.sum(W * (a @ B0)), A0),
                               rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(B.grad, bp.numerical_gradient(lambda b: np.sum(W * (A0 @ b)), B0),
                               rtol=1e-5, atol=1e-8)


AXES = st.one_of(st.none(), st.integers(-4, 4), st.tuples(st.integers(-4, 4)),
                 st.tuples(st.integers(-4, 4), st.integers(-4, 4)), SCALARS)


@SOME
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), axis=AXES,
       keepdims=st.booleans(), op=st.sampled_from(["sum", "mean", "logsumexp"]))
def test_tensor_reductions_over_any_axis(shape, axis, keepdims, op):
    x0 = np.random.default_rng(0).standard_normal(shape)
    x = Tensor(x0.copy())
    ok, out = attempt(lambda: getattr(x, op)(axis=axis, keepdims=keepdims), ["axis"])
    if not ok:
        return
    reference = {"sum": np.sum, "mean": np.mean}.get(op)
    if reference is None:  # logsumexp, as NumPy would compute it
        def reference(a, axis, keepdims):
            m = np.max(a, axis=axis, keepdims=True)
            s = m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))
            return s if keepdims else np.reshape(s, np.sum(a, axis=axis).shape)
    expected = reference(x0, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    W = np.random.default_rng(1).standard_normal(np.shape(expected))
    (out * W).sum().backward()
    numeric = bp.numerical_gradient(
        lambda a: np.sum(W * reference(a, axis=axis, keepdims=keepdims)), x0)
    np.testing.assert_allclose(x.grad, numeric, rtol=1e-5, atol=1e-8)


# ----------------------------------------------------------------------------- forward mode


@SOME
@given(kind=KINDS, dtype=DTYPE, X=maybe_hostile(X5, (5, 3)), data=st.data())
def test_jvp(kind, dtype, X, data):
    net = _net(kind, dtype)
    y = _y(kind, data)
    v = data.draw(maybe_hostile(np.linspace(-1, 1, DIM[kind]), (DIM[kind],)))
    ok, value = attempt(lambda: forward_mode.jvp(net, X, y, v), ["X", "y", "v"], net)
    ok2, same = attempt(lambda: net.jvp(X, y, v), ["X", "y", "v"], net)
    assert ok == ok2
    if ok:
        assert isinstance(value, float) and (value == same or math.isnan(value))
        if _tame(X, y, v):
            g = bp.to_numpy(net.gradient(X, y)).astype(np.float64)
            _close(value, float(g @ np.asarray(v, np.float64)), dtype)


@FEW
@given(kind=KINDS, X=maybe_hostile(X5, (5, 3)), data=st.data())
def test_forward_mode_gradient(kind, X, data):
    net = _net(kind)
    y = _y(kind, data)
    ok, grad = attempt(lambda: forward_mode.gradient(net, X, y), ["X", "y"], net)
    if ok and _tame(X, y):
        _close(grad, net.gradient(X, y), "float64")


# ----------------------------------------------------------------------------- hessian


@SOME
@given(kind=KINDS, dtype=DTYPE, X=maybe_hostile(X5, (5, 3)), data=st.data())
def test_hvp_and_gradient_and_hvp(kind, dtype, X, data):
    net = _net(kind, dtype)
    y = _y(kind, data)
    v = data.draw(maybe_hostile(np.linspace(-1, 1, DIM[kind]), (DIM[kind],)))
    ok, Hv = attempt(lambda: hessian.hvp(net, X, y, v), ["X", "y", "v"], net)
    ok2, both = attempt(lambda: hessian.gradient_and_hvp(net, X, y, v), ["X", "y", "v"], net)
    ok3, same = attempt(lambda: net.hvp(X, y, v), ["X", "y", "v"], net)
    assert ok == ok2 == ok3
    if not ok:
        return
    assert Hv.shape == (net.dim_theta,) and Hv.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(Hv, both[1])
    np.testing.assert_array_equal(Hv, same)
    if _tame(X, y, v):
        _close(both[0], net.gradient(X, y), dtype)
        if kind == "reg" and dtype == "float64":  # tanh: smooth, so a central difference
            h, theta = 1e-5, net.theta
            v64 = np.asarray(v, np.float64)
            plus, minus = net.copy(), net.copy()
            plus.theta, minus.theta = theta + h * v64, theta - h * v64
            fd = (plus.gradient(X, y) - minus.gradient(X, y)) / (2 * h)
            np.testing.assert_allclose(Hv, fd, rtol=1e-4, atol=1e-7)


# ----------------------------------------------------------------------------- checkpoint


@SOME
@given(kind=KINDS, dtype=DTYPE, X=maybe_hostile(X5, (5, 3)), data=st.data(),
       k=weighted(st.sampled_from([None, 1, 2]), st.integers(-2, 4), ANYTHING))
def test_checkpoint_gradient(kind, dtype, X, data, k):
    net = bp.Network([3, 4, 4, 2], hidden="tanh", output="softmax" if kind == "clf" else
                     "identity", dtype=dtype, seed=1)
    y = data.draw(maybe_hostile(np.arange(5) % 2 if kind == "clf" else np.zeros((5, 2)),
                                (5,) if kind == "clf" else (5, 2)))
    ok, grad = attempt(lambda: checkpoint.gradient(net, X, y, k), ["X", "y", "checkpoints"],
                       net)
    ok2, same = attempt(lambda: net.gradient(X, y, checkpoints=k), ["X", "y", "checkpoints"],
                        net)
    assert ok == ok2
    if ok:
        assert grad.shape == (net.dim_theta,) and grad.dtype == np.dtype(dtype)
        if k is not None:  # None is the network's own gradient, by another path
            np.testing.assert_array_equal(grad, same)
        if _tame(X, y):
            _close(grad, net.gradient(X, y), dtype)


@FEW
@given(L=st.integers(1, 30), k=st.integers(1, 30))
def test_peak_activations_is_between_the_checkpoints_and_L(L, k):
    if k > L:
        return
    peak = checkpoint.peak_activations(L, k)
    assert len(checkpoint.checkpoint_layers(L, k)) <= peak <= L
    assert peak == L if k in (1, L) else peak < L or L <= 3


# ----------------------------------------------------------------------------- metrics


LABELS = st.lists(st.integers(0, 2), min_size=5, max_size=5).map(np.array)


@SOME
@given(y_true=weighted(LABELS, near((5,)), ANYTHING), y_pred=weighted(LABELS, near((5,)), ANYTHING))
def test_accuracy(y_true, y_pred):
    ok, value = attempt(lambda: bp.accuracy(y_true, y_pred), ["y_true", "y_pred"])
    if ok:
        a, b = np.asarray(y_true), np.asarray(y_pred)
        assert isinstance(value, float) and 0.0 <= value <= 1.0
        assert value == np.mean(a.astype(np.float64) == b.astype(np.float64))


@SOME
@given(y_true=weighted(LABELS, near((5,)), ANYTHING), y_pred=weighted(LABELS, near((5,)), ANYTHING),
       K=weighted(st.integers(1, 4), st.sampled_from([np.uint8(3), np.int16(4)]), ANYTHING))
def test_confusion_matrix(y_true, y_pred, K):
    ok, C = attempt(lambda: bp.confusion_matrix(y_true, y_pred, K), ["y_true", "y_pred", "K"])
    if ok:
        n = len(np.asarray(y_true))
        assert C.shape == (int(K), int(K)) and C.sum() == n and C.min() >= 0
        if n:
            assert np.trace(C) / n == bp.accuracy(y_true, y_pred)


@SOME
@given(head=st.sampled_from([("softmax", 3), ("softmax", 1), ("softmax_reduced", 2),
                             ("logistic", 1), ("identity", 2)]),
       X=maybe_hostile(X5, (5, 3)))
@example(head=("softmax", 1), X=X5)
def test_predict_labels(head, X):
    output, width = head
    net = bp.Network([3, 4, width], hidden="tanh", output=output, seed=1)
    ok, labels = attempt(lambda: bp.predict_labels(net, X), ["X"], net)
    if ok:
        labels = np.asarray(bp.to_numpy(labels))
        assert labels.dtype == np.int64 and labels.shape == (np.shape(net.predict(X))[0],)
        assert labels.min() >= 0 and labels.max() <= max(net.K - 1, 1)
        if output.startswith("softmax"):
            assert labels.max() <= net.K - 1  # a one-class softmax: class 0 only


# ----------------------------------------------------------------------------- distributed


@settings(max_examples=30, **SETTINGS)
@given(kind=KINDS, dtype=DTYPE, X=maybe_hostile(X5, (5, 3)), data=st.data())
def test_distributed_gradient(client, kind, dtype, X, data):
    net = _net(kind, dtype)
    y = _y(kind, data)
    ok, grad = attempt(lambda: distributed.gradient(net, X, y, client=client), ["X", "y"], net)
    ok2, reference = attempt(lambda: net.gradient(X, y), ["X", "y"], net)
    assert ok == ok2  # the same checks, on the driver
    if ok:
        assert grad.shape == (net.dim_theta,) and grad.dtype == np.dtype(dtype)
        if _tame(X, y):
            _close(grad, reference, dtype)


NOT_A_CLIENT = ANYTHING.filter(lambda c: c is not None and not isinstance(c, (str, bytes)))


@FEW
@given(value=NOT_A_CLIENT)
def test_distributed_client_argument(value):
    """A client that is not a Client, an address or None is refused before any work."""
    net = _net("reg")
    ok, _ = attempt(lambda: distributed.gradient(net, X5, _valid_y("reg"), client=value),
                    ["client"], net)
    assert not ok


@settings(max_examples=15, **SETTINGS)
@given(args=hostile_args(
    iterations=(2, st.integers(-1, 3)), batch_size=(None, st.integers(-1, 6)),
    replacement=(False, st.sampled_from([True, np.True_, 1])), seed=(0, st.integers(-2, 2**70)),
    early_stopping=(None, st.integers(-1, 2)), evaluate_every=(None, st.integers(-1, 3))))
@example(args=dict(iterations=3, batch_size=2, replacement=np.True_, seed=1, early_stopping=1,
                   evaluate_every=1))
@example(args=dict(iterations=2, batch_size=None, replacement=False, seed=0, early_stopping=None,
                   evaluate_every=None))
def test_distributed_fit(client, args):
    net = _net("reg")
    if args["replacement"] is True and args["batch_size"] is None:
        args["batch_size"] = 2
    validation = (X5, _valid_y("reg")) if args["early_stopping"] is not None else None
    ok, history = attempt(lambda: distributed.fit(net, X5, _valid_y("reg"), client=client,
                                                  validation=validation, **args),
                          list(args) + ["validation"], net)
    if ok:
        assert history.iterations <= args["iterations"] and np.all(np.isfinite(net.theta))
        reference = _net("reg")
        bp.fit(reference, X5, _valid_y("reg"), validation=validation, **args)
        _close(net.theta, reference.theta, "float64")  # the same run as bp.fit's
