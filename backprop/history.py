"""What :func:`backprop.fit` reports: the :class:`History` of a run, and the error that
stops a diverging one."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class DivergenceError(FloatingPointError):
    """fit stopped because a loss stopped being finite.

    Attributes: ``iteration`` (the step whose batch loss was not finite, 1-based), ``loss``
    (that value), ``optimizer``, and ``history`` (the :class:`History` up to that step). The
    network's θ is the last finite iterate, or under early stopping the best one so far.
    """

    def __init__(self, message, iteration, loss, optimizer, history=None):
        super().__init__(message)
        self.iteration, self.loss, self.optimizer = iteration, loss, optimizer
        self.history = history


@dataclass
class History:
    """What happened during :func:`fit`, as NumPy float arrays.

    Per iteration t = 1..T (T = ``iterations``):
        loss[t-1]  the loss on that iteration's batch at θ_{t-1}, from the same forward
                   pass as the gradient of that step
        time[t-1]  wall seconds since the start of fit, after step t (cumulative; on a GPU
                   this is the host's time, which runs ahead of queued device work)
        gradient_calls[t-1]  gradients computed up to step t (cumulative): t for the
                   first-order methods, more for L-BFGS, whose line searches spend some
    Per evaluation e = 0, 1, ..., on the whole training (and validation) set: e = 0 before
    the first step, then at the end of every epoch (or every ``evaluate_every`` steps), and
    once more after the last step if it falls between two evaluations:
        evaluated_at[e]     the number of steps taken (0 for the first entry)
        train_loss[e]       ℓ_τ(θ) on the whole training set
        val_loss[e]         the same on the validation set (empty without validation)
        train_accuracy[e], val_accuracy[e]   fraction classified right (classification only;
                            for 0/1 targets, the rows with every label right)
    Under early stopping (else None): best_evaluation, the index e of the lowest val_loss,
    whose θ the network holds after fit; best_epoch, the epochs completed at that evaluation
    (evaluated_at[e] / iterations_per_epoch).
    stopped_early: True when the patience ran out before the stopping rule; interrupted: True
    when a KeyboardInterrupt ended the run (the History is then on the exception);
    converged: True when the optimiser's own convergence test ended the run (L-BFGS:
    SciPy's gtol or ftol), possibly before the stopping rule.
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
    best_evaluation: int | None = None
    interrupted: bool = False
    gradient_calls: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    converged: bool = False

    @property
    def iterations(self) -> int:
        """The number of optimiser steps taken."""
        return int(self.loss.shape[0])

    @property
    def epochs(self) -> float:
        """Steps taken divided by steps per epoch (a fraction when the last one was partial)."""
        return self.iterations / self.iterations_per_epoch if self.iterations_per_epoch else 0.0

    @property
    def best_epoch(self) -> float | None:
        """Epochs completed when the kept (best) θ was evaluated; None without early stopping."""
        if self.best_evaluation is None:
            return None
        return float(self.evaluated_at[self.best_evaluation]) / self.iterations_per_epoch

    def __repr__(self) -> str:
        # After early stopping the network holds the best θ: show the losses at that θ.
        e = -1 if self.best_evaluation is None else self.best_evaluation
        last = f"{self.train_loss[e]:.6g}" if self.train_loss.size else "-"
        val = f", val_loss={self.val_loss[e]:.6g}" if self.val_loss.size else ""
        kept = (f", kept best_evaluation={self.best_evaluation} (epoch {self.best_epoch:g})"
                if self.best_evaluation is not None else "")
        stop = ", stopped_early" if self.stopped_early else ""
        stop += ", interrupted" if self.interrupted else ""
        stop += ", converged" if self.converged else ""
        return (
            f"History(iterations={self.iterations}, epochs={self.epochs:g}, "
            f"batch_size={self.batch_size}, train_loss={last}{val}{kept}{stop})"
        )
