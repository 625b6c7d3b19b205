"""backprop.gradcheck: it passes right gradients, catches wrong ones, samples, and sees kinks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop as bp


def _net_and_batch(backend, p=(3, 5, 4, 2), hidden="tanh", output="identity", n=6, seed=0, **kw):
    net = bp.Network(list(p), hidden=hidden, output=output, backend=backend, seed=seed, **kw)
    rng = np.random.default_rng(seed + 100)
    X = rng.standard_normal((n, net.p[0]))
    if net.loss_name == "cross_entropy":
        y = rng.integers(0, net.K, n)
    else:
        y = rng.standard_normal((n, net.p[-1]))
    return net, X, y


def _numpy_backprop(net, X, y, with_S_prime_at_output=True):
    """Batch back-propagation for a logistic-output, squared-error net, in plain NumPy.

    δ_L = S'(z_L) ⊙ 2(g - y); with ``with_S_prime_at_output=False`` the S' factor is
    dropped: the classic slip this file checks that gradcheck catches.
    """
    assert net.output == "logistic" and net.loss_name == "squared_error"
    Ws = [bp.to_numpy(W) for W in net.W]
    bs = [bp.to_numpy(b) for b in net.b]
    S = {"tanh": np.tanh, "logistic": lambda z: 1 / (1 + np.exp(-z))}
    dS_from_a = {"tanh": lambda a: 1 - a * a, "logistic": lambda a: a * (1 - a)}
    A = [X]
    for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        name = net.hidden[l] if l < net.L - 1 else "logistic"
        A.append(S[name](A[-1] @ W.T + b))
    G = A[-1]
    Delta = 2 * (G - y) / X.shape[0]
    if with_S_prime_at_output:
        Delta = Delta * G * (1 - G)
    grads = []
    for l in range(net.L - 1, -1, -1):
        grads = [(Delta.T @ A[l]).ravel(), Delta.sum(axis=0), *grads]
        if l > 0:
            Delta = (Delta @ Ws[l]) * dS_from_a[net.hidden[l - 1]](A[l])
    return np.concatenate(grads)


# ----------------------------------------------------------------------------- passes


def test_passes_on_the_right_gradient(backend):
    net, X, y = _net_and_batch(backend)
    result = bp.gradcheck(net, X, y)
    assert result.passed and bool(result)
    assert result.max_rel_error < 1e-6
    assert result.tolerance == 1e-6
    assert result.n_checked == result.dim_theta == net.dim_theta
    np.testing.assert_array_equal(result.indices, np.arange(net.dim_theta))
    np.testing.assert_array_equal(result.analytic, bp.to_numpy(net.gradient(X, y)))
    np.testing.assert_allclose(result.numeric, result.analytic, rtol=1e-5, atol=1e-8)
    assert len(result.layer_errors) == net.L
    assert all(e < 1e-6 for pair in result.layer_errors for e in pair)
    assert result.kink_indices == []


def test_theta_is_unchanged_after_gradcheck(backend):
    net, X, y = _net_and_batch(backend, hidden="relu", output="softmax")
    before = net.theta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bp.KinkWarning)
        bp.gradcheck(net, X, y)
        bp.gradcheck(net, X, y, sample=2)
    np.testing.assert_array_equal(net.theta, before)
    # and the network computes what it computed before
    fresh = bp.Network([3, 5, 4, 2], hidden="relu", output="softmax", seed=0)
    np.testing.assert_allclose(bp.to_numpy(net.predict(X)), bp.to_numpy(fresh.predict(X)), rtol=1e-15)


def test_float32_passes_with_its_own_tolerance(backend):
    net, X, y = _net_and_batch(backend, output="softmax", dtype="float32")
    before = net.theta
    result = bp.gradcheck(net, X, y)
    assert result.tolerance == 1e-4
    assert result.passed
    # the float32 gradient carries float32 rounding; the float64 differences do not
    assert 1e-9 < result.max_rel_error < 1e-4
    np.testing.assert_array_equal(net.theta, before)
    assert net.theta.dtype == np.float32


def test_numpy_reference_backprop_agrees(backend):
    """The hand-written NumPy back-propagation used below is itself right."""
    net, X, y = _net_and_batch(backend, output="logistic")
    right = _numpy_backprop(net, X, y)
    np.testing.assert_allclose(right, bp.to_numpy(net.gradient(X, y)), rtol=1e-12, atol=1e-15)
    assert bp.gradcheck(net, X, y, gradient=right).passed


# ----------------------------------------------------------------------------- fails


def test_fails_when_delta_L_misses_the_S_prime_factor(backend):
    net, X, y = _net_and_batch(backend, output="logistic")
    wrong = _numpy_backprop(net, X, y, with_S_prime_at_output=False)
    result = bp.gradcheck(net, X, y, gradient=wrong)
    assert not result.passed and not bool(result)
    assert result.max_rel_error > 0.5  # S' <= 1/4: the wrong gradient is several times too big
    assert "FAILED" in str(result)


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_fails_when_one_coordinate_is_perturbed(backend, layer):
    net, X, y = _net_and_batch(backend)
    grad = bp.to_numpy(net.gradient(X, y)).copy()
    sW, _ = net.layer_slices()[layer - 1]
    k = sW.start + 1
    grad[k] += 1e-3 * (abs(grad[k]) + np.linalg.norm(grad[sW]))
    result = bp.gradcheck(net, X, y, gradient=grad)
    assert not result.passed
    assert result.max_rel_error > 1e-4
    # the error is in W_l of that layer only
    for l, (eW, eb) in enumerate(result.layer_errors, start=1):
        assert eb < 1e-6
        assert (eW > 1e-4) if l == layer else (eW < 1e-6)


def test_fails_on_a_sign_error(backend):
    net, X, y = _net_and_batch(backend, output="softmax")
    result = bp.gradcheck(net, X, y, gradient=-bp.to_numpy(net.gradient(X, y)))
    assert not result.passed
    assert result.max_rel_error == pytest.approx(2.0, rel=1e-4)


def test_tolerance_and_step_are_used(backend):
    net, X, y = _net_and_batch(backend)
    grad = bp.to_numpy(net.gradient(X, y)) * (1 + 1e-5)  # every block off by 1e-5
    assert not bp.gradcheck(net, X, y, gradient=grad).passed  # default 1e-6
    assert not bp.gradcheck(net, X, y, gradient=grad, tolerance=1e-6).passed
    assert bp.gradcheck(net, X, y, gradient=grad, tolerance=1e-4).passed
    # a huge step: the O(h²) truncation error dominates and the check fails
    coarse = bp.gradcheck(net, X, y, h=0.5)
    assert not coarse.passed and coarse.max_rel_error > 1e-3


# ----------------------------------------------------------------------------- sampled


@pytest.mark.parametrize("sample", [1, 3, 7])
def test_sampled_mode_checks_sample_coordinates_of_each_block(backend, sample):
    net, X, y = _net_and_batch(backend, p=(4, 5, 3, 2))  # blocks of sizes 20, 5, 15, 3, 6, 2
    result = bp.gradcheck(net, X, y, sample=sample)
    counts = []
    for sW, sb in net.layer_slices():
        for s in (sW, sb):
            inside = result.indices[(result.indices >= s.start) & (result.indices < s.stop)]
            assert len(set(inside)) == len(inside)
            counts.append(len(inside))
    assert counts == [min(sample, size) for size in (20, 5, 15, 3, 6, 2)]
    assert result.n_checked == sum(counts) == len(result.indices)
    assert result.passed
    np.testing.assert_array_equal(result.analytic, bp.to_numpy(net.gradient(X, y))[result.indices])


def test_sampled_mode_is_seeded(backend):
    net, X, y = _net_and_batch(backend, p=(6, 8, 3))
    a = bp.gradcheck(net, X, y, sample=4, seed=1).indices
    b = bp.gradcheck(net, X, y, sample=4, seed=1).indices
    c = bp.gradcheck(net, X, y, sample=4, seed=2).indices
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sampled_mode_still_catches_a_wrong_layer(backend):
    net, X, y = _net_and_batch(backend, p=(4, 5, 3))
    grad = bp.to_numpy(net.gradient(X, y)).copy()
    sW2 = net.layer_slices()[1][0]
    grad[sW2] *= 1.5  # every coordinate of W_2 wrong: any sample sees it
    result = bp.gradcheck(net, X, y, gradient=grad, sample=2)
    assert not result.passed
    assert result.layer_errors[1][0] == pytest.approx(1 / 3, rel=1e-3)  # |1.5 - 1| / 1.5
    assert result.layer_errors[0][0] < 1e-6


# ----------------------------------------------------------------------------- kinks


def _relu_net_with_z_at(backend, z0, output="identity"):
    """[2, 3, 1] ReLU net where example 0 has z_{1,1} = z0 (first hidden unit)."""
    net = bp.Network([2, 3, 1], hidden="relu", output=output, backend=backend, seed=2)
    W1 = np.array([[0.5, 0.25], [1.0, -1.0], [-0.5, 2.0]])
    net.W[0] = W1
    X = np.array([[1.0, 2.0], [2.0, 1.0], [-1.0, 1.0]])
    # b_{1,1} makes 0.5·1 + 0.25·2 + b = z0; the other units stay far from 0
    net.b[0] = np.array([z0 - 1.0, 0.3, 0.7])
    net.W[1] = np.array([[1.5, -0.7, 0.9]])
    net.b[1] = np.array([0.1])
    zs, _ = net.forward(X)
    z = float(bp.to_numpy(zs[0])[0, 0])
    assert z == z0 if z0 == 0 else (z == pytest.approx(z0, rel=1e-6) and np.sign(z) == np.sign(z0))
    return net, X, np.array([0.2, -0.4, 1.0])


@pytest.mark.parametrize("z0", [0.0, 1e-9, -1e-9])
def test_kink_warning_when_a_relu_preactivation_is_at_or_near_zero(backend, z0):
    net, X, y = _relu_net_with_z_at(backend, z0)
    before = net.theta
    with pytest.warns(bp.KinkWarning, match=r"3 finite-difference step\(s\) crossed a ReLU kink"):
        result = bp.gradcheck(net, X, y)
    # θ order: W_1 (0..5), b_1 (6..8): the steps of W_{1,11}, W_{1,12} and b_{1,1} cross
    assert result.kink_indices == [0, 1, 6]
    assert result.passed  # the crossing coordinates are left out, the rest agree
    assert "3 coordinate(s) crossed a ReLU kink and were skipped" in str(result)
    np.testing.assert_array_equal(net.theta, before)


def test_kink_at_a_relu_output_is_detected(backend):
    net = bp.Network([1, 1], output="relu", backend=backend)
    net.W[0] = np.array([[2.0]])
    net.b[0] = np.array([-2.0])  # z = 0 at x = 1
    with pytest.warns(bp.KinkWarning):
        result = bp.gradcheck(net, np.array([[1.0], [3.0]]), np.array([1.0, 1.0]))
    assert result.kink_indices == [0, 1]
    # every coordinate crossed the kink: nothing was compared, so nothing passed
    assert np.isnan(result.max_rel_error) and not result.passed
    assert "no coordinate could be compared" in str(result)


def test_no_kink_warning_when_asked_or_when_smooth(backend):
    net, X, y = _relu_net_with_z_at(backend, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = bp.gradcheck(net, X, y, warn=False)
    assert result.kink_indices == [0, 1, 6]  # still reported, just not warned
    smooth, X, y = _net_and_batch(backend, hidden="tanh")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bp.gradcheck(smooth, X, y).kink_indices == []


def test_relu_far_from_kinks_has_no_warning(backend):
    net, X, y = _relu_net_with_z_at(backend, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = bp.gradcheck(net, X, y)
    assert result.kink_indices == [] and result.passed


# ----------------------------------------------------------------------------- report


def test_str_has_a_per_layer_table(backend):
    net, X, y = _net_and_batch(backend, p=(3, 4, 4, 2))
    text = str(bp.gradcheck(net, X, y))
    lines = text.splitlines()
    assert lines[0].startswith("gradcheck: PASSED")
    assert f"{net.dim_theta} of {net.dim_theta} coordinates compared" in lines[0]
    assert "skipped" not in text
    assert "layer" in lines[1] and "W_l" in lines[1] and "b_l" in lines[1]
    rows = lines[2:]
    assert len(rows) == net.L
    for l, row in enumerate(rows, start=1):
        fields = row.split()  # l, error W_l, (allowed), error b_l, (allowed)
        assert fields[0] == str(l)
        errors = [float(fields[1]), float(fields[3])]
        allowed = [float(fields[2].strip("()")), float(fields[4].strip("()"))]
        assert all(e < 1e-8 for e in errors)
        assert all(1e-6 <= a < 1e-5 for a in allowed)


def test_str_of_a_failed_check_shows_the_bad_layer(backend):
    net, X, y = _net_and_batch(backend, p=(3, 4, 2))
    grad = bp.to_numpy(net.gradient(X, y)).copy()
    grad[net.layer_slices()[1][1]] = 0.0  # b_2 wrong
    text = str(bp.gradcheck(net, X, y, gradient=grad))
    assert text.startswith("gradcheck: FAILED")
    row2 = text.splitlines()[3].split()
    assert row2[0] == "2" and float(row2[3]) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- central differences


def test_numerical_gradient_of_a_known_function():
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    grad = bp.numerical_gradient(lambda v: np.sum(v**3) + v[0, 1] * v[1, 0], x)
    expected = 3 * x**2 + np.array([[0.0, 2.0], [-1.0, 0.0]])
    assert grad.shape == x.shape
    np.testing.assert_allclose(grad, expected, rtol=1e-9)
    picked = bp.numerical_gradient(lambda v: np.sum(v**3), x, indices=[3, 0])
    np.testing.assert_allclose(picked, [27.0, 0.75], rtol=1e-9)


def test_numerical_gradient_steps_scale_with_x_and_h():
    seen = []
    bp.numerical_gradient(lambda v: seen.append(v.copy()) or 0.0, np.array([0.5, 100.0]), h=1e-3)
    # x + h_0 e_0, x - h_0 e_0, x + h_1 e_1, x - h_1 e_1 with h_i = h max(1, |x_i|)
    np.testing.assert_allclose(seen, [[0.501, 100], [0.499, 100], [0.5, 100.1], [0.5, 99.9]])
    with pytest.raises(ValueError, match="positive step"):
        bp.numerical_gradient(np.sum, np.ones(2), h=0)
    with pytest.raises(TypeError, match="float array"):
        bp.numerical_gradient(np.sum, np.ones(2, dtype=int))


def test_numerical_jacobian_rows_are_outputs():
    A = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    x = np.array([0.1, 0.2, -0.3])
    J = bp.numerical_jacobian(lambda v: np.tanh(A @ v), x)
    np.testing.assert_allclose(J, (1 - np.tanh(A @ x) ** 2)[:, None] * A, rtol=1e-8)
    with pytest.raises(ValueError, match="vector"):
        bp.numerical_jacobian(np.tanh, np.ones((2, 2)))


# ----------------------------------------------------------------------------- rounding (issue 11)


def _trained_1_8_1(dtype, seed=0):
    """The issue's case: a [1, 8, 1] tanh network fitted to sin(2x) with Adam (small gradient).

    Fitted in float64, and Adam's 3000 steps followed by 2000 of gradient descent, whose end
    is the same on every machine; then rounded to ``dtype``. Adam's last steps amplify
    rounding: 3000 of them in float32 ended at ‖∂ℓ/∂θ‖ of 6e-5 with OpenBLAS's AVX-512
    kernels, 7.5e-5 with its AVX2 ones and 6e-2 with its AVX ones (OPENBLAS_CORETYPE).
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (64, 1))
    y = np.sin(2 * X) + 0.1 * rng.standard_normal((64, 1))
    net = bp.Network([1, 8, 1], hidden="tanh", init="xavier", seed=seed)
    bp.fit(net, X, y, optimizer=bp.Adam(0.01), iterations=3000)
    bp.fit(net, X, y, optimizer=bp.SGD(0.1), iterations=2000)
    return (net if dtype == "float64" else net.copy(dtype=dtype)), X, y


