"""backprop.fit: stopping rules, batches, history, early stopping, checks; the figures of a run."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

import backprop as bp


def _regression(n=25, seed=0, backend="numpy"):
    net = bp.Network([1, 5, 1], hidden="tanh", seed=seed, backend=backend)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 1))
    y = X**2 + 0.1 * rng.standard_normal((n, 1))
    return net, X, y


# ----------------------------------------------------------------------------- history lengths


@pytest.mark.parametrize(
    "kwargs, n_steps, evaluated_at, per_epoch",
    [
        # full batch: every iteration is an epoch
        (dict(iterations=7), 7, list(range(8)), 1),
        (dict(epochs=4), 4, list(range(5)), 1),
        # n = 25, batch 10: ceil(25/10) = 3 iterations per epoch (10, 10, then 5 rows)
        (dict(batch_size=10, epochs=3), 9, [0, 3, 6, 9], 3),
        (dict(batch_size=10, epochs=3, replacement=True), 9, [0, 3, 6, 9], 3),
        # a stop in mid-epoch adds a last evaluation at the stop
        (dict(batch_size=10, iterations=7), 7, [0, 3, 6, 7], 3),
        (dict(batch_size=10, iterations=7, replacement=True), 7, [0, 3, 6, 7], 3),
        (dict(batch_size=25, iterations=2), 2, [0, 1, 2], 1),
        (dict(batch_size=1, epochs=2), 50, [0, 25, 50], 25),
    ],
)
def test_history_lengths(kwargs, n_steps, evaluated_at, per_epoch):
    net, X, y = _regression()
    h = bp.fit(net, X, y, optimizer=bp.SGD(0.01), **kwargs)
    assert h.iterations == n_steps == len(h.loss) == len(h.time)
    assert h.iterations_per_epoch == per_epoch
    assert list(h.evaluated_at) == evaluated_at
    assert len(h.train_loss) == len(evaluated_at)
    assert len(h.val_loss) == len(h.train_accuracy) == len(h.val_accuracy) == 0
    assert np.all(np.diff(h.time) >= 0) and h.time[0] >= 0
    assert h.train_loss[-1] == pytest.approx(net.loss(X, y), rel=1e-12)
    assert not h.stopped_early and h.best_epoch is None
    assert h.loss.dtype == np.float64


def test_full_batch_loss_is_the_loss_before_each_step():
    """history.loss[t] is ℓ_τ(θ_t), the value from the forward pass of step t+1."""
    net, X, y = _regression()
    h = bp.fit(net, X, y, optimizer=bp.SteepestDescent(0.05), iterations=20)
    np.testing.assert_allclose(h.loss, h.train_loss[:-1], rtol=1e-12)
    assert h.loss[-1] > h.train_loss[-1]


def test_full_batch_sgd_equals_a_hand_written_loop(backend):
    net, X, y = _regression(backend=backend)
    theta = net.theta
    ref = bp.Network([1, 5, 1], hidden="tanh")
    for _ in range(15):
        ref.theta = theta
        theta = theta - 0.05 * np.asarray(bp.to_numpy(ref.gradient(X, y)), dtype=np.float64)
    bp.fit(net, X, y, optimizer=bp.SteepestDescent(0.05), iterations=15)
    np.testing.assert_allclose(net.theta, theta, rtol=0, atol=1e-12)


def _spy_batches(net, monkeypatch):
    """Record the first column of every batch that reaches the gradient."""
    seen = []
    inner = net.batch_loss_and_gradient

    def spy(X, Y):
        seen.append(np.array(bp.to_numpy(X)[:, 0], copy=True))
        return inner(X, Y)

    monkeypatch.setattr(net, "batch_loss_and_gradient", spy)
    return seen


def test_without_replacement_each_epoch_visits_every_example_once(monkeypatch):
    n = 25
    net = bp.Network([1, 3, 1])
    X = np.arange(n, dtype=float).reshape(-1, 1)
    y = np.zeros((n, 1))
    seen = _spy_batches(net, monkeypatch)
    bp.fit(net, X, y, optimizer=bp.SGD(1e-6), batch_size=10, epochs=3, seed=1)
    assert [len(b) for b in seen] == [10, 10, 5] * 3  # the short last batch is kept
    epochs = [np.concatenate(seen[3 * e : 3 * e + 3]) for e in range(3)]
    for rows in epochs:
        np.testing.assert_array_equal(np.sort(rows), np.arange(n))
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled every epoch


def test_with_replacement_batches_are_full_and_repeat(monkeypatch):
    n = 25
    net = bp.Network([1, 3, 1])
    X = np.arange(n, dtype=float).reshape(-1, 1)
    y = np.zeros((n, 1))
    seen = _spy_batches(net, monkeypatch)
    bp.fit(net, X, y, optimizer=bp.SGD(1e-6), batch_size=10, iterations=40, replacement=True)
    assert all(len(b) == 10 for b in seen)
    rows = np.concatenate(seen)
    assert set(np.unique(rows)) <= set(range(n))
    # i.i.d. draws: some batch repeats a row (probability 1 - (25!/15!)/25^10 per batch)
    assert any(len(np.unique(b)) < len(b) for b in seen)
    counts = np.bincount(rows.astype(int), minlength=n)
    assert counts.min() > 0 and counts.sum() == 400


@pytest.mark.parametrize("draw_entries", [1, 7, 30, 61, 10**6])
def test_with_replacement_batches_follow_the_generator_stream(monkeypatch, draw_entries):
    # However many indices fit draws per call, the batches are the seeded generator's
    # integers in order (40 steps of 10 rows = 400 draws, 14 epochs of 3 steps).
    monkeypatch.setattr(bp.train, "DRAW_ENTRIES", draw_entries)
    n = 25
    net = bp.Network([1, 3, 1])
    X = np.arange(n, dtype=float).reshape(-1, 1)
    seen = _spy_batches(net, monkeypatch)
    bp.fit(net, X, np.zeros((n, 1)), optimizer=bp.SGD(1e-6), batch_size=10, iterations=40,
           replacement=True, seed=5)
    expected = np.random.default_rng(5).integers(0, n, size=400)
    np.testing.assert_array_equal(np.concatenate(seen).astype(int), expected)


def test_same_seed_same_run_and_backends_agree(backend):
    net0, X, y = _regression()
    theta0 = net0.theta
    runs = []
    for seed in (3, 3, 4):
        net = bp.Network([1, 5, 1], hidden="tanh", backend=backend)
        net.theta = theta0
        h = bp.fit(net, X, y, optimizer=bp.Adam(0.01), batch_size=7, epochs=3, seed=seed)
        runs.append((h.loss, net.theta))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])
    # the batches are drawn in NumPy, so NumPy and any other backend see the same ones
    ref = bp.Network([1, 5, 1], hidden="tanh")
    ref.theta = theta0
    h = bp.fit(ref, X, y, optimizer=bp.Adam(0.01), batch_size=7, epochs=3, seed=3)
    np.testing.assert_allclose(runs[0][0], h.loss, rtol=1e-10)
    np.testing.assert_allclose(runs[0][1], ref.theta, rtol=0, atol=1e-10)


def test_fit_resets_the_optimizer():
    net, X, y = _regression()
    theta0 = net.theta
    opt = bp.Adam(0.01)
    h1 = bp.fit(net, X, y, optimizer=opt, iterations=5)
    net.theta = theta0
    h2 = bp.fit(net, X, y, optimizer=opt, iterations=5)
    np.testing.assert_array_equal(h1.loss, h2.loss)
    assert opt.t == 5


def test_float32_network_trains_in_float32():
    net, X, y = _regression()
    net32 = net.copy(dtype="float32")
    h = bp.fit(net32, X, y, optimizer=bp.Adam(0.01), batch_size=5, epochs=5)
    assert net32.theta_buffer.dtype == np.float32
    assert h.train_loss[-1] < h.train_loss[0]


# ----------------------------------------------------------------------------- classification


def test_classification_history_has_accuracies(backend):
    X, y = bp.datasets.blobs(n=120, classes=3, std=0.5, seed=1)
    Xv, yv = bp.datasets.blobs(n=60, classes=3, std=0.5, seed=2)
    net = bp.Network([2, 8, 3], output="softmax", seed=0, backend=backend)
    h = bp.fit(net, X, y, optimizer=bp.Adam(0.05), batch_size=16, epochs=10, validation=(Xv, yv))
    assert len(h.train_accuracy) == len(h.val_accuracy) == len(h.val_loss) == 11
    assert np.all((0 <= h.train_accuracy) & (h.train_accuracy <= 1))
    assert h.train_accuracy[-1] > 0.9 and h.val_accuracy[-1] > 0.9
    predicted = np.argmax(bp.to_numpy(net.predict(Xv)), axis=1)
    assert h.val_accuracy[-1] == pytest.approx(np.mean(predicted == yv), abs=1e-12)
    assert h.val_loss[-1] == pytest.approx(net.loss(Xv, yv), rel=1e-10)


def test_digits_reach_97_percent():
    """[64, 64, 10] ReLU, softmax, Adam (α = 0.002), batches of 32, 40 epochs."""
    digits = bp.datasets.digits(seed=0)
    X_train, X_test, y_train, y_test = digits.X, digits.X_test, digits.y, digits.y_test
    net = bp.Network([64, 64, 10], hidden="relu", output="softmax", seed=0)
    start = time.perf_counter()
    h = bp.fit(net, X_train, y_train, optimizer=bp.Adam(0.002), batch_size=32, epochs=40,
               validation=(X_test, y_test), seed=0)
    seconds = time.perf_counter() - start
    accuracy = np.mean(np.argmax(bp.to_numpy(net.predict(X_test)), axis=1) == y_test)
    print(f"digits: test accuracy {accuracy:.4f}, {1000 * seconds / 40:.1f} ms per epoch")
    assert accuracy >= 0.97
    assert h.val_accuracy[-1] == pytest.approx(accuracy)


# ----------------------------------------------------------------------------- early stopping


def _early_stopping_problem(backend="numpy"):
    """A linear model g = w x + b from 0 towards y = x; the validation targets are 0.4 x, so
    the validation loss falls while g passes 0.4 x and then rises again."""
    net = bp.Network([1, 1], output="identity", backend=backend)
    net.theta = np.zeros(2)
    X = np.linspace(-1, 1, 21).reshape(-1, 1)
    return net, X, X.copy(), X, 0.4 * X


def _record_thetas(net):
    """A list that gets θ appended at every gradient evaluation fit makes (before its step)."""
    thetas = []
    inner = net.batch_loss_and_gradient

    def spy(Xb, Yb):
        thetas.append(net.theta)
        return inner(Xb, Yb)

    net.batch_loss_and_gradient = spy
    return thetas


def test_early_stopping_restores_the_best_theta(backend):
    net, X, y, Xv, yv = _early_stopping_problem(backend)
    thetas = _record_thetas(net)
    h = bp.fit(net, X, y, optimizer=bp.SteepestDescent(0.05), epochs=200,
               validation=(Xv, yv), early_stopping=3)
    assert h.stopped_early
    best = int(np.argmin(h.val_loss))
    assert h.best_epoch == best > 0
    assert len(h.val_loss) == best + 3 + 1  # three epochs without improvement, then stop
    assert h.iterations == best + 3
    np.testing.assert_array_equal(net.theta, thetas[best])  # θ after `best` steps
    assert net.loss(Xv, yv) == pytest.approx(h.val_loss[best], rel=1e-12)
    assert net.loss(Xv, yv) < h.val_loss[-1]


def test_early_stopping_that_never_triggers_still_keeps_the_best():
    net, X, y, Xv, yv = _early_stopping_problem()
    h = bp.fit(net, X, y, optimizer=bp.SteepestDescent(0.05), epochs=30,
               validation=(Xv, yv), early_stopping=100)
    assert not h.stopped_early
    assert len(h.val_loss) == 31
    assert h.best_epoch == int(np.argmin(h.val_loss)) < 30
    assert net.loss(Xv, yv) == pytest.approx(h.val_loss.min(), rel=1e-12)


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(), ValueError, "no stopping rule"),
        (dict(iterations=5, epochs=2), ValueError, "not both"),
        (dict(iterations=0), ValueError, "iterations must be >= 1"),
        (dict(epochs=0), ValueError, "epochs must be >= 1"),
        (dict(iterations=2.5), TypeError, "iterations must be an integer"),
        (dict(iterations=5, batch_size=0), ValueError, "batch_size must be >= 1"),
        (dict(iterations=5, batch_size=-3), ValueError, "batch_size must be >= 1"),
        (dict(iterations=5, batch_size=26), ValueError, "at most n = 25"),
        (dict(iterations=5, batch_size=4.0), TypeError, "batch_size must be an integer"),
        (dict(iterations=5, replacement=True), ValueError, "needs a batch_size"),
        (dict(iterations=5, replacement="yes", batch_size=5), TypeError, "replacement"),
        (dict(iterations=5, early_stopping=3), ValueError, "needs validation"),
        (dict(iterations=5, early_stopping=0, validation="v"), ValueError, "early_stopping"),
        (dict(iterations=5, validation=(np.zeros((3, 1)),)), TypeError, "pair"),
        (dict(iterations=5, validation=(np.zeros((3, 2)), np.zeros(3))), ValueError, "columns"),
        (dict(iterations=5, optimizer=0.01), TypeError, "optimizer"),
        (dict(iterations=5, optimizer=bp.SGD), TypeError, "instance"),
        (dict(iterations=5, optimizer="newton"), ValueError, "optimizer must be one of"),
        (dict(iterations=5, seed=-1), ValueError, "seed"),
        (dict(iterations=5, progress="no"), TypeError, "progress"),
    ],
)
def test_bad_arguments_raise_before_any_work(kwargs, error, match, monkeypatch):
    net, X, y = _regression()
    theta0 = net.theta

    def boom(*args):
        raise AssertionError("a gradient was computed before the checks finished")

    monkeypatch.setattr(net, "batch_loss_and_gradient", boom)
    with pytest.raises(error, match=match):
        bp.fit(net, X, y, **kwargs)
    np.testing.assert_array_equal(net.theta, theta0)


def test_bad_data_raise():
    net, X, y = _regression()
    with pytest.raises(ValueError, match="rows"):
        bp.fit(net, X, y[:-1], iterations=1)
    with pytest.raises(ValueError, match="NaN"):
        bp.fit(net, np.full_like(X, np.nan), y, iterations=1)


def test_progress_bar_runs(capsys):
    net, X, y = _regression()
    h = bp.fit(net, X, y, optimizer=bp.SGD(0.01), batch_size=5, epochs=2, progress=True)
    assert h.iterations == 10
    assert "10/10" in capsys.readouterr().err


def test_history_repr():
    net, X, y = _regression()
    h = bp.fit(net, X, y, optimizer=bp.SGD(0.01), batch_size=10, iterations=4)
    text = repr(h)
    assert "iterations=4" in text and "batch_size=10" in text and "epochs=1.33333" in text


# ----------------------------------------------------------------------------- the course's run


def test_course_polyreg_run_reaches_the_noise_level():
    """[1, 20, 20, 1] ReLU, N(0, 1) init, SGD α = 0.005, batches of 20 with replacement,
    10^4 iterations: the course reports a whole-set training loss of about 28.9."""
    X, y = bp.datasets.polyreg()
    net = bp.Network([1, 20, 20, 1], hidden="relu", output="identity", init="normal", seed=0)
    h = bp.fit(net, X, y, optimizer=bp.SGD(0.005), batch_size=20, iterations=10_000,
               replacement=True, seed=0)
    assert h.iterations == 10_000 and len(h.train_loss) == 2001
    assert 25 < net.loss(X, y) < 32


# ----------------------------------------------------------------------------- evaluate_every


@pytest.mark.parametrize(
    "kwargs, evaluated_at",
    [
        (dict(iterations=7, evaluate_every=3), [0, 3, 6, 7]),
        (dict(batch_size=10, iterations=10, replacement=True, evaluate_every=10), [0, 10]),
        (dict(batch_size=10, epochs=2, evaluate_every=4), [0, 4, 6]),
    ],
)
def test_evaluate_every_sets_the_evaluation_steps(kwargs, evaluated_at):
    net, X, y = _regression()
    h = bp.fit(net, X, y, optimizer=bp.SGD(0.01), **kwargs)
    assert list(h.evaluated_at) == evaluated_at
    assert h.train_loss[-1] == pytest.approx(net.loss(X, y), rel=1e-12)


def test_evaluate_every_does_not_change_the_steps():
    runs = []
    for every in (None, 1, 1000):
        net, X, y = _regression()
        bp.fit(net, X, y, optimizer=bp.SGD(0.01), batch_size=5, iterations=40,
               replacement=True, seed=3, evaluate_every=every)
        runs.append(net.theta)
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


@pytest.mark.parametrize("every, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError)])
def test_bad_evaluate_every(every, error):
    net, X, y = _regression()
    theta = net.theta
    with pytest.raises(error, match="evaluate_every"):
        bp.fit(net, X, y, iterations=3, evaluate_every=every)
    np.testing.assert_array_equal(net.theta, theta)


# ----------------------------------------------------------------------------- issue 11


def test_replacement_memory_does_not_grow_with_epochs():
    # It used to draw 64 epochs of indices at once: 64 n 8 bytes (51 MB here).
    import tracemalloc

    n = 100_000
    net = bp.Network([1, 2, 1], hidden="tanh")
    X = np.linspace(-1, 1, n).reshape(-1, 1)
    y = np.zeros((n, 1))
    tracemalloc.start()
    bp.fit(net, X, y, batch_size=1000, iterations=2, replacement=True, evaluate_every=10**6)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 * 2**20  # one epoch's indices and rows, a few MB


def _diverging(lr=10.0):
    net = bp.Network([1, 1], output="identity")
    net.theta = np.array([1.0, 0.0])
    X = np.linspace(-3, 3, 11).reshape(-1, 1)
    return net, X, 2 * X


def test_divergence_stops_with_theta_at_the_last_finite_iterate():
    net, X, y = _diverging()
    thetas = _record_thetas(net)
    opt = bp.SteepestDescent(10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning (overflow) leaks out
        with pytest.raises(bp.DivergenceError) as caught:
            bp.fit(net, X, y, optimizer=opt, iterations=10_000, evaluate_every=10**6)
    err = caught.value
    assert isinstance(err, FloatingPointError)
    assert err.optimizer is opt and not np.isfinite(err.loss)
    assert err.iteration == len(thetas) < 10_000
    message = str(err)
    assert f"iteration {err.iteration}" in message and "SteepestDescent(lr=10.0)" in message
    assert np.all(np.isfinite(net.theta))
    np.testing.assert_array_equal(net.theta, thetas[-1])  # θ_{k-1}: finite, its loss is not
    h = err.history
    assert h.iterations == err.iteration - 1 and np.all(np.isfinite(h.loss))


def test_divergence_in_the_step_restores_the_theta_before_it():
    # lr 1e308: the first step's θ overflows to inf; θ goes back to the start.
    net, X, y = _diverging()
    theta0 = net.theta
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FloatingPointError, match="batch loss is nan at iteration 2") as caught:
            bp.fit(net, X, y, optimizer=bp.SteepestDescent(1e308), iterations=5,
                   evaluate_every=10**6)
        np.testing.assert_array_equal(net.theta, theta0)
        assert caught.value.history.iterations == 1
        # evaluated after every step (full batch): the training loss at θ_1 says it first
        with pytest.raises(FloatingPointError, match="training loss is nan at iteration 1"):
            bp.fit(net, X, y, optimizer=bp.SteepestDescent(1e308), iterations=5)
    np.testing.assert_array_equal(net.theta, theta0)


class _Interrupt(bp.optim.SGD):
    """SGD that is interrupted during its step number ``at`` (1-based), θ half written."""

    def __init__(self, at):
        super().__init__(0.05)
        self.at = at

    def update(self, net, grad):
        if self.t + 1 == self.at:
            theta = net.theta_buffer
            theta[0] += 123.0
            raise KeyboardInterrupt
        super().update(net, grad)


@pytest.mark.parametrize("during", ["step", "gradient"])
def test_keyboard_interrupt_keeps_the_last_completed_step_and_the_history(during):
    net, X, y = _regression()
    ref = net.copy()
    bp.fit(ref, X, y, optimizer=bp.SGD(0.05), iterations=6)
    if during == "step":
        opt = _Interrupt(at=7)
    else:
        opt = bp.SGD(0.05)
        _interrupt_gradient(net, at=7)
    with pytest.raises(KeyboardInterrupt) as caught:
        bp.fit(net, X, y, optimizer=opt, iterations=20)
    h = caught.value.history
    assert h.interrupted and h.iterations == 6 and list(h.evaluated_at) == list(range(7))
    np.testing.assert_array_equal(net.theta, ref.theta)
    assert "interrupted" in repr(h)


def _interrupt_gradient(net, at):
    """Make the network's ``at``-th gradient evaluation raise KeyboardInterrupt (a stop button)."""
    inner, calls = net.batch_loss_and_gradient, []

    def stop(Xb, Yb):
        calls.append(1)
        if len(calls) == at:
            raise KeyboardInterrupt
        return inner(Xb, Yb)

    net.batch_loss_and_gradient = stop


