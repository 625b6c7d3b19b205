"""Sigmoid outputs with binary cross-entropy (issue 28): one probability per label.

C = -Σ_k [y_k ln g_k + (1 - y_k) ln(1 - g_k)] with g = σ(z_L), computed from the logits as
Σ_k [softplus(z_k) - y_k z_k]. Checked against scikit-learn's multi-label MLPClassifier
(``_backprop`` and ``binary_log_loss``), PyTorch's ``binary_cross_entropy_with_logits``, HIPS
autograd (value, gradient, H v), the general δ_L and its tangent, gradcheck, and the
package's own paths (kernel, tape, Dask).
"""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from test_penalty import _sklearn_backprop
from test_reference_autograd import unflatten

import backprop as bp
from backprop import hessian, losses

P = [4, 6, 3]


def _problem(n=40, seed=0, labels=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    Y = (rng.random((n, labels)) < 0.4).astype(np.float64)
    return X, Y


def _net(p=P, hidden="tanh", alpha=0.0, **kw):
    return bp.Network(p, hidden=hidden, output="sigmoid", loss="binary_cross_entropy",
                      init="xavier", seed=2, alpha=alpha, **kw)


def _reference_loss(theta, p, X, Y, alpha=0.0):
    """ℓ_τ + (α/2n) Σ‖W_l‖² in autograd.numpy, with -ln σ(z) = logaddexp(0, -z)."""
    layers = unflatten(theta, p)
    A = X
    for W, b in layers[:-1]:
        A = anp.tanh(anp.dot(A, W.T) + b)
    W, b = layers[-1]
    Z = anp.dot(A, W.T) + b
    C = Y * anp.logaddexp(0.0, -Z) + (1 - Y) * anp.logaddexp(0.0, Z)
    n = X.shape[0]
    return anp.sum(C) / n + alpha / (2 * n) * sum(anp.sum(W * W) for W, _ in layers)


@pytest.mark.parametrize("alpha", [0.0, 0.4])
@pytest.mark.parametrize("kernel", [True, False])
def test_loss_gradient_and_hvp_match_autograd(kernel, alpha):
    net = _net(alpha=alpha, kernel=kernel)
    X, Y = _problem()

    def f(theta):
        return _reference_loss(theta, P, X, Y, alpha)

    theta = net.theta
    assert net.loss(X, Y) == pytest.approx(f(theta), rel=1e-13)
    np.testing.assert_allclose(net.gradient(X, Y), autograd.grad(f)(theta), rtol=1e-11,
                               atol=1e-14)
    v = np.random.default_rng(1).normal(size=net.dim_theta)
    hv = autograd.grad(lambda t: anp.dot(autograd.grad(f)(t), v))(theta)
    np.testing.assert_allclose(net.hvp(X, Y, v), hv, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bp.autodiff.gradient(net, X, Y), autograd.grad(f)(theta),
                               rtol=1e-11, atol=1e-14)


def test_multilabel_classifier_matches_sklearn_backprop_with_default_alpha():
    from sklearn.neural_network import MLPClassifier

    X, Y = _problem(n=50, labels=4)
    net = bp.Network([4, 8, 4], hidden="relu", output="logistic", loss="binary_cross_entropy",
                     init="xavier", seed=5, alpha=1e-4)
    clf = MLPClassifier(hidden_layer_sizes=(8,), activation="relu")  # alpha=1e-4, log_loss
    clf.out_activation_ = "logistic"  # what fit chooses for a label-indicator matrix
    loss, grad = _sklearn_backprop(clf, net, X, Y)
    assert net.loss(X, Y) == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(net.gradient(X, Y), grad, rtol=1e-11, atol=1e-14)


def test_binary_classifier_with_one_output_takes_a_vector_of_labels():
    from sklearn.neural_network import MLPClassifier

    X, Y = _problem(n=30, labels=1)
    y = Y[:, 0].astype(np.int64)  # 0/1 labels as a vector: p_L = 1
    net = bp.Network([4, 5, 1], hidden="tanh", output="logistic", loss="binary_cross_entropy",
                     init="xavier", seed=1, alpha=1e-4)
    clf = MLPClassifier(hidden_layer_sizes=(5,), activation="tanh")
    clf.out_activation_ = "logistic"
    loss, grad = _sklearn_backprop(clf, net, X, Y)
    assert net.loss(X, y) == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(net.gradient(X, y), grad, rtol=1e-11, atol=1e-14)
    labels = bp.predict_labels(net, X)
    assert labels.shape == (30,)
    np.testing.assert_array_equal(labels, (net.predict(X)[:, 0] > 0.5).astype(np.int64))


def test_value_matches_pytorch_and_stays_finite_at_saturated_logits():
    torch = pytest.importorskip("torch")
    Z = np.array([[-1e4, -40.0, -1.0, 0.0], [2.0, 40.0, 1e4, 0.3]])
    Y = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    ours = losses.binary_cross_entropy_from_logits(np, Z, Y)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(Z), torch.tensor(Y), reduction="none").sum(axis=1).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-15)
    # row 0 by hand: -ln σ(-1e4) = 1e4, -ln(1 - σ(-40)) ≈ e^-40, -ln σ(-1) = ln(1 + e), ln 2
    assert ours[0] == pytest.approx(1e4 + np.log1p(np.e) + np.log(2.0), rel=1e-15)
    # the definition through ln g gives inf (or 0 · inf = NaN) where g rounds to 0 or 1
    G = bp.OUTPUTS["logistic"].S(Z)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert not np.isfinite(losses.binary_cross_entropy_value(np, G, Y)).any()
    net = bp.Network([1, 1], output="logistic", loss="binary_cross_entropy")
    net.W[0] = np.array([[1.0]])
    net.b[0] = np.array([0.0])
    assert net.loss(np.array([[-800.0]]), np.array([1.0])) == pytest.approx(800.0, rel=1e-15)


