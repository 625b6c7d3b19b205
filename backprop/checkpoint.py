"""Gradient checkpointing: keep the activations of k checkpoint layers, recompute the rest.

The backward pass of Algorithm 1 needs every a_{l-1} (line 9: ∂C/∂W_l = δ_l a_{l-1}^T, and
S'(z_{l-1}) in line 10), so plain back-propagation keeps all L of them from the forward
pass: memory grows with the depth L times the batch size n. Griewank's checkpointing
trades memory for arithmetic: the forward pass keeps a_l only at k evenly spaced layers
(the checkpoints); the backward pass then goes through the segments between them from
the last to the first, recomputing each segment's activations from its checkpoint just
before it back-propagates through it. Memory: k checkpoints plus one segment (about L/k
layers; :func:`peak_activations` counts it exactly), smallest near k = √L; cost: about one
more forward pass. The gradient is the same, up to rounding, since the same numbers are
recomputed.

k = 1 saves nothing: its one segment is the whole network, whose L activations the
backward pass needs at once, so they are all kept (as PyTorch's ``checkpoint_sequential``
with one segment). So does k = L: every layer is a checkpoint. The saving is in between.
"""

from __future__ import annotations

import numbers

from .gradients import add_weight_penalty_gradient, layer_forward, layer_gradients, previous_delta
from .losses import output_delta


def checkpoint_layers(L: int, k: int) -> list[int]:
    """The layers l whose a_l the forward pass keeps: k evenly spaced among 0, ..., L-1
    (always a_0 = x), i.e. round(j L / k) for j = 0, ..., k-1."""
    return sorted({round(j * L / k) for j in range(k)})


def peak_activations(L: int, k: int) -> int:
    """The most activations a_l that :func:`gradient` holds at once with k checkpoints:
    max over the segments j = 0, ..., k-1 of (j + 1 checkpoints kept up to its start) +
    (the other layers of that segment), i.e. max_j (j + end_j - start_j). L for k = 1 and
    for k = L (plain back-propagation keeps a_0, ..., a_{L-1})."""
    marks = checkpoint_layers(L, k)
    ends = marks[1:] + [L]
    return max(j + end - start for j, (start, end) in enumerate(zip(marks, ends, strict=True)))


def _check_k(checkpoints, L):
    if checkpoints is None:
        return L
    if isinstance(checkpoints, bool) or not isinstance(checkpoints, numbers.Integral):
        raise TypeError(f"checkpoints must be an integer k or None; got {checkpoints!r}")
    if not 1 <= checkpoints <= L:
        raise ValueError(
            f"checkpoints must be between 1 and L = {L} (the layers whose activations are "
            f"kept); got {checkpoints}"
        )
    return int(checkpoints)


def gradient(net, X, y, checkpoints=None):
    """∂ℓ_τ/∂θ (flat, θ's order), keeping the activations at ``checkpoints`` = k layers.

    Algorithm 2 in batch form, with the a_l kept only at :func:`checkpoint_layers` (and in
    the last segment, which the backward pass uses at once); the other a_l are recomputed,
    segment by segment, from the nearest checkpoint during the backward pass. At most
    :func:`peak_activations` (L, k) activations are held at once. checkpoints=None (or L)
    keeps every layer: plain back-propagation. checkpoints=1 is one segment of all L layers:
    all L activations are kept and none is recomputed, the memory of plain
    back-propagation (as ``checkpoint_sequential`` with one segment). A weight penalty's
    (α/n) W_l is added at the end, as in :func:`backprop.gradients.backpropagate`.
    """
    L = net.L
    k = _check_k(checkpoints, L)
    X, Y = net.checked_batch(X, y)
    marks = checkpoint_layers(L, k)
    kept, A = {}, X
    for l in range(1, L + 1):  # forward, keeping a_{l-1} at a checkpoint or in the last segment
        if l - 1 in marks or l - 1 > marks[-1]:
            kept[l - 1] = A
        Z, A = layer_forward(net, l, A)
    Delta = output_delta(net.xp, net.output_layer, net.loss_function, Z, A, Y) / X.shape[0]
    del Z, A
    dW, db = [None] * L, [None] * L
    ends = marks[1:] + [L]
    for start, end in reversed(list(zip(marks, ends, strict=True))):
        for l in range(start + 1, end):  # recompute a_{start+1}, ..., a_{end-1}
            if l not in kept:
                kept[l] = layer_forward(net, l, kept[l - 1])[1]
        for l in range(end, start, -1):  # back through layers end, ..., start+1
            A_prev = kept.pop(l - 1)  # a_{l-1}, dropped after its last use
            dW[l - 1], db[l - 1] = layer_gradients(net, Delta, A_prev)
            Delta = previous_delta(net, l, Delta, A_prev)
            del A_prev
    return add_weight_penalty_gradient(net.xp, net.layers, net.theta_buffer, net.alpha,
                                       X.shape[0], net.flatten(dW, db))
