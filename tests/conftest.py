"""Shared fixtures: the backend a test runs on, and the hypothesis profiles.

The ``backend`` fixture runs a test once per array library, as scipy's conftest ``xp``
fixture does: NumPy, the minimal reference ``array_api_strict`` (which accepts nothing
beyond the array API standard, so passing on it shows the package is array-API-only code),
and CuPy when a CUDA device is there (skipped, with the reason, otherwise).

Hypothesis profiles (pick one with HYPOTHESIS_PROFILE=...):
  default  what ``make test`` runs: derandomized (the same examples on every run and every
           machine) and no example database, so CI never fails by chance; bounded, so the
           property tests stay well under a minute on one core
  thorough ``make test-thorough``: many fresh random examples (a new seed each run unless
           --hypothesis-seed=N is given), to look for examples that break a bound
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import backprop as bp

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("default", max_examples=60, derandomize=True, database=None, **_COMMON)
settings.register_profile("thorough", max_examples=1000, derandomize=False, **_COMMON)
# make mutation runs every mutant against the tests that reach it; a wrong formula fails on
# the first few examples, so there the property tests draw 10 (same derandomized stream).
settings.register_profile("mutation", max_examples=10, derandomize=True, database=None, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config):
    # mutmut forks one process per mutant from one that imported this file already, and
    # names the mutant in MUTANT_UNDER_TEST, so the choice is made per session, here.
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if "MUTANT_UNDER_TEST" in os.environ:
        # A process forked while tqdm's monitor thread holds its lock waits forever on a
        # progress bar; without the thread (it only tunes miniters) nothing can hold it.
        # tqdm's write lock is a multiprocessing lock, one semaphore shared by every forked
        # worker: a worker stopped at its time limit while holding it would block the
        # progress bar of every later one; a thread lock is each worker's own.
        import threading

        from tqdm import tqdm

        tqdm.monitor_interval = 0
        tqdm.set_lock(threading.RLock())
    if "HYPOTHESIS_PROFILE" not in os.environ and mutant not in ("", "stats", "list_all_tests"):
        settings.load_profile("mutation")


CUPY_REASON = "CuPy with a CUDA device is not available (bp.cupy_available() is False)"

BACKENDS = [
    "numpy",
    "array_api_strict",
    pytest.param(
        "cupy",
        marks=[pytest.mark.gpu, pytest.mark.skipif(not bp.cupy_available(), reason=CUPY_REASON)],
    ),
]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """The name of a backend: 'numpy', 'array_api_strict' or 'cupy' (skipped without a GPU).

    Session-scoped so that hypothesis's @given tests can use it (its value never changes
    between examples).
    """
    return request.param


@pytest.fixture(scope="session")
def xp(backend):
    """The array namespace of ``backend``, from bp.get_namespace."""
    return bp.get_namespace(backend)


def make_batch(net, n: int, seed: int = 0):
    """A random batch (X, y) that fits ``net``: labels 0..K-1 for cross-entropy, else
    N(0, 1) targets of shape (n, p_L). NumPy arrays (the network moves them itself)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, net.p[0]))
    if net.loss_name == "cross_entropy":
        y = rng.integers(0, net.K, size=n)
    else:
        y = rng.standard_normal((n, net.p[-1]))
    return X, y


@pytest.fixture(scope="session")
def batch():
    """The function make_batch(net, n, seed=0) -> (X, y), for tests that need data."""
    return make_batch


def rel_error(a, b) -> float:
    """‖a - b‖ / max(‖a‖, ‖b‖) on NumPy copies (0 when both are zero)."""
    a = np.asarray(bp.to_numpy(a), dtype=np.float64)
    b = np.asarray(bp.to_numpy(b), dtype=np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


@pytest.fixture(scope="session")
def rel():
    """The function rel_error(a, b) -> float, for arrays of any backend."""
    return rel_error


@pytest.fixture(scope="module")
def client():
    """A 2-worker Dask cluster of single-threaded processes, one per test module that asks.

    Not under mutmut: a cluster started inside its forked workers sits idle until the
    mutant's time limit (the reason test_distributed.py is left out there too)."""
    import logging

    if "MUTANT_UNDER_TEST" in os.environ:
        pytest.skip("no Dask cluster inside mutmut's forked workers")

    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        with Client(cluster, set_as_default=False) as c:
            yield c
