"""The lecture's algorithms, written to be read beside the slides.

* :func:`algorithm1` — the gradient of one example's cost C(θ), line by line after
  Algorithm 1, with column vectors and 1-based layer numbers.
* :func:`algorithm2` — the gradient of the training loss: Algorithm 1 looped over the
  examples, then averaged (Algorithm 2).
* :func:`forward`, :func:`backpropagate` and :func:`batch_gradient` — the same gradient in
  batch form, all n examples at once as the rows of a matrix, one matrix product per layer
  and pass. This is the code every backend runs (``net.gradient``); on NumPy a private
  kernel computes the same equations in place, faster.

The first two are slow on purpose: they show the method.
"""

from __future__ import annotations

from . import _validate as check
from .activations import ACTIVATIONS
from .losses import mean_loss, output_delta


def algorithm1_steps(net, x, Y):
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
    delta[L] = output_delta(xp, net.output_layer, net.loss_function, z[L].T, a[L].T, Y).T
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
    X = net.checked_X(xp.reshape(x, (1, -1)), "x")
    y = check.to_backend(xp, y, "y")
    classification = net.loss_function.classification
    if classification and y.ndim != 0:
        raise ValueError(
            f"y must be ONE class label (a number) for algorithm1; got shape {tuple(y.shape)}"
        )
    if not classification and y.ndim > 1:
        raise ValueError(
            f"y must be ONE target vector of length p_L = {net.p[-1]} for algorithm1; "
            f"got shape {tuple(y.shape)}"
        )
    y = xp.reshape(y, (1, -1)) if y.ndim else xp.reshape(y, (1,))
    X, Y = net.checked_batch(X, y, names=("x", "y"))
    return algorithm1_steps(net, X.T, Y)


def algorithm2(net, X, y):
    """([∂ℓ_τ/∂W_l], [∂ℓ_τ/∂b_l], G): the gradient of the training loss, by Algorithm 2.

    Loops Algorithm 1 over the n examples (line 2) and averages:
    ∂ℓ_τ/∂W_l = (1/n) Σ_i ∂C_i/∂W_l, ∂ℓ_τ/∂b_l = (1/n) Σ_i ∂C_i/∂b_l (line 3).
    X: (n, p_0); y as for :meth:`Network.loss`. Returns the same kind of result as
    :func:`algorithm1`: a list of (p_l, p_{l-1}) arrays, a list of (p_l,) arrays, and the
    outputs, here G of shape (n, K) with row i = g(x_i).
    """
    X, Y = net.checked_batch(X, y)
    n = X.shape[0]
    sum_W = [net.xp.zeros_like(W) for W in net.W]
    sum_b = [net.xp.zeros_like(b) for b in net.b]
    G = []
    for i in range(n):  # line 1: loop over all training examples
        dC_dW, dC_db, g = algorithm1_steps(net, X[i : i + 1, :].T, Y[i : i + 1, :])  # line 2
        for l in range(net.L):
            sum_W[l] = sum_W[l] + dC_dW[l]
            sum_b[l] = sum_b[l] + dC_db[l]
        G.append(net.xp.reshape(g, (1, -1)))
    return [s / n for s in sum_W], [s / n for s in sum_b], net.xp.concat(G)  # line 3


# ----------------------------------------------------------------------------- batch form


def forward(net, X, theta=None):
    """([Z_1, ..., Z_L], [A_0, ..., A_L]): the feed-forward pass of a batch, one example per row.

    Z_l = A_{l-1} W_l^T + b_l and A_l = S_l(Z_l) for l = 1..L, with A_0 = X (Algorithm 1,
    lines 1-4, for every row at once). X: a checked batch (n, p_0). At the network's θ, or at
    another flat ``theta`` (its W_l, b_l are views into it; the network's θ is not touched).
    """
    xp = net.xp
    W, b = (net.W, net.b) if theta is None else net.unflatten(theta)
    Z, A = [], [X]
    for l in range(1, net.L + 1):
        Z.append(A[l - 1] @ W[l - 1].T + b[l - 1])  # Z_l = A_{l-1} W_l^T + 1 b_l^T
        A.append(net.S(l).S_xp(xp, Z[l - 1]))  # A_l = S_l(Z_l)
    return Z, A


def backpropagate(net, A, Delta_L):
    """(∂ℓ_τ/∂θ flat, [Delta_1, ..., Delta_L]) from A_0..A_{L-1} and the output errors Delta_L.

    Lines 7-10 of Algorithm 1 for every row at once, then line 3 of Algorithm 2:
    ∂ℓ_τ/∂W_l = (1/n) Delta_l^T A_{l-1} (the sum of the n outer products δ_l a_{l-1}^T),
    ∂ℓ_τ/∂b_l = (1/n) × the column sums of Delta_l, and
    Delta_{l-1} = (Delta_l W_l) ⊙ S'(Z_{l-1}), with S' computed from A_{l-1} = S(Z_{l-1}).
    Row i of Delta_l is δ_l of example i.
    """
    xp, L, n = net.xp, net.L, Delta_L.shape[0]
    grads, deltas = [None] * (2 * L), [None] * L
    Delta = Delta_L
    for l in range(L, 0, -1):  # line 7: l = L, ..., 1
        deltas[l - 1] = Delta
        grads[2 * l - 2] = xp.reshape(Delta.T @ A[l - 1], (-1,))  # Σ_i δ_l a_{l-1}^T
        grads[2 * l - 1] = xp.sum(Delta, axis=0)  # Σ_i δ_l
        if l > 1:  # line 10
            Delta = (Delta @ net.W[l - 1]) * net.S(l - 1).S_prime_from_a_xp(xp, A[l - 1])
    return xp.concat(grads) / n, deltas


def batch_gradient(net, X, Y):
    """(ℓ_τ as a 0-D array, ∂ℓ_τ/∂θ flat): Algorithm 2 in batch form, for a checked batch.

    X, Y as ``net.checked_batch`` returns them (Y: one target row per example). One forward
    pass, the output errors Delta_L (row i: δ_L of example i, Algorithm 1 line 5), then the
    back-propagation of Delta_l through the layers.
    """
    xp, output, loss = net.xp, net.output_layer, net.loss_function
    Z, A = forward(net, X)
    value = mean_loss(xp, output, loss, Z[-1], A[-1], Y)
    Delta_L = output_delta(xp, output, loss, Z[-1], A[-1], Y)
    grad, _ = backpropagate(net, A, Delta_L)
    return value, grad
