"""The data-parallel gradient and fit on Dask workers ("Beyond one machine", Part IV).

Algorithm 2 returns an average over the n examples, and an average is a sum divided by n.
Split the rows of the training set into m shards τ_1, ..., τ_m; then

    ∂ℓ_τ/∂θ = (1/n) Σ_{i=1}^n ∂C_i/∂θ = (1/n) Σ_{s=1}^m ( Σ_{i∈τ_s} ∂C_i/∂θ ),

so each worker computes the sum in brackets over its own shard with the package (|τ_s|
times the mean that ``Network.loss_and_gradient`` returns), and the driver adds the m sums
and divides by n. A mini-batch B splits the same way, with B ∩ τ_s in place of τ_s. A
weight penalty (``alpha``) depends on θ alone, not on the rows: the driver adds its
(α/2n) Σ‖W_l‖² and (α/n) W_l once, after the sum (the workers' networks have none).

The shards go to the workers once (``client.scatter``); each step sends θ to every worker
that holds rows of the batch, in a task pinned to that worker, and gathers one gradient
sum from each: gather-to-one, with the driver as the hub. :func:`sharded` gives the step
as the ``loss_and_gradient`` hook of ``bp.fit``; :func:`gradient` and :func:`fit` use it.

The driver keeps its copy of the shards, so a shard lost with its worker is scattered
again to a worker that is left and the step is repeated with the same θ: the result does
not change. When no worker is left, :class:`NoWorkersError` says so.

``client`` is a ``dask.distributed.Client`` (of any cluster; a closed one is refused), a
scheduler address such as ``"tcp://scheduler:8786"``, or None: a local cluster of one worker
process per core, started on first use and closed when the interpreter exits. The workers
need this package installed (``import backprop`` must work there).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from concurrent.futures import CancelledError

import numpy as np
from distributed import Client, LocalCluster
from distributed.scheduler import KilledWorker

from .backend import to_numpy
from .gradients import add_weight_penalty_gradient, weight_penalty
from .history import History
from .network import Network
from .train import fit as _fit

WAIT_FOR_WORKERS_S = 10.0  # how long a step waits for a worker to (re)appear before failing
POLL_S = 0.25  # how often a waiting step checks that workers are left
MAX_ATTEMPTS = 5  # tries of one step when shards keep getting lost


class NoWorkersError(RuntimeError):
    """No Dask worker is left to compute a shard's sum.

    ``theta`` holds θ after the last completed step (a NumPy copy; the network has it too).
    """

    def __init__(self, message: str, theta: np.ndarray):
        super().__init__(message)
        self.theta = theta


class _Shard:
    """Rows of (X, y) and the network's description; held by a worker, which builds its own
    NumPy copy of the network once and reuses it for every step."""

    def __init__(self, spec: dict, X: np.ndarray, y: np.ndarray):
        self.spec, self.X, self.y = spec, X, y
        self.net = None

    def __getstate__(self):
        return {"spec": self.spec, "X": self.X, "y": self.y, "net": None}


def _shard_sum(shard: _Shard, theta: np.ndarray, rows):
    """(Σ C_i, Σ ∂C_i/∂θ) over the shard's ``rows`` (all of them for None) at θ; on a worker."""
    if shard.net is None:
        shard.net = Network(**shard.spec)
    shard.net.theta = theta
    X, y = (shard.X, shard.y) if rows is None else (shard.X[rows], shard.y[rows])
    loss, grad = shard.net.loss_and_gradient(X, y)
    return X.shape[0] * loss, X.shape[0] * grad


def _host_batch(net: Network, X, y):
    """(X, y) checked by the network on the driver, as NumPy arrays for the shards.

    The whole set is checked here, before it is cut into shards, so an error names the
    row of the caller's X and its n, not a position inside one worker's shard, and
    nothing (a mask, an imaginary part) is dropped on the way. X comes back in the network's
    dtype; y as int64 labels (classification) or as the (n, p_L) targets.
    """
    X, Y = net.checked_batch(X, y)
    if net.loss_function.classification:  # the one-hot rows e_{y+1} back to labels y
        return np.asarray(to_numpy(X)), np.argmax(np.asarray(to_numpy(Y)), axis=1)
    return np.asarray(to_numpy(X)), np.asarray(to_numpy(Y))


