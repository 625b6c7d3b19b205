"""Plausible bugs that once passed every other unit test (issue 17), one test each, through
the public API only; and tests for mutants that ``make mutation`` found alive (tests/MUTATION.md).

Each test here was seen to fail with its bug put in by hand (the report of issue 17 lists
the mutation and the failure)."""

from __future__ import annotations

import os
import re
import time
import types

import numpy as np
import pytest
from test_train import _diverging

import backprop as bp

# ----------------------------------------------------------------------------- fit's accuracy


@pytest.mark.parametrize("output", ["softmax", "softmax_reduced"])
def test_fit_accuracy_is_over_the_K_classes_of_g(output):
    """Accuracy is argmax over g, which for softmax_reduced has one class more than z_L.

    Three well-separated blobs: a linear classifier gets every point right, so the accuracy
    must be exactly 1 at the end; argmax over z_L (two columns, classes shifted by one)
    would give about 1/3 instead.
    """
    X, y = bp.datasets.blobs(n=150, classes=3, std=0.2, radius=3.0, seed=1)
    net = bp.Network([2, 3 - (output == "softmax_reduced")], output=output,
                     loss="cross_entropy", seed=0)
    history = bp.fit(net, X, y, optimizer=bp.Adam(lr=0.05), epochs=60, batch_size=50,
                     validation=(X[:30], y[:30]))
    assert np.array_equal(bp.to_numpy(net.predict(X)).argmax(axis=1), y)  # truly separated
    assert history.train_accuracy[-1] == 1.0
    assert history.val_accuracy[-1] == 1.0


# ----------------------------------------------------------------------------- load's version


@pytest.mark.parametrize("version", [0, -1])
def test_load_refuses_a_version_below_the_current_one(tmp_path, version):
    net = bp.Network([3, 4, 2], hidden="tanh", output="softmax", loss="cross_entropy", seed=2)
    path = tmp_path / "net.npz"
    bp.save(net, path)
    with np.load(path, allow_pickle=False) as data:
        entries = {key: data[key] for key in data.files}
    assert int(entries["version"]) >= 1  # what this test rewrites
    entries["version"] = np.asarray(version, dtype=np.int64)
    old = tmp_path / "old.npz"
    np.savez(old, **entries)
    with pytest.raises(ValueError, match=f"version {version}"):
        bp.load(old)
    bp.load(path)  # the file as saved still loads


# ----------------------------------------------------------------------------- blobs' centres


@pytest.mark.parametrize("classes, radius", [(3, 2.0), (4, 3.0), (5, 1.5)])
def test_blobs_class_centres_are_where_documented(classes, radius):
    """Class k is centred at c_k = radius (cos 2πk/K, sin 2πk/K) (the docstring)."""
    std = 0.05
    X, y = bp.datasets.blobs(n=200 * classes, classes=classes, std=std, radius=radius, seed=3)
    for k in range(classes):
        angle = 2 * np.pi * k / classes
        centre = radius * np.array([np.cos(angle), np.sin(angle)])
        mean = X[y == k].mean(axis=0)
        # 200 points: the sample mean lies within 5 std/√200 ≈ 0.018 of c_k (5 sigma)
        assert np.linalg.norm(mean - centre) < 5 * std / np.sqrt(200), (k, mean, centre)
        assert np.all(np.linalg.norm(X[y == k] - centre, axis=1) < 6 * std)


# ----------------------------------------------------------------------------- cross-entropy


