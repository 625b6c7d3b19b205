"""backprop.distributed on a LocalCluster of 2 worker processes; and the fit hook it uses.

The shard sums on the workers must give net.gradient and bp.fit's θ up to rounding, also
when a worker is restarted in the middle of fit; with no worker left, a clear error.
"""

import logging
import os
import time

import numpy as np
import pytest
from dask.distributed import Client, LocalCluster

import backprop as bp
from backprop import distributed


def regression(n=103, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return bp.Network([3, 7, 2], hidden="tanh", output="identity", seed=seed), X, np.sin(X[:, :2])


def classification(n=97, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return bp.Network([4, 6, 3], hidden="relu", output="softmax", seed=seed), X, y


def relative(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


# ---------------------------------------------------------------- the fit hook (bp.fit)
@pytest.mark.parametrize("keywords", [
    dict(iterations=4),
    dict(batch_size=10, epochs=2),
    dict(batch_size=8, iterations=7, replacement=True),
])
def test_fit_hook_gets_the_batch_rows_and_follows_fit(keywords):
    net, X, y = regression(n=25)
    calls = []

    def loss_and_gradient(idx):
        calls.append(idx)
        rows = slice(None) if idx is None else idx
        return hook_net.loss_and_gradient(X[rows], y[rows])

    hook_net, reference = net.copy(), net.copy()
    plain = bp.fit(reference, X, y, seed=3, **keywords)
    hooked = bp.fit(hook_net, X, y, seed=3, loss_and_gradient=loss_and_gradient, **keywords)
    assert len(calls) == plain.iterations == hooked.iterations
    np.testing.assert_allclose(hook_net.theta, reference.theta, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hooked.loss, plain.loss, rtol=1e-12)
    if "batch_size" not in keywords:
        assert all(idx is None for idx in calls)
    elif keywords.get("replacement"):
        assert all(idx.shape == (8,) and idx.dtype.kind == "i" for idx in calls)
    else:  # each epoch is a permutation of the rows, in batches of 10, 10, 5
        assert [idx.shape[0] for idx in calls] == [10, 10, 5, 10, 10, 5]
        for epoch in (calls[:3], calls[3:]):
            assert sorted(np.concatenate(epoch).tolist()) == list(range(25))


# ---------------------------------------------------------------- gradient
@pytest.mark.parametrize("problem", [regression, classification])
def test_gradient_equals_net_gradient(client, problem):
    net, X, y = problem()
    g = distributed.gradient(net, X, y, client=client)
    assert g.shape == (net.dim_theta,) and g.dtype == np.float64
    assert relative(g, net.gradient(X, y)) < 1e-12


def test_gradient_float32_and_one_row_per_worker(client):
    net, X, y = regression(n=2)
    net = net.copy(dtype="float32")
    g = distributed.gradient(net, X, y, client=client)
    assert g.dtype == np.float32
    assert relative(g, net.gradient(X, y)) < 1e-6


def test_shards_go_one_to_each_worker(client):
    net, X, y = regression()
    shards = distributed._Shards(client, net, X, y)
    try:
        shards._scatter_lost()
        holders = {w for f in shards.futures for w in client.who_has(f)[f.key]}
        assert list(shards.bounds) == [0, 51, 103]
        assert holders == set(client.nthreads())
    finally:
        shards.release()


def test_sharded_batch_with_repeats_and_an_empty_shard(client):
    """Rows 0, 5, 5, 20 all lie in shard 0 of [0, 51) and [51, 103): shard 1 sends nothing,
    and row 5 counts twice."""
    net, X, y = regression()
    idx = np.array([5, 0, 5, 20])
    with distributed.sharded(net, X, y, client=client) as loss_and_gradient:
        loss, g = loss_and_gradient(idx)
        loss_all, g_all = loss_and_gradient(None)
        loss_mixed, g_mixed = loss_and_gradient(np.array([102, 3, 60, 3]))
    expected = net.loss_and_gradient(X[idx], y[idx])
    assert loss == pytest.approx(expected[0], rel=1e-12) and relative(g, expected[1]) < 1e-12
    assert loss_all == pytest.approx(net.loss(X, y), rel=1e-12)
    assert relative(g_all, net.gradient(X, y)) < 1e-12
    rows = np.array([102, 3, 60, 3])
    assert loss_mixed == pytest.approx(net.loss(X[rows], y[rows]), rel=1e-12)
    assert relative(g_mixed, net.gradient(X[rows], y[rows])) < 1e-12


def test_client_as_scheduler_address(client):
    net, X, y = classification()
    g = distributed.gradient(net, X, y, client=client.scheduler.address)
    assert relative(g, net.gradient(X, y)) < 1e-12


def test_release_frees_the_shards_without_a_broadcast(client):
    """The scattered shards leave the cluster when the ``with`` block ends, withdrawn by
    this client alone: a cancel would broadcast "cancelled-keys" to every client, and one
    connecting at that moment fails Dask's handshake (once in ten `make test` runs)."""
    net, X, y = regression(seed=7)

    def cancels(client):
        return sum(e.get("action") == "cancel" for _, e in client.get_events(client.id))

    before, cancels_before = set(client.who_has()), cancels(client)
    with distributed.sharded(net, X, y, client=client) as loss_and_gradient:
        loss_and_gradient(None)
        keys = set(client.who_has()) - before
        assert len(keys) >= 2  # the two shards (and shard sums not yet forgotten)
    deadline = time.monotonic() + 10
    while keys & set(client.who_has()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not keys & set(client.who_has())
    assert cancels(client) == cancels_before


def test_bad_arguments():
    net, X, y = regression()
    with pytest.raises(TypeError, match="client must be"):
        distributed.gradient(net, X, y, client=8786)
    # checked as net.gradient checks, before the client is looked at (issue 26)
    with pytest.raises(ValueError, match=r"X must have p_0 = 3 columns .*got shape \(103, 2\)"):
        distributed.gradient(net, X[:, :2], y, client=8786)
    with pytest.raises(ValueError, match=r"y has 102 rows .* but X has n = 103 rows"):
        distributed.gradient(net, X, y[:-1], client=8786)
    with pytest.raises(TypeError, match="computes loss_and_gradient itself"):
        distributed.fit(net, X, y, client=8786, iterations=1, loss_and_gradient=None)


# ---------------------------------------------------------------- issue 26: the input
def test_gradient_refuses_a_masked_X_or_y_as_net_gradient_does(client):
    net, X, y = regression(n=10)
    mask = np.zeros(X.shape, bool)
    mask[3, 1] = True
    with pytest.raises(TypeError, match=r"^X is a masked array .* 1 masked entry of 30"):
        distributed.gradient(net, np.ma.array(X, mask=mask), y, client=client)
    with pytest.raises(TypeError, match=r"^y is a masked array"):
        distributed.gradient(net, X, np.ma.array(y, mask=mask[:, :2]), client=client)
    g = distributed.gradient(net, np.ma.array(X), y, client=client)  # nothing masked: fine
    assert relative(g, net.gradient(X, y)) < 1e-12


def test_errors_name_the_row_of_the_whole_set_not_of_a_shard(client):
    """Two shards of 5 rows: a NaN in row 7 is row 7 of (10, 2), not row 2 of a shard."""
    net = bp.Network([2, 4, 3], output="softmax")
    X, y = np.random.default_rng(0).standard_normal((10, 2)), np.arange(10) % 3
    bad = X.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN .* at index \(7, 1\) \(1 non-finite "
                                         r"of 20 entries, shape \(10, 2\)\)"):
        distributed.gradient(net, bad, y, client=client)
    with pytest.raises(ValueError, match=r"y must be a 1-D array .* \(n,\) = \(10,\); got shape "
                                         r"\(10, 3\)"):
        distributed.gradient(net, X, np.eye(3)[y], client=client)
    labels = y.copy()
    labels[7] = 5
    with pytest.raises(ValueError, match=r"y must hold class labels in 0\.\.2 .* from 0 to 5"):
        distributed.fit(net, X, labels, client=client, iterations=1)


def test_a_closed_client_is_refused_naming_client(client):
    net, X, y = regression(n=10)
    closed = Client(client.scheduler.address, set_as_default=False)
    closed.close()
    before = net.theta
    for call in (lambda: distributed.gradient(net, X, y, client=closed),
                 lambda: distributed.fit(net, X, y, client=closed, iterations=2)):
        with pytest.raises(ValueError, match=r"^client is closed \(status 'closed'\)"):
            call()
    np.testing.assert_array_equal(net.theta, before)


def test_dask_arrays_as_X_and_y(client):
    """A Dask array has no __dlpack__: it is read through NumPy (computed) everywhere."""
    da = pytest.importorskip("dask.array")
    net, X, y = regression(n=20)
    Xd, yd = da.from_array(X, chunks=(7, 3)), da.from_array(y, chunks=(7, 2))
    assert net.loss(Xd, yd) == net.loss(X, y)
    assert relative(distributed.gradient(net, Xd, yd, client=client), net.gradient(X, y)) < 1e-12
    reference = net.copy()
    bp.fit(reference, X, y, iterations=3, optimizer=bp.SGD(lr=0.05))
    distributed.fit(net, Xd, yd, client=client, iterations=3, optimizer=bp.SGD(lr=0.05))
    np.testing.assert_allclose(net.theta, reference.theta, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- fit
@pytest.mark.parametrize("problem,keywords", [
    (regression, dict(iterations=6, optimizer=bp.SGD(lr=0.05))),
    (regression, dict(batch_size=16, epochs=3, optimizer="adam")),
    (classification, dict(batch_size=10, iterations=12, replacement=True, optimizer="adam")),
])
def test_fit_follows_bp_fit(client, problem, keywords):
    net, X, y = problem()
    reference = net.copy()
    expected = bp.fit(reference, X, y, seed=5, **keywords)
    history = distributed.fit(net, X, y, client=client, seed=5, **keywords)
    assert isinstance(history, bp.History) and history.iterations == expected.iterations
    np.testing.assert_allclose(net.theta, reference.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(history.loss, expected.loss, rtol=1e-9)
    np.testing.assert_allclose(history.train_loss, expected.train_loss, rtol=1e-9)


def test_fit_goes_on_when_a_worker_restarts(client, monkeypatch):
    """At step 4 the worker holding shard 0 is restarted (its data are gone); the shard is
    scattered again and the step repeated, so θ is bp.fit's."""
    net, X, y = regression()
    keywords = dict(batch_size=20, iterations=10, optimizer="adam", seed=2)
    reference = net.copy()
    bp.fit(reference, X, y, **keywords)

    original, scatter_lost = distributed._Shards.loss_and_gradient, distributed._Shards._scatter_lost
    steps, resent = [], []

    def restarting(self, idx):
        if len(steps) == 3:  # before step 4, after 3 completed steps
            holder = next(iter(client.who_has(self.futures[0])[self.futures[0].key]))
            assert client.restart_workers([holder]) == {holder: "OK"}
        steps.append(idx)
        return original(self, idx)

    def recording(self):
        resent.extend(s for s, f in enumerate(self.futures)
                      if f is not None and f.status != "finished")
        return scatter_lost(self)

    monkeypatch.setattr(distributed._Shards, "loss_and_gradient", restarting)
    monkeypatch.setattr(distributed._Shards, "_scatter_lost", recording)
    workers_before = set(client.nthreads())
    distributed.fit(net, X, y, client=client, **keywords)
    assert len(steps) == 10 and set(resent) == {0}  # only shard 0 was lost and sent again
    assert set(client.nthreads()) != workers_before  # a new worker process took its place
    np.testing.assert_allclose(net.theta, reference.theta, rtol=1e-9, atol=1e-12)


def test_no_worker_left_is_a_clear_error(monkeypatch):
    """Two in-process workers: one closes before step 4 (fit goes on with the other), the
    last before step 7: NoWorkersError with θ after 6 steps, which the network keeps."""
    net, X, y = classification()
    keywords = dict(batch_size=12, optimizer="adam", seed=4)
    after6 = net.copy()
    bp.fit(after6, X, y, iterations=6, **keywords)
    monkeypatch.setattr(distributed, "WAIT_FOR_WORKERS_S", 0.5)
    original = distributed._Shards.loss_and_gradient
    steps = []

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        with Client(cluster, set_as_default=False) as c:
            def closing(self, idx):
                if len(steps) in (3, 6):
                    left = 2 - len(steps) // 3
                    cluster.scale(left)
                    deadline = time.monotonic() + 30
                    while len(c.nthreads()) != left and time.monotonic() < deadline:
                        time.sleep(0.01)
                steps.append(idx)
                return original(self, idx)

            monkeypatch.setattr(distributed._Shards, "loss_and_gradient", closing)
            with pytest.raises(distributed.NoWorkersError, match="no Dask worker left") as error:
                distributed.fit(net, X, y, client=c, iterations=10, **keywords)
    assert isinstance(error.value, RuntimeError) and len(steps) == 7
    np.testing.assert_allclose(error.value.theta, after6.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(net.theta, error.value.theta)


def test_default_client_is_one_local_cluster_started_once(monkeypatch):
    """client=None starts one LocalCluster of one single-threaded worker process per core
    (here built in-process, to keep the test fast) and reuses it."""
    started = []

    def local_cluster(**keywords):
        started.append(keywords)
        return LocalCluster(**{**keywords, "n_workers": 2, "processes": False})

    monkeypatch.setattr(distributed, "LocalCluster", local_cluster)
    net, X, y = regression(n=30)
    try:
        g = distributed.gradient(net, X, y)
        first = distributed._local_client()
        assert distributed._local_client() is first and len(started) == 1
        assert started[0]["n_workers"] == len(os.sched_getaffinity(0))
        assert started[0]["processes"] is True and started[0]["threads_per_worker"] == 1
        assert relative(g, net.gradient(X, y)) < 1e-12
    finally:
        distributed._close_local()
    assert distributed._local is None