@pytest.fixture(scope="module", params=["float32", "float64"])
def trained(request):
    return _trained_1_8_1(request.param)


def _same_function_in_float64(net, X, y):
    """A float64 copy of the network and the batch rounded to its dtype (the function it
    computes, in float64); the copy's gradient; and per block (W_l, b_l) how far the
    network's gradient is from it relative to its size: the rounding of the network's
    dtype, measured independently of gradcheck."""
    ref = net.copy(backend="numpy", dtype="float64")
    X64, y64 = X.astype(net.dtype).astype(np.float64), y.astype(net.dtype).astype(np.float64)
    exact = ref.gradient(X64, y64)
    own = bp.to_numpy(net.gradient(X, y)).astype(np.float64)
    noise = [tuple(np.linalg.norm(own[s] - exact[s]) / np.linalg.norm(exact[s]) for s in pair)
             for pair in net.layer_slices()]
    return (ref, X64, y64), exact, noise


def test_no_false_alarm_at_a_trained_theta(trained):
    # Before: float32 differences made this FAIL with relative error 0.13 (and float64 with
    # 1.3e-6 > 1e-6, from the O(h²) truncation at a small gradient).
    net, X, y = trained
    grad = bp.to_numpy(net.gradient(X, y))
    assert np.linalg.norm(grad) < 2e-3  # trained: the gradient is small
    result = bp.gradcheck(net, X, y)
    assert result.passed, str(result)
    # The differences are float64 whatever the network's dtype, and as accurate as float64
    # allows: within 1e-7 of the gradient of the same function computed in float64 (plus
    # 1e-11 for ε ℓ / h). What is left of the error is the network's own rounding, which
    # depends on the BLAS kernels' summation order: so it is bounded by that rounding,
    # measured, not by a number.
    _, exact, noise = _same_function_in_float64(net, X, y)
    assert result.numeric.dtype == np.float64
    np.testing.assert_array_equal(result.indices, np.arange(net.dim_theta))
    for pair, block_noise, errors in zip(net.layer_slices(), noise, result.layer_errors,
                                         strict=True):
        for s, rounding, error in zip(pair, block_noise, errors, strict=True):
            assert np.linalg.norm(result.numeric[s] - exact[s]) <= (
                1e-7 * np.linalg.norm(exact[s]) + 1e-11)
            assert error <= 1.01 * rounding + 1e-7
    if net.dtype == "float64":
        assert result.max_rel_error < 1e-7