def test_cross_entropy_value_is_finite_at_a_certain_right_answer():
    """C = -ln g_{y+1}: 0 for g = (1, 0), y = 0. Written as -Σ_k Y_k ln g_k it is
    -(1·0 + 0·(-inf)) = nan (and a RuntimeWarning, an error in this suite)."""
    ce = bp.LOSSES["cross_entropy"]
    G = np.array([[1.0, 0.0], [0.25, 0.75]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    value = ce.value_xp(np, G, Y)
    assert np.all(np.isfinite(value))
    np.testing.assert_allclose(value, [0.0, -np.log(0.75)], rtol=1e-15, atol=0)


def test_network_cross_entropy_is_finite_when_g_saturates():
    """Logits ±800: g = (1, 0) exactly in float64; the loss is 0 for the right label and
    1600 (= z_1 - z_2, from the logits) for the wrong one, never nan or inf."""
    net = bp.Network([1, 2], output="softmax", loss="cross_entropy")
    net.W[0] = np.array([[400.0], [-400.0]])
    net.b[0] = np.zeros(2)
    X = np.array([[2.0]])
    np.testing.assert_array_equal(bp.to_numpy(net.predict(X)), [[1.0, 0.0]])
    assert net.loss(X, np.array([0])) == 0.0
    assert net.loss(X, np.array([1])) == pytest.approx(1600.0, rel=1e-15)
    loss, grad = net.loss_and_gradient(X, np.array([0]))
    assert loss == 0.0 and np.all(np.isfinite(bp.to_numpy(grad)))


# ============================================================================= mutation survivors
# Tests for mutants of `make mutation` that every other unit test let live (tests/MUTATION.md).

# ----------------------------------------------------------------------------- bad input names


def test_algorithm1_names_x_and_y_in_its_errors():
    net = bp.Network([2, 3, 1], seed=0)
    with pytest.raises(TypeError, match=r"^x must be an array of numbers; got str"):
        bp.algorithm1(net, "one two", 0.5)
    with pytest.raises(TypeError, match=r"^y must be an array of numbers; got str"):
        bp.algorithm1(net, np.ones(2), "half")


def _backward_case(dtype="float64"):
    net = bp.Network([2, 3, 1], hidden="tanh", seed=0, dtype=dtype)
    X = np.array([[0.5, -1.0], [2.0, 0.25]])
    zs, A = net.forward(X)
    return net, [bp.to_numpy(a) for a in A], np.ones((2, 1))


def test_backward_says_what_it_got_instead_of_the_activations():
    net, A, D = _backward_case()
    with pytest.raises(TypeError, match=r"3 arrays that forward\(X\) returns; got tuple of length 2$"):
        net.backward(tuple(A[:2]), D)
    with pytest.raises(TypeError, match=r"3 arrays that forward\(X\) returns; got int$"):
        net.backward(7, D)


def test_backward_names_the_bad_array():
    net, A, D = _backward_case()
    with pytest.raises(TypeError, match=r"^activations\[1\] must be an array of numbers; got str"):
        net.backward([A[0], "a_1", A[2]], D)
    with pytest.raises(TypeError, match=r"^Delta_L must be an array of numbers; got str"):
        net.backward(A, "delta")
    # a_0 is fine (2-D, n = 2 rows), a_1 is one row: the error is a_1's, not a_0's
    with pytest.raises(ValueError, match=r"^activations\[1\] must have shape \(n, 3\) with the n = 2"):
        net.backward([A[0], A[1][0], A[2]], D)


def test_backward_of_a_float32_network_names_what_does_not_fit_float32():
    net, A, D = _backward_case("float32")
    big = np.full(A[1].shape, 1e300)  # float64, beyond float32
    with pytest.raises(ValueError, match=r"^activations\[1\] has entries beyond the range of float32"):
        net.backward([A[0], big, A[2]], D)
    with pytest.raises(ValueError, match=r"^Delta_L has entries beyond the range of float32"):
        net.backward(A, np.full((2, 1), 1e300))


def test_setting_a_block_names_it_and_accepts_negative_indices():
    net = bp.Network([2, 3, 1], seed=0)
    with pytest.raises(TypeError, match=r"^W\[0\] must be an array of numbers; got str"):
        net.W[0] = "weights"
    net.W[-2] = np.full((3, 2), 0.5)  # -L: the first layer, W_1
    net.b[-1] = np.array([0.25])  # b_L
    np.testing.assert_array_equal(bp.to_numpy(net.theta)[:6], 0.5)
    assert bp.to_numpy(net.theta)[-1] == 0.25
    with pytest.raises(IndexError):
        net.W[-3] = np.zeros((3, 2))


def test_unflatten_names_its_argument_and_flatten_counts_the_layers():
    net = bp.Network([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match=r"^vector must be"):
        net.unflatten(np.zeros(5))
    Ws, bs = net.unflatten(net.theta)
    with pytest.raises(ValueError, match=r"^need L = 2 weight and bias arrays; got 2 and 1$"):
        net.flatten(Ws, bs[:1])


# ----------------------------------------------------------------------------- optimisers


def test_optimiser_defaults_are_the_documented_ones():
    assert bp.Adam().lr == 1e-3
    assert bp.BarzilaiBorwein().lr0 == 1e-3


@pytest.mark.parametrize("beta", [True, False, "0.9"])
def test_beta_must_be_a_real_number_not_a_bool_or_a_string(beta):
    with pytest.raises(TypeError, match=rf"^beta must be a real number in \[0, 1\); got {type(beta).__name__}$"):
        bp.Momentum(0.1, beta=beta)


def _bb_net():
    net = bp.Network([1, 1], seed=0)  # θ = (w, b): dim 2
    net.theta = np.zeros(2)
    return net


def test_barzilai_borwein_falls_back_when_the_step_and_the_gradient_change_are_orthogonal():
    # Δθ = -0.1 (1, 0), Δg = (0, 1): Δθ·Δg = 0, no curvature seen, so α = lr0 (not 0/1 = 0)
    net, opt = _bb_net(), bp.BarzilaiBorwein(lr0=0.1)
    opt.step(net, np.array([1.0, 0.0]))
    opt.step(net, np.array([1.0, 1.0]))
    np.testing.assert_allclose(bp.to_numpy(net.theta), [-0.2, -0.1], rtol=1e-15)


def test_barzilai_borwein_keeps_its_own_copy_of_the_gradient():
    # The caller may reuse its gradient buffer (fit's workspaces do): Δg must use the old
    # values. g_1 = (1, 0), then the same array halved: Δθ = (-0.1, 0), Δg = (-0.5, 0),
    # α = 0.05 / 0.25 = 0.2, θ_2 = θ_1 - 0.2 (0.5, 0) = (-0.2, 0).
    net, opt = _bb_net(), bp.BarzilaiBorwein(lr0=0.1)
    g = np.array([1.0, 0.0])
    opt.step(net, g)
    g *= 0.5
    opt.step(net, g)
    np.testing.assert_allclose(bp.to_numpy(net.theta), [-0.2, 0.0], rtol=1e-15)


# ----------------------------------------------------------------------------- reprs


def test_history_repr_in_full():
    # after early stopping the repr shows the losses at the restored θ (evaluation 1)
    h = bp.History(loss=np.ones(5), train_loss=np.array([3.0, 2.0, 1.2345678]),
                   val_loss=np.array([4.0, 2.7654321, 3.0]), evaluated_at=np.array([0, 2, 4]),
                   batch_size=10, iterations_per_epoch=2, stopped_early=True,
                   best_evaluation=1)
    assert repr(h) == ("History(iterations=5, epochs=2.5, batch_size=10, train_loss=2, "
                       "val_loss=2.76543, kept best_evaluation=1 (epoch 1), stopped_early)")
    assert repr(bp.History()) == "History(iterations=0, epochs=0, batch_size=0, train_loss=-)"


def test_network_repr_of_one_hidden_layer():
    assert repr(bp.Network([2, 3, 1], hidden="tanh")) == (
        "Network([2, 3, 1], hidden='tanh', output='identity', loss='squared_error', "
        "dtype='float64', backend='numpy', dim_theta=13)")


def test_network_repr_lists_mixed_hidden_activations():
    net = bp.Network([2, 4, 3, 1], hidden=["tanh", "relu"])
    assert repr(net) == ("Network([2, 4, 3, 1], hidden=['tanh', 'relu'], output='identity', "
                         "loss='squared_error', dtype='float64', backend='numpy', dim_theta=31)")


# ----------------------------------------------------------------------------- fit


def _small_regression():
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(20, 1))
    return X, np.sin(3 * X)


def test_fit_defaults_seed_0_and_no_progress_bar(capsys):
    X, y = _small_regression()
    a, b = (bp.Network([1, 4, 1], hidden="tanh", seed=1) for _ in range(2))
    bp.fit(a, X, y, batch_size=5, iterations=6)
    bp.fit(b, X, y, batch_size=5, iterations=6, seed=0)
    np.testing.assert_array_equal(bp.to_numpy(a.theta), bp.to_numpy(b.theta))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(), ValueError, r"^no stopping rule: pass iterations=\.\.\. or epochs=\.\.\."),
        (dict(iterations=2, seed="one"), TypeError, r"^seed must be an integer"),
    ],
)
def test_fit_errors_start_with_what_is_wrong(kwargs, error, match):
    X, y = _small_regression()
    with pytest.raises(error, match=match):
        bp.fit(bp.Network([1, 4, 1]), X, y, **kwargs)