class _Shards:
    """The training set split into contiguous shards, one per worker thread, scattered on
    first use and again when a worker holding one is lost."""

    def __init__(self, client: Client, net: Network, X, y):
        X, y = _host_batch(net, X, y)
        n = X.shape[0]
        self.client, self.net, self.n = client, net, n
        m = max(1, min(sum(self._wait_for_workers().values()), n))
        self.bounds = np.array([s * n // m for s in range(m + 1)])
        spec = dict(p=net.p, hidden=list(net.hidden), output=net.output, loss=net.loss_name,
                    init=net.init, seed=net.seed, dtype=net.dtype, backend="numpy")
        self.data = [_Shard(spec, X[lo:hi], y[lo:hi])
                     for lo, hi in zip(self.bounds[:-1], self.bounds[1:], strict=True)]
        self.futures = [None] * m
        self.holders = [None] * m  # the worker each shard was sent to; its tasks run there

    def _wait_for_workers(self) -> dict:
        """The workers' thread counts, once there is at least one (NoWorkersError if none
        appears within WAIT_FOR_WORKERS_S)."""
        deadline = time.monotonic() + WAIT_FOR_WORKERS_S
        while not (workers := self.client.nthreads()):
            if time.monotonic() > deadline:
                raise NoWorkersError(
                    f"no Dask worker left (waited {WAIT_FOR_WORKERS_S:g} s for one to join); "
                    "theta after the last completed step is in .theta and in the network",
                    self.net.theta,
                )
            time.sleep(POLL_S)
        return workers

    def _scatter_lost(self) -> None:
        lost = [s for s, f in enumerate(self.futures) if f is None or f.status != "finished"]
        if not lost:
            return
        threads = self._wait_for_workers()
        load = dict.fromkeys(threads, 0.0)  # shards per thread on each worker
        for s, holder in enumerate(self.holders):
            if s not in lost and holder in load:
                load[holder] += 1 / threads[holder]
        for s in lost:  # each to the least loaded worker
            worker = min(load, key=load.get)
            load[worker] += 1 / threads[worker]
            self.futures[s] = self.client.scatter(self.data[s], workers=[worker], hash=False)
            self.holders[s] = worker

    def _gather(self, futures) -> list:
        # Wait on callbacks rather than on Future.result(timeout=...), whose timeout can race
        # with the result under load; between waits, check that a worker is left.
        arrived = threading.Semaphore(0)
        for future in futures:
            future.add_done_callback(lambda _: arrived.release())
        for _ in futures:
            while not arrived.acquire(timeout=POLL_S):
                self._wait_for_workers()  # raises when the last worker is gone
        return self.client.gather(futures)

    def sums(self, rows):
        """(Σ C_i, Σ ∂C_i/∂θ) over rows[s] of each shard s (None: all), at the network's θ."""
        theta = self.net.theta
        for _ in range(MAX_ATTEMPTS):
            try:
                self._scatter_lost()
                # Pinned to the shard's worker: the data stay where they were sent.
                futures = [self.client.submit(_shard_sum, self.futures[s], theta, r, pure=False,
                                              workers=[self.holders[s]],
                                              allow_other_workers=False)
                           for s, r in enumerate(rows) if r is None or r.size]
                results = self._gather(futures)
            except (CancelledError, KilledWorker, OSError):
                continue  # a worker was lost: scatter its shards again, same θ
            loss = sum(loss for loss, grad in results)
            grad = results[0][1]
            for _, g in results[1:]:
                grad = grad + g
            return float(loss), grad
        raise RuntimeError(f"a step failed {MAX_ATTEMPTS} times in a row as workers were lost")

    def loss_and_gradient(self, idx):
        """(ℓ_B, ∂ℓ_B/∂θ), the means over the batch rows ``idx`` (None: all n rows)."""
        if idx is None:
            rows, count = [None] * len(self.data), self.n
        else:
            shard = np.searchsorted(self.bounds, idx, side="right") - 1
            rows = [idx[shard == s] - self.bounds[s] for s in range(len(self.data))]
            count = idx.shape[0]
        loss, grad = self.sums(rows)
        net, xp = self.net, self.net.xp
        grad = xp.asarray(grad / count, dtype=net.theta_buffer.dtype)
        # the weight penalty of the batch, once on the driver (the workers' copies have none)
        loss = loss / count + float(weight_penalty(xp, net.layers, net.theta_buffer, net.alpha,
                                                   count))
        return loss, add_weight_penalty_gradient(xp, net.layers, net.theta_buffer, net.alpha,
                                                 count, grad)

    def release(self) -> None:
        # Future.release withdraws only this client's claim on each shard. Client.cancel
        # would also broadcast "cancelled-keys" to every client of the scheduler, and a
        # Client whose handshake is under way then fails distributed's own check of it
        # (`assert len(msg) == 1` in Client._ensure_connected, distributed 2026.8).
        for future in self.futures:
            if future is not None:
                future.release()


_local = None
_local_lock = threading.Lock()


def _local_client() -> Client:
    """The embedded default: a LocalCluster with one worker process per core, started once."""
    global _local
    with _local_lock:
        if _local is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
            cluster = LocalCluster(
                n_workers=cores or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                dashboard_address=":0", silence_logs=logging.ERROR,
            )  # ":0": any free port (None would still take 8787 for the HTTP routes)
            _local = Client(cluster, set_as_default=False)
            atexit.register(_close_local)
    return _local


def _close_local() -> None:
    global _local
    with _local_lock:
        if _local is not None:
            cluster = _local.cluster
            _local.close()
            cluster.close()
            _local = None


@contextlib.contextmanager
def _connect(client):
    if client is None:
        yield _local_client()
    elif isinstance(client, Client):
        if client.status in ("closing", "closed"):  # its scheduler handle is gone
            raise ValueError(
                f"client is closed (status {client.status!r}); pass a running "
                "dask.distributed.Client, a scheduler address such as 'tcp://scheduler:8786', "
                "or None for a local cluster"
            )
        yield client
    elif isinstance(client, str):
        with Client(client, set_as_default=False) as connected:
            yield connected
    else:
        raise TypeError(
            "client must be a dask.distributed.Client, a scheduler address such as "
            f"'tcp://scheduler:8786', or None; got {type(client).__name__}"
        )


@contextlib.contextmanager
def sharded(net: Network, X, y, client=None):
    """Yields ``loss_and_gradient(idx)``: (ℓ_B, ∂ℓ_B/∂θ) at the network's θ, from Dask workers.

    Implements ∂ℓ_B/∂θ = (1/|B|) Σ_s Σ_{i∈B∩τ_s} ∂C_i/∂θ over shards τ_s of the rows of
    (X, y): ``idx`` is a 1-D NumPy array of row indices B (repeats count), or None for all
    n rows. The callable is the ``loss_and_gradient`` hook of ``bp.fit``. The shards are
    scattered at its first call (so that bad data fail in the caller's checks first) and
    released when the ``with`` block ends.
    """
    with _connect(client) as connected:
        shards = None

        def loss_and_gradient(idx):
            nonlocal shards
            if shards is None:
                shards = _Shards(connected, net, X, y)
            return shards.loss_and_gradient(idx)

        try:
            yield loss_and_gradient
        finally:
            if shards is not None:
                shards.release()


def gradient(net: Network, X, y, client=None):
    """∂ℓ_τ/∂θ, flat in θ's order, as the sum of per-shard sums on Dask workers divided by n.

    Implements ∂ℓ_τ/∂θ = (1/n) Σ_s Σ_{i∈τ_s} ∂C_i/∂θ (Algorithm 2, line 3, split over the
    shards τ_s); equal to ``net.gradient(X, y)`` up to rounding. X: (n, p_0); y as for
    ``net.gradient``, and checked as it checks them, on the driver and before any worker
    is asked (the errors name rows of X and y as given). The data are scattered once per
    call. Returns an array of the network's backend and dtype, shape (dim_theta,).
    """
    X, y = _host_batch(net, X, y)
    with sharded(net, X, y, client) as loss_and_gradient:
        return loss_and_gradient(None)[1]


def fit(net: Network, X, y, client=None, **keywords) -> History:
    """Train ``net`` in place on Dask workers; returns the :class:`~backprop.train.History`.

    ``bp.fit(net, X, y, loss_and_gradient=..., **keywords)`` with the callable of
    :func:`sharded`: the shards are scattered once, every step sends θ and gathers the
    sums for the batch rows each shard holds. Same batches, optimiser and stopping rules
    as ``bp.fit`` with the same seed, so θ follows it up to rounding. The evaluations of
    ``bp.fit`` (loss on the whole set) run on the driver; pass ``evaluate_every`` to make
    them rare. A lost worker's shards are scattered again and the step repeated;
    :class:`NoWorkersError` when no worker is left.
    """
    if "loss_and_gradient" in keywords:
        raise TypeError("distributed.fit computes loss_and_gradient itself; do not pass one")
    with sharded(net, X, y, client) as loss_and_gradient:
        return _fit(net, X, y, loss_and_gradient=loss_and_gradient, **keywords)
