"""L-BFGS through SciPy as an optimiser of fit (issue 28).

References: scikit-learn's MLPRegressor(solver="lbfgs") started from the same θ (the same
SciPy routine on a loss half the package's, which L-BFGS's iterates do not see), SciPy's
minimize called directly, and ridge regression's closed form for a penalised linear
network. Then what fit promises of every optimiser: the History per iteration, early
stopping, divergence, an interrupt, bad arguments, and SciPy missing.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

import backprop as bp


def _polyreg_net(alpha=0.0, hidden="tanh", seed=0):
    X, y = bp.datasets.polyreg()
    return bp.Network([1, 8, 1], hidden=hidden, init="xavier", seed=seed, alpha=alpha), X, y


def test_iterates_match_sklearn_mlpregressor_lbfgs_from_the_same_theta():
    from sklearn.neural_network import MLPRegressor

    # scikit-learn's loss is (1/2n) Σ (y - g)² + (α_sk/2n) Σ‖W‖², half the package's with
    # α = 2 α_sk; L-BFGS's steps do not change when the loss is scaled by a constant.
    net, X, y = _polyreg_net(alpha=2e-3)
    reg = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", solver="lbfgs", alpha=1e-3,
                       max_iter=25, tol=0.0, warm_start=True)
    # warm_start with coefs_ preset: fit starts from them instead of drawing its own
    reg.coefs_ = [np.array(W).T.copy() for W in net.W]
    reg.intercepts_ = [np.array(b) for b in net.b]
    reg.n_outputs_, reg.n_layers_, reg.out_activation_ = 1, 3, "identity"
    reg.n_iter_, reg.t_, reg.loss_curve_, reg.n_features_in_ = 0, 0, [], 1
    reg.best_loss_, reg._no_improvement_count = np.inf, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached, as asked
        reg.fit(X, y)
    history = bp.fit(net, X, y, optimizer=bp.LBFGS(gtol=0.0), iterations=25)
    theta_sk = np.concatenate([part for l in range(2)
                               for part in (reg.coefs_[l].T.ravel(), reg.intercepts_[l])])
    assert reg.n_iter_ == history.iterations == 25
    np.testing.assert_allclose(net.theta, theta_sk, rtol=1e-7, atol=1e-8)
    assert net.loss(X, y) == pytest.approx(2 * reg.loss_, rel=1e-9)


def test_same_run_as_scipy_minimize_called_directly():
    net, X, y = _polyreg_net(hidden="relu")
    start = net.copy()
    history = bp.fit(net, X, y, optimizer="lbfgs", iterations=40)

    def fun(theta):
        loss = start.loss_at(theta, X, y)
        probe = start.copy()
        probe.theta = theta
        return loss, np.asarray(probe.gradient(X, y))

    seen = []
    result = minimize(fun, start.theta, jac=True, method="L-BFGS-B",
                      callback=lambda intermediate_result: seen.append(intermediate_result.fun),
                      options={"maxiter": 40, "maxcor": 10})
    np.testing.assert_allclose(net.theta, result.x, rtol=1e-12, atol=1e-12)
    assert history.iterations == result.nit == len(seen)
    assert history.gradient_calls[-1] == result.nfev
    # loss[t-1] is the loss at θ_{t-1}: θ_0's, then each accepted iterate's
    np.testing.assert_allclose(history.loss[1:], seen[:-1], rtol=1e-12)
    assert history.loss[0] == pytest.approx(start.loss(X, y), rel=1e-14)


def test_penalised_linear_network_reaches_the_ridge_solution():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = X @ rng.normal(size=5) + 0.3 * rng.normal(size=60) + 2.0
    alpha = 6.0
    net = bp.Network([5, 1], output="identity", init="xavier", seed=1, alpha=alpha)
    history = bp.fit(net, X, y, optimizer=bp.LBFGS(gtol=1e-10, ftol=1e-15),
                     iterations=500)
    # (1/n)‖y - Xw - b‖² + (α/2n)‖w‖² is minimal where ‖y - Xw - b‖² + (α/2)‖w‖² is
    ridge = Ridge(alpha=alpha / 2).fit(X, y)
    np.testing.assert_allclose(np.ravel(net.W[0]), ridge.coef_, rtol=1e-7)
    assert float(net.b[0][0]) == pytest.approx(ridge.intercept_, rel=1e-7)
    assert history.converged and history.iterations < 500
    assert "converged" in repr(history)


def test_history_is_filled_per_iteration():
    net, X, y = _polyreg_net()
    history = bp.fit(net, X, y, optimizer="lbfgs", iterations=30, evaluate_every=7)
    t = history.iterations
    assert t == 30 and not history.converged
    assert history.loss.shape == history.time.shape == history.gradient_calls.shape == (t,)
    assert np.all(np.diff(history.loss) < 0)  # a line search accepts only decreases
    assert np.all(np.diff(history.gradient_calls) >= 1) and history.gradient_calls[0] >= 2
    assert np.all(np.diff(history.time) >= 0)
    np.testing.assert_array_equal(history.evaluated_at, [0, 7, 14, 21, 28, 30])
    assert history.train_loss[-1] == pytest.approx(net.loss(X, y), rel=1e-14)
    assert history.train_loss[1] == pytest.approx(history.loss[7], rel=1e-12)
    # first-order optimisers spend one gradient per step
    sgd = bp.fit(net.copy(), X, y, optimizer=bp.SGD(lr=1e-4), iterations=5)
    np.testing.assert_array_equal(sgd.gradient_calls, [1, 2, 3, 4, 5])


def test_early_stopping_keeps_the_best_theta():
    net, X, y = _polyreg_net()
    theta0 = net.theta
    # validation targets of the opposite sign: every step that fits y moves away from them
    history = bp.fit(net, X, y, optimizer="lbfgs", iterations=50, validation=(X, -y),
                     early_stopping=3)
    assert history.stopped_early and history.iterations == 3
    assert history.best_evaluation == 0
    np.testing.assert_array_equal(net.theta, theta0)


def test_a_loss_that_is_not_finite_raises_divergence_with_theta_at_the_last_iterate():
    net, X, y = _polyreg_net()
    twin = net.copy()
    calls = []

    # the hook sees the θ fit sets: compute at the network's θ, nan from the 6th call on
    def hook(idx):
        calls.append(idx)
        loss, grad = net.loss_and_gradient(X, y)
        return (float("nan"), grad) if len(calls) >= 6 else (loss, grad)

    with pytest.raises(bp.DivergenceError, match="batch loss is nan") as info:
        bp.fit(net, X, y, optimizer="lbfgs", iterations=50, loss_and_gradient=hook)
    history = info.value.history
    assert all(idx is None for idx in calls)  # full-batch calls only
    t = history.iterations
    assert 1 <= t < 6 and info.value.iteration == t + 1
    # θ is the iterate after t iterations: the same run without the nan stopped there
    rerun = twin.copy()
    bp.fit(rerun, X, y, optimizer="lbfgs", iterations=t)
    np.testing.assert_allclose(net.theta, rerun.theta, rtol=1e-12, atol=1e-12)


def test_nan_at_theta_0_leaves_theta_unchanged():
    net, X, y = _polyreg_net()
    theta0 = net.theta

    def hook(idx):
        return float("inf"), np.zeros(net.dim_theta)

    with pytest.raises(bp.DivergenceError, match="at iteration 1") as info:
        bp.fit(net, X, y, optimizer="lbfgs", iterations=5, loss_and_gradient=hook)
    assert info.value.history.iterations == 0
    np.testing.assert_array_equal(net.theta, theta0)


def test_a_gradient_that_is_not_finite_raises_divergence_too():
    net, X, y = _polyreg_net()
    theta0 = net.theta

    def hook(idx):
        loss, grad = net.loss_and_gradient(X, y)
        grad = np.array(grad)
        grad[0] = np.inf
        return loss, grad

    with pytest.raises(bp.DivergenceError, match="batch gradient is nan at iteration 1"):
        bp.fit(net, X, y, optimizer="lbfgs", iterations=5, loss_and_gradient=hook)
    np.testing.assert_array_equal(net.theta, theta0)


def test_interrupt_leaves_theta_at_the_last_iterate():
    net, X, y = _polyreg_net()
    calls = []

    def hook(idx):
        calls.append(idx)
        if len(calls) == 9:
            raise KeyboardInterrupt
        return net.loss_and_gradient(X, y)

    twin = net.copy()
    with pytest.raises(KeyboardInterrupt) as info:
        bp.fit(net, X, y, optimizer="lbfgs", iterations=50, loss_and_gradient=hook)
    history = info.value.history
    assert history.interrupted and 1 <= history.iterations < 9
    assert history.loss.shape == history.gradient_calls.shape == (history.iterations,)
    bp.fit(twin, X, y, optimizer="lbfgs", iterations=history.iterations)
    np.testing.assert_allclose(net.theta, twin.theta, rtol=1e-12, atol=1e-12)


def test_mini_batches_and_step_are_refused():
    net, X, y = _polyreg_net()
    theta0 = net.theta
    with pytest.raises(ValueError, match="LBFGS takes full-batch steps.*batch_size=10"):
        bp.fit(net, X, y, optimizer="lbfgs", batch_size=10, iterations=3)
    with pytest.raises(ValueError, match="LBFGS takes full-batch steps.*replacement=True"):
        bp.fit(net, X, y, optimizer="lbfgs", batch_size=100, replacement=True, iterations=3)
    # batch_size = n is the full batch: the same run as batch_size=None
    twin = net.copy()
    bp.fit(twin, X, y, optimizer="lbfgs", batch_size=100, iterations=3)
    np.testing.assert_array_equal(net.theta, theta0)
    bp.fit(net, X, y, optimizer="lbfgs", iterations=3)
    np.testing.assert_allclose(twin.theta, net.theta, rtol=1e-12, atol=1e-12)
    net.theta = theta0
    with pytest.raises(TypeError, match="optimizer='lbfgs'"):
        bp.LBFGS().step(net, net.gradient(X, y))
    np.testing.assert_array_equal(net.theta, theta0)


@pytest.mark.parametrize("name, value, error", [("m", 0, ValueError), ("m", 2.5, TypeError),
                                                ("gtol", -1.0, ValueError),
                                                ("ftol", float("nan"), ValueError),
                                                ("gtol", "1e-5", TypeError),
                                                ("max_evaluations", 0, ValueError)])
def test_bad_hyperparameters_are_refused_naming_them(name, value, error):
    with pytest.raises(error, match=name):
        bp.LBFGS(**{name: value})


def test_scipy_missing_gives_a_clear_error_before_any_work(monkeypatch):
    net, X, y = _polyreg_net()
    theta0 = net.theta
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    for make in (bp.LBFGS, lambda: bp.fit(net, X, y, optimizer="lbfgs", iterations=3)):
        with pytest.raises(ModuleNotFoundError, match="pip install scipy") as info:
            make()
        assert info.value.name == "scipy"
    np.testing.assert_array_equal(net.theta, theta0)
    bp.fit(net, X, y, optimizer="adam", iterations=2)  # the other optimisers need no SciPy


def test_float32_and_array_api_strict_networks_train():
    pytest.importorskip("array_api_strict")
    net, X, y = _polyreg_net()
    for other in (net.copy(dtype="float32"), net.copy(backend="array_api_strict")):
        history = bp.fit(other, X, y, optimizer="lbfgs", iterations=20)
        assert history.train_loss[-1] < 0.5 * history.train_loss[0]
        assert other.theta.dtype == np.dtype(other.dtype)


def test_distributed_fit_with_lbfgs_follows_fit(client):
    net, X, y = _polyreg_net()
    twin = net.copy()
    bp.distributed.fit(net, X, y, client=client, optimizer="lbfgs", iterations=10)
    bp.fit(twin, X, y, optimizer="lbfgs", iterations=10)
    np.testing.assert_allclose(net.theta, twin.theta, rtol=1e-8, atol=1e-10)
