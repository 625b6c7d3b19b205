"""Several threads using one network at once get what serial calls get."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import backprop as bp


@pytest.fixture
def fast_switching():
    """Switch threads every microsecond, so that races show up within a short test."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _calls(net, rng):
    """(name, function, expected) for every read-only method, on batches of mixed sizes."""
    theta2 = net.theta + 0.1 * rng.standard_normal(net.dim_theta)
    calls = []
    for n in (1, 7, 64, 200):
        X = rng.standard_normal((n, net.p[0]))
        y = rng.integers(0, net.K, n)
        for name, f in [
            ("gradient", lambda X=X, y=y: net.gradient(X, y)),
            ("loss_and_gradient", lambda X=X, y=y: net.loss_and_gradient(X, y)[1]),
            ("loss", lambda X=X, y=y: net.loss(X, y)),
            ("loss_at", lambda X=X, y=y: net.loss_at(theta2, X, y)),
            ("predict", lambda X=X: net.predict(X)),
            ("forward", lambda X=X: net.forward(X)[0][-1]),
        ]:
            calls.append((f"{name}(n={n})", f, np.array(f(), copy=True)))
    return calls


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
def test_threads_get_serial_results(fast_switching, backend):
    if backend not in bp.available_backends():
        pytest.skip(f"{backend} is not installed")
    net = bp.Network([6, 16, 12, 3], hidden="tanh", output="softmax", seed=3, backend=backend)
    rng = np.random.default_rng(0)
    calls = _calls(net, rng)
    theta0 = net.theta
    errors, wrong = [], []

    def work(k):
        order = np.random.default_rng(k).permutation(len(calls))
        try:
            for _ in range(30 if backend == "numpy" else 6):
                for i in order:
                    name, f, expected = calls[i]
                    got = bp.to_numpy(f()) if backend != "numpy" else f()
                    if not np.allclose(got, expected, rtol=1e-13, atol=0):
                        wrong.append(name)
        except Exception as err:  # noqa: BLE001 - any exception in a thread is a failure
            errors.append(repr(err))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert wrong == []
    np.testing.assert_array_equal(net.theta, theta0)


def test_loss_at_never_writes_theta(monkeypatch):
    # A gradient computed while loss_at runs in another thread used to see the other θ.
    net = bp.Network([2, 5, 1], hidden="tanh", seed=1)
    X = np.random.default_rng(0).standard_normal((10, 2))
    y = np.zeros((10, 1))
    theta0 = net.theta
    writes = []
    buffer = net.theta_buffer

    class Spy(np.ndarray):
        def __setitem__(self, key, value):
            writes.append(key)
            super().__setitem__(key, value)

    monkeypatch.setattr(net, "_theta", buffer.view(Spy))
    assert net.loss_at(theta0 + 1.0, X, y) != net.loss(X, y)
    assert writes == []
    np.testing.assert_array_equal(net.theta, theta0)
