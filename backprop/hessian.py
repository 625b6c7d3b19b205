"""Hessian-vector products ∇²ℓ_τ(θ) v by forward-over-reverse (Pearlmutter's R-operator).

The gradient is a function of θ computed by Algorithm 1; its derivative along a direction
v is H v. Write R{x} for the derivative along v of any quantity x of the computation (its
tangent, as in forward mode): R{W_l} = Ẇ_l, R{b_l} = ḃ_l are the blocks of v, the forward
pass gives R{z_l} = ż_l and R{a_l} = ȧ_l (``forward_mode.tangent_forward``), and each line
of the backward recursion, differentiated by the product rule, gives one more line:

    R{δ_L}     = (∂δ_L/∂z_L) ż_L                                     (table below)
    R{δ_{l-1}} = S''(z_{l-1}) ⊙ ż_{l-1} ⊙ W_l^T δ_l + S'(z_{l-1}) ⊙ (Ẇ_l^T δ_l + W_l^T R{δ_l})
    R{∂C/∂W_l} = R{δ_l} a_{l-1}^T + δ_l ȧ_{l-1}^T,     R{∂C/∂b_l} = R{δ_l}.

Averaged over the batch, R{∂ℓ_τ/∂θ} = H v, exactly up to rounding: no step size, no
difference of gradients. It costs one forward pass with tangents and one backward pass with
R-terms, about three times the matrix products of one gradient.

R{δ_L} for δ_L = J^T u (J = ∂g/∂z_L, u = ∂C/∂g) is R{J^T} u + J^T R{u}, with R{u} =
(∂²C/∂g²) ġ and ġ = J ż_L. For softmax with cross-entropy δ_L = g - e_{y+1}, so R{δ_L} = ġ =
(diag(g) - g g^T) ż_L, the fused form (stable where 1/g would overflow).
"""

from __future__ import annotations

from ._batch import batch, head, tangent_blocks
from .forward_mode import tangent_forward
from .losses import output_delta

# ----------------------------------------------------------------------------- output heads
# For each output g = S_L(z): ġ = J ż (``jvp``) and R{J^T} u, the derivative along ż of
# J^T u with u held fixed (``vjp_dot``). Rows are examples.


def _softmax_jvp(xp, G, Zdot):
    # (diag(g) - g g^T) ż = g ⊙ (ż - <g, ż>)
    return G * (Zdot - xp.sum(G * Zdot, axis=1, keepdims=True))


def _softmax_vjp_dot(xp, G, Gdot, U):
    # J^T u = g ⊙ (u - <g, u>); its derivative: ġ ⊙ (u - <g, u>) - g <ġ, u>
    return Gdot * (U - xp.sum(G * U, axis=1, keepdims=True)) - G * xp.sum(Gdot * U, axis=1,
                                                                          keepdims=True)


def _full(xp, Zdot):
    """[0, ż]: the tangent of the reduced softmax's K logits (class 0's stays 0)."""
    return xp.concat([xp.zeros((Zdot.shape[0], 1), dtype=Zdot.dtype), Zdot], axis=1)


def _output_tangents(xp, output, Z, G, Zdot):
    """(ġ, vjp_dot) for the output head: ġ = J ż and U -> R{J^T} U (reduced to z's width)."""
    if output.activation is not None:  # element-wise: J = diag(S'(z))
        act = output.activation
        Gdot = act.S_prime_xp(xp, Z) * Zdot
        return Gdot, lambda U: act.S_second_xp(xp, Z) * Zdot * U
    if output.name == "softmax":
        Gdot = _softmax_jvp(xp, G, Zdot)
        return Gdot, lambda U: _softmax_vjp_dot(xp, G, Gdot, U)
    if output.name == "softmax_reduced":
        Gdot = _softmax_jvp(xp, G, _full(xp, Zdot))
        return Gdot, lambda U: _softmax_vjp_dot(xp, G, Gdot, U)[:, 1:]
    raise ValueError(f"no Hessian-vector product for output {output.name!r}")


# R{∂C/∂g} = (∂²C/∂g²) ġ for each loss.
LOSS_CURVATURE = {
    "squared_error": lambda xp, G, Y, Gdot: 2 * Gdot,  # ∂C/∂g = 2(g - y)
    "cross_entropy": lambda xp, G, Y, Gdot: Y * Gdot / (G * G),  # ∂C/∂g = -e_{y+1} / g
}


