"""The NumPy kernel: the batch gradient of gradients.py, rewritten for speed. Private.

Everything in this module exists only to make ``net.gradient`` fast on NumPy; the equations
are those of :func:`backprop.gradients.batch_gradient`, which every backend (and NumPy, if
this file is deleted) runs instead. The tricks, each measured in ``benchmarks/``:

* a **workspace** per batch size and thread: Z_l, a_l and Delta_l of a call live in arrays
  kept for the next call (Z_l is overwritten by a_l = S(z_l), then by Delta_l on the way
  back), so a call allocates little more than the gradient it returns;
* every matrix product is written by ``np.dot(..., out)`` straight into its place, the
  weight gradients into their slices of the gradient vector;
* **in-place forms** of S and S' (keyed by activation name) and of the output layer with its
  loss (keyed by (output, loss)); the output layer is kept transposed, (p_L, n), so its
  reductions over the classes run along whole rows;
* Delta_l W_l is formed in blocks of rows, so no extra array of the batch's size is needed;
* input checks that cost one pass: a finiteness test by one dot product, labels turned into
  one-hot rows by a ``take`` from an identity matrix, written into the workspace.

It takes arrays and returns arrays; it imports nothing from ``network.py``.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np

from .backend import get_namespace
from .gradients import add_weight_penalty_gradient, weight_penalty
from .losses import mean_loss, output_delta

_xp = get_namespace("numpy")

# At most WORKSPACES_KEPT workspaces (one per batch size and thread) and WORKSPACE_BYTES in
# all are kept per network; a larger batch gets arrays that are freed after the call.
# Delta_l W_l is formed in blocks of rows of about BLOCK_BYTES.
WORKSPACE_BYTES = 64 << 20
WORKSPACES_KEPT = 4
BLOCK_BYTES = 2 << 20


def all_finite(x) -> bool:
    """True when every entry of the NumPy float array x is finite: exact, one pass, no copy.

    Σ x_i² (one BLAS dot product) is NaN or +inf when some entry is NaN or ±inf (the terms
    are >= 0, so no inf - inf can cancel to a finite value); a finite value therefore
    proves every entry finite. It can also be +inf for finite entries whose squares
    overflow (|x| above about 1e154 in float64); only then are the entries tested one by one.
    """
    return math.isfinite(np.vdot(x, x)) or bool(np.isfinite(x).all())


# ----------------------------------------------------------------------------- S and S' in place
# forward(Z, zeros) writes a = S(z) over Z and returns it (``zeros``: None, or zeros of Z's
# shape, against which np.maximum is several times faster than against the number 0).
# backward(A, T) writes S'(z) ⊙ T over A, where A holds a = S(z); T may change.


def _identity(Z, zeros=None):
    return Z


def _identity_back(A, T):
    np.copyto(A, T)


def _relu(Z, zeros=None):
    return np.maximum(Z, 0.0 if zeros is None else zeros, out=Z)


# Below this many entries np.sign is the cheaper 0/1 indicator of a > 0 (a comparison with a
# float output pays a fixed cost for casting its bool result; above it, the comparison's
# faster loop wins). Measured with NumPy 2.4 on x86-64, float32 and float64.
RELU_SIGN_MAX = 2048


def _relu_back(A, T):
    # 1 where a > 0, else 0 (0 at the kink). a = max(z, 0) >= 0, so sign(a) is the same
    # indicator (a zero stays a zero of either sign, and so does the product).
    if A.size < RELU_SIGN_MAX:
        np.sign(A, out=A)
    else:
        np.greater(A, 0, out=A)
    np.multiply(A, T, out=A)


def _tanh(Z, zeros=None):
    return np.tanh(Z, out=Z)


def _tanh_back(A, T):
    np.multiply(A, A, out=A)
    np.subtract(1, A, out=A)
    np.multiply(A, T, out=A)


def _logistic_back(A, T):
    np.multiply(T, A, out=T)
    np.subtract(1, A, out=A)
    np.multiply(A, T, out=A)


# The stable logistic needs a temporary, so it has no in-place S (the table's S is used).
FORWARD = {"identity": _identity, "relu": _relu, "tanh": _tanh}
BACKWARD = {"identity": _identity_back, "logistic": _logistic_back, "relu": _relu_back,
            "tanh": _tanh_back}


def generic_forward(act):
    """S from the activation table, as a form with the in-place signature (a new array)."""
    return lambda Z, zeros=None: act.S_xp(_xp, Z)


def generic_backward(act):
    """A := S'(z) ⊙ T from the table's S' written through a (one temporary array)."""
    return lambda A, T: np.multiply(T, act.S_prime_from_a_xp(_xp, A), out=A)


