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

A weight penalty (α/2n) Σ_l ‖W_l‖² (``Network(..., alpha=...)``) has the Hessian (α/n) I on
the weights: it adds (α/n) Ẇ_l to each weight block of H v, after the recursion.
"""

from __future__ import annotations

from .forward_mode import tangent_forward
from .gradients import add_weight_penalty_gradient, layer_gradients, previous_delta
from .losses import output_delta

# ----------------------------------------------------------------------------- R{δ_L}
# The output layer's ġ = J ż and R{J^T} u, and the loss's (∂²C/∂g²) ġ, are rules of their
# entries in the tables of ``losses.py`` (``jvp_xp``, ``vjp_dot_xp``, ``curvature_xp``).


def delta_L_tangent_general(xp, output, loss, Z, G, Y, Zdot):
    """R{δ_L} = R{J^T} u + J^T (∂²C/∂g²) ġ for δ_L = J^T u, u = ∂C/∂g, with no shortcut."""
    Gdot = output.jvp_xp(xp, Z, G, Zdot)  # ġ = J ż
    U = loss.dC_dg_xp(xp, G, Y)
    return (output.vjp_dot_xp(xp, Z, G, Zdot, Gdot, U)
            + output.vjp_xp(xp, Z, G, loss.curvature_xp(xp, G, Y, Gdot)))


def delta_L_tangent(xp, output, loss, Z, G, Y, Zdot):
    """R{δ_L}, the derivative of the output-layer error along ż_L: the loss's closed form for
    this output (``loss.fused_tangent``) where there is one, else
    :func:`delta_L_tangent_general`."""
    fused = loss.fused_tangent.get(output.name)
    if fused is not None:
        return fused(xp, output, Z, G, Y, Zdot)
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
    Lines 8-10 are linear in δ_l, so the first term of each R-line is the same line applied
    to R{δ_l}; the product rule adds one term for each other factor that moves along v.
    The gradient costs one more product a layer; with_gradient=False skips it (None).
    """
    xp, L = net.xp, net.L
    X, Y = net.checked_batch(X, y)
    Wdot, bdot = net.unflatten(v, name="v")
    zs, As, Zdots, Adots = tangent_forward(net, X, Wdot, bdot)
    output, loss = net.output_layer, net.loss_function
    n = X.shape[0]
    # Averaging (Algorithm 2) is done once, on δ_L and R{δ_L}.
    Delta = output_delta(xp, output, loss, zs[-1], As[-1], Y) / n
    RDelta = delta_L_tangent(xp, output, loss, zs[-1], As[-1], Y, Zdots[-1]) / n
    gW, gb, HW, Hb = [None] * L, [None] * L, [None] * L, [None] * L
    for l in range(L, 0, -1):  # lecture layers L, ..., 1
        A_prev = As[l - 1]
        if with_gradient:
            gW[l - 1], gb[l - 1] = layer_gradients(net, Delta, A_prev)
        # R{∂C/∂W_l} = R{δ_l} a_{l-1}^T + δ_l ȧ_{l-1}^T,  R{∂C/∂b_l} = R{δ_l}
        HW[l - 1], Hb[l - 1] = layer_gradients(net, RDelta, A_prev)
        if Adots[l - 1] is not None:
            HW[l - 1] = HW[l - 1] + Delta.T @ Adots[l - 1]
        if l == 1:
            break
        # R{δ_{l-1}} = S'(z_{l-1}) ⊙ W_l^T R{δ_l} + S'(z_{l-1}) ⊙ Ẇ_l^T δ_l
        #              + S''(z_{l-1}) ⊙ ż_{l-1} ⊙ W_l^T δ_l
        act, Z_prev = net.S(l - 1), zs[l - 2]
        RDelta = (previous_delta(net, l, RDelta, A_prev)
                  + (Delta @ Wdot[l - 1]) * act.S_prime_xp(xp, Z_prev))
        if act.name not in PIECEWISE_LINEAR:
            RDelta = RDelta + (Delta @ net.W[l - 1]) * act.S_second_xp(xp, Z_prev) * Zdots[l - 2]
        Delta = previous_delta(net, l, Delta, A_prev)
    # The weight penalty (α/2n) Σ‖W_l‖² adds (α/n) W_l to the gradient and, its Hessian being
    # (α/n) I on the weights, (α/n) Ẇ_l to H v; the recursion above does not change.
    grad = None
    if with_gradient:
        grad = add_weight_penalty_gradient(xp, net.layers, net.theta_buffer, net.alpha, n,
                                           net.flatten(gW, gb))
    Hv = net.flatten(HW, Hb)
    if net.alpha:
        Hv = add_weight_penalty_gradient(xp, net.layers, net.flatten(Wdot, bdot), net.alpha, n,
                                         Hv)
    return grad, Hv