def test_keyboard_interrupt_under_early_stopping_keeps_the_best_theta():
    net, X, y, Xv, yv = _early_stopping_problem()
    _interrupt_gradient(net, at=40)
    with pytest.raises(KeyboardInterrupt) as caught:
        bp.fit(net, X, y, optimizer=bp.SteepestDescent(0.05), epochs=200,
               validation=(Xv, yv), early_stopping=100)
    h = caught.value.history
    assert h.iterations == 39 and len(h.val_loss) == 40
    assert net.loss(Xv, yv) == pytest.approx(h.val_loss.min(), rel=1e-12)


def test_validation_errors_name_validation():
    net, X, y = _regression()
    with pytest.raises(ValueError, match=r"validation=\(X_val, y_val\): X_val must have p_0"):
        bp.fit(net, X, y, iterations=1, validation=(np.zeros((3, 2)), np.zeros(3)))
    with pytest.raises(ValueError, match=r"validation.*y_val has 2 rows"):
        bp.fit(net, X, y, iterations=1, validation=(np.zeros((3, 1)), np.zeros((2, 1))))
    with pytest.raises(ValueError, match=r"validation.*X_val contains NaN"):
        bp.fit(net, X, y, iterations=1, validation=(np.full((3, 1), np.nan), np.zeros(3)))


