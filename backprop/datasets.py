"""Data sets for the book: the course's polynomial regression, three small real sets
bundled with scikit-learn (no download), and two seeded synthetic 2-D classification sets.

Every loader returns a :class:`Dataset` of NumPy arrays: inputs X of shape (n, p_0), one
example per row; regression targets of shape (n, p_L); class labels as int64 of shape (n,)
in 0..K-1. Unpacking gives the training set, the same for every loader::

    X, y = bp.datasets.digits()        # the 1347 training examples
    data = bp.datasets.digits()        # data.X_test, data.y_test: the 450 held-out ones

scikit-learn is imported inside the functions that need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as check


@dataclass(frozen=True, repr=False, eq=False)
class Dataset:
    """One data set: training inputs ``X`` and targets ``y``, and a held-out test part.

    ``X_test`` and ``y_test`` are None for sets without a split (polyreg, linnerud, spirals,
    blobs). ``X, y = dataset`` unpacks the training part, for every loader alike.
    ``description`` says in one line what the set is.
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    description: str = ""

    def __iter__(self):
        # two items, so `X, y = loader()` means the same for split and unsplit sets
        return iter((self.X, self.y))

    def __repr__(self) -> str:
        test = f", X_test {self.X_test.shape}, y_test {self.y_test.shape}" if (
            self.X_test is not None) else ", no test split"
        return f"Dataset(X {self.X.shape}, y {self.y.shape}{test}: {self.description})"


def polyreg():
    """Dataset with X, y of shape (100, 1): the course's polynomial-regression data.

    u ~ U(0, 1) and y = 10 - 140 u + 400 u² - 250 u³ + 5 ε with ε ~ N(0, 1), drawn with
    NumPy's legacy ``RandomState(12)``: first u = rand(100, 1), then ε = randn(100, 1).
    X = u. The noise variance is 25, the floor for the expected squared error of any fit.
    """
    rng = np.random.RandomState(12)
    u = rng.rand(100, 1)
    noise = rng.randn(100, 1)
    y = 10 - 140 * u + 400 * u**2 - 250 * u**3 + 5 * noise
    return Dataset(u, y, description="the course's polynomial regression, n = 100")


def _check_split_seed(seed) -> int:
    """An integer seed in scikit-learn's range 0..2**32 - 1."""
    seed = check.check_int(seed, "seed")
    if seed >= 2**32:
        raise ValueError(f"seed must be at most 2**32 - 1 (scikit-learn's range); got {seed}")
    return seed


def _split(X, y, seed):
    from sklearn.model_selection import train_test_split

    seed = _check_split_seed(seed)
    return train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)


def digits(seed: int = 0):
    """Dataset with a test split: the 8x8 handwritten digits, 10 classes.

    1797 images from ``sklearn.datasets.load_digits``; X holds the 64 pixel intensities
    (0..16) divided by 16, so every entry lies in [0, 1]. A stratified 75/25 split
    (``train_test_split(..., test_size=0.25, stratify=y, random_state=seed)``):
    1347 training and 450 test examples.
    """
    from sklearn.datasets import load_digits

    seed = _check_split_seed(seed)  # before the (slower) loading
    data = load_digits()
    X = data.data.astype(np.float64) / 16.0
    y = data.target.astype(np.int64)
    X_train, X_test, y_train, y_test = _split(X, y, seed)
    return Dataset(X_train, y_train, X_test, y_test,
                   description="8x8 handwritten digits scaled to [0, 1], 10 classes")


def iris(seed: int = 0):
    """Dataset with a test split: Fisher's iris, 4 features, 3 classes.

    150 flowers from ``sklearn.datasets.load_iris``, split 75/25 with stratification
    (112 training, 38 test). Each feature is standardised with the mean and standard
    deviation (ddof=0) of the *training* part only, applied to both parts, so no
    information from the test set leaks into training.
    """
    from sklearn.datasets import load_iris

    seed = _check_split_seed(seed)
    data = load_iris()
    X_train, X_test, y_train, y_test = _split(
        data.data.astype(np.float64), data.target.astype(np.int64), seed
    )
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return Dataset((X_train - mean) / std, y_train, (X_test - mean) / std, y_test,
                   description="Fisher's iris, 4 standardised features, 3 classes")