def test_history_of_a_float32_network_is_float64():
    # History holds NumPy float64 arrays whatever the network's dtype (its docstring).
    X, y = bp.datasets.blobs(n=30, classes=3, seed=0)
    net = bp.Network([2, 3], output="softmax", loss="cross_entropy", dtype="float32")
    h = bp.fit(net, X, y, batch_size=10, epochs=2, validation=(X, y))
    for name in ("loss", "train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        assert getattr(h, name).dtype == np.float64, name


def test_full_batch_steps_use_the_rows_in_order():
    """batch_size=None: every step is the gradient of all n rows in their order, so fit is
    bit for bit the hand-written loop (rows in another order sum in another order)."""
    X, y = _small_regression()
    net = bp.Network([1, 6, 1], hidden="tanh", seed=2)
    ref = net.copy()
    theta = bp.to_numpy(ref.theta)
    for _ in range(4):
        ref.theta = theta
        theta = theta - 0.05 * bp.to_numpy(ref.gradient(X, y))
    bp.fit(net, X, y, optimizer=bp.SteepestDescent(0.05), iterations=4)
    np.testing.assert_array_equal(bp.to_numpy(net.theta), theta)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(early_stopping="3"), TypeError, r"^early_stopping must be an integer"),
        (dict(evaluate_every="3"), TypeError, r"^evaluate_every must be an integer"),
        (dict(validation=None, early_stopping=2), ValueError,
         r"^early_stopping needs validation data: pass validation=\(X_val, y_val\)$"),
        (dict(replacement=True, batch_size=None), ValueError,
         r"^replacement=True draws mini-batches and needs a batch_size; "
         r"batch_size=None means the full batch, in order$"),
        (dict(validation=(np.zeros((2, 1)),)), TypeError, r"^validation must be a pair \(X_val, y_val\)$"),
    ],
)
def test_fit_error_messages_in_full(kwargs, error, match):
    X, y = _small_regression()
    args = dict(iterations=2, batch_size=5, validation=(X[:5], y[:5])) | kwargs
    with pytest.raises(error, match=match):
        bp.fit(bp.Network([1, 4, 1]), X, y, **args)