def delta_L_tangent_general(xp, output, loss, Z, G, Y, Zdot):
    """R{δ_L} = R{J^T} u + J^T (∂²C/∂g²) ġ for δ_L = J^T u, u = ∂C/∂g, with no shortcut."""
    Gdot, vjp_dot = _output_tangents(xp, output, Z, G, Zdot)
    U = loss.dC_dg_xp(xp, G, Y)
    return vjp_dot(U) + output.vjp_xp(xp, Z, G, LOSS_CURVATURE[loss.name](xp, G, Y, Gdot))


# Closed forms of R{δ_L}, keyed by (output, loss): δ_L = g - e_{y+1} has R{δ_L} = ġ.
DELTA_L_TANGENT = {
    ("softmax", "cross_entropy"): lambda xp, Z, G, Y, Zdot: _softmax_jvp(xp, G, Zdot),
    ("softmax_reduced", "cross_entropy"):
        lambda xp, Z, G, Y, Zdot: _softmax_jvp(xp, G, _full(xp, Zdot))[:, 1:],
}


def delta_L_tangent(xp, output, loss, Z, G, Y, Zdot):
    """R{δ_L}, the derivative of the output-layer error along ż_L: the closed form of
    ``DELTA_L_TANGENT`` where there is one, else :func:`delta_L_tangent_general`."""
    fused = DELTA_L_TANGENT.get((output.name, loss.name))
    if fused is not None:
        return fused(xp, Z, G, Y, Zdot)
    return delta_L_tangent_general(xp, output, loss, Z, G, Y, Zdot)


# ----------------------------------------------------------------------------- H v

# Activations with S'' = 0 wherever it is defined: their S'' term is skipped, not computed.
PIECEWISE_LINEAR = frozenset({"identity", "relu"})


def hvp(net, X, y, v):
    """∇²ℓ_τ(θ) v, the Hessian of the training loss times v, exact up to rounding.

    Forward-over-reverse: the forward pass carries tangents along v, then the backward
    recursion of Algorithm 1 carries R{δ_l} beside δ_l (module docstring), and
    H v = (1/n) Σ_i R{∂C_i/∂θ}. Returns a flat array in θ's order (net's backend and dtype).
    """
    return gradient_and_hvp(net, X, y, v, with_gradient=False)[1]


def gradient_and_hvp(net, X, y, v, with_gradient=True):
    """(∂ℓ_τ/∂θ, ∇²ℓ_τ(θ) v), both flat in θ's order, from one pass forward and one back.

    Forward: the values and their tangents along v (``tangent_forward``). Back: lines 8-10
    of Algorithm 1 for δ_l, each beside its R-operator line for R{δ_l} (module docstring).
    The gradient costs one more product a layer; with_gradient=False skips it (None).
    """
    xp, L = net.xp, net.L
    X, Y = batch(net, X, y)
    Wdot, bdot = tangent_blocks(net, v)
    zs, As, Zdots, Adots = tangent_forward(net, X, Wdot, bdot)
    output, loss = head(net)
    n = X.shape[0]
    # Averaging (Algorithm 2) is done once, on δ_L and R{δ_L}.
    Delta = output_delta(xp, output, loss, zs[-1], As[-1], Y) / n
    RDelta = delta_L_tangent(xp, output, loss, zs[-1], As[-1], Y, Zdots[-1]) / n
    gW, gb, HW, Hb = [None] * L, [None] * L, [None] * L, [None] * L
    for l in range(L - 1, -1, -1):  # lecture layers L, ..., 1
        if with_gradient:
            gW[l], gb[l] = Delta.T @ As[l], xp.sum(Delta, axis=0)
        HW[l] = RDelta.T @ As[l]
        if Adots[l] is not None:
            HW[l] = HW[l] + Delta.T @ Adots[l]
        Hb[l] = xp.sum(RDelta, axis=0)
        if l == 0:
            break
        W, act, Z = net.W[l], net.S(l), zs[l - 1]
        back = Delta @ W  # W_l^T δ_l, as rows
        S_prime = act.S_prime_xp(xp, Z)
        RDelta = (RDelta @ W + Delta @ Wdot[l]) * S_prime
        if act.name not in PIECEWISE_LINEAR:
            RDelta = RDelta + back * act.S_second_xp(xp, Z) * Zdots[l - 1]
        Delta = back * S_prime
    return (net.flatten(gW, gb) if with_gradient else None), net.flatten(HW, Hb)
