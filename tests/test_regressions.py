"""Plausible bugs that once passed every other unit test (issue 17), one test each, through
the public API only; and tests for mutants that ``make mutation`` found alive (tests/MUTATION.md).

Each test here was seen to fail with its bug put in by hand (the report of issue 17 lists
the mutation and the failure)."""

from __future__ import annotations

import numpy as np
import pytest

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