def test_early_stopping_patience_1_and_ties_do_not_count_as_improvement():
    # A step of 1e-300 leaves θ as it is, so every validation loss is the same: the first
    # evaluation (evaluation 0, θ_0 before any step: a candidate since issue 26) stays the
    # best, a tie is no improvement, and patience 1 stops at the next evaluation (epoch 1).
    X, y = _small_regression()
    net = bp.Network([1, 4, 1], hidden="tanh", seed=3)
    h = bp.fit(net, X, y, optimizer=bp.SGD(1e-300), batch_size=10, epochs=5,
               validation=(X[:5], y[:5]), early_stopping=1)
    assert h.stopped_early and h.best_evaluation == 0 and h.best_epoch == 0
    assert len(h.val_loss) == 2 and h.val_loss[0] == h.val_loss[1] and h.iterations == 2


def test_progress_bar_names_the_run_and_counts_iterations(capsys):
    X, y = _small_regression()
    bp.fit(bp.Network([1, 4, 1]), X, y, batch_size=5, iterations=8, progress=True)
    err = capsys.readouterr().err
    assert "fit: 100%" in err and "8/8" in err
    assert re.search(r"\d(it/s|s/it)[],]", err), err


# ----------------------------------------------------------------------------- output layers


def test_output_delta_softmax_cross_entropy_is_g_minus_y_where_g_underflows():
    """δ_L = g - e_{y+1} (the fused form). Through ∂C/∂g = -e_{y+1}/g it would be -1/0 for
    a class whose g underflowed to 0: the fused form is what keeps it finite."""
    Z = np.array([[800.0, -800.0]])
    G = bp.losses.softmax(np, Z)
    assert G[0, 1] == 0.0
    Y = np.array([[0.0, 1.0]])
    D = bp.output_delta(np, bp.OUTPUTS["softmax"], bp.LOSSES["cross_entropy"], Z, G, Y)
    np.testing.assert_array_equal(D, [[1.0, -1.0]])


def test_output_delta_relu_squared_error():
    # δ_L = S'(z) ⊙ 2(g - y), S' = 1{z > 0}: (0, 2·(2 - 1))
    Z = np.array([[-1.0, 2.0]])
    G = np.maximum(Z, 0.0)
    D = bp.output_delta(np, bp.OUTPUTS["relu"], bp.LOSSES["squared_error"], Z, G,
                        np.array([[1.0, 1.0]]))
    np.testing.assert_array_equal(D, [[0.0, 2.0]])


def test_reduced_softmax_of_a_float32_network_stays_float32(backend):
    net = bp.Network([2, 2], output="softmax_reduced", loss="cross_entropy", dtype="float32",
                     backend=backend, seed=0)
    X, y = np.array([[0.5, -1.0], [1.0, 2.0]]), np.array([0, 2])
    G = net.predict(X)
    assert G.dtype == net.xp.float32 and tuple(G.shape) == (2, 3)
    zs, A = net.forward(X)
    assert A[-1].dtype == net.xp.float32
    assert net.gradient(X, y).dtype == net.xp.float32


