"""Forward-mode differentiation: a direction in θ pushed through the feed-forward pass.

Move θ along a direction v, θ(t) = θ + t v. Each quantity of the forward pass then moves
too, with a velocity (its *tangent*, written with a dot) that the chain rule gives layer by
layer, alongside the values themselves:

    ż_l = Ẇ_l a_{l-1} + W_l ȧ_{l-1} + ḃ_l,      ȧ_l = S'(z_l) ⊙ ż_l,      ȧ_0 = 0,

where Ẇ_l, ḃ_l are the blocks of v. At the end, the directional derivative of the loss is
(∂ℓ_τ/∂θ)·v = (1/n) Σ_i δ_L,i · ż_L,i, with δ_L = ∂C/∂z_L the output-layer error. One
forward pass gives one directional derivative; the full gradient takes dim θ of them
(:func:`gradient`), against one backward pass for reverse mode.
"""

from __future__ import annotations

from .gradients import add_weight_penalty_gradient, layer_forward, pre_activation
from .losses import output_delta


def tangent_forward(net, X, Wdot, bdot):
    """(zs, As, Zdots, Adots): the forward pass with its tangents, one example per row.

    zs = [Z_1, ..., Z_L], As = [A_0, ..., A_L] (A_L = g), Zdots = [Ż_1, ..., Ż_L],
    Adots = [Ȧ_0, ..., Ȧ_{L-1}] with Ȧ_0 = None (the data do not move). The values come from
    ``gradients.layer_forward``; line 3 differentiated by the product rule gives
    Ż_l = A_{l-1} Ẇ_l^T + ḃ_l + Ȧ_{l-1} W_l^T (the first two terms are line 3 itself applied
    to the tangents, since it is linear in W_l, b_l), and line 4 gives Ȧ_l = S'(Z_l) ⊙ Ż_l.
    X: a checked batch; Wdot, bdot: the per-layer blocks of the direction.
    """
    xp, L = net.xp, net.L
    zs, As, Zdots, Adots = [], [X], [], [None]
    for l in range(1, L + 1):
        Z, A = layer_forward(net, l, As[l - 1])
        Zdot = pre_activation(As[l - 1], Wdot[l - 1], bdot[l - 1])
        if Adots[l - 1] is not None:
            Zdot = Zdot + Adots[l - 1] @ net.W[l - 1].T
        zs.append(Z)
        As.append(A)
        Zdots.append(Zdot)
        if l < L:
            Adots.append(net.S(l).S_prime_from_a_xp(xp, A) * Zdot)
    return zs, As, Zdots, Adots


def jvp(net, X, y, v) -> float:
    """(∂ℓ_τ/∂θ)·v, the derivative of the training loss along v, from one forward pass.

    Tangents ż_l, ȧ_l are carried through the feed-forward pass with the values
    (:func:`tangent_forward`); then (∂ℓ_τ/∂θ)·v = (1/n) Σ_i δ_L,i · ż_L,i, the loss's own
    derivative along ż_L (δ_L = ∂C/∂z_L, Algorithm 1, line 5), plus (α/n) Σ_l <W_l, Ẇ_l>
    for a weight penalty. v: flat, θ's order.
    """
    X, Y = net.checked_batch(X, y)
    return directional_derivative(net, X, Y, *net.unflatten(v, name="v"))


def directional_derivative(net, X, Y, Wdot, bdot) -> float:
    """(∂ℓ_τ/∂θ)·v for a checked batch X, its target matrix Y, and v given by its blocks
    Ẇ_l, ḃ_l: the tangents of the forward pass, then (1/n) Σ_i δ_L,i · ż_L,i."""
    zs, As, Zdots, _ = tangent_forward(net, X, Wdot, bdot)
    xp = net.xp
    Delta = output_delta(xp, net.output_layer, net.loss_function, zs[-1], As[-1], Y)
    n = X.shape[0]
    value = float(xp.sum(Delta * Zdots[-1])) / n
    if net.alpha:  # the weight penalty's derivative along v: (α/n) Σ_l <W_l, Ẇ_l>
        v = net.flatten(Wdot, bdot)
        dpenalty = add_weight_penalty_gradient(xp, net.layers, net.theta_buffer, net.alpha, n,
                                               xp.zeros_like(v))
        value += float(xp.sum(dpenalty * v))
    return value


def gradient(net, X, y):
    """∂ℓ_τ/∂θ by forward mode: one :func:`jvp` per coordinate, v = e_1, ..., e_{dim θ}.

    Correct but dim θ forward passes long: what reverse mode (one backward pass) saves.
    """
    xp = net.xp
    X, Y = net.checked_batch(X, y)
    dtype = net.W[0].dtype
    out = xp.zeros(net.dim_theta, dtype=dtype)
    e = xp.zeros(net.dim_theta, dtype=dtype)
    Wdot, bdot = net.unflatten(e)  # views of e: setting e[i] moves one coordinate
    for i in range(net.dim_theta):
        e[i] = 1.0
        out[i] = directional_derivative(net, X, Y, Wdot, bdot)
        e[i] = 0.0
    return out
