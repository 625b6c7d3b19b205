"""backprop.datasets: the course's polyreg data exactly, the bundled sets, synthetic sets."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp


def test_polyreg_equals_the_course_generator():
    X, y = bp.datasets.polyreg()
    rng = np.random.RandomState(12)
    u = rng.rand(100, 1)
    noise = rng.randn(100, 1)
    expected = 10 - 140 * u + 400 * u**2 - 250 * u**3 + 5 * noise
    assert X.shape == (100, 1) and y.shape == (100, 1)
    np.testing.assert_allclose(X, u, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)
    assert X.min() >= 0 and X.max() < 1


def test_polyreg_is_the_same_every_call_and_noise_is_plausible():
    X1, y1 = bp.datasets.polyreg()
    X2, y2 = bp.datasets.polyreg()
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    u = X1[:, 0]
    residual = y1[:, 0] - (10 - 140 * u + 400 * u**2 - 250 * u**3)
    assert 15 < residual.var() < 35  # the noise variance is 25


def test_digits_split():
    data = bp.datasets.digits()
    X_train, X_test, y_train, y_test = data.X, data.X_test, data.y, data.y_test
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert y_train.shape == (1347,) and y_test.shape == (450,)
    assert y_train.dtype == np.int64 and X_train.dtype == np.float64
    assert X_train.min() == 0.0 and X_train.max() == 1.0 and X_test.max() <= 1.0
    # stratified: each class's share of the test set is within one example of 25 %
    total = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - total / 4) <= 1)
    again = bp.datasets.digits(seed=0)
    np.testing.assert_array_equal(again.X, X_train)
    other = bp.datasets.digits(seed=1)
    assert not np.array_equal(other.y, y_train)


def test_iris_is_standardised_with_training_statistics():
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    data = bp.datasets.iris(seed=3)
    X_train, X_test, y_train, y_test = data.X, data.X_test, data.y, data.y_test
    assert X_train.shape == (112, 4) and X_test.shape == (38, 4)
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X_train.std(axis=0), 1, atol=1e-12)
    data = load_iris()
    A, B, a, b = train_test_split(data.data, data.target, test_size=0.25, random_state=3,
                                  stratify=data.target)
    np.testing.assert_allclose(X_test, (B - A.mean(axis=0)) / A.std(axis=0), atol=1e-12)
    np.testing.assert_array_equal(y_train, a)
    np.testing.assert_array_equal(y_test, b)
    assert set(np.unique(y_test)) == {0, 1, 2}


def test_linnerud():
    from sklearn.datasets import load_linnerud

    X, Y = bp.datasets.linnerud()
    assert X.shape == (20, 3) and Y.shape == (20, 3)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Y.std(axis=0), 1, atol=1e-12)
    raw_X, raw_Y = bp.datasets.linnerud(standardize=False)
    data = load_linnerud()
    np.testing.assert_array_equal(raw_X, data.data)
    np.testing.assert_array_equal(raw_Y, data.target)


@pytest.mark.parametrize("make", [bp.datasets.spirals, bp.datasets.blobs])
def test_synthetic_sets(make):
    X, y = make(n=301, classes=4, seed=5)
    assert X.shape == (301, 2) and y.shape == (301,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [76, 75, 75, 75])
    X2, y2 = make(n=301, classes=4, seed=5)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(n=301, classes=4, seed=6)
    assert not np.array_equal(X, X3)
    assert len(np.unique(y[:20])) > 1  # rows are shuffled


def test_spirals_lie_in_the_unit_disc_without_noise():
    X, y = bp.datasets.spirals(n=90, classes=3, noise=0.0)
    assert np.all(np.linalg.norm(X, axis=1) <= 1 + 1e-12)


def test_blobs_are_separable_by_a_linear_softmax():
    X, y = bp.datasets.blobs(n=150, classes=3, std=0.3, seed=0)
    net = bp.Network([2, 3], output="softmax", seed=0)
    bp.fit(net, X, y, optimizer=bp.Adam(0.1), epochs=200)
    assert np.mean(np.argmax(net.predict(X), axis=1) == y) > 0.98


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: bp.datasets.spirals(classes=1), ValueError, "classes must be >= 2"),
        (lambda: bp.datasets.spirals(n=2, classes=3), ValueError, "n must be >= 3"),
        (lambda: bp.datasets.spirals(noise=-0.1), ValueError, "noise"),
        (lambda: bp.datasets.blobs(std=float("nan")), ValueError, "std"),
        (lambda: bp.datasets.blobs(n=10.5), TypeError, "n must be an integer"),
        (lambda: bp.datasets.digits(seed="a"), TypeError, "seed"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("value", ["no", "False", 0, 1, None, 1.0, [False]])
def test_linnerud_standardize_must_be_a_bool(value):
    # issue 11: linnerud(standardize="no") standardized (a non-empty string is truthy)
    with pytest.raises(TypeError, match=r"standardize must be True or False; got"):
        bp.datasets.linnerud(standardize=value)


def test_linnerud_accepts_numpy_bools():
    X, _ = bp.datasets.linnerud(standardize=np.False_)
    np.testing.assert_array_equal(X, bp.datasets.linnerud(standardize=False).X)
    assert np.allclose(bp.datasets.linnerud(standardize=np.True_).X.mean(axis=0), 0)


@pytest.mark.parametrize("make", [bp.datasets.digits, bp.datasets.iris])
def test_split_seed_beyond_scikit_learns_range(make):
    with pytest.raises(ValueError, match=r"seed must be at most 2\*\*32 - 1"):
        make(seed=2**32)
    with pytest.raises(TypeError, match=r"seed must be an integer"):
        make(seed="0")


LOADERS = [
    (bp.datasets.polyreg, False),
    (bp.datasets.digits, True),
    (bp.datasets.iris, True),
    (bp.datasets.linnerud, False),
    (bp.datasets.spirals, False),
    (bp.datasets.blobs, False),
]


@pytest.mark.parametrize("load, split", LOADERS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_loader_returns_a_dataset_that_unpacks_to_the_training_set(load, split):
    data = load()
    assert type(data) is bp.datasets.Dataset
    X, y = data  # the same two-item unpacking for every loader
    assert X is data.X and y is data.y
    assert X.ndim == 2 and y.shape[0] == X.shape[0] > 0
    assert (data.X_test is not None) == (data.y_test is not None) == split
    if split:
        assert data.X_test.shape[1] == X.shape[1]
        assert data.y_test.shape == (data.X_test.shape[0],)
    assert data.description and data.description in repr(data)
    with pytest.raises(ValueError, match="expected 4, got 2"):
        X_train, X_test, y_train, y_test = data  # the old order of digits/iris is gone
    with pytest.raises(AttributeError):
        data.X = X  # frozen


def test_dataset_split_sizes_and_labels():
    digits, iris = bp.datasets.digits(), bp.datasets.iris()
    assert (digits.X.shape, digits.X_test.shape) == ((1347, 64), (450, 64))
    assert (iris.X.shape, iris.X_test.shape) == ((112, 4), (38, 4))
    assert "no test split" in repr(bp.datasets.polyreg())
    assert "X_test (450, 64)" in repr(digits)