# ----------------------------------------------------------------------------- more messages


def test_type_errors_name_the_type_they_got():
    with pytest.raises(TypeError, match=r"^lr must be a positive real number; got str$"):
        bp.SGD(lr="0.1")
    with pytest.raises(TypeError, match=r"; got int$"):
        bp.optim.get_optimizer(5)
    with pytest.raises(TypeError, match=r"^output must be an output-layer name \(str\); got int$"):
        bp.Network([2, 1], output=5)


def test_optimiser_state_for_another_network_names_the_optimiser():
    opt = bp.Momentum(0.1)
    opt.step(bp.Network([1, 1]), np.ones(2))
    with pytest.raises(ValueError, match=r"^Momentum holds state for dim\(theta\) = 2 but this network has dim\(theta\) = 4"):
        opt.step(bp.Network([1, 2]), np.ones(4))


# ----------------------------------------------------------------------------- History fields


def test_history_time_is_seconds_since_the_start_of_fit():
    X, y = _small_regression()
    start = time.perf_counter()
    h = bp.fit(bp.Network([1, 4, 1]), X, y, batch_size=5, iterations=6)
    elapsed = time.perf_counter() - start
    assert h.time.shape == (6,) and h.time.dtype == np.float64
    assert 0 <= h.time[0] and np.all(np.diff(h.time) >= 0) and h.time[-1] <= elapsed


@pytest.mark.parametrize("replacement", [True, False])
def test_history_records_replacement(replacement):
    X, y = _small_regression()
    h = bp.fit(bp.Network([1, 4, 1]), X, y, batch_size=5, iterations=2, replacement=replacement)
    assert h.replacement is replacement


def test_progress_bar_shows_the_last_training_loss(capsys):
    X, y = _small_regression()
    h = bp.fit(bp.Network([1, 4, 1]), X, y, batch_size=5, epochs=3, progress=True)
    assert capsys.readouterr().err.rstrip().endswith(f"train_loss={h.train_loss[-1]:.4g}]")


def test_strided_input_gives_the_gradient_of_its_contiguous_copy():
    # Every other column of a wider array: neither C- nor F-contiguous.
    net = bp.Network([3, 4, 2], hidden="tanh", seed=0)
    X = np.random.default_rng(0).standard_normal((5, 6))[:, ::2]
    assert not (X.flags.c_contiguous or X.flags.f_contiguous)
    y = np.ones((5, 2))
    np.testing.assert_array_equal(bp.to_numpy(net.gradient(X, y)),
                                  bp.to_numpy(net.gradient(np.ascontiguousarray(X), y)))



# ----------------------------------------------------------------------------- Network(...)


def test_network_defaults_to_seed_0_and_stores_dtype_names():
    np.testing.assert_array_equal(bp.to_numpy(bp.Network([2, 3, 1]).theta),
                                  bp.to_numpy(bp.Network([2, 3, 1], seed=0).theta))
    assert bp.Network([2, 1], dtype=np.float32).dtype == "float32"
    assert bp.Network([2, 1], dtype="float32").dtype == "float32"


def test_network_argument_errors_in_full():
    with pytest.raises(TypeError, match=r"^p must be a list of layer widths \[p_0, \.\.\., p_L\]; got int$"):
        bp.Network(5)
    with pytest.raises(TypeError, match=r"^hidden must be a name or a list of L-1 = 2 names; got 7$"):
        bp.Network([2, 3, 3, 1], hidden=7)


# ----------------------------------------------------------------------------- mutation survivors
# Tests for mutants of main's code that the unit tests above let live (tests/MUTATION.md).


def test_gradient_out_buffer_is_checked_and_filled():
    net = bp.Network([2, 3, 1], hidden="tanh", seed=1)  # dim θ = 13
    X, Y = net.checked_batch(np.arange(8.0).reshape(4, 2) / 8, np.ones(4))
    loss, grad = net.batch_loss_and_gradient(X, Y)
    out = np.full(13, np.nan)
    loss_out, got = net.batch_loss_and_gradient(X, Y, out=out)
    assert got is out and float(loss_out) == float(loss)
    np.testing.assert_array_equal(out, grad)
    with pytest.raises(TypeError, match=r"^out must be an array of the backend; got list$"):
        net.batch_loss_and_gradient(X, Y, out=[0.0] * 13)
    with pytest.raises(TypeError, match=r"^out must be an array of the backend; got SimpleNamespace$"):
        net.batch_loss_and_gradient(X, Y, out=types.SimpleNamespace(shape=(13,)))
    message = r"^out must be a contiguous flat array of dtype float64 and length dim\(theta\) = 13"
    for bad, got_text in [
        (np.zeros(12), r"got shape \(12,\), dtype float64$"),  # wrong length only
        (np.zeros(13, np.float32), r"got shape \(13,\), dtype float32$"),  # wrong dtype only
        (np.zeros(26)[::2], r"got shape \(13,\), dtype float64$"),  # strided only
    ]:
        with pytest.raises(ValueError, match=message + "; " + got_text):
            net.batch_loss_and_gradient(X, Y, out=bad)


