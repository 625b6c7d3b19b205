"""Issue 26, "Reliability, second round": one test per finding, each seen to fail before its fix.

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


# ----------------------------------------------------------------------------- autodiff.gradient


def test_autodiff_gradient_still_equals_algorithm_2():
    """The Tensor changes above keep the network's reverse-mode gradient."""
    net = bp.Network([3, 5, 4], hidden="tanh", output="softmax", seed=1)
    X, y = np.random.default_rng(0).standard_normal((6, 3)), np.arange(6) % 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(autodiff.gradient(net, X, y), net.gradient(X, y), rtol=1e-12)