def test_fused_delta_and_tangent_equal_the_general_forms():
    rng = np.random.default_rng(3)
    Z = rng.normal(scale=3.0, size=(25, 4))
    Y = (rng.random((25, 4)) < 0.5).astype(np.float64)
    Zdot = rng.normal(size=Z.shape)
    out, loss = bp.OUTPUTS["logistic"], bp.LOSSES["binary_cross_entropy"]
    G = out.S(Z)
    fused = bp.output_delta(np, out, loss, Z, G, Y)
    np.testing.assert_array_equal(fused, G - Y)
    np.testing.assert_allclose(bp.output_delta_general(np, out, loss, Z, G, Y), fused,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hessian.delta_L_tangent_general(np, out, loss, Z, G, Y, Zdot),
                               hessian.delta_L_tangent(np, out, loss, Z, G, Y, Zdot),
                               rtol=1e-10, atol=1e-13)
    # softmax's δ_L = g - e_{y+1} has the same form: for two classes with logits (0, z),
    # the softmax probability of class 1 is σ(z) and δ_L of its logit is σ(z) - y
    z = Z[:, :1]
    y = Y[:, 0].astype(np.int64)
    soft = bp.OUTPUTS["softmax_reduced"]
    Gs = soft.S(z)
    delta_softmax = bp.output_delta(np, soft, bp.LOSSES["cross_entropy"], z, Gs,
                                    np.eye(2)[y])
    np.testing.assert_allclose(delta_softmax, out.S(z) - Y[:, :1], rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_gradcheck_passes_on_sigmoid_output_networks(dtype, alpha):
    net = _net(p=[4, 5, 5, 3], hidden=["tanh", "logistic"], alpha=alpha, dtype=dtype)
    X, Y = _problem()
    result = bp.gradcheck(net, X, Y)
    assert result.passed, str(result)
    wrong = net.gradient(X, 1 - Y)  # the gradient for other targets fails
    assert not bp.gradcheck(net, X, Y, gradient=wrong).passed


@pytest.mark.parametrize("bad, shown", [(0.5, "0.5"), (2.0, "2.0"), (-1.0, "-1.0"),
                                        (1.0 + 1e-9, "1.000000001")])
def test_targets_outside_zero_one_are_refused_naming_y(bad, shown):
    net = _net()
    X, Y = _problem()
    Y[3, 2] = bad
    theta = net.theta
    for call in (lambda: net.loss(X, Y), lambda: net.gradient(X, Y),
                 lambda: bp.fit(net, X, Y, iterations=1)):
        with pytest.raises(ValueError, match=rf"y must hold 0/1 targets.*{shown}.*\(3, 2\)"):
            call()
    np.testing.assert_array_equal(net.theta, theta)
    with pytest.raises(ValueError, match="y_val must hold 0/1"):
        bp.fit(net, X, 1 - _problem()[1], iterations=1, validation=(X, Y))


def test_targets_of_the_wrong_shape_are_refused():
    net = _net()
    X, _ = _problem()
    with pytest.raises(ValueError, match=r"y must have shape \(n, 3\)"):
        net.loss(X, np.zeros(40))  # class labels are not 0/1 rows
    with pytest.raises(ValueError, match="finite"):
        net.loss(X, np.full((40, 3), np.nan))


@pytest.mark.parametrize("output", ["softmax", "identity", "tanh", "softmax_reduced"])
def test_binary_cross_entropy_needs_sigmoid_outputs(output):
    with pytest.raises(ValueError, match="needs output='logistic'"):
        bp.Network([3, 2], output=output, loss="binary_cross_entropy")


def test_predict_labels_and_multilabel_accuracy_agree_with_sklearn():
    from sklearn.metrics import accuracy_score, hamming_loss

    net = _net()
    X, Y = _problem()
    labels = bp.predict_labels(net, X)
    assert labels.shape == Y.shape and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, (net.predict(X) > 0.5).astype(np.int64))
    exact = bp.multilabel_accuracy(Y, labels)
    assert exact == accuracy_score(Y, labels)
    assert bp.multilabel_accuracy(Y, labels, per="label") == pytest.approx(
        1 - hamming_loss(Y, labels), rel=1e-15)
    assert 0 < bp.multilabel_accuracy(Y, labels, per="label") < 1
    assert bp.multilabel_accuracy(Y, Y) == 1.0