def test_bias_assignment_errors_name_the_bias():
    net = bp.Network([2, 3, 1])
    with pytest.raises(ValueError, match=r"^b\[0\] contains NaN or inf"):
        net.b[0] = [0.0, np.nan, 0.0]
    with pytest.raises(ValueError, match=r"^W\[1\] contains NaN or inf"):
        net.W[1] = [[0.0, np.inf, 0.0]]


def test_algorithm1_errors_name_x_and_y():
    net = bp.Network([2, 3, 2], output="softmax")
    with pytest.raises(ValueError, match=r"^x must have p_0 = 2"):
        bp.algorithm1(net, np.zeros(3), 1)
    with pytest.raises(ValueError, match=r"^y must hold whole-number class labels"):
        bp.algorithm1(net, np.zeros(2), 0.5)
    reg = bp.Network([2, 3, 2])
    with pytest.raises(ValueError, match=r"^y contains NaN or inf"):
        bp.algorithm1(reg, np.zeros(2), np.array([0.0, np.nan]))


def test_divergence_message_says_how_many_steps_theta_kept():
    net, X, y = _diverging()
    with pytest.raises(bp.DivergenceError) as caught:
        bp.fit(net, X, y, optimizer=bp.SteepestDescent(10.0), iterations=10_000,
               evaluate_every=10**6)
    k = caught.value.iteration
    assert f"after {k - 1} steps;" in str(caught.value)
    # the step itself overflows: θ goes back to θ_0
    net, X, y = _diverging()
    with pytest.raises(bp.DivergenceError, match=r"after 0 steps;"):
        bp.fit(net, X, y, optimizer=bp.SteepestDescent(1e308), iterations=5,
               evaluate_every=10**6)


def test_interrupt_between_the_train_and_validation_records_keeps_the_history_aligned(
    monkeypatch,
):
    # A KeyboardInterrupt (SIGINT) can land between two appends of one evaluation: here
    # the third validation record fails after the third training record was kept.
    from backprop import train

    class StopOnThirdAppend(list):
        def append(self, value):
            if len(self) == 2:
                raise KeyboardInterrupt
            super().append(value)

    init = train._Records.__init__

    def records(self, net, run):
        init(self, net, run)
        self.val = StopOnThirdAppend()

    monkeypatch.setattr(train._Records, "__init__", records)
    net = bp.Network([1, 4, 1], hidden="tanh", seed=2)
    X = np.linspace(-1, 1, 20).reshape(-1, 1)
    Xv = np.linspace(-0.9, 0.9, 7).reshape(-1, 1)
    with pytest.raises(KeyboardInterrupt) as caught:
        bp.fit(net, X, X**2, iterations=10, validation=(Xv, Xv**2))
    h = caught.value.history
    assert list(h.evaluated_at) == [0, 1]
    assert len(h.train_loss) == len(h.val_loss) == 2


def test_layer_views_repr_lists_the_shapes():
    net = bp.Network([2, 3, 1])
    assert repr(net.W) == "LayerViews(W: [(3, 2), (1, 3)])"
    assert repr(net.b) == "LayerViews(b: [(3,), (1,)])"


@pytest.mark.parametrize("name", ["tanh", "relu", "logistic"])
def test_kernel_generic_backward_form_equals_the_in_place_one(monkeypatch, name):
    # Every activation of the table has an in-place S' on the NumPy fast path; the generic
    # form (S' from the table, written through A) is what an activation without one gets.
    from backprop import _numpy_kernel

    X = np.linspace(-2, 2, 14).reshape(7, 2)
    y = np.arange(7) % 3
    act = bp.ACTIVATIONS[name]
    in_place = bp.Network([2, 5, 4, 3], hidden=name, output="softmax", seed=3)
    in_place_form = _numpy_kernel.backward_form(act)
    assert in_place_form is _numpy_kernel.BACKWARD[name]
    monkeypatch.delitem(_numpy_kernel.BACKWARD, name)
    generic = bp.Network([2, 5, 4, 3], hidden=name, output="softmax", seed=3)
    assert _numpy_kernel.backward_form(act) is not in_place_form
    np.testing.assert_allclose(generic.gradient(X, y), in_place.gradient(X, y), rtol=1e-13,
                               atol=1e-16)