def forward_form(act):
    """(a = S(z) written over Z, True) where this module has an in-place form; else the
    table's S, which returns a new array, and False."""
    form = FORWARD.get(act.name)
    return (generic_forward(act), False) if form is None else (form, True)


def backward_form(act):
    """A := S'(z) ⊙ T, from a = S(z) held in A: the in-place form, or the generic one."""
    return BACKWARD.get(act.name) or generic_backward(act)


# ----------------------------------------------------------------------------- output and loss
# form(ws, Zt, Y, n, with_loss, output, loss) -> (ℓ_τ or None, Delta_L / n as (n, p_L));
# Zt is Z_L^T, (p_L, n), and may be overwritten.


def _softmax_cross_entropy(ws, Zt, Y, n, with_loss, output, loss):
    # ln g = z - m - ln Σ exp(z - m) (log-sum-exp, m = max_k z_k), g = exp(z - m) /
    # Σ exp(z - m) and δ_L = g - e_{y+1}: the formulas of losses.py, in place.
    Yt, m, s, shifted = Y.T, ws.m, ws.s, ws.Gt
    np.maximum.reduce(Zt, 0, None, m)
    np.subtract(Zt, m, shifted)
    E = np.exp(shifted, Zt)
    np.add.reduce(E, 0, None, s)
    value = None
    if with_loss:
        np.subtract(shifted, np.log(s, m), shifted)  # ln g
        np.multiply(shifted, Yt, shifted)
        value = -np.add.reduce(shifted, None) / n
    np.divide(E, s, E)  # g
    np.subtract(E, Yt, E)
    np.multiply(E, 1 / n, E)
    return value, E.T


def _elementwise_squared_error(ws, Zt, Y, n, with_loss, output, loss):
    # C = ||g - y||^2, δ_L = S'_L(z_L) ⊙ 2(g - y).
    act = output.activation
    identity = act.name == "identity"
    G = Zt if identity else forward_form(act)[0](Zt)
    R = ws.Gt
    np.subtract(G, Y.T, R)
    value = np.vdot(R, R) / n if with_loss else None
    if identity:
        np.multiply(R, 2 / n, R)
        return value, R.T
    backward_form(act)(G, R)  # G := S'(z_L) ⊙ (g - y)
    np.multiply(G, 2 / n, G)
    return value, G.T


def general_output(ws, Zt, Y, n, with_loss, output, loss):
    # Any other pair (e.g. the reduced softmax): the general code of losses.py.
    Z = Zt.T
    G = output.S_xp(_xp, Z)
    value = mean_loss(_xp, output, loss, Z, G, Y)
    return value, np.ascontiguousarray(output_delta(_xp, output, loss, Z, G, Y) / n)


OUTPUT_FORMS = {("softmax", "cross_entropy"): _softmax_cross_entropy}


def output_form(output, loss):
    """The in-place form for the pair (output, loss): softmax with cross-entropy, any
    element-wise output with squared error, else the general code of losses.py."""
    if output.activation is not None and loss.name == "squared_error":
        return _elementwise_squared_error
    return OUTPUT_FORMS.get((output.name, loss.name), general_output)


# ----------------------------------------------------------------------------- the two steps
# Each equation of a layer's step, written once here (and once in gradients.py).


def affine(left, right, bias, out):
    """Z_l = A_{l-1} W_l^T + b_l (line 3) written into ``out``: called with (A_{l-1}, W_l^T,
    b_l), or for the transposed output layer with (W_L, A_{L-1}^T, b_L as a column)."""
    np.dot(left, right, out)
    np.add(out, bias, out)
    return out


def delta_back(Delta, W, dS, A, T):
    """Delta_{l-1} = (Delta_l W_l) ⊙ S'(A_{l-1}) (line 10): the product into T, then dS
    writes S'(z_{l-1}) ⊙ T over A, which held a_{l-1}."""
    np.dot(Delta, W, T)
    dS(A, T)


