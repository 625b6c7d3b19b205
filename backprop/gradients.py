"""The lecture's two algorithms, written to be read beside the slides.

* :func:`algorithm1` — the gradient of one example's cost C(θ), line by line after
  Algorithm 1, with column vectors and 1-based layer numbers.
* :func:`algorithm2` — the gradient of the training loss: Algorithm 1 looped over the
  examples, then averaged (Algorithm 2).

Both are slow on purpose: they show the method. The fast batch form, the same numbers
with one matrix product per layer, is :meth:`backprop.Network.gradient`.
"""

from __future__ import annotations

from . import _validate as check
from .activations import ACTIVATIONS
from .losses import output_delta


def _algorithm1(net, x, Y):
    """Algorithm 1 on a checked example: x of shape (p_0, 1), Y one row of shape (1, K)."""
    xp, L = net.xp, net.L
    W = {l: net.W[l - 1] for l in range(1, L + 1)}
    b = {l: xp.reshape(net.b[l - 1], (net.p[l], 1)) for l in range(1, L + 1)}
    S = {l: net.S(l).S_xp for l in range(1, L + 1)}
    # Layer 0 has no activation; the S' used with z_0 (line 10, l = 1) only shapes δ_0,
    # which is never used.
    S_prime = {l: net.S(l).S_prime_xp for l in range(1, L)}
    S_prime[0] = ACTIVATIONS["identity"].S_prime_xp
    z, a, delta = {}, {}, {}
    dC_dW, dC_db = {}, {}

    a[0] = x  # line 1
    for l in range(1, L + 1):  # line 2: feed-forward
        z[l] = W[l] @ a[l - 1] + b[l]  # line 3
        # The tables work on rows (one example per row), hence the transposes.
        a[l] = S[l](xp, z[l].T).T  # line 4
    # line 5: δ_L = (∂S_L/∂z_L)(∂C/∂g), in its closed form where the loss has one
    delta[L] = output_delta(xp, net._output, net._loss, z[L].T, a[L].T, Y).T
    z[0] = xp.zeros_like(a[0])  # line 6: arbitrary, lets line 10 run for l = 1
    for l in range(L, 0, -1):  # line 7: back-propagation
        dC_db[l] = delta[l]  # line 8
        dC_dW[l] = delta[l] @ a[l - 1].T  # line 9
        delta[l - 1] = S_prime[l - 1](xp, z[l - 1]) * (W[l].T @ delta[l])  # line 10
    # line 11: return ∂C/∂W_l, ∂C/∂b_l for l = 1..L and g(x) = a_L
    return (
        [dC_dW[l] for l in range(1, L + 1)],
        [xp.reshape(dC_db[l], (-1,)) for l in range(1, L + 1)],
        xp.reshape(a[L], (-1,)),
    )


def algorithm1(net, x, y):
    """∂C/∂W_l, ∂C/∂b_l (l = 1..L) and g(x) for ONE example, by Algorithm 1.

    C(θ) = Loss(y, g(x | θ)). Feed-forward (lines 1-4), δ_L (line 5), then
    ∂C/∂b_l = δ_l, ∂C/∂W_l = δ_l a_{l-1}^T and δ_{l-1} = S'(z_{l-1}) ⊙ W_l^T δ_l for
    l = L, ..., 1 (lines 7-10). Vectors are columns, as on the slide.

    x: shape (p_0,). y: a class label (cross-entropy), or targets of shape (p_L,) (a number
    when p_L = 1). Returns ([∂C/∂W_1, ...], [∂C/∂b_1, ...], g(x)) with shapes
    (p_l, p_{l-1}), (p_l,) and (K,).
    """
    xp = net.xp
    x = check.to_backend(xp, x, "x")
    if x.ndim != 1:
        raise ValueError(
            f"x must be ONE example, a 1-D vector of length p_0 = {net.p[0]}; got shape "
            f"{tuple(x.shape)} (use algorithm2 or net.gradient for a batch)"
        )
    X = check.check_X(xp, xp.reshape(x, (1, -1)), net.p[0], net._dtype, "x")
    y = check.to_backend(xp, y, "y")
    if net._loss.classification and y.ndim != 0:
        raise ValueError(
            f"y must be ONE class label (a number) for algorithm1; got shape {tuple(y.shape)}"
        )
    if not net._loss.classification and y.ndim > 1:
        raise ValueError(
            f"y must be ONE target vector of length p_L = {net.p[-1]} for algorithm1; "
            f"got shape {tuple(y.shape)}"
        )
    Y = net._check_y(xp.reshape(y, (1, -1)) if y.ndim else xp.reshape(y, (1,)), 1)
    return _algorithm1(net, X.T, Y)


def algorithm2(net, X, y):
    """∂ℓ_τ/∂W_l and ∂ℓ_τ/∂b_l of the training loss, by Algorithm 2.

    Loops Algorithm 1 over the n examples (line 2) and averages:
    ∂ℓ_τ/∂W_l = (1/n) Σ_i ∂C_i/∂W_l, ∂ℓ_τ/∂b_l = (1/n) Σ_i ∂C_i/∂b_l (line 3).
    X: (n, p_0); y as for :meth:`Network.loss`. Returns (list of (p_l, p_{l-1}), list of (p_l,)).
    """
    X, Y = net._check_Xy(X, y)
    n = X.shape[0]
    sum_W = [net.xp.zeros_like(W) for W in net.W]
    sum_b = [net.xp.zeros_like(b) for b in net.b]
    for i in range(n):  # line 1: loop over all training examples
        dC_dW, dC_db, _ = _algorithm1(net, X[i : i + 1, :].T, Y[i : i + 1, :])  # line 2
        for l in range(net.L):
            sum_W[l] = sum_W[l] + dC_dW[l]
            sum_b[l] = sum_b[l] + dC_db[l]
    return [s / n for s in sum_W], [s / n for s in sum_b]  # line 3