@pytest.mark.parametrize("Y_pred, match", [
    (np.full((4, 2), 0.7), "not probabilities"), (np.zeros(4), "2-D"),
    (np.zeros((3, 2)), "same shape"), (np.zeros((0, 2)), "at least one")])
def test_multilabel_accuracy_refuses_what_is_not_a_matching_indicator_matrix(Y_pred, match):
    Y_true = np.zeros((4, 2)) if Y_pred.shape[0] != 0 else np.zeros((0, 2))
    with pytest.raises(ValueError, match=match):
        bp.multilabel_accuracy(Y_true, Y_pred)
    with pytest.raises(ValueError, match="per must be"):
        bp.multilabel_accuracy(np.zeros((2, 2)), np.zeros((2, 2)), per="row")


def test_fit_learns_a_multilabel_problem_and_records_exact_match_accuracy():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 2))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 1] > 0.5], axis=1).astype(float)
    net = bp.Network([2, 16, 3], hidden="tanh", output="sigmoid", loss="binary_cross_entropy",
                     init="xavier", seed=0)
    history = bp.fit(net, X, Y, optimizer=bp.Adam(lr=0.02), iterations=300,
                     validation=(X[:50], Y[:50]))
    accuracy = bp.multilabel_accuracy(Y, bp.predict_labels(net, X))
    assert history.train_accuracy[-1] == pytest.approx(accuracy, rel=1e-12)
    assert history.train_accuracy[0] < 0.5 < 0.9 < accuracy
    assert history.train_loss[-1] == pytest.approx(net.loss(X, Y), rel=1e-12)
    assert history.val_accuracy.shape == history.train_accuracy.shape


def test_save_load_and_distributed_gradient(tmp_path, client):
    net = _net(alpha=0.2)
    X, Y = _problem()
    back = bp.load(bp.save(net, tmp_path / "bce.npz"))
    assert back.loss_name == "binary_cross_entropy" and back.output == "logistic"
    assert back.loss(X, Y) == net.loss(X, Y)
    np.testing.assert_allclose(bp.distributed.gradient(net, X, Y, client=client),
                               net.gradient(X, Y), rtol=1e-12, atol=1e-15)
