"""backprop.metrics: labels from g, accuracy, the confusion matrix, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp


def test_predict_labels_is_the_argmax_of_g_for_a_softmax():
    X, y = bp.datasets.blobs(n=60, classes=3, std=0.3, seed=0)
    net = bp.Network([2, 8, 3], output="softmax", seed=0)
    bp.fit(net, X, y, optimizer=bp.Adam(0.05), batch_size=20, epochs=20)
    labels = bp.predict_labels(net, X)
    G = net.predict(X)
    assert labels.dtype == np.int64 and labels.shape == (60,)
    np.testing.assert_array_equal(labels, G.argmax(axis=1))
    assert bp.accuracy(y, labels) == np.mean(labels == y) > 0.9


def test_predict_labels_of_one_output_thresholds_at_one_half():
    net = bp.Network([1, 1], output="sigmoid", seed=0)
    net.W[0][...] = [[1.0]]
    net.b[0][...] = [0.0]
    X = np.array([[-2.0], [-0.1], [0.1], [3.0]])  # g = sigmoid(x): 0.12, 0.48, 0.52, 0.95
    np.testing.assert_array_equal(bp.predict_labels(net, X), [0, 0, 1, 1])


def test_predict_labels_with_the_reduced_softmax_has_K_classes():
    net = bp.Network([2, 2], output="softmax_reduced", seed=1)
    X = np.random.default_rng(0).standard_normal((50, 2))
    labels = bp.predict_labels(net, X)
    assert net.predict(X).shape == (50, 3)
    np.testing.assert_array_equal(labels, net.predict(X).argmax(axis=1))


def test_accuracy_by_hand():
    assert bp.accuracy(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2])) == 0.75
    assert bp.accuracy([1, 1], [1.0, 1.0]) == 1.0  # whole-number floats are labels
    assert bp.accuracy(np.array([3]), np.array([4])) == 0.0


def test_confusion_matrix_agrees_with_accuracy():
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    C = bp.confusion_matrix(y_true, y_pred, 4)
    assert C.sum() == 200 and C[1, 2] == np.sum((y_true == 1) & (y_pred == 2))
    assert np.trace(C) / C.sum() == bp.accuracy(y_true, y_pred)
    assert bp.plotting.confusion_matrix is bp.confusion_matrix  # the old name still works


@pytest.mark.parametrize("call", [
    lambda y, P: bp.accuracy(y, P),
    lambda y, P: bp.confusion_matrix(y, P, 10),
])
def test_probabilities_where_labels_are_expected_are_refused(call):
    y = np.arange(450) % 10
    P = np.full((450, 10), 0.1)  # what net.predict returns for a 10-class softmax
    with pytest.raises(ValueError, match=r"pass labels, not probabilities: got shape \(450, 10\)"):
        call(y, P)
    with pytest.raises(ValueError, match=r"y_pred: pass labels.*non-integer"):
        call(y, P[:, 0])
    with pytest.raises(ValueError, match=r"y_true: pass labels.*shape \(450, 1\)"):
        call(y.reshape(-1, 1), y)


@pytest.mark.parametrize("call, error, message", [
    (lambda: bp.accuracy([0, 1], [0]), ValueError, "same length; got 2 and 1"),
    (lambda: bp.accuracy([], []), ValueError, "at least one example"),
    (lambda: bp.accuracy([0, -1], [0, 1]), ValueError, "labels in >= 0"),
    (lambda: bp.accuracy(["a"], ["a"]), ValueError, "non-integer"),
    (lambda: bp.accuracy([0, np.nan], [0, 1]), ValueError, "non-integer"),
    (lambda: bp.confusion_matrix([0, 3], [0, 1], 3), ValueError, r"y_true .* 0\.\.2; got values 0..3"),
    (lambda: bp.confusion_matrix([0], [0], 0), ValueError, "K must be"),
    (lambda: bp.confusion_matrix([0], [0], 2.0), TypeError, "K must be"),
])
def test_metric_errors_name_what_was_wrong(call, error, message):
    with pytest.raises(error, match=message):
        call()