def test_fit_from_a_non_finite_theta_stops_at_iteration_0():
    # θ's buffer may be written directly; a NaN there is reported at the first batch loss,
    # after 0 steps.
    net, X, y = _diverging()
    net.theta_buffer[0] = np.nan
    with pytest.raises(bp.DivergenceError, match=r"batch loss is nan at iteration 1 .*after 0 steps;"):
        bp.fit(net, X, y, iterations=3)


@pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ,
                    reason="mutmut's trampolines add stack frames between the test and fit")
def test_full_batch_optimiser_warning_points_at_the_call_to_fit():
    net, X, y = _diverging()
    with pytest.warns(UserWarning, match=r"^BarzilaiBorwein is meant for full-batch gradients; "
                      r"with batches of 5 of 11 rows") as record:
        bp.fit(net, X, y, optimizer=bp.BarzilaiBorwein(), batch_size=5, iterations=1)
    assert [w.filename for w in record] == [__file__]


def test_history_flags_are_booleans_false_unless_set():
    X, y = _small_regression()
    net = bp.Network([1, 4, 1], hidden="tanh", seed=3)
    h = bp.fit(net, X, y, iterations=2)
    assert h.stopped_early is False and h.interrupted is False
    inner = net.batch_loss_and_gradient
    calls = []

    def stop(Xb, Yb):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return inner(Xb, Yb)

    net.batch_loss_and_gradient = stop
    with pytest.raises(KeyboardInterrupt) as caught:
        bp.fit(net, X, y, iterations=5)
    h = caught.value.history
    assert h.interrupted is True and h.stopped_early is False


def test_network_gradient_passes_checkpoints_on():
    net = bp.Network([2, 3, 3, 1], hidden="tanh")
    X, y = np.ones((4, 2)), np.zeros(4)
    with pytest.raises(ValueError, match=r"^checkpoints must be between 1 and L = 3 .*; got 4$"):
        net.gradient(X, y, checkpoints=4)


def _distinct_arrays(ws):
    """The arrays a workspace owns (the zeros are views into one array, as are the gathered
    [W_l | b_l] and their gradients)."""
    arrays = [a for a in ws.A if a is not None] + [ws.Zt, ws.Gt, ws.m, ws.s, ws.ones]
    arrays += [ws.T, ws.zeros[1].base] if len(ws.zeros) > 1 else []
    arrays += [ws.waug, ws.gaug] if ws.aug else []
    return arrays


