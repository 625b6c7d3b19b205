"""The lecture's algorithms, written to be read beside the slides.

* :func:`algorithm1` — the gradient of one example's cost C(θ), line by line after
  Algorithm 1, with column vectors and 1-based layer numbers.
* :func:`algorithm2` — the gradient of the training loss: Algorithm 1 looped over the
  examples, then averaged (Algorithm 2).
* :func:`layer_forward`, :func:`layer_gradients` and :func:`previous_delta` — one layer's
  steps of Algorithm 1 on a batch (all n examples at once as the rows of a matrix): lines
  3-4 forward, lines 8-9 and line 10 back. Each equation is written here once:
  :func:`forward`, :func:`backpropagate`, :func:`algorithm1`, checkpointing, forward mode,
  the Hessian-vector product and the tape compose these steps.
* :func:`batch_gradient` — Algorithm 2 in batch form: one forward pass, δ_L, one backward
  pass. It is what ``net.gradient`` runs, except on NumPy, where a private kernel computes
  the same equations in place, faster (``Network(..., kernel=False)`` runs this code there
  too, and a test holds the two equal).

Layers are numbered as in the lecture, l = 1..L; Python's lists hold layer l at index l-1
(``net.W[l - 1]`` is W_l). The first two functions are slow on purpose: they show the method.
"""

from __future__ import annotations

from . import _validate as check
from . import parameters
from .losses import mean_loss, output_delta


def algorithm1_steps(net, x, Y):
    """Algorithm 1 on a checked example: x one row of shape (1, p_0), Y one row (1, K).

    The example is a batch of one row, so each vector of the slide is here the row of its
    transpose (z_l^T = a_{l-1}^T W_l^T + b_l^T is line 3 transposed); the steps of a layer
    are :func:`layer_forward` (lines 3-4), :func:`layer_gradients` (lines 8-9) and
    :func:`previous_delta` (line 10).
    """
    L = net.L
    z, a, delta = {}, {}, {}
    dC_dW, dC_db = {}, {}

    a[0] = x  # line 1
    for l in range(1, L + 1):  # line 2: feed-forward
        z[l], a[l] = layer_forward(net, l, a[l - 1])  # lines 3-4
    # line 5: δ_L = (∂S_L/∂z_L)(∂C/∂g), in its closed form where the loss has one
    delta[L] = output_delta(net.xp, net.output_layer, net.loss_function, z[L], a[L], Y)
    # line 6 (z_0 := 0, so that line 10 can run for l = 1) is not needed: previous_delta
    # skips line 10 at l = 1, whose δ_0 is never used.
    for l in range(L, 0, -1):  # line 7: back-propagation
        dC_dW[l], dC_db[l] = layer_gradients(net, delta[l], a[l - 1])  # lines 8-9
        delta[l - 1] = previous_delta(net, l, delta[l], a[l - 1])  # line 10
    # line 11: return ∂C/∂W_l, ∂C/∂b_l for l = 1..L and g(x) = a_L
    g = net.xp.reshape(a[L], (-1,))
    return [dC_dW[l] for l in range(1, L + 1)], [dC_db[l] for l in range(1, L + 1)], g


