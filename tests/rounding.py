"""What rounding allows: a first-order bound on the rounding error of ∇ℓ_τ(θ).

Two correct implementations of the gradient (the batch gradient, Algorithm 1, Algorithm 2,
autograd) sum the same terms in different orders and evaluate S' in different ways, so they
agree only up to rounding, and rounding scales with the terms that are summed or cancel, not
with the result: a saturated tanh output has S' = 1 - a² computed from an a that is 1 up to
one ulp, a softmax with squared error cancels g·v against v, a gradient entry may be a sum of
large terms of opposite sign.

``gradient_error_bound`` runs the forward and backward pass once more, in NumPy float64, and
carries beside every quantity v a bound e(v) on its rounding error in units of the unit
roundoff u = ε/2 (running error analysis, Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., §3.3): a sum of k terms adds k·Σ|terms|; a product or an element-wise
function adds a few ulps of its result; errors of the inputs propagate through the absolute
values of the partial derivatives. Worst-case factors (k, not √k) make it a first-order bound,
not an estimate, so a test can assert |a - b| <= 2u·E for every example a strategy draws,
while a wrong formula (an error of the size of the gradient) still fails it. Measured when it
was written: over 6000 random draws of test_gradients.py's strategy and 5000 of the autograd
test's, the largest |a - b| / (2u·E) was 0.21 and 0.16, and the median of u·E relative to
|gradient| was 5e-14 (so the bound is far tighter than any formula error).
"""

from __future__ import annotations

import numpy as np

U = np.finfo(np.float64).eps / 2  # unit roundoff of float64
C = 4  # ulps allowed for one element-wise operation (exp, tanh, a division, ...)


def _act(name, z, ez):
    """(a, e_a, S'(z), e_S') for an element-wise activation from z and its error bound."""
    if name == "identity":
        return z, ez, np.ones_like(z), np.zeros_like(z)
    if name == "relu":
        a = np.maximum(z, 0.0)
        d = (z > 0).astype(float)
        # Within rounding of the kink the indicator may flip: S' is then only known to 1.
        flip = np.abs(z) <= 2 * U * ez  # our z errs too
        return a, ez, d, np.where(flip, 1.0 / U, 0.0)
    if name == "tanh":
        a = np.tanh(z)
        d = 1 - a * a
        ea = d * ez + C * np.abs(a)
        # 1 - a² from the rounded a: its slope 2|a| times e_a, plus rounding of 1 and a².
        return a, ea, d, 2 * np.abs(a) * ea + C * (1 + a * a)
    if name == "logistic":
        e = np.exp(-np.abs(z))  # as the package: accurate to a few ulps for any z (a ≈ e^z)
        a = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        d = a * (1 - a)
        ea = d * ez + C * a
        # a(1 - a) from the rounded a: |1 - 2a| e_a, plus rounding of 1 - a and the product.
        return a, ea, d, np.abs(1 - 2 * a) * ea + C * a * (1 + a)
    raise ValueError(f"unknown activation {name!r}")


def _softmax(Z, eZ):
    """(G, e_G) for g = softmax(z) row by row, from z and its error bound."""
    m = Z.max(axis=1, keepdims=True)
    G = np.exp(Z - m)
    G /= G.sum(axis=1, keepdims=True)
    K = Z.shape[1]
    # δg_k = g_k (δz_k - Σ_j g_j δz_j); z - m rounds by |z| + |m|, exp and the sum by K ulps.
    eshift = eZ + np.abs(Z) + np.abs(m)
    return G, G * (eshift + (G * eshift).sum(axis=1, keepdims=True) + C * K)


def _output_delta(output, loss, Z, eZ, y, K):
    """(δ_L, e_δL) for one batch: Z (n, p_L), y labels (n,) or targets (n, p_L)."""
    n = Z.shape[0]
    if output in ("softmax", "softmax_reduced"):
        if output == "softmax_reduced":
            Z, eZ = np.hstack([np.zeros((n, 1)), Z]), np.hstack([np.zeros((n, 1)), eZ])
        G, eG = _softmax(Z, eZ)
        if loss == "cross_entropy":
            Y = np.eye(K)[y]
            D, eD = G - Y, eG + C * (G + Y)
        else:  # squared error through the softmax's Jacobian: g ⊙ (v - <g, v>), v = 2(g - y)
            Y = np.asarray(y, float)
            V, eV = 2 * (G - Y), 2 * eG + C * (G + np.abs(Y))
            gv = (G * np.abs(V)).sum(axis=1, keepdims=True)
            egv = (eG * np.abs(V) + G * eV).sum(axis=1, keepdims=True) + K * gv
            D = G * (V - (G * V).sum(axis=1, keepdims=True))
            eD = eG * (np.abs(V) + gv) + G * (eV + egv) + C * G * (np.abs(V) + gv)
        if output == "softmax_reduced":
            D, eD = D[:, 1:], eD[:, 1:]
        return D, eD
    G, eG, d, ed = _act(output, Z, eZ)
    Y = np.asarray(y, float)
    R = 2 * (G - Y)
    eR = 2 * eG + C * (np.abs(G) + np.abs(Y))
    # Error of d times |R| is taken as written, not multiplied out, so that a relu flip
    # (e_S' = 1/u) gives an absolute error of |R|, not |R|/u.
    return d * R, d * eR + ed * np.abs(R) + C * np.abs(d * R)


