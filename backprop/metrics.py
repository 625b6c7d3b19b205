"""What a classifier's user asks of it: predicted labels, accuracy, the confusion matrix.

``net.predict(X)`` returns g = a_L, the network's output (class probabilities for a softmax
head), as the lecture defines it. These helpers turn g into class labels and compare labels
with labels; passing probabilities where labels are expected is an error, not a silent
broadcast.
"""

from __future__ import annotations

import numpy as np

from . import _validate as check


def predict_labels(net, X):
    """The predicted class of each row of X: argmax_k g_k(x | θ), int64 of shape (n,).

    Labels are 0-based (class k is g's column k), on the network's backend. For a network
    with one element-wise output (a sigmoid trained on 0/1 targets) g is read as the
    probability of class 1: the label is 1 where g > 1/2, else 0. A softmax of one class
    (g = 1) gives class 0, its only one. For several sigmoid outputs trained with
    loss='binary_cross_entropy' (multi-label), the (n, p_L) 0/1 matrix 1{g_k > 1/2}: each
    label on its own.
    """
    G = net.predict(X)
    xp = net.xp
    if net.loss_function.binary_targets and G.shape[1] > 1:
        return xp.astype(G > 0.5, xp.int64)
    if G.shape[1] == 1 and net.output_layer.activation is not None:
        return xp.astype(G[:, 0] > 0.5, xp.int64)
    return xp.astype(xp.argmax(G, axis=1), xp.int64)


def _labels(y, name: str, K: int | None = None) -> np.ndarray:
    """y as a 1-D int64 NumPy array of class labels, or a ValueError that says what it got."""
    y = check.to_host(y, name)
    if y.ndim != 1:
        raise ValueError(
            f"{name}: pass labels, not probabilities: got shape {y.shape}; {name} must be a "
            f"1-D array of class labels of shape (n,) (bp.predict_labels(net, X) gives them; "
            f"for 0/1 label-indicator matrices, several labels per example, use "
            f"bp.multilabel_accuracy)"
        )
    if y.size and (y.dtype.kind not in "iuf" or (
            y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y))))):
        raise ValueError(
            f"{name}: pass labels, not probabilities: got non-integer values of dtype "
            f"{y.dtype}; {name} must hold whole-number class labels"
        )
    if y.size:
        lo, hi = y.min(), y.max()
        # labels become int64: a float or uint64 label of 2**63 or more would wrap
        beyond = hi >= 2.0**63 if y.dtype.kind == "f" else int(hi) >= 2**63
        if lo < 0 or beyond or (K is not None and hi >= K):
            bound = f"0..{K - 1}" if K is not None else "0..2**63 - 1" if beyond else ">= 0"
            show = (lambda v: f"{v:g}") if y.dtype.kind == "f" else (lambda v: f"{int(v)}")
            raise ValueError(
                f"{name} must hold integer labels in {bound}; got values {show(lo)}..{show(hi)}"
            )
    return y.astype(np.int64)


def _pair(y_true, y_pred, K: int | None = None):
    y_true, y_pred = _labels(y_true, "y_true", K), _labels(y_pred, "y_pred", K)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length; got {y_true.size} and {y_pred.size}"
        )
    return y_true, y_pred


def accuracy(y_true, y_pred) -> float:
    """The fraction of examples classified right: (1/n) #{i : y_pred_i = y_true_i}.

    Both arguments are 1-D arrays of integer class labels (any backend), e.g.
    ``accuracy(y_test, bp.predict_labels(net, X_test))``.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.size == 0:
        raise ValueError("accuracy needs at least one example; got 0 labels in y_true and y_pred")
    return float(np.mean(y_true == y_pred))


def _indicators(Y, name: str) -> np.ndarray:
    """Y as a 2-D int64 NumPy 0/1 matrix (one row per example, one column per label), or a
    ValueError that says what it got."""
    Y = check.to_host(Y, name)
    if Y.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D 0/1 label-indicator matrix of shape (n, labels); got shape "
            f"{Y.shape} (for class labels use bp.accuracy)"
        )
    if Y.dtype.kind not in "iufb" or not np.all((Y == 0) | (Y == 1)):
        raise ValueError(
            f"{name}: pass 0/1 label indicators, not probabilities: got values other than 0 "
            f"and 1 (dtype {Y.dtype}); bp.predict_labels(net, X) gives them"
        )
    return Y.astype(np.int64)


def multilabel_accuracy(Y_true, Y_pred, per: str = "example") -> float:
    """How often multi-label predictions are right, for 0/1 label-indicator matrices.

    per='example': (1/n) #{i : Y_pred[i] = Y_true[i] in every label}, the exact-match ratio
    (scikit-learn's accuracy_score on indicator matrices). per='label': the fraction of all
    n × labels entries that are right (1 - the Hamming loss). Y_true, Y_pred: (n, labels)
    0/1 arrays of any backend, e.g. ``multilabel_accuracy(Y, bp.predict_labels(net, X))``.
    """
    if per not in ("example", "label"):
        raise ValueError(f"per must be 'example' or 'label'; got {per!r}")
    Y_true, Y_pred = _indicators(Y_true, "Y_true"), _indicators(Y_pred, "Y_pred")
    if Y_true.shape != Y_pred.shape:
        raise ValueError(
            f"Y_true and Y_pred must have the same shape; got {Y_true.shape} and {Y_pred.shape}"
        )
    if Y_true.size == 0:
        raise ValueError(f"multilabel_accuracy needs at least one example and one label; got "
                         f"shape {Y_true.shape}")
    right = Y_true == Y_pred
    return float(np.mean(np.all(right, axis=1)) if per == "example" else np.mean(right))


def confusion_matrix(y_true, y_pred, K: int) -> np.ndarray:
    """The K x K matrix of counts C[i, j] = #{examples of class i predicted as class j}.

    Labels are integers 0..K-1 (1-D arrays of any backend). The diagonal holds the correct
    predictions, so accuracy = trace(C) / C.sum().
    """
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)):
        raise TypeError(f"K must be the number of classes (int); got {type(K).__name__}")
    K = int(K)  # a NumPy uint8 K would wrap in K * K
    if K < 1:
        raise ValueError(f"K must be the number of classes, an integer >= 1; got K={K}")
    y_true, y_pred = _pair(y_true, y_pred, K)
    return np.bincount(K * y_true + y_pred, minlength=K * K).reshape(K, K)
