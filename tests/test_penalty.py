"""The weight penalty (α/2n) Σ_l ‖W_l‖² (issue 28), against references that define it.

scikit-learn's MLPClassifier / MLPRegressor ``_backprop`` (the loss and gradient its solvers
use, with the network's θ preset as coefs_ / intercepts_), HIPS autograd on the loss written
again from the flat θ (value, gradient, H v), PyTorch's ``weight_decay`` (the same step once
the biases are left out and λ = α/n), and every path of the package: the kernel and the
readable code, Algorithm 2, the tape, forward mode, checkpointing, gradcheck, fit with
mini-batches, save / load and the Dask gradient.
"""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from test_reference_autograd import training_loss, unflatten

import backprop as bp

ALPHA = 0.7  # large enough that the penalty is a sizeable part of every number compared


def _data(n=30, p0=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, p0))


def _penalised_loss(theta, p, hidden, output, loss, X, y, alpha):
    """ℓ_τ(θ) + (α/2n) Σ_l ‖W_l‖², written apart from the package (autograd.numpy)."""
    n = X.shape[0]
    weights = sum(anp.sum(W * W) for W, _ in unflatten(theta, p))
    return training_loss(theta, p, hidden, output, loss, X, y) + alpha / (2 * n) * weights


CASES = [  # (p, hidden, output, loss)
    ([4, 6, 3], ["tanh"], "softmax", "cross_entropy"),
    ([4, 5, 4, 2], ["logistic", "tanh"], "identity", "squared_error"),
    ([4, 5, 3], ["tanh"], "softmax_reduced", "cross_entropy"),
]


def _case(p, hidden, output, loss, kernel=True, dtype="float64"):
    net = bp.Network(p, hidden=hidden, output=output, loss=loss, init="xavier", seed=1,
                     kernel=kernel, alpha=ALPHA, dtype=dtype)
    X = _data(p0=p[0])
    rng = np.random.default_rng(5)
    y = rng.integers(0, net.K, size=30) if loss == "cross_entropy" else rng.normal(size=(30, p[-1]))
    return net, X, y


@pytest.mark.parametrize("kernel", [True, False])
@pytest.mark.parametrize("case", CASES, ids=[c[2] for c in CASES])
def test_loss_gradient_and_hvp_match_autograd(case, kernel):
    net, X, y = _case(*case, kernel=kernel)
    p, hidden, output, loss = case

    def f(theta):
        return _penalised_loss(theta, p, hidden, output, loss, X, y, ALPHA)

    theta = net.theta
    assert net.loss(X, y) == pytest.approx(f(theta), rel=1e-13)
    np.testing.assert_allclose(net.gradient(X, y), autograd.grad(f)(theta), rtol=1e-11,
                               atol=1e-13)
    v = np.random.default_rng(2).normal(size=net.dim_theta)
    hv_ref = autograd.grad(lambda t: anp.dot(autograd.grad(f)(t), v))(theta)
    np.testing.assert_allclose(net.hvp(X, y, v), hv_ref, rtol=1e-10, atol=1e-12)
    assert net.jvp(X, y, v) == pytest.approx(float(autograd.grad(f)(theta) @ v), rel=1e-11)
    # the penalty moved every number compared: without it they differ
    plain = bp.Network(p, hidden=hidden, output=output, loss=loss, init="xavier", seed=1)
    assert abs(plain.loss(X, y) - net.loss(X, y)) > 1e-3


@pytest.mark.parametrize("case", CASES, ids=[c[2] for c in CASES])
def test_every_path_gives_the_same_penalised_gradient(case):
    net, X, y = _case(*case)
    grad = np.asarray(net.gradient(X, y))
    readable = net.copy(kernel=False)
    np.testing.assert_allclose(readable.gradient(X, y), grad, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bp.autodiff.gradient(net, X, y), grad, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.gradient(X, y, checkpoints=1), grad, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bp.forward_mode.gradient(net, X, y), grad, rtol=1e-10,
                               atol=1e-12)
    dW, db, _ = bp.algorithm2(net, X, y)
    np.testing.assert_allclose(net.flatten(dW, db), grad, rtol=1e-11, atol=1e-13)
    loss_value, both = bp.hessian.gradient_and_hvp(net, X, y, np.ones(net.dim_theta))
    np.testing.assert_allclose(loss_value, grad, rtol=1e-12, atol=1e-14)