def test_full_batch_method_with_mini_batches_warns():
    net, X, y = _regression()
    with pytest.warns(UserWarning, match="BarzilaiBorwein is meant for full-batch"):
        bp.fit(net, X, y, optimizer="barzilai_borwein", batch_size=5, iterations=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bp.fit(net, X, y, optimizer="barzilai_borwein", iterations=2)  # full batch: silent


def test_history_says_what_it_holds_after_early_stopping():
    # batches of 7 of 21 rows: 3 steps per epoch, so evaluation e is after e epochs
    net, X, y, Xv, yv = _early_stopping_problem()
    h = bp.fit(net, X, y, optimizer=bp.SGD(0.05), batch_size=7, epochs=200, seed=1,
               validation=(Xv, yv), early_stopping=3, evaluate_every=6)
    assert h.stopped_early
    e = h.best_evaluation
    assert e == int(np.argmin(h.val_loss))
    assert h.best_epoch == h.evaluated_at[e] / 3 == 2 * e  # epochs, not the evaluation index
    assert f"val_loss={h.val_loss[e]:.6g}" in repr(h)  # the restored θ's, not the last
    assert f"val_loss={h.val_loss[-1]:.6g}" not in repr(h)


def test_loss_and_gradient_hook_gets_the_batch_indices():
    net, X, y = _regression()
    ref = net.copy()
    bp.fit(ref, X, y, optimizer=bp.SGD(0.05), batch_size=10, epochs=3, seed=2)
    seen = []

    def hook(idx):
        seen.append(idx)
        loss, grad = net.loss_and_gradient(X[idx], y[idx])
        return loss, grad

    h = bp.fit(net, X, y, optimizer=bp.SGD(0.05), batch_size=10, epochs=3, seed=2,
               loss_and_gradient=hook)
    assert [len(i) for i in seen] == [10, 10, 5] * 3
    assert all(isinstance(i, np.ndarray) and i.dtype.kind == "i" and i.ndim == 1 for i in seen)
    for e in range(3):
        np.testing.assert_array_equal(np.sort(np.concatenate(seen[3 * e : 3 * e + 3])),
                                      np.arange(25))
    np.testing.assert_array_equal(net.theta, ref.theta)
    assert h.iterations == 9
    full = []
    bp.fit(net, X, y, iterations=2, loss_and_gradient=lambda idx: (full.append(idx),
                                                                   net.loss_and_gradient(X, y))[1])
    assert full == [None, None]
    with pytest.raises(TypeError, match="loss_and_gradient must be callable"):
        bp.fit(net, X, y, iterations=2, loss_and_gradient=3)


# ----------------------------------------------------------------------------- issue 30: the lean loop


def _hand_written_sgd(net, X, y, lr, B, T, seed, replacement, grads=None):
    """fit's SGD steps written out: the seeded generator's epochs (a permutation, or ipe B
    draws with replacement), each batch checked and its gradient taken by
    net.batch_loss_and_gradient, θ -= lr g. Returns the batch losses (and appends a copy of
    each gradient to ``grads``)."""
    n = X.shape[0]
    ipe = -(-n // B)
    rng = np.random.default_rng(seed)
    losses, t = [], 0
    while t < T:
        idx = rng.integers(0, n, size=ipe * B) if replacement else rng.permutation(n)
        for k in range(ipe):
            if t == T:
                break
            rows = idx[k * B : (k + 1) * B]
            loss, g = net.batch_loss_and_gradient(*net.checked_batch(X[rows], y[rows]))
            theta = net.theta_buffer
            theta -= lr * g
            losses.append(float(loss))
            if grads is not None:
                grads.append(g.copy())
            t += 1
    return losses


@pytest.mark.parametrize("kernel", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("replacement, B, T", [(True, 20, 120), (False, 7, 40), (True, 1, 30)])
def test_fit_is_the_hand_written_sgd_loop_bit_for_bit(kernel, dtype, replacement, B, T):
    # The loop gathers into reused arrays and writes the gradient into one buffer; the
    # steps, the batches (the generator's stream) and every recorded loss are unchanged.
    u, y = bp.datasets.polyreg()
    new = lambda: bp.Network([1, 20, 20, 1], hidden="relu", init="normal", seed=0,  # noqa: E731
                             dtype=dtype, kernel=kernel)
    net, ref = new(), new()
    h = bp.fit(net, u, y, optimizer=bp.SGD(0.005), batch_size=B, iterations=T,
               replacement=replacement, seed=11, evaluate_every=25)
    losses = _hand_written_sgd(ref, u, y, 0.005, B, T, 11, replacement)
    assert np.array_equal(net.theta, ref.theta)
    assert h.loss.tolist() == losses
    assert h.iterations == T and h.time.shape == (T,)
    assert np.all(np.diff(h.time) >= 0) and 0 <= h.time[0] <= h.time[-1]
    assert h.evaluated_at.tolist() == sorted({0, *range(25, T, 25), T})
    assert h.train_loss[-1] == net.loss(u, y)


def test_fit_draws_indices_in_blocks_from_the_same_stream(monkeypatch):
    # However many epochs one draw of the generator holds, the run is the same.
    u, y = bp.datasets.polyreg()
    thetas, losses = [], []
    for entries in (1, 60, 1 << 16):
        monkeypatch.setattr(bp.train, "DRAW_ENTRIES", entries)
        net = bp.Network([1, 20, 20, 1], init="normal", seed=0)
        h = bp.fit(net, u, y, optimizer=bp.SGD(0.005), batch_size=20, iterations=37,
                   replacement=True, seed=3)
        thetas.append(net.theta)
        losses.append(h.loss.tolist())
    assert all(np.array_equal(thetas[0], th) for th in thetas[1:])
    assert losses[0] == losses[1] == losses[2]
    ref = bp.Network([1, 20, 20, 1], init="normal", seed=0)
    assert _hand_written_sgd(ref, u, y, 0.005, 20, 37, 3, True) == losses[0]


def test_an_optimiser_that_keeps_its_gradients_gets_a_new_one_each_step():
    # fit writes gradients into one buffer only for optimisers known not to keep them.
    kept = []

    class Keeper(bp.optim.SGD):
        def update(self, net, grad):
            kept.append(grad)
            super().update(net, grad)

    net, X, y = _regression()
    ref = net.copy()
    bp.fit(net, X, y, optimizer=Keeper(0.05), batch_size=10, iterations=6, replacement=True)
    grads = []
    _hand_written_sgd(ref, X, y, 0.05, 10, 6, 0, True, grads=grads)
    assert len({id(g) for g in kept}) == 6
    for got, expected in zip(kept, grads, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert np.array_equal(net.theta, ref.theta)


def test_a_batch_gradient_replaced_on_the_network_is_what_fit_calls():
    # A spy (or any function) set as net.batch_loss_and_gradient replaces the fast path.
    net, X, y = _regression()
    calls = []

    def spy(Xb, Yb):
        calls.append(Xb.shape[0])
        return type(net).batch_loss_and_gradient(net, Xb, Yb)

    net.batch_loss_and_gradient = spy
    bp.fit(net, X, y, optimizer=bp.SGD(0.01), batch_size=10, epochs=2)
    assert calls == [10, 10, 5, 10, 10, 5]


def test_loss_and_gradient_into_writes_the_gradient_into_its_buffer():
    net, X, y = _regression()
    Xc, Yc = net.checked_batch(X, y)
    out = np.empty(net.dim_theta)
    loss, grad = net._loss_and_gradient_into(out)(Xc, Yc)
    ref_loss, ref = net.batch_loss_and_gradient(Xc, Yc)
    assert grad is out and np.array_equal(out, ref) and float(loss) == float(ref_loss)
    with pytest.raises(ValueError, match="contiguous flat array"):
        net._loss_and_gradient_into(np.empty(net.dim_theta + 1))


@pytest.mark.parametrize("optimizer, buffered", [
    (bp.SGD(0.01), True), (bp.SteepestDescent(0.01), True), (bp.Momentum(0.01), True),
    (bp.Adam(0.01), True), (bp.BarzilaiBorwein(), True),
    (type("Own", (bp.optim.SGD,), {"update": lambda self, net, grad:
                                    bp.optim.SGD.update(self, net, grad)}), False),
    (type("Inherits", (bp.optim.SGD,), {}), True),
])
def test_the_gradient_buffer_is_used_exactly_for_the_known_updates(optimizer, buffered,
                                                                  monkeypatch, backend):
    # A class object stands for a subclass with an update of its own (the same rule, but
    # fit cannot know that it keeps no reference to the gradient).
    made = []
    into = bp.Network._loss_and_gradient_into

    def counting(self, out):
        made.append(out.shape)
        return into(self, out)

    monkeypatch.setattr(bp.Network, "_loss_and_gradient_into", counting)
    opt = optimizer(0.01) if isinstance(optimizer, type) else optimizer
    net, X, y = _regression(backend=backend)
    ref = net.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Barzilai-Borwein on mini-batches
        h = bp.fit(net, X, y, optimizer=opt, batch_size=10, iterations=7)
    assert made == ([(net.dim_theta,)] if buffered and backend == "numpy" else [])
    assert opt.t == 7 and h.iterations == 7
    assert np.all(np.isfinite(net.theta)) and not np.array_equal(net.theta, ref.theta)


def test_an_optimiser_with_its_own_step_is_stepped_by_it():
    steps = []

    class OwnStep(bp.optim.SGD):
        def step(self, net, grad, *, check_input=True):
            steps.append(check_input)
            super().step(net, grad, check_input=check_input)

    net, X, y = _regression()
    ref = net.copy()
    opt = OwnStep(0.05)
    bp.fit(net, X, y, optimizer=opt, batch_size=10, iterations=5, replacement=True)
    bp.fit(ref, X, y, optimizer=bp.SGD(0.05), batch_size=10, iterations=5, replacement=True)
    assert steps == [False] * 5 and opt.t == 5
    assert np.array_equal(net.theta, ref.theta)


def test_history_times_are_seconds_since_the_start_of_fit():
    net, X, y = _regression()
    t0 = time.perf_counter()
    h = bp.fit(net, X, y, optimizer=bp.Adam(0.01), batch_size=5, iterations=40)
    elapsed = time.perf_counter() - t0
    assert h.time.shape == (40,) and 0 <= h.time[0] <= h.time[-1] <= elapsed
    assert np.all(np.diff(h.time) >= 0)


def test_adam_in_fit_is_adam_stepped_by_hand_bit_for_bit():
    # Adam's bias corrections read the step counter t, which fit's loop advances itself.
    net, X, y = _regression()
    ref = net.copy()
    bp.fit(net, X, y, optimizer=bp.Adam(0.01), iterations=9)
    opt = bp.Adam(0.01)
    Xc, Yc = ref.checked_batch(X, y)
    for _ in range(9):
        opt.step(ref, ref.batch_loss_and_gradient(Xc, Yc)[1])
    assert np.array_equal(net.theta, ref.theta)
