"""Training: mini-batches, the optimiser loop, the history of losses, early stopping.

:func:`fit` repeats two lines until a stopping rule holds:

    loss, grad = ℓ_B(θ_t), ∇ℓ_B(θ_t)     one forward and one backward pass on a batch B
    θ_{t+1}    = optimiser step(θ_t, grad)

Its parts: :func:`_checked_run` checks every argument once, before the first step;
:func:`batch_indices` draws the rows of each epoch; :class:`EarlyStopping` keeps the best θ;
:func:`_loop` makes the steps and evaluations. Inside the loop nothing is validated again
but what a ``loss_and_gradient`` hook returns (:func:`_hook_result`).

A run that diverges (a batch loss that is inf or NaN) stops with a :class:`DivergenceError`;
a run interrupted (KeyboardInterrupt, a notebook's stop button) re-raises the interrupt; a
``loss_and_gradient`` hook that returns something else than (loss, gradient) is refused
(TypeError / ValueError). In each case θ is left at the last finite (or completed) step, or
at the best one under early stopping, and the exception carries the :class:`History` so far
as ``.history``.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from types import SimpleNamespace

import numpy as np

from . import _validate as check
from .backend import to_numpy, write
from .gradients import weight_penalty
from .history import DivergenceError, History
from .losses import mean_loss
from .network import Network
from .optim import Adam, BarzilaiBorwein, Momentum, Optimizer, SteepestDescent, get_optimizer

# Updates of this module's optimisers: none keeps a reference to the gradient it is given
# (BarzilaiBorwein copies it), so fit may hand them one buffer rewritten at every step.
_UPDATES_KEEP_NO_GRAD = frozenset(cls.update for cls in (SteepestDescent, BarzilaiBorwein,
                                                         Momentum, Adam))

# With replacement=True, indices are drawn by the generator in chunks of about this many
# entries (at least one epoch's): the memory does not grow with n × epochs, and the stream is
# the same as one draw of everything, whatever the chunk size.
DRAW_ENTRIES = 1 << 16


def batch_indices(rng, n: int, per_epoch: int, replacement: bool):
    """Yield the row indices of each epoch in turn (NumPy int64 arrays), forever.

    replacement=False: a permutation of the n rows per epoch. True: ``per_epoch`` rows drawn
    i.i.d. uniformly, in chunks of at least one epoch and about ``DRAW_ENTRIES`` entries (the
    generator gives the same stream however its draws are cut).
    """
    if not replacement:
        while True:
            yield rng.permutation(n)
    epochs_per_draw = max(1, DRAW_ENTRIES // per_epoch)
    while True:
        pool = rng.integers(0, n, size=epochs_per_draw * per_epoch)
        for e in range(epochs_per_draw):
            yield pool[e * per_epoch : (e + 1) * per_epoch]


class EarlyStopping:
    """Keeps the θ with the lowest validation loss; says stop after ``patience`` evaluations
    in a row without improvement.

    Every evaluation is a candidate, evaluation 0 (θ_0, before the first step) included, so
    a run that only makes the validation loss worse keeps θ_0. A tie is no improvement.
    """

    def __init__(self, patience: int):
        self.patience, self.best, self.best_evaluation = patience, math.inf, None
        self.best_theta, self.wait = None, 0

    def update(self, value: float, evaluation: int, theta, xp) -> bool:
        """Record the validation loss of one evaluation; True when the patience has run out."""
        if value < self.best:
            self.best, self.best_evaluation, self.wait = value, evaluation, 0
            self.best_theta = xp.asarray(theta, copy=True)
            return False
        self.wait += 1
        return self.wait >= self.patience


def _checked_run(net, X, y, optimizer, batch_size, iterations, epochs, replacement, seed,
                 validation, early_stopping, progress, evaluate_every, loss_and_gradient):
    """Every argument of fit checked, as one namespace; raises before any training work."""
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
    # np.True_ as well, like every other flag of the package
    replacement = check.check_bool(replacement, "replacement")
    progress = check.check_bool(progress, "progress")
    seed = check.check_int(seed, "seed")
    if early_stopping is not None:
        early_stopping = check.check_int(early_stopping, "early_stopping", minimum=1)
        if validation is None:
            raise ValueError("early_stopping needs validation data: pass validation=(X_val, y_val)")
    if evaluate_every is not None:
        evaluate_every = check.check_int(evaluate_every, "evaluate_every", minimum=1)
    if loss_and_gradient is not None and not callable(loss_and_gradient):
        raise TypeError(f"loss_and_gradient must be callable or None; got {loss_and_gradient!r}")
    X, Y = net.checked_batch(X, y)
    n = X.shape[0]
    if batch_size is None and replacement:
        raise ValueError("replacement=True draws mini-batches and needs a batch_size; "
                         "batch_size=None means the full batch, in order")
    B = n if batch_size is None else check.check_int(batch_size, "batch_size", minimum=1)
    if B > n:
        raise ValueError(
            f"batch_size must be at most n = {n} (the number of training examples); got {B}"
        )
    if opt.drives_loop and (B < n or replacement):
        raise ValueError(
            f"{type(opt).__name__} takes full-batch steps (its line search needs the same "
            f"loss at every trial θ): leave batch_size=None (or n = {n}) and "
            f"replacement=False; got batch_size={batch_size!r}, replacement={replacement!r}"
        )
    if opt.full_batch and B < n:
        warnings.warn(f"{type(opt).__name__} is meant for full-batch gradients; with batches of "
                      f"{B} of {n} rows its steps mix two batches' gradients", stacklevel=3)
    Xv = Yv = None
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError("validation must be a pair (X_val, y_val)")
        try:
            Xv, Yv = net.checked_batch(*validation, names=("X_val", "y_val"))
        except (TypeError, ValueError) as err:
            raise type(err)(f"validation=(X_val, y_val): {err}") from err
    ipe = math.ceil(n / B)
    return SimpleNamespace(
        opt=opt, X=X, Y=Y, Xv=Xv, Yv=Yv, n=n, B=B, ipe=ipe, full_batch=batch_size is None,
        T=iterations if iterations is not None else epochs * ipe, replacement=replacement,
        every=ipe if evaluate_every is None else evaluate_every, seed=seed, progress=progress,
        stopper=None if early_stopping is None else EarlyStopping(early_stopping),
        hook=loss_and_gradient, classification=bool(net.loss_function.classification),
        binary=bool(net.loss_function.binary_targets))


class _Records:
    """The lists behind a History, filled by the loop."""

    def __init__(self, net, run):
        xp = net.xp
        # times: clock readings, made relative to t0 (0 where they already are)
        self.losses, self.times, self.calls = [], [], []
        self.t0 = 0.0
        self.evaluated_at, self.train = [], []  # train/val: (loss, accuracy) pairs
        self.val = []
        # what accuracy compares the outputs with: class labels, or the 0/1 target matrix
        self.labels = self.labels_v = None
        if run.classification:
            self.labels = xp.argmax(run.Y, axis=1)
            self.labels_v = None if run.Xv is None else xp.argmax(run.Yv, axis=1)
        elif run.binary:
            self.labels, self.labels_v = run.Y, run.Yv

    def evaluate(self, net, run, t: int):
        """Evaluate on the whole sets after t steps; (train loss, val loss) as floats."""
        train = _evaluate(net, run.X, run.Y, self.labels)
        val = None if run.Xv is None else _evaluate(net, run.Xv, run.Yv, self.labels_v)
        self.evaluated_at.append(t)
        self.train.append(train)
        if val is not None:
            self.val.append(val)
        return float(train[0]), None if val is None else float(val[0])

    def truncate(self, run) -> None:
        """Drop an evaluation that an interrupt left half recorded."""
        lists = [self.evaluated_at, self.train] + ([self.val] if run.Xv is not None else [])
        m = min(len(x) for x in lists)
        for x in lists:
            del x[m:]

    def history(self, net, run, **flags) -> History:
        xp = net.xp
        acc = run.classification or run.binary
        return History(
            loss=np.asarray(self.losses, dtype=np.float64),
            time=np.asarray(self.times, dtype=np.float64) - self.t0,
            # one gradient per step, unless the optimiser counted its own (L-BFGS)
            gradient_calls=np.asarray(self.calls or range(1, len(self.losses) + 1),
                                      dtype=np.int64),
            evaluated_at=np.asarray(self.evaluated_at, dtype=np.int64),
            train_loss=_to_floats(xp, [v[0] for v in self.train]),
            val_loss=_to_floats(xp, [v[0] for v in self.val]),
            train_accuracy=_to_floats(xp, [v[1] for v in self.train]) if acc else np.zeros(0),
            val_accuracy=_to_floats(xp, [v[1] for v in self.val]) if acc else np.zeros(0),
            batch_size=run.B, iterations_per_epoch=run.ipe, replacement=run.replacement,
            best_evaluation=None if run.stopper is None else run.stopper.best_evaluation,
            **flags)


def _evaluate(net, X, Y, labels):
    """(ℓ_τ, accuracy or None) on a whole checked set, as backend scalars.

    Accuracy: the fraction of rows whose class (argmax g) is the label, or, for 0/1 targets
    (binary cross-entropy), whose every label is right (g_k > 1/2 exactly where y_k = 1).
    """
    xp = net.xp
    Z, A = net.forward(X)  # X is checked: on NumPy its check is one pass
    loss = mean_loss(xp, net.output_layer, net.loss_function, Z[-1], A[-1], Y) + weight_penalty(
        xp, net.layers, net.theta_buffer, net.alpha, X.shape[0])
    if labels is None:
        return loss, None
    if labels.ndim == 2:  # 0/1 targets: a row is right when all its labels are
        right = xp.all((A[-1] > 0.5) == (labels == 1), axis=1)
    else:
        right = xp.argmax(A[-1], axis=1) == labels
    return loss, xp.mean(xp.astype(right, A[-1].dtype))


def _to_floats(xp, values) -> np.ndarray:
    """A list of backend scalars as one NumPy float64 array, with one device-to-host copy."""
    if not values:
        return np.zeros(0)
    return np.asarray(to_numpy(xp.stack(values)), dtype=np.float64)


def _finite(xp, theta) -> bool:
    return bool(xp.all(xp.isfinite(theta)))


def _hook_result(result, net):
    """(ℓ_B as a float, ∂ℓ_B/∂θ flat in θ's backend and dtype) from a ``loss_and_gradient``
    hook's return value, or a TypeError / ValueError naming the hook.

    Checked at every step, because the hook is not the network's own code: a 0-d or short
    gradient would otherwise be broadcast into every coordinate of θ. A gradient that is not
    finite is let through, as the network's own would be: divergence handles it.
    """
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            f"loss_and_gradient(idx) must return a pair (loss, gradient); got "
            f"{check._describe(result)}"
        )
    loss, grad = result
    if type(loss) is not float:
        what = "loss_and_gradient's loss (the first of the pair)"
        if isinstance(loss, (bool, np.bool_)):
            raise TypeError(f"{what} must be a real number; got {loss!r}")
        if not isinstance(loss, numbers.Real):
            value = check.to_backend(net.xp, loss, what)
            if value.ndim != 0:
                raise TypeError(
                    f"{what} must be a real number, the mean over the batch; got "
                    f"{check._describe(loss)}"
                )
            loss = value
        loss = float(loss)
    xp, dim = net.xp, net.dim_theta
    what = "loss_and_gradient's gradient (the second of the pair)"
    grad = check.to_backend(xp, grad, what)
    if tuple(grad.shape) != (dim,):
        raise ValueError(
            f"{what} must be a flat vector of length dim(theta) = {dim}; "
            f"got shape {tuple(grad.shape)}"
        )
    return loss, check._cast(xp, grad, net.theta_buffer.dtype, what)


def _gradient_of(net, run):
    """The loop's gradient: (a function of the batch (X, Y) that returns (loss, gradient),
    the one buffer it writes every gradient into, or None).

    On NumPy, with the network's own ``batch_loss_and_gradient`` and an optimiser of this
    module whose update keeps no reference to the gradient, every step writes its gradient
    into one buffer, checked once here; otherwise (a replaced method, a spy, another
    optimiser) each step gets a new gradient from ``net.batch_loss_and_gradient`` as called.
    """
    own = ("batch_loss_and_gradient" not in vars(net)
           and type(net).batch_loss_and_gradient is Network.batch_loss_and_gradient)
    if own and isinstance(run.X, np.ndarray) and type(run.opt).update in _UPDATES_KEEP_NO_GRAD:
        buffer = np.empty(net.dim_theta, dtype=run.X.dtype)
        return net._loss_and_gradient_into(buffer), buffer
    return net.batch_loss_and_gradient, None


def _epoch_batches(run):
    """(gather, batches): on NumPy, the batches of every epoch are fixed views of two arrays
    that ``gather(idx)`` fills with the epoch's rows (np.take into them); elsewhere None and
    None (each epoch gathers new arrays)."""
    if run.full_batch:
        return None, [(run.X, run.Y)]
    if not isinstance(run.X, np.ndarray) or run.hook is not None:
        return None, None
    rows = run.n if not run.replacement else run.ipe * run.B
    Xe = np.empty((rows,) + run.X.shape[1:], dtype=run.X.dtype)
    Ye = np.empty((rows,) + run.Y.shape[1:], dtype=run.Y.dtype)
    X, Y = run.X, run.Y

    def gather(idx):
        # mode 'wrap' (the indices are in range): 'raise' copies through a buffer first
        X.take(idx, 0, Xe, "wrap")
        Y.take(idx, 0, Ye, "wrap")

    B = run.B
    return gather, [(Xe[k * B : (k + 1) * B], Ye[k * B : (k + 1) * B]) for k in range(run.ipe)]


def _loop(net, run, rec, bar) -> bool:
    """Make the steps and evaluations of ``run``; True when early stopping ended it.

    Before each step θ is copied into ``run.backup``, so a step that leaves θ non-finite can
    be undone. On an interrupt, ``run.t`` holds the completed steps and ``run.in_step`` says
    whether θ may be between two iterates.

    Per step only the gradient, one copy of θ, the optimiser's update and two appends run:
    the batches are fixed views of arrays filled once per epoch (:func:`_epoch_batches`),
    the gradient goes into one buffer (:func:`_gradient_of`), and the optimiser's checks
    (its state has the right shape after the reset at the start of fit) are skipped.
    """
    xp, opt, B, T = net.xp, run.opt, run.B, run.T
    ipe, every, full, hook = run.ipe, run.every, run.full_batch, run.hook
    gradient, buffer = _gradient_of(net, run)
    gather, batches = _epoch_batches(run)
    # Optimizer.step is its checks, update and t += 1; a subclass's own step is called as is
    update = opt.update if type(opt).step is Optimizer.step else None
    # SteepestDescent/SGD on fit's own gradient buffer: its update may overwrite the buffer
    descent = (buffer is not None and update is not None
               and type(opt).update is SteepestDescent.update)
    losses, times, isfinite, clock = rec.losses, rec.times, math.isfinite, time.perf_counter
    # NumPy's θ is written in place, so its backup is one copyto into a kept array; other
    # backends go through write (a new array on JAX)
    theta, backup = net.theta_buffer, run.backup
    copyto = np.copyto if isinstance(theta, np.ndarray) else None
    epochs = batch_indices(np.random.default_rng(run.seed), run.n, ipe * B, run.replacement)
    t, k, in_step = run.t, ipe, False
    idx, rows_in_epoch = None, run.n
    rec.t0 = clock()
    try:
        while t < T:
            if k == ipe:  # a new epoch: one gather, the batches are then slices of it
                k = 0
                if not full:
                    idx = next(epochs)
                    rows_in_epoch = idx.shape[0]
                    if gather is not None:
                        gather(idx)
                    elif hook is None:
                        rows = xp.asarray(idx)
                        Xe, Ye = xp.take(run.X, rows, axis=0), xp.take(run.Y, rows, axis=0)
                        # the array API forbids out-of-range stops
                        batches = [(Xe[j * B : min((j + 1) * B, rows_in_epoch), ...],
                                    Ye[j * B : min((j + 1) * B, rows_in_epoch), ...])
                                   for j in range(ipe)]
            if hook is not None:
                result = hook(None if full else idx[k * B : min((k + 1) * B, rows_in_epoch)])
                try:
                    loss, grad = _hook_result(result, net)
                except (TypeError, ValueError) as err:
                    run.t = t
                    err.history = _finish(net, run, rec, False, False)
                    raise
            else:
                loss, grad = gradient(*batches[k])  # full batch: one step per epoch, k = 0
            loss = float(loss)
            if not isfinite(loss):
                run.t = t
                _diverged(net, run, rec, loss, "batch loss")
            in_step = True
            if copyto is None:
                run.backup = write(run.backup, ..., net.theta_buffer)
            else:
                copyto(backup, theta)
            if descent:
                opt.update_overwriting(theta, grad)
                opt.t += 1
            elif update is None:
                opt.step(net, grad, check_input=False)
            else:
                update(net, grad)
                opt.t += 1
            losses.append(loss)
            times.append(clock())
            t += 1
            in_step = False
            k += 1
            if bar is not None:
                bar.update(1)
            if t % every == 0 or t == T:
                run.t = t
                train = _evaluation(net, run, rec, t)
                if bar is not None:
                    bar.set_postfix(train_loss=f"{train:.4g}", refresh=False)
                # patience running out at the last step cuts nothing: not stopped early
                if run.stop and t < T:
                    return True
    except KeyboardInterrupt:
        run.t, run.in_step = t, in_step
        raise
    return False


def _minimize_loop(net, run, rec, bar) -> bool:
    """The iterations of an optimiser that makes its own (L-BFGS through SciPy); True when
    early stopping ended them.

    The optimiser gets fun(θ) = (ℓ_τ(θ), ∇ℓ_τ(θ)) on the full batch, in float64 NumPy, from
    the network's gradient (or the hook); θ_0 is the network's θ. After each iteration its
    callback records what ``_loop`` records for a step: the loss at θ_{t-1}, the time, the
    gradients spent so far, an evaluation every ``run.every`` iterations, the early stopper
    (StopIteration ends SciPy's loop). ``run.backup`` holds the last accepted iterate θ_t,
    to which θ returns when a trial point of a line search has a loss that is not finite
    (DivergenceError) or the run is interrupted. ``run.converged`` says whether SciPy's own
    tolerances ended the run.
    """
    xp, opt, T, every, hook = net.xp, run.opt, run.T, run.every, run.hook
    dtype = net.theta_buffer.dtype
    gradient, isfinite, clock = net.batch_loss_and_gradient, math.isfinite, time.perf_counter
    state = SimpleNamespace(t=run.t, calls=0, previous=None)
    t0 = clock()

    def fun(x):
        net.theta_buffer = xp.asarray(x, dtype=dtype)
        if hook is None:
            loss, grad = gradient(run.X, run.Y)
        else:
            try:
                loss, grad = _hook_result(hook(None), net)
            except (TypeError, ValueError) as err:
                net.theta_buffer = run.backup
                run.t = state.t
                err.history = _finish(net, run, rec, False, False)
                raise
        loss, state.calls = float(loss), state.calls + 1
        grad = np.asarray(to_numpy(grad), dtype=np.float64)
        finite_grad = bool(np.all(np.isfinite(grad)))
        if not (isfinite(loss) and finite_grad):
            net.theta_buffer = run.backup  # a trial point of the line search: back to θ_t
            run.t = state.t
            if not isfinite(loss):
                _diverged(net, run, rec, loss, "batch loss")
            _diverged(net, run, rec, math.nan, "batch gradient")  # NaN or inf entries
        if state.previous is None:
            state.previous = loss  # ℓ(θ_0), the loss of the first iteration
        return loss, grad

    def callback(intermediate_result):
        net.theta_buffer = xp.asarray(intermediate_result.x, dtype=dtype)
        run.backup = write(run.backup, ..., net.theta_buffer)
        rec.losses.append(state.previous)  # the loss at θ_{t-1}
        rec.times.append(clock() - t0)
        rec.calls.append(state.calls)
        state.previous = float(intermediate_result.fun)
        state.t += 1
        t = run.t = state.t
        if bar is not None:
            bar.update(1)
        if t % every == 0 or t == T:
            train = _evaluation(net, run, rec, t)
            if bar is not None:
                bar.set_postfix(train_loss=f"{train:.4g}", refresh=False)
            if run.stop and t < T:
                raise StopIteration  # SciPy ends its loop and returns the last iterate

    theta0 = np.asarray(to_numpy(net.theta_buffer), dtype=np.float64)
    run.in_step = True  # from here on θ may hold a trial point: backup is the iterate
    try:
        result = opt.minimize(fun, theta0, T - run.t, callback)
    except KeyboardInterrupt:
        run.t = state.t
        raise
    net.theta_buffer = run.backup
    run.in_step = False
    run.converged = result.status == 0 and not run.stop  # SciPy's gtol / ftol held
    if not rec.evaluated_at or rec.evaluated_at[-1] != state.t:
        _evaluation(net, run, rec, state.t)  # the last iterate, between two evaluations
    return bool(run.stop) and state.t < T


def _evaluation(net, run, rec, t: int) -> float:
    """Evaluate after t steps, check the losses, tell the early stopper; the training loss.

    Sets ``run.stop`` when the patience has run out. Under early stopping the validation
    loss chooses θ, so one that is not finite is divergence too (without it, it is only
    recorded). The training loss of θ_0 (t = 0) is left to the first batch loss to judge.
    """
    train, val = rec.evaluate(net, run, t)
    if t > 0 and not math.isfinite(train):
        _diverged(net, run, rec, train, "training loss")
    stopper = run.stopper
    if stopper is not None:
        if not math.isfinite(val):
            _diverged(net, run, rec, val, "validation loss")
        run.stop = stopper.update(val, len(rec.val) - 1, net.theta_buffer, net.xp)
    return train


def _diverged(net, run, rec, loss, what):
    """θ back to the best one under early stopping, else to the last finite iterate; then a
    DivergenceError carrying the History."""
    stopper = run.stopper
    step = run.t + what.startswith("batch")  # a batch's loss or gradient: the next step
    if stopper is not None and stopper.best_theta is not None:
        e = stopper.best_evaluation
        net.theta_buffer = stopper.best_theta
        kept = (f"θ is restored to the best one under early stopping (evaluation {e}, "
                f"after {rec.evaluated_at[e]} steps)")
    else:
        restored = run.t
        if not _finite(net.xp, net.theta_buffer) and run.t > 0:
            net.theta_buffer = run.backup
            restored = run.t - 1
        kept = f"θ is left at the last finite iterate, after {restored} steps"
    history = rec.history(net, run)
    raise DivergenceError(
        f"fit diverged: the {what} is {loss} at iteration {step} ({run.opt!r}); {kept}; the "
        f"History so far is this exception's .history (a smaller learning rate may help)",
        iteration=step, loss=loss, optimizer=run.opt, history=history)


def fit(net, X, y, optimizer="sgd", batch_size=None, iterations=None, epochs=None,
        replacement=False, seed=0, validation=None, early_stopping=None, progress=False,
        evaluate_every=None, loss_and_gradient=None) -> History:
    """Train ``net`` in place; returns the :class:`History` of the run.

    Each iteration takes one batch B of rows of (X, y), computes ℓ_B(θ_t) = (1/|B|) Σ_{i∈B} C_i
    and its gradient by back-propagation (the batch form of Algorithm 2), and lets the
    optimiser make the step θ_t -> θ_{t+1}.

    Parameters
    ----------
    optimizer : a :mod:`backprop.optim` instance (``SGD(lr=0.005)``, ``Adam()``, ...) or a
        name from ``backprop.optim.OPTIMIZERS`` (default 'sgd': SGD(lr=0.005)), each with its
        documented defaults; it is reset at the start of every fit. A full-batch method
        (Barzilai-Borwein) given mini-batches warns. 'lbfgs' (:class:`~backprop.optim.LBFGS`,
        SciPy's L-BFGS-B) makes its own iterations, a line search each: full batch only
        (batch_size=None), ``history.gradient_calls`` counts the gradients it spent, and
        ``history.converged`` says whether SciPy's tolerances ended it before the stopping
        rule. Its trial points are no iterates: a loss that is not finite at one raises
        :class:`DivergenceError` with θ at the last iterate.
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
    early_stopping : None, or a patience in evaluations (epochs, unless ``evaluate_every``):
        stop when val_loss has not improved for that many evaluations in a row. Needs
        ``validation``. Whether it stops or not, θ is restored to the θ with the lowest
        val_loss (``history.best_evaluation``, ``history.best_epoch``); evaluation 0, θ_0
        before any step, is a candidate. ``history.stopped_early`` is True only when steps
        were left undone (the patience running out at the last step cuts nothing). A
        validation loss that is not finite raises :class:`DivergenceError`.
    progress : show a tqdm progress bar (off by default, so notebook output is stable).
    evaluate_every : None (default) evaluates on the whole training (and validation) set
        at the end of every epoch; an integer k evaluates every k steps instead. Each
        evaluation is a forward pass over all n rows, so with small batches drawn with
        replacement (an "epoch" of only ceil(n / B) steps) a larger k makes training
        markedly cheaper.
    loss_and_gradient : None, or a function ``loss_and_gradient(idx)`` that fit calls for each
        step instead of the network's gradient: ``idx`` is the 1-D NumPy integer array of the
        batch's row indices into X (None for a full-batch step); it returns (the mean loss
        over the batch as a float, the flat gradient of length dim θ in the network's backend
        and dtype). Its return value is checked at every step: a pair, a real loss, a real
        gradient of shape (dim θ,) (an array of another backend, or a list, is converted);
        anything else raises TypeError / ValueError naming loss_and_gradient, with θ at the
        last completed step and the History so far as the error's ``.history``. Everything
        else (batches, optimiser, history, early stopping, divergence) is the same.

    Everything is checked before the first step: a bad argument raises and leaves ``net``
    untouched. A batch or training loss that is not finite raises :class:`DivergenceError`
    (a FloatingPointError) naming the iteration, the loss and the optimiser, with θ at the
    last finite iterate (at the best one under early stopping, like every early end) and
    the History so far as ``err.history``. A KeyboardInterrupt is
    re-raised with θ at the last completed step (the best one under early stopping) and
    the History so far as its ``.history`` (``history.interrupted`` is True); in a notebook,
    ``sys.last_value.history`` after the interrupted cell.
    """
    run = _checked_run(net, X, y, optimizer, batch_size, iterations, epochs, replacement, seed,
                       validation, early_stopping, progress, evaluate_every, loss_and_gradient)
    run.opt.reset()
    run.t, run.in_step, run.stop, run.converged = 0, False, False, False
    run.backup = net.xp.asarray(net.theta_buffer, copy=True)
    rec = _Records(net, run)
    bar = None
    if run.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=run.T, unit="it", desc="fit")
    stopped_early = interrupted = False
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            _evaluation(net, run, rec, 0)  # patience >= 1 cannot run out at evaluation 0
            loop = _minimize_loop if run.opt.drives_loop else _loop
            stopped_early = loop(net, run, rec, bar)
    except KeyboardInterrupt as stop:
        interrupted = True
        if run.in_step:  # θ may be between two iterates: back to the last completed one
            net.theta_buffer = run.backup
            del rec.losses[run.t :], rec.times[run.t :], rec.calls[run.t :]
        rec.truncate(run)
        stop.history = _finish(net, run, rec, stopped_early, interrupted)
        raise
    finally:
        if bar is not None:
            bar.close()
    return _finish(net, run, rec, stopped_early, interrupted)


def _finish(net, run, rec, stopped_early, interrupted) -> History:
    """Restore the best θ under early stopping; the History of the run."""
    if run.stopper is not None and run.stopper.best_theta is not None:
        net.theta_buffer = run.stopper.best_theta
    return rec.history(net, run, stopped_early=stopped_early, interrupted=interrupted,
                       converged=run.converged)