def test_penalty_enters_the_weights_only_and_leaves_the_deltas():
    p, hidden, output, loss = CASES[1]
    net, X, y = _case(p, hidden, output, loss)
    plain = bp.Network(p, hidden=hidden, output=output, loss=loss, init="xavier", seed=1)
    difference = np.asarray(net.gradient(X, y)) - np.asarray(plain.gradient(X, y))
    n = X.shape[0]
    for l, (sW, sb) in enumerate(net.layer_slices()):
        np.testing.assert_allclose(difference[sW], ALPHA / n * np.ravel(net.W[l]), rtol=1e-10)
        np.testing.assert_array_equal(difference[sb], 0.0)
    for a, b in zip(net.deltas(X, y), plain.deltas(X, y), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[c[2] for c in CASES])
def test_gradcheck_passes_on_penalised_networks(case, dtype):
    net, X, y = _case(*case, dtype=dtype)
    result = bp.gradcheck(net, X, y)
    assert result.passed, str(result)
    # and a gradient without the penalty's term fails it
    wrong = bp.Network(case[0], hidden=case[1], output=case[2], loss=case[3], init="xavier",
                       seed=1, dtype=dtype).gradient(X, y)
    assert not bp.gradcheck(net, X, y, gradient=wrong).passed


def _sklearn_backprop(clf, net, X, Y):
    L = net.L
    clf.n_layers_ = L + 1
    clf.n_outputs_ = net.p[-1]
    clf.coefs_ = [np.ascontiguousarray(np.asarray(W).T) for W in net.W]
    clf.intercepts_ = [np.array(b) for b in net.b]
    activations = [X] + [None] * L
    coef_grads = [np.empty((net.p[l], net.p[l + 1])) for l in range(L)]
    intercept_grads = [np.empty(net.p[l + 1]) for l in range(L)]
    loss, cg, ig = clf._backprop(X, Y, None, activations, [None] * L, coef_grads,
                                 intercept_grads)
    return loss, np.concatenate([part for l in range(L) for part in (cg[l].T.ravel(), ig[l])])


@pytest.mark.parametrize("alpha", [1e-4, 0.0, 2.5])
def test_classifier_matches_sklearn_backprop(alpha):
    from sklearn.neural_network import MLPClassifier

    X = _data(n=40)
    y = np.random.default_rng(3).integers(0, 3, size=40)
    net = bp.Network([4, 7, 5, 3], hidden="relu", output="softmax", init="xavier", seed=2,
                     alpha=alpha)
    clf = MLPClassifier(hidden_layer_sizes=(7, 5), activation="relu", alpha=alpha)
    clf.out_activation_ = "softmax"
    loss, grad = _sklearn_backprop(clf, net, X, np.eye(3)[y])
    assert net.loss(X, y) == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(net.gradient(X, y), grad, rtol=1e-11, atol=1e-14)
    assert MLPClassifier().alpha == 1e-4  # scikit-learn's default, which the bridge page uses


def test_regressor_matches_sklearn_backprop_with_twice_alpha():
    # scikit-learn's squared loss is (1/2n) Σ (y - g)² for one output, the package's (1/n) Σ:
    # the package with α' = 2α is twice scikit-learn's loss and gradient.
    from sklearn.neural_network import MLPRegressor

    X = _data(n=25)
    y = np.random.default_rng(4).normal(size=25)
    alpha = 0.3
    net = bp.Network([4, 6, 1], hidden="tanh", output="identity", init="xavier", seed=3,
                     alpha=2 * alpha)
    reg = MLPRegressor(hidden_layer_sizes=(6,), activation="tanh", alpha=alpha)
    reg.out_activation_ = "identity"
    loss, grad = _sklearn_backprop(reg, net, X, y.reshape(-1, 1))
    assert net.loss(X, y) == pytest.approx(2 * loss, rel=1e-13)
    np.testing.assert_allclose(net.gradient(X, y), 2 * grad, rtol=1e-11, atol=1e-14)


def test_mini_batch_steps_use_the_batch_size_as_n():
    # scikit-learn divides α by the batch's n_samples; so does fit: one SGD step on a batch of
    # B rows moves θ by lr times the penalised gradient of those B rows.
    net, X, y = _case(*CASES[1])
    start = net.copy()
    lr, B = 0.01, 7
    history = bp.fit(net, X, y, optimizer=bp.SGD(lr=lr), batch_size=B, iterations=1, seed=4)
    rows = np.random.default_rng(4).permutation(X.shape[0])[:B]
    expected = start.theta - lr * np.asarray(start.gradient(X[rows], y[rows]))
    np.testing.assert_allclose(net.theta, expected, rtol=1e-13, atol=1e-15)
    assert history.loss[0] == pytest.approx(start.loss(X[rows], y[rows]), rel=1e-13)
    assert history.train_loss[-1] == pytest.approx(net.loss(X, y), rel=1e-13)