@pytest.mark.parametrize("layer", [1, 2])
@pytest.mark.parametrize("where", ["trained", "initial"])
def test_one_percent_error_in_one_layer_is_caught(trained, layer, where):
    # Before: in float32 a W_1 wrong by 1% passed (tolerance 2e-2).
    net, X, y = trained
    if where == "initial":
        net = bp.Network([1, 8, 1], hidden="tanh", init="xavier", seed=0, dtype=net.dtype)
    grad = bp.to_numpy(net.gradient(X, y)).copy()
    sW, sb = net.layer_slices()[layer - 1]
    e0 = bp.gradcheck(net, X, y).layer_errors[layer - 1][0]  # W_l's error without the bug
    grad[sW] *= 1.01
    result = bp.gradcheck(net, X, y, gradient=grad)
    eW, eb = result.layer_errors[layer - 1]
    aW, ab = result.layer_allowed[layer - 1]
    # ‖1.01 a - n‖ / max(‖1.01 a‖, ‖n‖) lies within e0 of 0.01 / 1.01 (triangle inequality)
    assert abs(eW - 0.01 / 1.01) <= e0 + 1e-9
    # The allowance is the tolerance, the network's rounding there (ρ, twice, sampled over
    # three summation orders: at most ten times the rounding measured here) and the
    # differences' own rounding (what a float64 network with this θ is allowed beyond its
    # tolerance), not more.
    float64_problem, _, noise = _same_function_in_float64(net, X, y)
    in_float64 = bp.gradcheck(*float64_problem)
    differences = in_float64.layer_allowed[layer - 1][0] - in_float64.tolerance
    assert aW <= result.tolerance + 10 * noise[layer - 1][0] + 1.01 * differences
    # So the bug is caught wherever rounding leaves room for it: always in float64 or at the
    # initial θ (by a factor of 3 at least); at a trained float32 θ, where ‖∂ℓ/∂θ‖ is a
    # small sum of large terms, whenever the error is above the allowance.
    if net.dtype == "float64" or where == "initial":
        assert eW > 3 * aW
    assert result.passed == (eW <= aW)
    assert eb <= ab  # the layer's bias, and the other layer, still pass
    other = result.layer_errors[2 - layer]
    assert all(e <= a for e, a in zip(other, result.layer_allowed[2 - layer], strict=True))