def algorithm1(net, x, y):
    """∂C/∂W_l, ∂C/∂b_l (l = 1..L) and g(x) for ONE example, by Algorithm 1.

    C(θ) = Loss(y, g(x | θ)). Feed-forward (lines 1-4), δ_L (line 5), then
    ∂C/∂b_l = δ_l, ∂C/∂W_l = δ_l a_{l-1}^T and δ_{l-1} = S'(z_{l-1}) ⊙ W_l^T δ_l for
    l = L, ..., 1 (lines 7-10), for the example as a batch of one row.

    x: shape (p_0,). y: a class label (cross-entropy), or targets of shape (p_L,) (a number
    when p_L = 1). The weight penalty of a network with ``alpha`` > 0 is a term of ℓ_τ, not
    of one example's C: algorithm1 leaves it out, and :func:`algorithm2` adds it.
    Returns ([∂C/∂W_1, ...], [∂C/∂b_1, ...], g(x)) with shapes (p_l, p_{l-1}), (p_l,) and
    (K,).
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
    X, Y = net.checked_batch(X, y)  # X is checked already; y's errors name y
    return algorithm1_steps(net, X, Y)


def algorithm2(net, X, y):
    """([∂ℓ_τ/∂W_l], [∂ℓ_τ/∂b_l], G): the gradient of the training loss, by Algorithm 2.

    Loops Algorithm 1 over the n examples (line 2) and averages:
    ∂ℓ_τ/∂W_l = (1/n) Σ_i ∂C_i/∂W_l, ∂ℓ_τ/∂b_l = (1/n) Σ_i ∂C_i/∂b_l (line 3), plus (α/n) W_l
    on the weights where the network has a weight penalty (α = ``net.alpha`` > 0).
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
        dC_dW, dC_db, g = algorithm1_steps(net, X[i : i + 1, :], Y[i : i + 1, :])  # line 2
        sum_W = [s + d for s, d in zip(sum_W, dC_dW, strict=True)]  # layer by layer
        sum_b = [s + d for s, d in zip(sum_b, dC_db, strict=True)]
        G.append(net.xp.reshape(g, (1, -1)))
    dW, db = [s / n for s in sum_W], [s / n for s in sum_b]  # line 3
    if net.alpha:  # the weight penalty's (α/n) W_l, added to the average
        grad = add_weight_penalty_gradient(net.xp, net.layers, net.theta_buffer, net.alpha, n,
                                           net.flatten(dW, db))
        dW, db = parameters.unflatten(net.xp, net.layers, grad)
    return list(dW), list(db), net.xp.concat(G)


# ----------------------------------------------------------------------------- batch form


def pre_activation(A_prev, W, b):
    """Z_l = A_{l-1} W_l^T + 1 b_l^T (Algorithm 1, line 3, for every row at once).

    Linear in (W, b) for fixed A_{l-1}: forward mode applies it to the tangents (Ẇ_l, ḃ_l).
    """
    return A_prev @ W.T + b


def layer_forward(net, l, A_prev, W=None, b=None):
    """(Z_l, A_l): Z_l = A_{l-1} W_l^T + b_l and A_l = S_l(Z_l), lines 3-4 for layer l.

    l: the lecture's layer, 1..L. A_prev: A_{l-1}, one example per row. W, b: values of W_l
    and b_l other than the network's (default: the network's own).
    """
    W = net.W[l - 1] if W is None else W
    b = net.b[l - 1] if b is None else b
    Z = pre_activation(A_prev, W, b)  # line 3
    return Z, net.S(l).S_xp(net.xp, Z)  # line 4


def layer_gradients(net, Delta, A_prev):
    """(Σ_i δ_l a_{l-1}^T, Σ_i δ_l) = (Delta_l^T A_{l-1}, 1^T Delta_l): lines 8-9 on a batch.

    ∂C/∂b_l = δ_l and ∂C/∂W_l = δ_l a_{l-1}^T for each example (row), summed over the rows;
    Algorithm 2 divides the sums by n.
    """
    dC_db = net.xp.sum(Delta, axis=0)  # line 8: Σ_i δ_l
    dC_dW = Delta.T @ A_prev  # line 9: Σ_i δ_l a_{l-1}^T
    return dC_dW, dC_db


def previous_delta(net, l, Delta, A_prev):
    """Delta_{l-1} = (Delta_l W_l) ⊙ S'(Z_{l-1}): line 10, δ_{l-1} = S'(z_{l-1}) ⊙ W_l^T δ_l,
    for every row at once, with S' computed from A_{l-1} = S(Z_{l-1}).

    None for l = 1: δ_0 is never used. Row i of Delta_l is δ_l of example i.
    """
    if l == 1:
        return None
    return (Delta @ net.W[l - 1]) * net.S(l - 1).S_prime_from_a_xp(net.xp, A_prev)


# ----------------------------------------------------------------------------- the penalty
# scikit-learn's L2 penalty (its MLP's alpha, Nielsen's lmbda): ℓ_τ = (1/n) Σ_i C_i +
# (α/2n) Σ_l ‖W_l‖², on the weights only. Its two equations are written here once, on θ's
# flat layout, for the readable code, the kernel, H v, forward mode and the Dask driver.