def _forward(net, X):
    """Per layer l = 0..L-1 (0-based): a_l, e(a_l), S'(z_l), e(S'(z_l)); then z_L, e(z_L)."""
    W = [np.asarray(bp_to_numpy(w), float) for w in net.W]
    b = [np.asarray(bp_to_numpy(v), float) for v in net.b]
    X = np.asarray(X, float)
    A, eA, D, eD = [X], [np.zeros_like(X)], [None], [None]
    for l in range(net.L):
        Z = A[-1] @ W[l].T + b[l]
        # p_{l-1} + 1 terms; errors of a_{l-1} reach z_l through |W_l|.
        absW = np.abs(W[l])
        eZ = eA[-1] @ absW.T + (net.p[l] + 1) * (np.abs(A[-1]) @ absW.T + np.abs(b[l]))
        if l == net.L - 1:
            return W, A, eA, D, eD, Z, eZ
        a, ea, d, ed = _act(net.hidden[l], Z, eZ)
        A.append(a)
        eA.append(ea)
        D.append(d)
        eD.append(ed)


def output_error_bound(net, X):
    """A bound e_G with |computed g - exact g| <= u·e_G, for every row of X."""
    *_, Z, eZ = _forward(net, X)
    if net.output in ("softmax", "softmax_reduced"):
        if net.output == "softmax_reduced":
            zero = np.zeros((Z.shape[0], 1))
            Z, eZ = np.hstack([zero, Z]), np.hstack([zero, eZ])
        return _softmax(Z, eZ)[1]
    return _act(net.output, Z, eZ)[1]


def gradient_error_bound(net, X, y):
    """A bound E (flat, θ's layout) with |computed - exact| <= u·E for the mean gradient.

    Uses only public attributes of ``net`` (p, L, hidden, output, loss_name, K, W, b); X is
    (n, p_0) and y the labels or targets, as NumPy arrays.
    """
    W, A, eA, D, eD, Z, eZ = _forward(net, X)
    n = Z.shape[0]
    Delta, eDelta = _output_delta(net.output, net.loss_name, Z, eZ, y, net.K)
    grads = [None] * net.L
    for l in range(net.L - 1, -1, -1):
        # dW_l = (1/n) Σ_i δ_l,i a_{l-1,i}^T and db_l = (1/n) Σ_i δ_l,i: n terms each
        absD = np.abs(Delta)
        eW = (eDelta.T @ np.abs(A[l]) + absD.T @ eA[l] + (n + 1) * absD.T @ np.abs(A[l])) / n
        eb = (eDelta.sum(axis=0) + (n + 1) * absD.sum(axis=0)) / n
        grads[l] = (eW, eb)
        if l == 0:
            break
        # δ_{l-1} = S'(z_{l-1}) ⊙ (W_l^T δ_l): p_l terms in the product
        T = Delta @ W[l]
        absT = absD @ np.abs(W[l])
        eT = eDelta @ np.abs(W[l]) + net.p[l + 1] * absT
        Delta = D[l] * T
        # e(S') is at most 1/u (a relu flip): then δ may be anything in [0, |T|]
        eDelta = D[l] * eT + np.minimum(eD[l], 1 / U) * absT + C * np.abs(Delta)
    return np.concatenate([np.concatenate([eW.ravel(), eb]) for eW, eb in grads])


def bp_to_numpy(x):
    """A NumPy copy of an array of any backend (numpy, array_api_strict, cupy)."""
    import backprop as bp

    return bp.to_numpy(x)


def assert_within_rounding(a, b, bound, factor=2.0, what="gradients"):
    """|a - b| <= factor·u·bound, entry by entry (factor 2: each side may err by u·bound)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    allowed = factor * U * np.asarray(bound, float)
    bad = np.abs(a - b) > allowed
    if bad.any():
        i = np.flatnonzero(bad)
        worst = i[np.argmax(np.abs(a - b)[i] / np.maximum(allowed[i], 1e-300))]
        raise AssertionError(
            f"{what} differ beyond rounding at {bad.sum()} of {a.size} entries; worst θ[{worst}]:"
            f" {a[worst]!r} vs {b[worst]!r}, |diff| {abs(a[worst] - b[worst]):.3e} >"
            f" allowed {allowed[worst]:.3e}"
        )