def test_the_callers_theta_is_never_written(monkeypatch):
    # gradcheck differences a float64 copy; writing the caller's θ (and putting it back)
    # made concurrent gradient calls in other threads return wrong numbers.
    net, X, y = _net_and_batch("numpy", hidden="relu", output="softmax", dtype="float32")
    written = []
    prop = bp.Network.theta
    monkeypatch.setattr(bp.Network, "theta", property(
        prop.fget, lambda self, v: (written.append(self), prop.fset(self, v))[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bp.KinkWarning)
        result = bp.gradcheck(net, X, y)
    assert written and all(w is not net for w in written)  # only the copy was written
    assert result.passed


def test_message_counts_skipped_coordinates_once(backend):
    # Before: "10 of 10 coordinates checked" together with "3 ... skipped".
    net, X, y = _relu_net_with_z_at(backend, 0.0)
    with pytest.warns(bp.KinkWarning):
        result = bp.gradcheck(net, X, y)
    first = str(result).splitlines()[0]
    assert result.n_checked == net.dim_theta == 13 and result.n_compared == 10
    assert "10 of 13 coordinates compared (3 skipped at ReLU kinks)" in first
    assert "13 of 13" not in str(result)


@pytest.mark.parametrize("seed", [0, 2])
def test_another_correct_float32_code_passes_at_a_trained_theta(seed):
    # Algorithm 2 adds the examples' gradients one by one in float32, which rounds
    # otherwise than the batch code; at seed 2 its b_2 was off by 1.8e-3 of a tiny gradient.
    net, X, y = _trained_1_8_1("float32", seed=seed)
    Ws, bs, _ = bp.algorithm2(net, X, y)
    result = bp.gradcheck(net, X, y, gradient=bp.to_numpy(net.flatten(Ws, bs)))
    assert result.passed, str(result)
    # float32 rounding, visible (1e-3 to 1.2e-2 of ‖∂ℓ/∂θ‖ = 5e-5, 1.2e-4 on four kernels)
    assert result.max_rel_error > 1e-4


@pytest.mark.parametrize("call, error, message", [
    (lambda: bp.numerical_gradient("sum", np.ones(2)), TypeError, r"f must be a function"),
    (lambda: bp.numerical_gradient(np.sum, np.ma.array(np.ones(2), mask=[0, 1])), TypeError,
     r"x must be a plain float array; got a masked array"),
    (lambda: bp.numerical_gradient(np.sum, [[1.0], [2.0, 3.0]]), TypeError, r"x must be a float"),
    (lambda: bp.numerical_gradient(np.sum, np.ones(2), h="1e-3"), TypeError, r"h must be a "
                                                                             r"positive step"),
    (lambda: bp.numerical_gradient(np.sum, np.ones(2), indices=[0, 2]), ValueError,
     r"indices must lie in 0\.\.1 \(x has 2 entries\); got values from 0 to 2"),
    (lambda: bp.numerical_gradient(np.sum, np.ones(2), indices=[-1]), ValueError, r"indices"),
    (lambda: bp.numerical_gradient(np.sum, np.ones(2), indices=[0.5]), TypeError,
     r"indices must be integer flat positions"),
    (lambda: bp.numerical_gradient(np.sum, np.ones(2), indices=[[0]]), ValueError,
     r"indices must be a 1-D list"),
    (lambda: bp.numerical_gradient(lambda v: v, np.ones(2)), TypeError,
     r"f must return one number; got shape \(2,\)"),
    (lambda: bp.numerical_gradient(lambda v: "x", np.ones(2)), TypeError,
     r"f must return one number; got str"),
    (lambda: bp.numerical_jacobian(None, np.ones(2)), TypeError, r"f must be a function"),
])
def test_numerical_gradient_refuses_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("h", [1.7e308, 1e-300])
def test_a_step_that_overflows_or_vanishes_is_refused(h):
    # Found by tests/test_hostile.py: the copy was given an infinite θ, and the error named
    # theta, an argument the caller never passed.
    net, X, y = _net_and_batch("numpy")
    with pytest.raises(ValueError, match=r"h = .* gives no usable step at x\[0\]"):
        bp.gradcheck(net, X, y, h=h)
    with pytest.raises(ValueError, match=r"h = .* gives no usable step"):
        bp.numerical_gradient(np.sum, np.ones(2), h=h)


def test_an_overflowing_loss_fails_without_warnings():
    net, X, y = _net_and_batch("numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = bp.gradcheck(net, X, y, h=1e300)
    assert not result.passed and result.max_rel_error == np.inf


def test_a_result_built_without_allowances_uses_the_tolerance():
    result = bp.GradcheckResult(max_rel_error=1e-7, layer_errors=[(1e-7, 2e-8)],
                                max_abs_error=1e-9, n_checked=3, dim_theta=3, tolerance=1e-6)
    assert result.passed and "(1.0e-06)" in str(result)
    result.max_rel_error = 1e-5
    assert not result.passed
