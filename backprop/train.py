"""Training: mini-batches, the optimiser loop, the history of losses, early stopping.

:func:`fit` repeats two lines until a stopping rule holds:

    loss, grad = ℓ_B(θ_t), ∇ℓ_B(θ_t)     one forward and one backward pass on a batch B
    θ_{t+1}    = optimiser step(θ_t, grad)

Every input is checked once, before the first step; inside the loop nothing is validated
again and nothing is copied to the host (losses stay backend scalars and are converted to
floats in one go at the end), so the loop costs little beyond the two passes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import _validate as check
from .backend import to_numpy
from .optim import get_optimizer

DRAW_EPOCHS = 64  # with replacement=True, epochs of batch indices drawn in one call


@dataclass
class History:
    """What happened during :func:`fit`, as NumPy float arrays.

    Per iteration t = 1..T (T = ``iterations``):
        loss[t-1]  the loss on that iteration's batch at θ_{t-1}, from the same forward
                   pass as the gradient of that step
        time[t-1]  wall seconds since the start of fit, after step t (cumulative; on a GPU
                   this is the host's time, which runs ahead of queued device work)
    Per evaluation e = 0, 1, ..., on the whole training (and validation) set: e = 0 before
    the first step, then at the end of every epoch (or every ``evaluate_every`` steps), and
    once more after the last step if it falls between two evaluations:
        evaluated_at[e]     the number of steps taken (0 for the first entry)
        train_loss[e]       ℓ_τ(θ) on the whole training set
        val_loss[e]         the same on the validation set (empty without validation)
        train_accuracy[e], val_accuracy[e]   fraction classified right (classification only)
    best_epoch: index e of the lowest val_loss when early stopping was on (else None);
    stopped_early: True when the patience ran out before the stopping rule.
    """

    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    evaluated_at: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    train_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    val_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    train_accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    val_accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    batch_size: int = 0
    iterations_per_epoch: int = 0
    replacement: bool = False
    stopped_early: bool = False
    best_epoch: int | None = None

    @property
    def iterations(self) -> int:
        """The number of optimiser steps taken."""
        return int(self.loss.shape[0])

    @property
    def epochs(self) -> float:
        """Steps taken divided by steps per epoch (a fraction when the last one was partial)."""
        return self.iterations / self.iterations_per_epoch if self.iterations_per_epoch else 0.0

    def __repr__(self) -> str:
        last = f"{self.train_loss[-1]:.6g}" if self.train_loss.size else "-"
        val = f", val_loss={self.val_loss[-1]:.6g}" if self.val_loss.size else ""
        stop = f", stopped_early at best_epoch={self.best_epoch}" if self.stopped_early else ""
        return (
            f"History(iterations={self.iterations}, epochs={self.epochs:g}, "
            f"batch_size={self.batch_size}, train_loss={last}{val}{stop})"
        )


def _evaluate(net, X, Y, labels):
    """(ℓ_τ, accuracy or None) on a whole checked set, as backend scalars."""
    xp = net.xp
    zs, A = net._forward(X)
    loss = net._mean_loss(zs[-1], A[-1], Y)
    if labels is None:
        return loss, None
    hits = xp.astype(xp.argmax(A[-1], axis=1) == labels, A[-1].dtype)
    return loss, xp.mean(hits)


def _to_floats(xp, values) -> np.ndarray:
    """A list of backend scalars as one NumPy float64 array, with one device-to-host copy."""
    if not values:
        return np.zeros(0)
    return np.asarray(to_numpy(xp.stack(values)), dtype=np.float64)


def fit(
    net,
    X,
    y,
    optimizer="sgd",
    batch_size=None,
    iterations=None,
    epochs=None,
    replacement=False,
    seed=0,
    validation=None,
    early_stopping=None,
    progress=False,
    evaluate_every=None,
    loss_and_gradient=None,
) -> History:
    """Train ``net`` in place; returns the :class:`History` of the run.

    Each iteration takes one batch B of rows of (X, y), computes ℓ_B(θ_t) = (1/|B|) Σ_{i∈B} C_i
    and its gradient by back-propagation (the batch form of Algorithm 2), and lets the
    optimiser make the step θ_t -> θ_{t+1}.

    Parameters
    ----------
    optimizer : a :mod:`backprop.optim` instance (``SGD(lr=0.005)``, ``Adam()``, ...) or a
        name from ``backprop.optim.OPTIMIZERS`` (default 'sgd': SGD(lr=0.005)); it is reset
        at the start of every fit.
    batch_size : None for the full batch (every iteration uses all n rows, in order), or
        an integer 1..n.
    iterations, epochs : the stopping rule; give exactly one. An epoch is ceil(n / batch_size)
        iterations.
    replacement : False: every epoch shuffles the rows and walks through them in batches;
        the last batch of an epoch is kept even when shorter (n mod batch_size rows), so an
        epoch visits each example once. True: every batch is drawn i.i.d. uniformly from the
        n rows with replacement (the course's SGD example: batches of 20, 10^4 iterations).
    seed : seed of the NumPy Generator that draws the batches (indices are drawn in NumPy
        and moved to the backend, so a seed gives the same batches on every backend).
    validation : (X_val, y_val) or None; evaluated on the whole set at each evaluation.
    early_stopping : None, or a patience in epochs: stop when val_loss has not improved for
        that many epochs in a row. Needs ``validation``. Whether it stops or not, θ is
        restored to the θ with the lowest val_loss (``history.best_epoch``).
    progress : show a tqdm progress bar (off by default, so notebook output is stable).
    evaluate_every : None (default) evaluates on the whole training (and validation) set
        at the end of every epoch; an integer k evaluates every k steps instead. Each
        evaluation is a forward pass over all n rows, so with small batches drawn with
        replacement (an "epoch" of only ceil(n / B) steps) a larger k makes training
        markedly cheaper. Early stopping counts its patience in evaluations.
    loss_and_gradient : None, or a callable ``loss_and_gradient(idx)`` that replaces the
        network's own pass: ``idx`` is the batch's row indices into X (a 1-D NumPy integer
        array; None for a full-batch step) and it returns (ℓ_B as a float, ∂ℓ_B/∂θ flat in
        net's backend and dtype), the MEAN over the batch, e.g. computed elsewhere.

    Everything is checked before the first step: a bad argument raises and leaves ``net``
    untouched.
    """
    # ---- checks, all before any training work
    opt = get_optimizer(optimizer)
    if iterations is None and epochs is None:
        raise ValueError("no stopping rule: pass iterations=... or epochs=... (exactly one)")
    if iterations is not None and epochs is not None:
        raise ValueError(
            f"give one stopping rule, not both: got iterations={iterations!r} and epochs={epochs!r}"
        )
    if iterations is not None:
        iterations = check.check_int(iterations, "iterations", minimum=1)
    else:
        epochs = check.check_int(epochs, "epochs", minimum=1)
    if not isinstance(replacement, bool):
        raise TypeError(f"replacement must be True or False; got {replacement!r}")
    seed = check.check_int(seed, "seed")
    if early_stopping is not None:
        early_stopping = check.check_int(early_stopping, "early_stopping", minimum=1)
        if validation is None:
            raise ValueError(
                "early_stopping needs validation data: pass validation=(X_val, y_val)"
            )
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False; got {progress!r}")
    if evaluate_every is not None:
        evaluate_every = check.check_int(evaluate_every, "evaluate_every", minimum=1)
    X, Y = net._check_Xy(X, y)
    n = X.shape[0]
    if batch_size is None:
        if replacement:
            raise ValueError(
                "replacement=True draws mini-batches and needs a batch_size; "
                "batch_size=None means the full batch, in order"
            )
        B = n
    else:
        B = check.check_int(batch_size, "batch_size", minimum=1)
        if B > n:
            raise ValueError(
                f"batch_size must be at most n = {n} (the number of training examples); got {B}"
            )
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError("validation must be a pair (X_val, y_val)")
        Xv, Yv = net._check_Xy(*validation)

    xp = net.xp
    classification = bool(net._loss.classification)
    labels = xp.argmax(Y, axis=1) if classification else None
    labels_v = xp.argmax(Yv, axis=1) if classification and validation is not None else None
    ipe = math.ceil(n / B)  # iterations per epoch
    T = iterations if iterations is not None else epochs * ipe
    every = ipe if evaluate_every is None else evaluate_every
    full_batch = batch_size is None
    rng = np.random.default_rng(seed)
    opt.reset()

    # ---- the loop
    losses, times = [], []
    evaluated_at, train_loss, train_acc, val_loss, val_acc = [], [], [], [], []
    best, best_epoch, best_theta, wait, stopped_early = math.inf, None, None, 0, False

    def evaluate(t: int) -> bool:
        """Record an evaluation after t steps; True when early stopping says stop."""
        nonlocal best, best_epoch, best_theta, wait
        loss, acc = _evaluate(net, X, Y, labels)
        evaluated_at.append(t)
        train_loss.append(loss)
        train_acc.append(acc)
        if validation is None:
            return False
        loss, acc = _evaluate(net, Xv, Yv, labels_v)
        val_loss.append(loss)
        val_acc.append(acc)
        if early_stopping is None:
            return False
        value = float(loss)  # one host sync per epoch, only with early stopping
        if value < best:
            best, best_epoch, wait = value, len(val_loss) - 1, 0
            best_theta = xp.asarray(net._theta, copy=True)
            return False
        wait += 1
        return wait >= early_stopping

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=T, unit="it", desc="fit")
    t0 = time.perf_counter()
    evaluate(0)
    t, k = 0, ipe  # steps taken; position in the current epoch (ipe = start a new epoch)
    Xe, Ye = X, Y
    pool, used = np.zeros(0, dtype=np.int64), 0  # indices drawn ahead (replacement=True)
    while t < T:
        if k == ipe:
            k = 0
            if not full_batch:
                # One gather per epoch; the batches are then slices (views) of it.
                if replacement:
                    if used == pool.shape[0]:
                        # One call draws DRAW_EPOCHS epochs' indices: the generator gives the
                        # same stream as one call per epoch, with less overhead per call.
                        pool, used = rng.integers(0, n, size=DRAW_EPOCHS * ipe * B), 0
                    idx, used = pool[used : used + ipe * B], used + ipe * B
                else:
                    idx = rng.permutation(n)
                order = idx  # this epoch's row indices in NumPy, for loss_and_gradient
                idx = xp.asarray(idx)
                Xe, Ye = xp.take(X, idx, axis=0), xp.take(Y, idx, axis=0)
        if full_batch:
            Xb, Yb = X, Y
        else:
            stop = min((k + 1) * B, Xe.shape[0])  # the array API forbids out-of-range stops
            Xb, Yb = Xe[k * B : stop, ...], Ye[k * B : stop, ...]
        if loss_and_gradient is None:
            loss, grad = net._loss_and_gradient(Xb, Yb)
        else:
            loss, grad = loss_and_gradient(None if full_batch else order[k * B : stop])
            loss = xp.asarray(loss)
        opt.step(net, grad)
        losses.append(loss)
        t += 1
        k += 1
        times.append(time.perf_counter() - t0)
        if bar is not None:
            bar.update(1)
        if t % every == 0 or t == T:
            if evaluate(t):
                stopped_early = True
                break
            if bar is not None:
                bar.set_postfix(train_loss=f"{float(train_loss[-1]):.4g}", refresh=False)
    if bar is not None:
        bar.close()
    if best_theta is not None:
        net._theta[...] = best_theta

    return History(
        loss=_to_floats(xp, losses),
        time=np.asarray(times, dtype=np.float64),
        evaluated_at=np.asarray(evaluated_at, dtype=np.int64),
        train_loss=_to_floats(xp, train_loss),
        val_loss=_to_floats(xp, val_loss),
        train_accuracy=_to_floats(xp, train_acc) if classification else np.zeros(0),
        val_accuracy=(_to_floats(xp, val_acc) if classification and validation is not None
                      else np.zeros(0)),
        batch_size=B,
        iterations_per_epoch=ipe,
        replacement=replacement,
        stopped_early=stopped_early,
        best_epoch=best_epoch,
    )