def weight_penalty(xp, layers, theta, alpha: float, n: int):
    """(α/2n) Σ_l ‖W_l‖², the weight penalty of a batch of n rows, as a 0-D array (0.0 for
    α = 0). theta: flat, θ's order; layers: its layout (``net.layers``)."""
    if alpha == 0:
        return 0.0
    total = sum(xp.sum(theta[layer.W] * theta[layer.W]) for layer in layers)
    return (alpha / (2 * n)) * total


def add_weight_penalty_gradient(xp, layers, theta, alpha: float, n: int, grad):
    """grad + ∂/∂θ (α/2n) Σ_l ‖W_l‖², in place: (α/n) W_l added to each weight block of grad,
    the biases untouched. Linear in θ, so with a direction v for theta it adds the
    penalty's Hessian times v, (α/n) v on the weights."""
    if alpha == 0:
        return grad
    for layer in layers:
        grad[layer.W] = grad[layer.W] + (alpha / n) * theta[layer.W]
    return grad


def forward(net, X, theta=None):
    """([Z_1, ..., Z_L], [A_0, ..., A_L]): the feed-forward pass of a batch, one example per row.

    :func:`layer_forward` for l = 1..L, with A_0 = X (Algorithm 1, lines 1-4, for every row
    at once). X: a checked batch (n, p_0). At the network's θ, or at another flat ``theta``
    (its W_l, b_l are views into it; the network's θ is not touched).
    """
    W, b = (net.W, net.b) if theta is None else net.unflatten(theta)
    Z, A = [], [X]
    for l in range(1, net.L + 1):  # line 2
        Z_l, A_l = layer_forward(net, l, A[l - 1], W[l - 1], b[l - 1])
        Z.append(Z_l)
        A.append(A_l)
    return Z, A


def backpropagate(net, A, Delta_L):
    """(∂ℓ_τ/∂θ flat, [Delta_1, ..., Delta_L]) from A_0..A_{L-1} and the output errors Delta_L.

    :func:`layer_gradients` and :func:`previous_delta` for l = L, ..., 1 (lines 7-10 of
    Algorithm 1 for every row at once), then line 3 of Algorithm 2:
    ∂ℓ_τ/∂W_l = (1/n) Delta_l^T A_{l-1} and ∂ℓ_τ/∂b_l = (1/n) × the column sums of Delta_l.
    Row i of Delta_l is δ_l of example i. With a weight penalty (``net.alpha`` > 0),
    (α/n) W_l is added to ∂ℓ_τ/∂W_l: one term per weight matrix, the δ_l unchanged.
    """
    L, n = net.L, Delta_L.shape[0]
    dW, db, deltas = [None] * L, [None] * L, [None] * L
    Delta = Delta_L
    for l in range(L, 0, -1):  # line 7: l = L, ..., 1
        deltas[l - 1] = Delta
        dW[l - 1], db[l - 1] = layer_gradients(net, Delta, A[l - 1])  # lines 8-9
        Delta = previous_delta(net, l, Delta, A[l - 1])  # line 10
    grad = net.flatten(dW, db) / n
    return add_weight_penalty_gradient(net.xp, net.layers, net.theta_buffer, net.alpha, n,
                                       grad), deltas


def batch_gradient(net, X, Y):
    """(ℓ_τ as a 0-D array, ∂ℓ_τ/∂θ flat): Algorithm 2 in batch form, for a checked batch.

    X, Y as ``net.checked_batch`` returns them (Y: one target row per example). One forward
    pass, the output errors Delta_L (row i: δ_L of example i, Algorithm 1 line 5), then the
    back-propagation of Delta_l through the layers.
    """
    xp, output, loss = net.xp, net.output_layer, net.loss_function
    Z, A = forward(net, X)
    value = mean_loss(xp, output, loss, Z[-1], A[-1], Y) + weight_penalty(
        xp, net.layers, net.theta_buffer, net.alpha, X.shape[0])
    Delta_L = output_delta(xp, output, loss, Z[-1], A[-1], Y)
    grad, _ = backpropagate(net, A, Delta_L)
    return value, grad