@pytest.mark.parametrize("aug", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("p, n", [([3, 5, 2], 7), ([4, 9, 6, 3], 300), ([2, 3], 5)])
def test_workspace_byte_count_and_dtypes_are_those_of_its_arrays(dtype, p, n, aug):
    from backprop._numpy_kernel import Workspace

    ws = Workspace(p, np.dtype(dtype), n, aug)
    arrays = _distinct_arrays(ws)
    assert all(a.dtype == np.dtype(dtype) for a in arrays)
    assert ws.Zt.shape == ws.Gt.shape == (p[-1], n) and ws.m.shape == ws.s.shape == (n,)
    assert [a.shape for a in ws.A[1:]] == [(q + 1, n) for q in p[1:-1]]
    assert all((a[-1] == 1).all() for a in ws.A if a is not None)  # the rows of ones
    assert (ws.A[0] is not None) == aug
    assert ws.nbytes == sum(a.nbytes for a in arrays)
    assert ws.one_block  # 2 MB blocks hold these batches whole


def test_workspace_cache_reuses_a_workspace_and_keeps_to_its_byte_budget():
    from backprop import _numpy_kernel as kernel

    cache = kernel.WorkspaceCache([10, 2000, 10], np.dtype("float64"))
    assert cache.get(5) is cache.get(5) and len(cache) == 1
    cache.clear()
    for n in (400, 401, 402, 403):  # about 19.3 MB each: three fit in 64 MiB, not four
        cache.get(n)
    kept = sum(nbytes for _, nbytes in cache.sizes())
    assert len(cache) == 3 and kept <= kernel.WORKSPACE_BYTES


def test_workspace_budget_edge_and_an_uncached_float32_workspace(monkeypatch):
    from backprop import _numpy_kernel as kernel

    net = bp.Network([3, 8, 2], hidden="tanh", dtype="float32", seed=1)
    X = np.linspace(-1, 1, 300, dtype=np.float32).reshape(100, 3)
    y = np.ones((100, 2), np.float32)
    want = net.gradient(X, y)
    aug = kernel.rides_in_products(net.p, net.dim_theta, 100)
    nbytes = kernel.Workspace.layout(net.p, np.dtype(net.dtype), 100, aug)[2]
    for budget, kept in [(nbytes, 1), (nbytes - 1, 0)]:  # exactly fits (in float32 bytes), or not
        monkeypatch.setattr(kernel, "WORKSPACE_BYTES", budget)
        net.release_workspace()
        got = net.gradient(X, y)  # the uncached workspace must be float32 too
        assert got.dtype == np.float32 and len(net.kept_workspaces()) == kept
        np.testing.assert_array_equal(got, want)


def test_all_finite_is_exact_for_entries_whose_squares_overflow():
    from backprop._numpy_kernel import all_finite

    assert all_finite(np.array([1e200, -1e200, 3.0]))
    assert not all_finite(np.array([1e200, np.inf]))
    assert not all_finite(np.array([1.0, np.nan]))


@pytest.mark.parametrize("p, shape", [
    ([2, 3, 1], (6, 3)),  # p_1 columns, p_L = 1
    ([2, 4, 3, 2], (6, 3)),  # p_{L-1} columns
    ([2, 1, 3], (6,)),  # 1-D targets where p_1 = 1 but p_L = 3
    ([2, 3, 1, 2], (6,)),  # 1-D targets where p_{L-1} = 1 but p_L = 2
])
def test_targets_of_another_layers_width_are_refused(p, shape):
    net = bp.Network(p)
    with pytest.raises(ValueError, match=r"^y "):
        net.gradient(np.ones((6, 2)), np.ones(shape))


def test_checked_labels_outlive_the_next_gradient_call():
    # checked_batch without scratch: the one-hot rows are the caller's to keep
    net = bp.Network([2, 3, 3], output="softmax")
    X = np.ones((4, 2))
    _, Y = net.checked_batch(X, np.array([0, 1, 2, 0]))
    net.gradient(X, np.array([2, 2, 2, 2]))
    np.testing.assert_array_equal(Y, np.eye(3)[[0, 1, 2, 0]])


def test_out_buffer_on_the_generic_backend():
    net = bp.Network([2, 3, 1], hidden="tanh", seed=1, backend="array_api_strict")
    X, Y = net.checked_batch(np.arange(8.0).reshape(4, 2) / 8, np.ones(4))
    _, grad = net.batch_loss_and_gradient(X, Y)
    out = net.xp.zeros(13, dtype=net.xp.float64)
    _, got = net.batch_loss_and_gradient(X, Y, out=out)
    assert got is out
    np.testing.assert_array_equal(bp.to_numpy(out), bp.to_numpy(grad))


def test_bad_validation_labels_are_named_y_val():
    net = bp.Network([2, 3, 3], output="softmax")
    X, y = np.ones((4, 2)), np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"^validation=\(X_val, y_val\): y_val must hold class labels in 0..2 \(K = 3 classes\); got values from 0 to 5$"):
        bp.fit(net, X, y, iterations=1, validation=(np.ones((2, 2)), np.array([0, 5])))


@pytest.mark.parametrize("alias", ["f8", "float", "d", "f4"])
def test_dtype_names_are_exact(alias):
    with pytest.raises(ValueError, match=rf"^dtype must be 'float64' or 'float32'; got '{alias}'$"):
        bp.Network([2, 1], dtype=alias)


def test_workspace_cache_byte_budget_is_inclusive_and_evicts_as_many_as_needed(monkeypatch):
    from backprop import _numpy_kernel as kernel

    cache = kernel.WorkspaceCache([10, 200, 10], np.dtype("float64"))
    size = {n: kernel.Workspace.layout(cache.p, cache.dtype, n)[2]
            for n in (100, 101, 102, 150)}
    monkeypatch.setattr(kernel, "WORKSPACE_BYTES", size[100] + size[101] + size[102])
    for n in (100, 101, 102):
        cache.get(n)
    assert len(cache) == 3  # exactly at the budget: all kept
    cache.get(150)  # the two oldest must go
    assert sorted(n for n, _ in cache.sizes()) == [102, 150]
    assert sum(nbytes for _, nbytes in cache.sizes()) <= kernel.WORKSPACE_BYTES
