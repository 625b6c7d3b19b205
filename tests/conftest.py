"""Shared fixtures: the backend a test runs on, and the hypothesis profiles.

The ``backend`` fixture runs a test once per array library, as scipy's conftest ``xp``
fixture does: NumPy, the minimal reference ``array_api_strict`` (which accepts nothing
beyond the array API standard, so passing on it shows the package is array-API-only code),
PyTorch and JAX on the CPU (the libraries readers have; JAX's arrays cannot be written, so
passing on it shows θ is written in one place), and CuPy when a CUDA device is there
(skipped, with the reason, otherwise).

Hypothesis profiles (pick one with HYPOTHESIS_PROFILE=...):
  default  what ``make test`` runs: derandomized (the same examples on every run and every
           machine) and no example database, so CI never fails by chance; bounded, so the
           property tests stay well under a minute on one core
  thorough ``make test-thorough``: many fresh random examples (a new seed each run unless
           --hypothesis-seed=N is given), to look for examples that break a bound
"""

from __future__ import annotations

import os

# JAX (imported only when a test asks for backend='jax') compiles every operation for every new
# shape; XLA's cheapest optimisation level halves that compile time, and the tests time nothing
# on JAX. Set before JAX is imported, and only where the caller has not chosen flags.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 "
                                   "--xla_llvm_disable_expensive_passes=true")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import backprop as bp  # noqa: E402

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

TORCH_REASON = "PyTorch is not installed (pip install torch==2.13.0, in requirements.txt)"
JAX_REASON = "JAX is not installed (pip install 'jax[cpu]==0.10.2', in requirements.txt)"

BACKENDS = [
    "numpy",
    "array_api_strict",
    pytest.param("torch", marks=[pytest.mark.torch, pytest.mark.skipif(
        not bp.backend.torch_available(), reason=TORCH_REASON)]),
    pytest.param("jax", marks=[pytest.mark.jax, pytest.mark.skipif(
        not bp.backend.jax_available(), reason=JAX_REASON)]),
    pytest.param(
        "cupy",
        marks=[pytest.mark.gpu, pytest.mark.skipif(not bp.cupy_available(), reason=CUPY_REASON)],
    ),
]


# JAX compiles each operation anew for every new array shape, about a millisecond each, so a
# property test, whose examples are networks and batches of drawn shapes, costs ~1 s per
# example there (NumPy: ~10 ms). Under the default profile (make test) those tests draw the
# first JAX_EXAMPLES examples of the same derandomized stream on JAX; every other test, and
# every property test on the other backends and under make test-thorough, runs in full.
# Measured on a 2-core machine shared with other jobs: the JAX part of the suite took 7 min
# with all 60 examples, the three property tests of test_gradients.py alone 3.5 min of it.
JAX_EXAMPLES = 6


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    test = getattr(item, "obj", None)
    callspec = getattr(item, "callspec", None)
    if (callspec is None or callspec.params.get("backend") != "jax"
            or os.environ.get("HYPOTHESIS_PROFILE", "default") != "default"
            or not hasattr(test, "_hypothesis_internal_use_settings")):
        return (yield)
    # hypothesis reads a test's settings when it is called: fewer examples for this item only
    original = test._hypothesis_internal_use_settings
    test._hypothesis_internal_use_settings = settings(
        original, max_examples=min(original.max_examples, JAX_EXAMPLES))
    try:
        return (yield)
    finally:
        test._hypothesis_internal_use_settings = original


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """The name of a backend: 'numpy', 'array_api_strict', 'torch' and 'jax' (on the CPU;
    each skipped where its library is not installed) or 'cupy' (skipped without a GPU).

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