def linnerud(standardize: bool = True):
    """Dataset with X, y of shape (20, 3): a small real multi-output regression set.

    From ``sklearn.datasets.load_linnerud``: for 20 middle-aged men, the inputs are three
    exercises (chin-ups, sit-ups, jumps) and the outputs three physiological measurements
    (weight, waist, pulse). With ``standardize=True`` (default) every column of X and of Y
    is centred and scaled to unit standard deviation (ddof=0) over the 20 rows, so the
    three outputs weigh alike in the squared error ||y - g||²; with False, the raw values.
    """
    from sklearn.datasets import load_linnerud

    standardize = check.check_bool(standardize, "standardize")
    data = load_linnerud()
    X = data.data.astype(np.float64)
    Y = data.target.astype(np.float64)
    if standardize:
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        Y = (Y - Y.mean(axis=0)) / Y.std(axis=0)
    return Dataset(X, Y, description="Linnerud: 3 exercises -> 3 body measurements, n = 20")


def _class_sizes(n: int, classes: int) -> list[int]:
    """n split over the classes as evenly as possible (the first n mod K get one more)."""
    return [n // classes + (k < n % classes) for k in range(classes)]


def spirals(n: int = 300, classes: int = 3, noise: float = 0.2, seed: int = 0):
    """Dataset (X, y): ``classes`` interleaved spiral arms in the plane, ``n`` points in all.

    Arm k has radii r evenly spaced in [0, 1] and angles t = 4k + 4r + ``noise`` · N(0, 1)
    (radians); a point is r (sin t, cos t). The classes cannot be split by lines, so a
    hidden layer is needed. Rows are shuffled. X: (n, 2), y: (n,) int64 labels 0..classes-1.
    """
    classes = check.check_int(classes, "classes", minimum=2)
    n = check.check_int(n, "n", minimum=classes)
    noise = check.check_nonnegative(noise, "noise")
    rng = np.random.default_rng(check.check_int(seed, "seed"))
    Xs, ys = [], []
    for k, m in enumerate(_class_sizes(n, classes)):
        r = np.linspace(0.0, 1.0, m)
        t = 4.0 * k + 4.0 * r + noise * rng.standard_normal(m)
        Xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        ys.append(np.full(m, k, dtype=np.int64))
    order = rng.permutation(n)
    return Dataset(np.concatenate(Xs)[order], np.concatenate(ys)[order],
                   description=f"{classes} spiral arms in the plane, n = {n}")


def blobs(n: int = 300, classes: int = 3, std: float = 0.6, radius: float = 2.0, seed: int = 0):
    """Dataset (X, y): ``classes`` Gaussian clouds in the plane, ``n`` points in all.

    Class k is N(c_k, std² I) with centres c_k = radius (cos 2πk/K, sin 2πk/K) evenly spaced
    on a circle; small ``std`` gives well-separated, nearly linearly separable classes.
    Rows are shuffled. X: (n, 2), y: (n,) int64 labels 0..classes-1.
    """
    classes = check.check_int(classes, "classes", minimum=2)
    n = check.check_int(n, "n", minimum=classes)
    std = check.check_nonnegative(std, "std")
    radius = check.check_nonnegative(radius, "radius")
    rng = np.random.default_rng(check.check_int(seed, "seed"))
    Xs, ys = [], []
    for k, m in enumerate(_class_sizes(n, classes)):
        angle = 2 * np.pi * k / classes
        centre = radius * np.array([np.cos(angle), np.sin(angle)])
        Xs.append(centre + std * rng.standard_normal((m, 2)))
        ys.append(np.full(m, k, dtype=np.int64))
    order = rng.permutation(n)
    return Dataset(np.concatenate(Xs)[order], np.concatenate(ys)[order],
                   description=f"{classes} Gaussian clouds in the plane, n = {n}")