def delta_back_in_blocks(Delta, W, dS, A, T):
    """delta_back block by block of rows, T holding one block (a batch larger than T)."""
    rows, n = T.shape[0], A.shape[0]
    for r0 in range(0, n, rows):
        r1 = min(r0 + rows, n)
        delta_back(Delta[r0:r1], W, dS, A[r0:r1], T[: r1 - r0])


def in_row_blocks(S, Z, zeros):
    """a = S(z) written over Z block by block of rows, against a block of zeros."""
    rows, n = zeros.shape[0], Z.shape[0]
    for r0 in range(0, n, rows):
        r1 = min(r0 + rows, n)
        S(Z[r0:r1], zeros[: r1 - r0])
    return Z


# ----------------------------------------------------------------------------- workspaces


class Workspace:
    """The arrays the kernel writes into, for batches of n rows.

    hidden[l-1]: Z_l, then a_l, then Delta_l on the way back (layers l = 1..L-1);
    Zt: Z_L^T, then Delta_L^T (p_L, n); Gt: one more (p_L, n) array; Y: one-hot rows (n, K);
    m, s: per-example maxima and sums over the classes (n,); ones: (n,) ones for column sums;
    block[l]: a block of rows of Delta_{l+1} W_{l+1}; zeros[l]: a block of zeros of width p_l
    (never written); one_block: True when one block holds the whole batch; out_views: None, or
    (out, its per-layer views) for the last ``out`` buffer a call wrote its gradient into;
    steps: None, or the per-layer arguments of the kernel's calls (Kernel.steps).
    """

    __slots__ = ("hidden", "Zt", "Gt", "Y", "m", "s", "ones", "block", "zeros", "one_block",
                 "nbytes", "out_views", "steps")

    @staticmethod
    def layout(p, K: int, dtype, n: int):
        """(rows of a block, widest hidden layer, bytes of the whole workspace)."""
        L, size = len(p) - 1, np.dtype(dtype).itemsize
        widest = max(p[1:L], default=0)
        rows = min(n, max(64, BLOCK_BYTES // (size * max(widest, 1))))
        entries = n * (sum(p[1:L]) + 2 * p[L] + K + 3) + 2 * rows * widest
        return rows, widest, entries * size

    def __init__(self, p, K: int, dtype, n: int):
        L = len(p) - 1
        rows, widest, self.nbytes = self.layout(p, K, dtype, n)
        self.hidden = [np.empty((n, p[l]), dtype=dtype) for l in range(1, L)]
        self.Zt = np.empty((p[L], n), dtype=dtype)
        self.Gt = np.empty((p[L], n), dtype=dtype)
        self.Y = np.empty((n, K), dtype=dtype)
        self.m = np.empty(n, dtype=dtype)
        self.s = np.empty(n, dtype=dtype)
        self.ones = np.ones(n, dtype=dtype)
        self.one_block = rows == n
        block = np.empty(rows * widest, dtype=dtype)
        self.block = [None] + [block[: rows * p[l]].reshape(rows, p[l]) for l in range(1, L)]
        zeros = np.zeros(rows * widest, dtype=dtype)
        self.zeros = [None] + [zeros[: rows * p[l]].reshape(rows, p[l]) for l in range(1, L)]
        self.out_views = self.steps = None


class WorkspaceCache:
    """The workspaces a network keeps, one per (batch size, thread), guarded by a lock.

    Each thread gets its own workspace, so threads never write into the same arrays; the
    dictionary is changed (and iterated) only under the lock, and read by single lookups.
    """

    def __init__(self, p, K: int, dtype):
        self.p, self.K, self.dtype = p, K, dtype
        self._lock = threading.Lock()
        self._kept: dict = {}

    def get(self, n: int, keep_large: bool = True):
        """This thread's workspace for n rows: a kept one, a new kept one, or (when it would
        exceed WORKSPACE_BYTES) a new one that is not kept (None if ``keep_large`` is False)."""
        key = (n, threading.get_ident())
        ws = self._kept.get(key)  # one atomic read; only changes need the lock
        if ws is not None:
            return ws
        if Workspace.layout(self.p, self.K, self.dtype, n)[2] > WORKSPACE_BYTES:
            return Workspace(self.p, self.K, self.dtype, n) if keep_large else None
        ws = Workspace(self.p, self.K, self.dtype, n)
        with self._lock:
            total = ws.nbytes + sum(w.nbytes for w in self._kept.values())
            while self._kept and (total > WORKSPACE_BYTES or len(self._kept) >= WORKSPACES_KEPT):
                total -= self._kept.pop(next(iter(self._kept))).nbytes  # the oldest first
            self._kept[key] = ws
        return ws

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def sizes(self) -> list[tuple[int, int]]:
        """[(batch size n, bytes)] of each kept workspace, oldest first."""
        with self._lock:
            return [(n, ws.nbytes) for (n, _), ws in self._kept.items()]

    def __len__(self) -> int:
        return len(self._kept)


# ----------------------------------------------------------------------------- the kernel


class Kernel:
    """The fast batch gradient of one network on NumPy, bound to its θ buffer.

    theta: the network's flat NumPy θ (written in place by the network, never replaced);
    layers: θ's layout (parameters.layout); hidden: the L-1 Activation entries; output, loss:
    the Output and Loss entries; K: the length of g; alpha: the weight penalty's α (its
    value and gradient come from gradients.py, added after the data term).
    """

    def __init__(self, theta, layers, hidden, output, loss, K: int, alpha: float = 0.0):
        self.p = (layers[0].shape[1],) + tuple(layer.shape[0] for layer in layers)
        self.L, self.K, self.dtype = len(layers), K, theta.dtype
        self.dim_theta, self.layers, self.alpha, self.theta = theta.shape[0], layers, alpha, theta
        self.slices = [(layer.W, layer.shape, layer.b) for layer in layers]
        self.W = [theta[layer.W].reshape(layer.shape) for layer in layers]
        self.WT = [W.T for W in self.W]
        self.b = [theta[layer.b] for layer in layers]
        self.b_col = self.b[-1].reshape(-1, 1)
        self.output, self.loss, self.heads = output, loss, list(hidden) + [output]
        # per hidden layer: (S over Z, in place?) and S' from a; replaceable, as the
        # benchmark does to measure what the in-place forms save
        self.S = [forward_form(act) for act in hidden]
        self.dS = [backward_form(act) for act in hidden]
        self.output_form = output_form(output, loss)
        self.workspaces = WorkspaceCache(self.p, K, self.dtype)
        self.eye = np.eye(K, dtype=self.dtype) if loss.classification else None
        self.binary = loss.binary_targets

    # ---- the checks that cost one pass
    def checked_X(self, X):
        """X itself when it is already a finite (n, p_0) array of the dtype, else None."""
        if (type(X) is np.ndarray and X.dtype == self.dtype and X.ndim == 2
                and X.shape[1] == self.p[0] and X.shape[0] > 0 and all_finite(X)):
            return X
        return None

    def checked_Y(self, y, n: int, scratch: bool):
        """The target matrix Y for y when it needs no conversion, else None.

        Labels become one-hot rows by a ``take`` from the identity (an IndexError for a label
        >= K; negative ones are tested first); with ``scratch`` they are written into this
        thread's workspace for n rows, for a caller that does not keep Y beyond the next call.
        """
        if type(y) is not np.ndarray or n <= 0 or y.shape[:1] != (n,) or self.binary:
            return None  # (0/1 targets are checked by the general code)
        if self.eye is not None:
            if y.ndim == 1 and y.dtype.kind in "iu" and np.minimum.reduce(y) >= 0:
                ws = self.workspaces.get(n, keep_large=False) if scratch else None
                try:
                    if ws is not None:
                        return self.eye.take(y, axis=0, out=ws.Y)
                    return self.eye.take(y, axis=0)
                except IndexError:
                    return None  # the general check says what is wrong
        elif y.dtype == self.dtype and all_finite(y):
            if y.ndim == 2 and y.shape[1] == self.p[-1]:
                return y
            if y.ndim == 1 and self.p[-1] == 1:
                return y.reshape(n, 1)
        return None

    # ---- the forward pass and the gradient
    def forward(self, X):
        """([Z_1, ..., Z_L], [A_0, ..., A_L]) as gradients.forward computes them: each product
        written into a new array that the bias is then added to (one temporary fewer)."""
        Z, A, n = [], [X], X.shape[0]
        for l, head in enumerate(self.heads):
            z = affine(A[l], self.WT[l], self.b[l], np.empty((n, self.p[l + 1]), self.dtype))
            Z.append(z)
            A.append(head.S_xp(_xp, z))
        return Z, A

    def loss_and_gradient(self, X, Y, out=None, with_loss=True):
        """(ℓ_τ or None, ∂ℓ_τ/∂θ) for a checked batch, the gradient written into ``out``
        (a contiguous flat array of the dtype and length dim θ) or a new array.

        Z_l = A_{l-1} W_l^T + b_l goes into the workspace and S_l is applied in place (a_l is
        enough for S'). Backwards, Delta_l^T A_{l-1} and 1^T Delta_l go straight into the
        gradient's slices, and Delta_{l-1} = (Delta_l W_l) ⊙ S'(A_{l-1}) overwrites A_{l-1}.
        Positional out= arguments: a little less overhead per call.
        """
        n, flags = X.shape[0], X.flags
        if not (flags.c_contiguous or flags.f_contiguous):
            X = np.ascontiguousarray(X)  # strided input: BLAS needs one unit stride
        ws = self.workspaces.get(n)
        forward, backward = ws.steps or self.steps(ws)
        if out is None:
            grad = np.empty(self.dim_theta, dtype=self.dtype)
            gW, gb = self.gradient_views(grad)
        else:  # a buffer given again (a training loop's) keeps its views
            grad, kept = out, ws.out_views
            if kept is None or kept[0] is not out:
                ws.out_views = kept = (out, self.gradient_views(out))
            gW, gb = kept[1]
        A = [X]  # a_0, ..., a_{L-1}
        for WT, b, H, S, zeros in forward:  # hidden layers 1..L-1
            A.append(S(affine(A[-1], WT, b, H), zeros))
        Zt = affine(self.W[-1], A[-1].T, self.b_col, ws.Zt)  # Z_L^T, (p_L, n)
        loss, Delta = self.output_form(ws, Zt, Y, n, with_loss, self.output, self.loss)
        dot, ones, l = np.dot, ws.ones, self.L
        for back, W, dS, T in backward:  # l = L, ..., 2
            dot(Delta.T, A[l - 1], gW[l - 1])  # Σ_i δ_l a_{l-1}^T
            dot(ones, Delta, gb[l - 1])  # Σ_i δ_l = 1^T Delta_l
            back(Delta, W, dS, A[l - 1], T)  # Delta_{l-1}, written over a_{l-1}
            Delta, l = A[l - 1], l - 1
        dot(Delta.T, X, gW[0])  # l = 1; Delta_0 is never needed
        dot(ones, Delta, gb[0])
        if self.alpha:
            add_weight_penalty_gradient(_xp, self.layers, self.theta, self.alpha, n, grad)
            if loss is not None:
                loss = loss + weight_penalty(_xp, self.layers, self.theta, self.alpha, n)
        return loss, grad

    def steps(self, ws):
        """The per-layer arguments of a call on workspace ``ws``, made at its first call and
        kept there: forward, (W_l^T, b_l, Z_l's array, S_l, zeros) for l = 1..L-1, S_l over
        row blocks where the batch needs several; backward, (delta_back or its form in
        blocks, W_l, S'_{l-1}, the block for Delta_l W_l) for l = L..2."""
        forward = []
        for l in range(1, self.L):
            S, inplace = self.S[l - 1]
            zeros = ws.zeros[l] if ws.one_block or inplace else None
            if inplace and not ws.one_block:
                S = functools.partial(in_row_blocks, S)
            forward.append((self.WT[l - 1], self.b[l - 1], ws.hidden[l - 1], S, zeros))
        back = delta_back if ws.one_block else delta_back_in_blocks
        backward = [(back, self.W[l - 1], self.dS[l - 2], ws.block[l - 1])
                    for l in range(self.L, 1, -1)]
        ws.steps = forward, backward
        return ws.steps

    def gradient_views(self, grad):
        """([∂ℓ/∂W_l as a (p_l, p_{l-1}) view], [∂ℓ/∂b_l as a view]) of a flat gradient."""
        return ([grad[W].reshape(shape) for W, shape, _ in self.slices],
                [grad[b] for _, _, b in self.slices])