def test_pytorch_weight_decay_is_the_penalty_with_lambda_alpha_over_n_and_no_bias_decay():
    # torch.optim.SGD(weight_decay=λ) adds λθ to the gradient of every parameter it holds;
    # with the biases in a group of weight_decay=0 and λ = α/n it makes the package's step.
    torch = pytest.importorskip("torch")
    net, X, y = _case(*CASES[0])
    start = net.copy()
    n, lr = X.shape[0], 0.05
    Ws = [torch.tensor(np.array(W), requires_grad=True) for W in net.W]
    bs = [torch.tensor(np.array(b), requires_grad=True) for b in net.b]
    opt = torch.optim.SGD([{"params": Ws, "weight_decay": ALPHA / n},
                           {"params": bs, "weight_decay": 0.0}], lr=lr)
    A = torch.tensor(X)
    A = torch.tanh(A @ Ws[0].T + bs[0])
    Z = A @ Ws[1].T + bs[1]
    torch.nn.functional.cross_entropy(Z, torch.tensor(y)).backward()
    opt.step()
    bp.fit(net, X, y, optimizer=bp.SGD(lr=lr), iterations=1)
    theta_torch = np.concatenate([t.detach().numpy().ravel() for pair in zip(Ws, bs, strict=True)
                                  for t in pair])
    np.testing.assert_allclose(net.theta, theta_torch, rtol=1e-12, atol=1e-14)
    assert np.abs(net.theta - start.theta).max() > 1e-4


def test_save_and_load_keep_alpha_and_old_files_load_with_none(tmp_path):
    net, X, y = _case(*CASES[0])
    path = bp.save(net, tmp_path / "net.npz")
    back = bp.load(path)
    assert back.alpha == ALPHA
    assert back.loss(X, y) == net.loss(X, y)
    # a file written before the penalty existed: the same entries without 'alpha'
    with np.load(path) as stored:
        entries = {k: stored[k] for k in stored.files if k != "alpha"}
    old = tmp_path / "old.npz"
    np.savez(old, **entries)
    legacy = bp.load(old)
    assert legacy.alpha == 0.0
    np.testing.assert_array_equal(legacy.theta, net.theta)
    # an 'alpha' entry that is not one float is refused, naming it
    np.savez(tmp_path / "bad.npz", **entries, alpha=np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="alpha"):
        bp.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "negative.npz", **entries, alpha=np.array(-1.0))
    with pytest.raises(ValueError, match="alpha"):
        bp.load(tmp_path / "negative.npz")


def test_copy_pickle_and_repr_keep_alpha():
    import pickle

    net, X, y = _case(*CASES[0])
    assert net.copy(dtype="float32").alpha == ALPHA
    assert pickle.loads(pickle.dumps(net)).alpha == ALPHA
    assert f"alpha={ALPHA!r}" in repr(net)
    assert "alpha" not in repr(bp.Network([2, 1]))
    with pytest.raises(AttributeError, match="fixed"):
        net.alpha = 0.0


@pytest.mark.parametrize("alpha, error", [(-1e-3, ValueError), (float("nan"), ValueError),
                                          (float("inf"), ValueError), ("0.1", TypeError),
                                          (None, TypeError), (True, TypeError),
                                          (1j, TypeError), (np.array([0.1]), TypeError)])
def test_bad_alpha_is_refused_naming_it(alpha, error):
    with pytest.raises(error, match="alpha"):
        bp.Network([2, 3, 1], alpha=alpha)


def test_distributed_gradient_adds_the_penalty_once(client):
    net, X, y = _case(*CASES[0])
    np.testing.assert_allclose(bp.distributed.gradient(net, X, y, client=client),
                               net.gradient(X, y), rtol=1e-12, atol=1e-14)
    with bp.distributed.sharded(net, X, y, client=client) as loss_and_gradient:
        rows = np.arange(5, 17)
        loss, grad = loss_and_gradient(rows)
    assert loss == pytest.approx(net.loss(X[rows], y[rows]), rel=1e-12)
    np.testing.assert_allclose(grad, net.gradient(X[rows], y[rows]), rtol=1e-12, atol=1e-14)
