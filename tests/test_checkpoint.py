"""Checkpointed gradients: the same gradient, up to rounding, with less memory."""

from __future__ import annotations

import tracemalloc

import pytest

import backprop as bp
from backprop.checkpoint import checkpoint_layers


def test_checkpoint_layers_are_evenly_spaced():
    assert checkpoint_layers(24, 5) == [0, 5, 10, 14, 19]
    assert checkpoint_layers(6, 6) == [0, 1, 2, 3, 4, 5]
    assert checkpoint_layers(7, 1) == [0]
    assert checkpoint_layers(9, 3) == [0, 3, 6]


@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"), ("tanh", "squared_error"),
                                          ("softmax_reduced", "cross_entropy")])
def test_every_k_gives_the_same_gradient(backend, batch, rel, output, loss):
    net = bp.Network([4, 6, 5, 6, 5, 6, 3], hidden=["tanh", "relu", "logistic", "tanh", "relu"],
                     output=output, loss=loss, init="xavier", seed=5, backend=backend)
    X, y = batch(net, 9)
    reference = net.gradient(X, y)
    for k in [None, 1, 2, 3, 4, 5, 6]:
        assert rel(bp.checkpoint.gradient(net, X, y, k), reference) < 1e-13, k


def test_single_layer_network(batch, rel):
    net = bp.Network([3, 2], hidden=[], output="softmax", seed=1)
    X, y = batch(net, 4)
    assert rel(bp.checkpoint.gradient(net, X, y, 1), net.gradient(X, y)) < 1e-14


@pytest.mark.parametrize("k, error, match", [
    (0, ValueError, "between 1 and L = 3"), (4, ValueError, "got 4"),
    (2.0, TypeError, "integer k or None"), (True, TypeError, "integer k or None"),
])
def test_bad_checkpoints_are_rejected(batch, k, error, match):
    net = bp.Network([2, 3, 3, 1], seed=0)
    X, y = batch(net, 2)
    with pytest.raises(error, match=match):
        bp.checkpoint.gradient(net, X, y, k)


def peak_bytes(f):
    """The peak of NumPy's traced allocations while f runs, in bytes."""
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_five_checkpoints_on_24_layers_need_at_most_60_percent_of_the_memory(batch, rel):
    # Activations dominate: n = 2048 rows of width 32 (512 kB a layer), θ only 200 kB.
    net = bp.Network([32] * 24 + [10], hidden="tanh", output="softmax", init="xavier", seed=0)
    assert net.L == 24
    X, y = batch(net, 2048)
    fresh = net.copy()  # its first gradient allocates its workspace: all the activations
    plain = peak_bytes(lambda: fresh.gradient(X, y))
    all_kept = peak_bytes(lambda: bp.checkpoint.gradient(net, X, y, None))
    five = peak_bytes(lambda: bp.checkpoint.gradient(net, X, y, 5))
    assert all_kept > 23 * 2048 * 32 * 8  # every hidden a_l was held at once
    assert five <= 0.6 * plain
    assert five <= 0.6 * all_kept
    assert rel(bp.checkpoint.gradient(net, X, y, 5), net.gradient(X, y)) < 1e-13


def test_network_gradient_with_checkpoints(batch, rel):
    net = bp.Network([3, 5, 5, 5, 2], hidden="tanh", output="softmax", seed=2)
    X, y = batch(net, 7)
    assert rel(net.gradient(X, y, checkpoints=2), bp.checkpoint.gradient(net, X, y, 2)) == 0
    assert rel(net.gradient(X, y, checkpoints=2), net.gradient(X, y)) < 1e-13
