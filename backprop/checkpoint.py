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

from ._batch import batch, head
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
    back-propagation (as ``checkpoint_sequential`` with one segment).
    """
    xp, L = net.xp, net.L
    k = _check_k(checkpoints, L)
    X, Y = batch(net, X, y)
    marks = checkpoint_layers(L, k)
    kept, A = {}, X
    for l in range(L):  # forward: Z_{l+1} = A_l W_{l+1}^T + b_{l+1}
        if l in marks or l > marks[-1]:  # a checkpoint, or the last segment (used at once)
            kept[l] = A
        Z = A @ net.W[l].T + net.b[l]
        A = net.S(l + 1).S_xp(xp, Z)
    output, loss = head(net)
    Delta = output_delta(xp, output, loss, Z, A, Y) / X.shape[0]
    del Z, A
    grad = xp.empty(net.dim_theta, dtype=net.W[0].dtype)
    slices = net.layer_slices()
    ends = marks[1:] + [L]
    for start, end in reversed(list(zip(marks, ends, strict=True))):
        for l in range(start, end - 1):  # recompute a_{start+1}, ..., a_{end-1}
            if l + 1 not in kept:
                kept[l + 1] = net.S(l + 1).S_xp(xp, kept[l] @ net.W[l].T + net.b[l])
        for l in range(end - 1, start - 1, -1):  # back through layers end, ..., start+1
            A = kept.pop(l)  # a_l, dropped after its last use
            sW, sb = slices[l]
            grad[sW] = xp.reshape(Delta.T @ A, (-1,))  # Σ_i δ_{l+1} a_l^T
            grad[sb] = xp.sum(Delta, axis=0)
            if l > 0:  # δ_l = S'(z_l) ⊙ W_{l+1}^T δ_{l+1}, S' from a_l
                Delta = (Delta @ net.W[l]) * net.S(l).S_prime_from_a_xp(xp, A)
            del A
    return grad
