"""Bad input: one test per case. Each asserts the exception type and that the message names
the argument and shows what was expected and what came."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp


@pytest.fixture
def reg(backend):
    """A regression net: p = [3, 4, 2], tanh hidden, identity output."""
    return bp.Network([3, 4, 2], hidden="tanh", backend=backend, seed=0)


@pytest.fixture
def clf(backend):
    """A classifier: p = [3, 4, 3], softmax output, K = 3."""
    return bp.Network([3, 4, 3], hidden="tanh", output="softmax", backend=backend, seed=0)


X5 = np.random.default_rng(0).standard_normal((5, 3))
Y5 = np.zeros((5, 2))
LABELS5 = np.array([0, 1, 2, 0, 1])

# Every public function that takes a batch (X, y).
ENTRY_POINTS = {
    "loss": lambda net, X, y: net.loss(X, y),
    "gradient": lambda net, X, y: net.gradient(X, y),
    "loss_and_gradient": lambda net, X, y: net.loss_and_gradient(X, y),
    "algorithm2": lambda net, X, y: bp.algorithm2(net, X, y),
    "gradcheck": lambda net, X, y: bp.gradcheck(net, X, y),
    "predict": lambda net, X, y: net.predict(X),
    "forward": lambda net, X, y: net.forward(X),
}


# ----------------------------------------------------------------------------- X


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_X_not_2d(reg, entry):
    with pytest.raises(ValueError, match=r"X must be 2-D with shape \(n, p_0\) = \(n, 3\).*got shape \(3,\)"):
        ENTRY_POINTS[entry](reg, X5[0], Y5[:1])


def test_X_3d(reg):
    with pytest.raises(ValueError, match=r"X must be 2-D .*= \(n, 3\).*got shape \(5, 3, 1\)"):
        reg.loss(X5[:, :, None], Y5)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_X_wrong_width(reg, entry):
    with pytest.raises(ValueError, match=r"X must have p_0 = 3 columns .*got shape \(5, 4\)"):
        ENTRY_POINTS[entry](reg, np.ones((5, 4)), Y5)


def test_empty_batch(reg):
    with pytest.raises(ValueError, match=r"X is an empty batch \(shape \(0, 3\)\); need n >= 1"):
        reg.gradient(np.ones((0, 3)), np.ones((0, 2)))


def test_nan_in_X(reg):
    X = X5.copy()
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf.*got nan at index \(2, 1\)"):
        reg.gradient(X, Y5)


def test_inf_in_X(clf):
    X = X5.copy()
    X[4, 0] = -np.inf
    with pytest.raises(ValueError, match=r"X contains NaN or inf.*got -inf at index \(4, 0\)"):
        clf.loss(X, LABELS5)


def test_X_beyond_float32_range(backend):
    net = bp.Network([3, 1], dtype="float32", backend=backend)
    X = np.ones((2, 3))
    X[1, 2] = 1e39
    with pytest.raises(ValueError, match=r"X has entries beyond the range of float32 .*got 1e\+39 at index \(1, 2\)"):
        net.predict(X)


@pytest.mark.parametrize("dtype", [bool, complex])
def test_X_not_real_numbers(reg, dtype):
    with pytest.raises(TypeError, match=r"X must hold (real numbers|numbers, not booleans); got dtype"):
        reg.predict(np.ones((2, 3), dtype=dtype))


def test_X_a_string(reg):
    with pytest.raises(TypeError, match=r"X must be an array of numbers; got str"):
        reg.predict("1, 2, 3")


# ----------------------------------------------------------------------------- y: regression targets


def test_n_of_X_and_targets_differ(reg):
    with pytest.raises(ValueError, match=r"y has 4 rows \(shape \(4, 2\)\) but X has n = 5 rows"):
        reg.gradient(X5, Y5[:4])


def test_targets_of_wrong_width(reg):
    with pytest.raises(ValueError, match=r"y must have shape \(n, 2\).*p_L = 2.*got shape \(5, 3\)"):
        reg.gradient(X5, np.zeros((5, 3)))


def test_targets_1d_when_p_L_is_2(reg):
    with pytest.raises(ValueError, match=r"y must have shape \(n, 2\).*got shape \(5,\)"):
        reg.loss(X5, np.zeros(5))


def test_nan_in_targets(reg):
    y = Y5.copy()
    y[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"y contains NaN or inf.*got nan at index \(3, 1\)"):
        reg.loss(X5, y)


def test_inf_in_targets(reg):
    y = Y5.copy()
    y[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"y contains NaN or inf.*got inf at index \(0, 0\)"):
        reg.gradient(X5, y)


# ----------------------------------------------------------------------------- y: class labels


def test_n_of_X_and_labels_differ(clf):
    with pytest.raises(ValueError, match=r"y has 4 labels \(shape \(4,\)\) but X has n = 5 rows"):
        clf.gradient(X5, LABELS5[:4])


def test_labels_out_of_range(clf):
    with pytest.raises(ValueError, match=r"y must hold class labels in 0\.\.2 \(K = 3 classes\); got values from 0 to 3"):
        clf.gradient(X5, np.array([0, 1, 3, 0, 1]))


def test_negative_labels(clf):
    with pytest.raises(ValueError, match=r"y must hold class labels in 0\.\.2 .*got values from -1 to 2"):
        clf.loss(X5, np.array([0, -1, 2, 0, 1]))


def test_fractional_labels(clf):
    with pytest.raises(ValueError, match=r"y must hold whole-number class labels 0\.\.2; got 1\.5 at index 3"):
        clf.gradient(X5, np.array([0.0, 1.0, 2.0, 1.5, 1.0]))


def test_huge_float_label_is_out_of_range_not_wrapped(clf):
    with pytest.raises(ValueError, match=r"y must hold class labels in 0\.\.2 .*got values from 0 to 1e\+30"):
        clf.loss(X5, np.array([0.0, 1.0, 2.0, 1e30, 1.0]))


def test_labels_shaped_n_by_1_for_cross_entropy(clf):
    with pytest.raises(ValueError, match=r"y must be a 1-D array of class labels of shape \(n,\) = \(5,\); got shape \(5, 1\)"):
        clf.gradient(X5, LABELS5[:, None])


def test_nan_label(clf):
    with pytest.raises(ValueError, match=r"y contains NaN or inf.*got nan at index \(2,\)"):
        clf.loss(X5, np.array([0.0, 1.0, np.nan, 0.0, 1.0]))


def test_inf_label(clf):
    with pytest.raises(ValueError, match=r"y contains NaN or inf.*got inf at index \(0,\)"):
        clf.loss(X5, np.array([np.inf, 1.0, 2.0, 0.0, 1.0]))


def test_boolean_labels(clf):
    with pytest.raises(TypeError, match=r"y must hold numbers, not booleans; got dtype"):
        clf.loss(X5, np.array([True, False, True, False, True]))


# ----------------------------------------------------------------------------- θ and layers


def test_theta_of_wrong_length_leaves_network_unchanged(reg):
    before = reg.theta
    with pytest.raises(ValueError, match=rf"theta must be a flat vector of length dim\(theta\) = {reg.dim_theta}; got shape \({reg.dim_theta + 1},\)"):
        reg.theta = np.zeros(reg.dim_theta + 1)
    np.testing.assert_array_equal(reg.theta, before)


def test_theta_as_a_matrix(reg):
    with pytest.raises(ValueError, match=rf"theta must be a flat vector .* = {reg.dim_theta}; got shape \(1, {reg.dim_theta}\)"):
        reg.theta = np.zeros((1, reg.dim_theta))


def test_theta_with_nan_leaves_network_unchanged(reg):
    before = reg.theta
    X = X5[:2]
    g_before = bp.to_numpy(reg.predict(X))
    bad = np.ones(reg.dim_theta)
    bad[7] = np.nan
    with pytest.raises(ValueError, match=r"theta contains NaN or inf.*got nan at index \(7,\)"):
        reg.theta = bad
    np.testing.assert_array_equal(reg.theta, before)
    np.testing.assert_array_equal(bp.to_numpy(reg.predict(X)), g_before)


def test_W_of_wrong_shape_leaves_network_unchanged(reg):
    before = reg.theta
    with pytest.raises(ValueError, match=r"W\[0\] \(layer l = 1\) must have shape \(4, 3\); got shape \(3, 4\)"):
        reg.W[0] = np.zeros((3, 4))
    np.testing.assert_array_equal(reg.theta, before)


def test_b_of_wrong_shape(reg):
    with pytest.raises(ValueError, match=r"b\[1\] \(layer l = 2\) must have shape \(2,\); got shape \(3,\)"):
        reg.b[1] = np.zeros(3)


def test_W_with_nan_leaves_network_unchanged(reg):
    before = reg.theta
    W = np.zeros((2, 4))
    W[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"W\[1\] contains NaN or inf.*got nan at index \(1, 3\)"):
        reg.W[1] = W
    np.testing.assert_array_equal(reg.theta, before)


def test_layer_index_out_of_range(reg):
    with pytest.raises(IndexError, match=r"net\.W has L = 2 layers; index 2 is out of range"):
        reg.W[2] = np.zeros((2, 4))


def test_theta_beyond_float32_range(backend):
    net = bp.Network([2, 1], dtype="float32", backend=backend)
    with pytest.raises(ValueError, match=r"theta has entries beyond the range of float32 .*got -1e\+300 at index \(1,\)"):
        net.theta = np.array([0.0, -1e300, 0.0])


# ----------------------------------------------------------------------------- constructor


@pytest.mark.parametrize("argument", ["hidden", "output"])
def test_unknown_activation_name(backend, argument):
    with pytest.raises(ValueError, match=rf"{argument} must be one of \[.*'tanh'.*\]; got 'swish'"):
        bp.Network([2, 3, 1], backend=backend, **{argument: "swish"})


def test_unknown_hidden_name_in_a_list(backend):
    with pytest.raises(ValueError, match=r"hidden must be one of \[.*\]; got 'gelu'"):
        bp.Network([2, 3, 3, 1], hidden=["relu", "gelu"], backend=backend)


def test_unknown_loss_name(backend):
    with pytest.raises(ValueError, match=r"loss must be one of \['binary_cross_entropy', "
                       r"'cross_entropy', 'squared_error'\]; got 'l1'"):
        bp.Network([2, 3, 1], loss="l1", backend=backend)


def test_unknown_init_name(backend):
    with pytest.raises(ValueError, match=r"init must be one of \['normal', 'xavier', 'he'\]; got 'glorot'"):
        bp.Network([2, 3, 1], init="glorot", backend=backend)


def test_unknown_backend_name():
    with pytest.raises(ValueError, match=r"backend must be one of \('numpy', 'cupy', 'array_api_strict', 'auto'\); got 'torch'"):
        bp.Network([2, 3, 1], backend="torch")


def test_unknown_dtype(backend):
    with pytest.raises(ValueError, match=r"dtype must be 'float64' or 'float32'; got 'float16'"):
        bp.Network([2, 3, 1], dtype="float16", backend=backend)


@pytest.mark.skipif(bp.cupy_available(), reason="this machine has CuPy and a GPU")
def test_unavailable_backend_cupy():
    with pytest.raises(ValueError, match=r"backend='cupy' needs CuPy and a CUDA device.*use backend='numpy' or backend='auto'"):
        bp.Network([2, 3, 1], backend="cupy")


@pytest.mark.parametrize("output", ["identity", "logistic", "relu", "tanh"])
def test_cross_entropy_with_non_softmax_output(backend, output):
    with pytest.raises(ValueError, match=rf"loss='cross_entropy' needs output='softmax' or 'softmax_reduced'.*got output='{output}'"):
        bp.Network([2, 3, 2], output=output, loss="cross_entropy", backend=backend)


def test_softmax_reduced_with_squared_error(backend):
    with pytest.raises(ValueError, match=r"output='softmax_reduced' pairs only with loss='cross_entropy'; got loss='squared_error'"):
        bp.Network([2, 3, 2], output="softmax_reduced", loss="squared_error", backend=backend)


def test_wrong_hidden_list_length(backend):
    with pytest.raises(ValueError, match=r"hidden must name L-1 = 2 activations .*p = \[2, 3, 3, 1\]; got 1: \['relu'\]"):
        bp.Network([2, 3, 3, 1], hidden=["relu"], backend=backend)


def test_hidden_list_for_a_network_without_hidden_layers(backend):
    with pytest.raises(ValueError, match=r"hidden must name L-1 = 0 activations .*got 1"):
        bp.Network([2, 1], hidden=["relu"], backend=backend)


def test_too_few_widths():
    with pytest.raises(ValueError, match=r"p must list at least two widths \[p_0, p_1\] \(L >= 1\); got \[3\]"):
        bp.Network([3])


def test_zero_width():
    with pytest.raises(ValueError, match=r"p\[1\] must be >= 1; got 0"):
        bp.Network([3, 0, 1])


def test_fractional_width():
    with pytest.raises(TypeError, match=r"p\[1\] must be an integer; got float"):
        bp.Network([3, 2.5, 1])


def test_negative_seed():
    with pytest.raises(ValueError, match=r"seed must be >= 0; got -1"):
        bp.Network([3, 1], seed=-1)


# ----------------------------------------------------------------------------- algorithm 1


def test_algorithm1_given_a_batch(reg):
    with pytest.raises(ValueError, match=r"x must be ONE example, a 1-D vector of length p_0 = 3; got shape \(5, 3\)"):
        bp.algorithm1(reg, X5, Y5)


def test_algorithm1_given_a_batch_of_labels(clf):
    with pytest.raises(ValueError, match=r"y must be ONE class label \(a number\) for algorithm1; got shape \(5,\)"):
        bp.algorithm1(clf, X5[0], LABELS5)


def test_algorithm1_given_a_matrix_of_targets(reg):
    with pytest.raises(ValueError, match=r"y must be ONE target vector of length p_L = 2 for algorithm1; got shape \(1, 2\)"):
        bp.algorithm1(reg, X5[0], Y5[:1])


def test_algorithm1_example_of_wrong_length(reg):
    with pytest.raises(ValueError, match=r"x must have p_0 = 3 columns .*got shape \(1, 4\)"):
        bp.algorithm1(reg, np.ones(4), Y5[0])


# ----------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("sample, error, message", [
    (0, ValueError, r"sample must be >= 1; got 0"),
    (-3, ValueError, r"sample must be >= 1; got -3"),
    (2.5, TypeError, r"sample must be an integer; got float"),
    (True, TypeError, r"sample must be an integer; got bool"),
])
def test_gradcheck_bad_sample(reg, sample, error, message):
    before = reg.theta
    with pytest.raises(error, match=message):
        bp.gradcheck(reg, X5, Y5, sample=sample)
    np.testing.assert_array_equal(reg.theta, before)


@pytest.mark.parametrize("h", [0.0, -1e-5, float("nan")])
def test_gradcheck_bad_step(reg, h):
    with pytest.raises(ValueError, match=r"h must be a positive step; got"):
        bp.gradcheck(reg, X5, Y5, h=h)


def test_gradcheck_gradient_of_wrong_length(reg):
    with pytest.raises(ValueError, match=rf"gradient must be a flat vector of length dim\(theta\) = {reg.dim_theta}; got shape \(3,\)"):
        bp.gradcheck(reg, X5, Y5, gradient=np.zeros(3))


@pytest.mark.parametrize("h, error", [("1e-4", TypeError), (True, TypeError), (float("inf"), ValueError)])
def test_gradcheck_bad_step_type(reg, h, error):
    with pytest.raises(error, match=r"h must be a positive step"):
        bp.gradcheck(reg, X5, Y5, h=h)


@pytest.mark.parametrize("tolerance, error", [(-1.0, ValueError), ("1e-6", TypeError),
                                              (float("nan"), ValueError)])
def test_gradcheck_bad_tolerance(reg, tolerance, error):
    with pytest.raises(error, match=r"tolerance must be a number >= 0"):
        bp.gradcheck(reg, X5, Y5, tolerance=tolerance)


# ----------------------------------------------------------------------------- lossy conversions
# Issue 11: np.ma input passed the NaN check with its mask dropped (loss nan, fit -> NaN θ).

MASK = np.zeros((5, 3), dtype=bool)
MASK[2, 1] = True


def _masked_X():
    X = X5.copy()
    X[2, 1] = np.nan  # what hides under the mask
    return np.ma.array(X, mask=MASK)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_masked_X_is_refused(reg, entry):
    before = reg.theta
    with pytest.raises(TypeError, match=r"X is a masked array \(numpy.ma\) with 1 masked entry "
                                        r"of 15; the mask would be dropped"):
        ENTRY_POINTS[entry](reg, _masked_X(), Y5)
    np.testing.assert_array_equal(reg.theta, before)


def test_masked_X_in_fit_leaves_theta_unchanged(reg):
    before = reg.theta
    with pytest.raises(TypeError, match=r"X is a masked array"):
        bp.fit(reg, _masked_X(), Y5, optimizer=bp.SGD(0.1), iterations=3)
    np.testing.assert_array_equal(reg.theta, before)
    assert np.all(np.isfinite(reg.theta))


def test_masked_targets_labels_and_theta_are_refused(reg, clf):
    targets = np.ma.array(Y5, mask=np.eye(5, 2, dtype=bool))
    with pytest.raises(TypeError, match=r"y is a masked array .* 2 masked entries of 10"):
        reg.loss(X5, targets)
    labels = np.ma.array(LABELS5, mask=[0, 0, 1, 0, 0])
    with pytest.raises(TypeError, match=r"y is a masked array .* 1 masked entry of 5"):
        clf.gradient(X5, labels)
    before = reg.theta
    with pytest.raises(TypeError, match=r"theta is a masked array"):
        reg.theta = np.ma.array(before + 1, mask=np.arange(before.size) == 0)
    np.testing.assert_array_equal(reg.theta, before)


def test_masked_arrays_inside_a_list_are_refused(reg):
    rows = [np.ma.array(row, mask=[0, i == 2, 0]) for i, row in enumerate(X5)]
    with pytest.raises(TypeError, match=r"X is a masked array \(numpy.ma\) with 1 masked entry"):
        reg.predict(rows)
    with pytest.raises((TypeError, ValueError), match=r"^y (is a masked array|contains NaN)"):
        reg.loss(X5, [[np.ma.masked, 1.0]] + [[0.0, 1.0]] * 4)  # the masked constant
    np.testing.assert_array_equal(reg.predict([np.ma.getdata(r) for r in rows]), reg.predict(X5))


def test_masked_array_with_nothing_masked_is_its_data(reg):
    assert reg.loss(np.ma.array(X5), np.ma.array(Y5)) == reg.loss(X5, Y5)
    assert type(reg.predict(np.ma.array(X5))) is type(reg.predict(X5))


@pytest.mark.parametrize("make, message", [
    (lambda: X5 + 1j, r"X must hold real numbers; got dtype complex128 \(complex: the imaginary"),
    (lambda: (X5 + 0j).tolist(), r"X must hold real numbers; got dtype complex128"),
    (lambda: np.array([row for row in X5], dtype=object), r"X must be an array of numbers; got "
                                                         r"an object array of shape \(5, 3\)"),
    (lambda: [[1.0, 2.0, 3.0]] * 4 + [[1.0, None, 3.0]], r"object array of shape \(5, 3\)"),
    (lambda: [list(row) for row in X5[:4]] + [[1.0, 2.0]], r"X must be an array of numbers; got "
                                                         r"list that NumPy cannot turn"),
    (lambda: X5.astype("datetime64[s]"), r"X must hold real numbers; got dtype datetime64"),
])
def test_lossy_array_likes_are_refused(reg, make, message):
    with pytest.raises(TypeError, match=message):
        reg.loss(make(), Y5)


class _FrameWithNA:
    """Stands in for a pandas DataFrame with a missing value: __array__ gives objects."""

    def __array__(self, dtype=None, copy=None):
        out = X5.astype(object)
        out[1, 2] = None  # what pandas.NA becomes in an object array
        return out


def test_array_like_with_missing_values_is_refused(reg):
    with pytest.raises(TypeError, match=r"X must be an array of numbers; got an object array"):
        reg.predict(_FrameWithNA())


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself warns
def test_matrix_subclass_becomes_a_plain_array(reg):
    np.testing.assert_array_equal(reg.predict(np.asmatrix(X5)), reg.predict(X5))
