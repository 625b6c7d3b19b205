"""The NumPy kernel: the batch gradient of gradients.py, rewritten for speed. Private.

Everything in this module exists only to make ``net.gradient`` fast on NumPy; the equations
are those of :func:`backprop.gradients.batch_gradient`, which every backend (and NumPy, if
this file is deleted) runs instead. The tricks, each measured in ``benchmarks/``:

* **one example per column**: the kernel holds Z_l^T, a_l^T and Delta_l^T, (p_l, n), so
  every product has W_l (a contiguous slice of θ) or a contiguous (p_l, n) array on the
  left, and the reductions of the output layer over the classes run along whole rows;
* a **workspace** per batch size and thread: Z_l, a_l and Delta_l of a call live in arrays
  kept for the next call (Z_l is overwritten by a_l = S(z_l), then by Delta_l on the way
  back), so a call allocates little more than the gradient it returns;
* every matrix product is written by ``np.dot(..., out)`` straight into its place;
* on **small networks**, where each NumPy call costs more than its arithmetic, the biases
  ride in the products: θ is gathered once per call into the matrices [W_l | b_l], each
  layer's input has a row of ones under it, so Z_l^T = [W_l | b_l] [A_{l-1}^T; 1^T] is one
  product and [A_{l-1}, 1]^T Delta_l gives both gradients of a layer; one ``take`` puts
  them in θ's order (2L calls fewer, 3 more);
* **in-place forms** of S and S' (keyed by activation name) and of the output layer with its
  loss (keyed by (output, loss));
* W_l^T Delta_l^T is formed in blocks of columns, so no extra array of the batch's size is
  needed;
* input checks that cost one pass: a finiteness test by one dot product, labels turned into
  one-hot columns by a ``take`` from an identity matrix.

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
# W_l^T Delta_l^T is formed in blocks of columns of about BLOCK_BYTES: a block of columns is
# a strided view, which costs several per cent on the large benchmark (1024 x 1024, float64:
# 1.06 x the floor in 2 or 4 MiB blocks, 1.01 in one block of 8 MiB), so blocks are large.
WORKSPACE_BYTES = 64 << 20
WORKSPACES_KEPT = 4
BLOCK_BYTES = 8 << 20


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
# form(ws, Zt, Yt, n, with_loss, output, loss) -> (ℓ_τ or None, Delta_L^T / n as (p_L, n));
# Zt is Z_L^T, (p_L, n), and may be overwritten; Yt is Y^T, (K, n).


def _softmax_cross_entropy(ws, Zt, Yt, n, with_loss, output, loss):
    # ln g = z - m - ln Σ exp(z - m) (log-sum-exp, m = max_k z_k), g = exp(z - m) /
    # Σ exp(z - m) and δ_L = g - e_{y+1}: the formulas of losses.py, in place.
    m, s, shifted = ws.m, ws.s, ws.Gt
    np.maximum.reduce(Zt, 0, None, m)
    np.subtract(Zt, m, shifted)
    E = np.exp(shifted, Zt)
    np.add.reduce(E, 0, None, s)
    value = None
    if with_loss:  # -(1/n) Σ y ⊙ ln g, as one dot product
        np.subtract(shifted, np.log(s, m), shifted)
        value = -np.vdot(shifted, Yt) / n
    np.divide(E, s, E)  # g
    np.subtract(E, Yt, E)
    np.multiply(E, 1 / n, E)
    return value, E


def _elementwise_squared_error(ws, Zt, Yt, n, with_loss, output, loss):
    # C = ||g - y||^2, δ_L = S'_L(z_L) ⊙ 2(g - y).
    act = output.activation
    identity = act.name == "identity"
    G = Zt if identity else forward_form(act)[0](Zt)
    R = ws.Gt
    np.subtract(G, Yt, R)
    value = np.vdot(R, R) / n if with_loss else None
    if identity:
        np.multiply(R, 2 / n, R)
        return value, R
    backward_form(act)(G, R)  # G := S'(z_L) ⊙ (g - y)
    np.multiply(G, 2 / n, G)
    return value, G


def general_output(ws, Zt, Yt, n, with_loss, output, loss):
    # Any other pair (e.g. the reduced softmax): the general code of losses.py, on rows.
    Z, Y = Zt.T, Yt.T
    G = output.S_xp(_xp, Z)
    value = mean_loss(_xp, output, loss, Z, G, Y)
    delta = output_delta(_xp, output, loss, Z, G, Y)
    return value, np.divide(delta.T, n, out=np.empty(Zt.shape, Zt.dtype))


OUTPUT_FORMS = {("softmax", "cross_entropy"): _softmax_cross_entropy}


def output_form(output, loss):
    """The in-place form for the pair (output, loss): softmax with cross-entropy, any
    element-wise output with squared error, else the general code of losses.py."""
    if output.activation is not None and loss.name == "squared_error":
        return _elementwise_squared_error
    return OUTPUT_FORMS.get((output.name, loss.name), general_output)


# ----------------------------------------------------------------------------- the two steps
# Each equation of a layer's step, written once here (and once in gradients.py), with one
# example per column: Z_l^T, A_l^T and Delta_l^T are (p_l, n).


def affine(W, At, b, out):
    """Z_l^T = W_l A_{l-1}^T + b_l 1^T (line 3) written into ``out``. With ``b`` None, W is
    [W_l | b_l] and At has a row of ones under A_{l-1}^T: the product adds b_l itself."""
    np.dot(W, At, out)
    if b is not None:
        np.add(out, b, out)
    return out


def delta_back(WT, Dt, dS, Ht, T):
    """Delta_{l-1}^T = (W_l^T Delta_l^T) ⊙ S'(z_{l-1}) (line 10): the product into T, then
    dS writes S'(z_{l-1}) ⊙ T over Ht, which held a_{l-1}^T."""
    np.dot(WT, Dt, T)
    dS(Ht, T)


def delta_back_in_blocks(WT, Dt, dS, Ht, T):
    """delta_back block by block of columns, the flat T holding one block's product."""
    rows, n = Ht.shape
    cols = T.shape[0] // rows
    for c0 in range(0, n, cols):
        c1 = min(c0 + cols, n)
        delta_back(WT, Dt[:, c0:c1], dS, Ht[:, c0:c1], T[: rows * (c1 - c0)].reshape(rows, -1))


def in_column_blocks(S, Z, zeros):
    """a = S(z) written over Z block by block of columns, against a block of zeros."""
    cols, n = zeros.shape[1], Z.shape[1]
    for c0 in range(0, n, cols):
        c1 = min(c0 + cols, n)
        S(Z[:, c0:c1], zeros[:, : c1 - c0])
    return Z


# ----------------------------------------------------------------------------- workspaces
# On small networks the biases ride in the products (the module's docstring) when the
# entries that gather, scatter and copy move, 2 dim θ + n p_0, cost less than the 2L - 3 calls
# saved; AUG_ENTRIES is the number of entries that costs about one NumPy call (measured on
# x86-64 with NumPy 2.4: a call ~0.7 µs, a gathered entry ~0.7 ns).
AUG_ENTRIES = 1024


def rides_in_products(p, dim_theta: int, n: int) -> bool:
    """True when a batch of n rows is computed with the biases in the products."""
    L = len(p) - 1
    return 2 * dim_theta + n * p[0] <= AUG_ENTRIES * (2 * L - 3)


class Workspace:
    """The arrays the kernel writes into, for batches of n rows (one example per column).

    A[l] (l = 1..L-1): (p_l + 1, n), a row of ones under H[l] = A[l][:p_l], which holds Z_l^T,
    then a_l^T, then Delta_l^T on the way back; A[0]: X^T under its row of ones, where the
    biases ride in the products (``aug``), else None. Zt: Z_L^T, then Delta_L^T (p_L, n);
    Gt: one more (p_L, n) array; m, s: per-example maxima and
    sums over the classes (n,); ones: (n,) ones for row sums; T: a flat block for
    W_l^T Delta_l^T; zeros[l]: a block of zeros (p_l, cols) (never written); one_block: True
    when one block holds the whole batch; Wa, gWaT: with ``aug``, the gathered [W_l | b_l]
    (p_l, p_{l-1} + 1) and its gradient's transpose (p_{l-1} + 1, p_l), views of the flat
    ``waug`` and ``gaug``; out_views: None, or (out, its per-layer views) for the last
    ``out`` buffer a call wrote its gradient into; plan: None, or the per-layer arguments of
    the kernel's calls (Kernel.plan).
    """

    __slots__ = ("A", "H", "Zt", "Gt", "m", "s", "ones", "T", "zeros", "one_block",
                 "aug", "waug", "gaug", "Wa", "gWaT", "nbytes", "out_views", "plan")

    @staticmethod
    def layout(p, dtype, n: int, aug: bool = False):
        """(columns of a block, widest hidden layer, bytes of the whole workspace)."""
        L, size = len(p) - 1, np.dtype(dtype).itemsize
        widest = max(p[1:L], default=0)
        cols = min(n, max(64, BLOCK_BYTES // (size * max(widest, 1))))
        entries = n * (sum(p[1:L]) + (L - 1) + 2 * p[L] + 3) + 2 * cols * widest
        if aug:
            gathered = sum(p[l] * (p[l - 1] + 1) for l in range(1, L + 1))
            entries += n * (p[0] + 1) + 2 * gathered
        return cols, widest, entries * size

    def __init__(self, p, dtype, n: int, aug: bool = False):
        L = len(p) - 1
        cols, widest, self.nbytes = self.layout(p, dtype, n, aug)
        self.aug = aug
        self.A = [np.ones((p[0] + 1, n), dtype=dtype) if aug else None]
        self.A += [np.ones((p[l] + 1, n), dtype=dtype) for l in range(1, L)]
        self.H = [None if a is None else a[:-1] for a in self.A]
        self.Zt = np.empty((p[L], n), dtype=dtype)
        self.Gt = np.empty((p[L], n), dtype=dtype)
        self.m = np.empty(n, dtype=dtype)
        self.s = np.empty(n, dtype=dtype)
        self.ones = np.ones(n, dtype=dtype)
        self.one_block = cols == n
        self.T = np.empty(cols * widest, dtype=dtype)
        zeros = np.zeros(cols * widest, dtype=dtype)
        self.zeros = [None] + [zeros[: cols * p[l]].reshape(p[l], cols) for l in range(1, L)]
        self.Wa = self.gWaT = self.waug = self.gaug = None
        if aug:
            sizes = [p[l] * (p[l - 1] + 1) for l in range(1, L + 1)]
            ends = np.cumsum([0] + sizes)
            self.waug = np.empty(ends[-1], dtype=dtype)
            self.gaug = np.empty(ends[-1], dtype=dtype)
            self.Wa = [self.waug[ends[l - 1]:ends[l]].reshape(p[l], p[l - 1] + 1)
                       for l in range(1, L + 1)]
            self.gWaT = [self.gaug[ends[l - 1]:ends[l]].reshape(p[l - 1] + 1, p[l])
                         for l in range(1, L + 1)]
        self.out_views = self.plan = None


class WorkspaceCache:
    """The workspaces a network keeps, one per (batch size, thread), guarded by a lock.

    Each thread gets its own workspace, so threads never write into the same arrays; the
    dictionary is changed (and iterated) only under the lock, and read by single lookups.
    ``dim_theta`` decides where the biases ride in the products (None: nowhere).
    """

    def __init__(self, p, dtype, dim_theta: int | None = None):
        self.p, self.dtype = p, dtype
        self.dim_theta = dim_theta
        self._lock = threading.Lock()
        self._kept: dict = {}

    def get(self, n: int, keep_large: bool = True):
        """This thread's workspace for n rows: a kept one, a new kept one, or (when it would
        exceed WORKSPACE_BYTES) a new one that is not kept (None if ``keep_large`` is False)."""
        key = (n, threading.get_ident())
        ws = self._kept.get(key)  # one atomic read; only changes need the lock
        if ws is not None:
            return ws
        aug = self.dim_theta is not None and rides_in_products(self.p, self.dim_theta, n)
        if Workspace.layout(self.p, self.dtype, n, aug)[2] > WORKSPACE_BYTES:
            return Workspace(self.p, self.dtype, n, aug) if keep_large else None
        ws = Workspace(self.p, self.dtype, n, aug)
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
        self.b_col = [theta[layer.b].reshape(-1, 1) for layer in layers]
        self.output, self.loss, self.heads = output, loss, list(hidden) + [output]
        # per hidden layer: (S over Z, in place?) and S' from a; replaceable, as the
        # benchmark does to measure what the in-place forms save
        self.S = [forward_form(act) for act in hidden]
        self.dS = [backward_form(act) for act in hidden]
        self.output_form = output_form(output, loss)
        self.workspaces = WorkspaceCache(self.p, self.dtype, self.dim_theta)
        self.eye = np.eye(K, dtype=self.dtype) if loss.classification else None
        self.binary = loss.binary_targets
        self._gather = None  # (θ's index of each entry of waug, waug's of each entry of θ)

    # ---- the checks that cost one pass
    def checked_X(self, X):
        """X itself when it is already a finite (n, p_0) array of the dtype, else None."""
        if (type(X) is np.ndarray and X.dtype == self.dtype and X.ndim == 2
                and X.shape[1] == self.p[0] and X.shape[0] > 0 and all_finite(X)):
            return X
        return None

    def checked_Y(self, y, n: int):
        """The target matrix Y for y when it needs no conversion, else None.

        Labels become one-hot columns by a ``take`` from the identity (an IndexError for a
        label >= K; negative ones are tested first), and Y is the transpose of that new
        (K, n) array: the kernel's own layout, with the rows of Y still e_{y+1}.
        """
        if type(y) is not np.ndarray or n <= 0 or y.shape[:1] != (n,) or self.binary:
            return None  # (0/1 targets are checked by the general code)
        if self.eye is not None:
            if y.ndim == 1 and y.dtype.kind in "iu" and np.minimum.reduce(y) >= 0:
                try:
                    return self.eye.take(y, 1).T
                except IndexError:
                    return None  # the general check says what is wrong
        elif y.dtype == self.dtype and all_finite(y):
            if y.ndim == 2 and y.shape[1] == self.p[-1]:
                return y
            if y.ndim == 1 and self.p[-1] == 1:
                return y.reshape(n, 1)
        return None

    def gradient(self, X, y):
        """∂ℓ_τ/∂θ (a new array) when X and y need no conversion (each checked in one pass,
        as above), else None: the network's general checks then convert them or say what is
        wrong."""
        X = self.checked_X(X)
        Y = None if X is None else self.checked_Y(y, X.shape[0])
        return None if Y is None else self.loss_and_gradient(X, Y, None, False)[1]

    # ---- the forward pass and the gradient
    def forward(self, X):
        """([Z_1, ..., Z_L], [A_0, ..., A_L]) as gradients.forward computes them: each Z_l^T
        written into a new array that the bias is then added to (one temporary fewer); the
        arrays returned are the (n, p_l) transposes."""
        Z, A, n = [], [X], X.shape[0]
        for l, head in enumerate(self.heads):
            zt = np.empty((self.p[l + 1], n), self.dtype)
            z = affine(self.W[l], A[l].T, self.b_col[l], zt).T
            Z.append(z)
            A.append(head.S_xp(_xp, z))
        return Z, A

    def loss_and_gradient(self, X, Y, out=None, with_loss=True):
        """(ℓ_τ or None, ∂ℓ_τ/∂θ) = ``products(X, Y, out, with_loss)``, run once more where
        a product's "invalid" flag was raised as an error on numbers that come out finite."""
        try:
            return self.products(X, Y, out, with_loss)
        except RuntimeWarning as flag:
            # OpenBLAS kernels have raised FE_INVALID on finite data (OpenBLAS#1924,
            # numpy#24067); twice in CI a one-row float32 product did so here. X and θ are
            # finite, so a true "invalid" needs an overflow first (its own warning) and
            # leaves a NaN: the call is made again without the flag, and kept if finite.
            if not str(flag).startswith("invalid value"):
                raise
            with np.errstate(invalid="ignore"):
                loss, grad = self.products(X, Y, out, with_loss)
            if not all_finite(grad) or (loss is not None and not np.isfinite(loss)):
                raise
            return loss, grad

    def products(self, X, Y, out=None, with_loss=True):
        """(ℓ_τ or None, ∂ℓ_τ/∂θ) for a checked batch, the gradient written into ``out``
        (a contiguous flat array of the dtype and length dim θ) or a new array.

        One example per column: Z_l^T = W_l A_{l-1}^T + b_l goes into the workspace and S_l
        is applied in place (a_l is enough for S'). Backwards, the weight and bias gradients
        Delta_l^T A_{l-1} and Delta_l^T 1 go into θ's order, and Delta_{l-1}^T =
        (W_l^T Delta_l^T) ⊙ S'(z_{l-1}) overwrites a_{l-1}^T. Where the biases ride in the
        products (``ws.aug``), each layer is one product forward and one back, and the calls
        are bound to their arrays once (``in_products``).
        Positional out= arguments: a little less overhead per call.
        """
        n = X.shape[0]
        ws = self.workspaces.get(n)
        if ws.aug:
            loss, grad = self.in_products(ws, X, Y, out, with_loss)
        else:
            flags = X.flags
            if not (flags.c_contiguous or flags.f_contiguous):
                X = np.ascontiguousarray(X)  # strided input: BLAS needs one unit stride
            forward, last, backward = ws.plan or self.plan(ws)
            grad = np.empty(self.dim_theta, dtype=self.dtype) if out is None else out
            At = X.T
            for W, b, H, S, zeros in forward:  # hidden layers 1..L-1
                At = S(affine(W, At, b, H), zeros)
            Zt = affine(last[0], At, last[1], ws.Zt)  # Z_L^T, (p_L, n)
            loss, Dt = self.output_form(ws, Zt, Y.T, n, with_loss, self.output, self.loss)
            gW, gb = self.gradient_views(ws, grad, out)
            dot, ones = np.dot, ws.ones
            for l, A_prev, back, WT, dS, H, T in backward:  # l = L, ..., 1
                dot(Dt, X if A_prev is None else A_prev, gW[l - 1])  # Delta_l^T A_{l-1}
                dot(Dt, ones, gb[l - 1])  # Σ_i δ_l = Delta_l^T 1
                if back is not None:
                    back(WT, Dt, dS, H, T)  # Delta_{l-1}^T, written over a_{l-1}^T
                    Dt = H
        if self.alpha:
            add_weight_penalty_gradient(_xp, self.layers, self.theta, self.alpha, n, grad)
            if loss is not None:
                loss = loss + weight_penalty(_xp, self.layers, self.theta, self.alpha, n)
        return loss, grad

    def in_products(self, ws, X, Y, out, with_loss):
        """The call where the biases ride in the products: X^T goes above its row of ones,
        then the bound calls of the forward pass (θ gathered into [W_l | b_l], Z_l^T =
        [W_l | b_l] [A_{l-1}^T; 1^T], S_l in place), the output layer, layer L's gradient
        [Σ_i δ_L a_{L-1}^T | Σ_i δ_L]^T and Delta_{L-1}, the bound calls for l = L-1..1, and
        one ``take`` into θ's order."""
        forward, (A_prev, back, WT, dS, H, T), backward = ws.plan or self.plan(ws)
        np.copyto(ws.H[0], X.T)
        for call in forward:
            call()
        loss, Dt = self.output_form(ws, ws.Zt, Y.T, X.shape[0], with_loss, self.output,
                                    self.loss)
        np.dot(A_prev, Dt.T, ws.gWaT[-1])
        back(WT, Dt, dS, H, T)
        for call in backward:
            call()
        if out is None:
            return loss, ws.gaug.take(self._gather[1])
        return loss, ws.gaug.take(self._gather[1], 0, out, "clip")  # "raise" would buffer

    def plan(self, ws):
        """The per-layer arguments of a call on workspace ``ws``, made at its first call and
        kept there.

        Biases added: forward, (W_l, b_l's column, Z_l's array, S_l, zeros) for l = 1..L-1,
        S_l over column blocks where the batch needs several; last, (W_L, b_L's column);
        backward, for l = L..1, (l, a_{l-1}^T's transpose (None: X itself), and for l > 1
        delta_back or its form in blocks, W_l^T, S'_{l-1}, a_{l-1}^T's array, the block for
        W_l^T Delta_l^T, else Nones). Biases in the products: the bound calls of
        ``in_products`` and layer L's arguments.
        """
        L, n = self.L, ws.m.shape[0]
        back = delta_back if ws.one_block else delta_back_in_blocks
        S, T, steps = [], [None], []
        for l in range(1, L):
            form, inplace = self.S[l - 1]
            if not inplace:  # the next product reads Z_l's array: write a_l back there
                form = functools.partial(_written_back, form)
            elif not ws.one_block:
                form = functools.partial(in_column_blocks, form)
            S.append((form, ws.zeros[l] if ws.one_block or inplace else None))
            # one block: T shaped as W_{l+1}^T Delta_{l+1}^T; several: the flat block
            T.append(ws.T[: self.p[l] * n].reshape(-1, n) if ws.one_block else ws.T)
        for l in range(L, 1, -1):
            steps.append((back, self.WT[l - 1], self.dS[l - 2], ws.H[l - 1], T[l - 1]))
        if not ws.aug:
            forward = [(self.W[l - 1], self.b_col[l - 1], ws.H[l]) + S[l - 1]
                       for l in range(1, L)]
            backward = [(l, ws.H[l - 1].T, *steps[L - l]) for l in range(L, 1, -1)]
            backward.append((1, None) + (None,) * 5)
            ws.plan = forward, (self.W[L - 1], self.b_col[L - 1]), backward
            return ws.plan
        if self._gather is None:
            self._gather = self.gather_index()
        # affine(W, At, None, out) and delta_back are bound as the calls they make: with the
        # biases in the products, line 3 is one product, and line 10 a product and S'
        bind = functools.partial
        # (mode "clip": the indices are in range, and "raise" would copy through a buffer)
        forward = [bind(self.theta.take, self._gather[0], 0, ws.waug, "clip")]
        for l in range(1, L):
            form, zeros = S[l - 1]
            forward += [bind(np.dot, ws.Wa[l - 1], ws.A[l - 1], ws.H[l]),
                        bind(form, ws.H[l], zeros)]
        forward.append(bind(np.dot, ws.Wa[L - 1], ws.A[L - 1], ws.Zt))
        backward = []
        for l in range(L - 1, 0, -1):  # Delta_l^T is in H[l]
            backward.append(bind(np.dot, ws.A[l - 1], ws.H[l].T, ws.gWaT[l - 1]))
            if l > 1:
                back_l, WT, dS, H, T_l = steps[L - l]
                if back_l is delta_back:
                    backward += [bind(np.dot, WT, ws.H[l], T_l), bind(dS, H, T_l)]
                else:
                    backward.append(bind(back_l, WT, ws.H[l], dS, H, T_l))
        ws.plan = forward, (ws.A[L - 1],) + steps[0], backward
        return ws.plan

    def gather_index(self):
        """(for each entry of the flat [W_1 | b_1], ..., [W_L | b_L]: its index in θ; for each
        entry of θ: its index in the flat transposed blocks [W_l | b_l]^T)."""
        position = np.arange(self.dim_theta)
        blocks = [np.hstack([position[W].reshape(shape), position[b].reshape(-1, 1)])
                  for W, shape, b in self.slices]
        gather = np.concatenate([block.ravel() for block in blocks])
        scatter = np.argsort(np.concatenate([block.T.ravel() for block in blocks]))
        return gather, scatter

    def gradient_views(self, ws, grad, out):
        """([∂ℓ/∂W_l as a (p_l, p_{l-1}) view], [∂ℓ/∂b_l as a view]) of a flat gradient; a
        buffer given again (a training loop's) keeps its views in the workspace."""
        if out is not None:
            kept = ws.out_views
            if kept is not None and kept[0] is out:
                return kept[1]
        views = ([grad[W].reshape(shape) for W, shape, _ in self.slices],
                 [grad[b] for _, _, b in self.slices])
        if out is not None:
            ws.out_views = (out, views)
        return views


def _written_back(S, Z, zeros=None):
    """a = S(z) from an S that returns a new array, copied back over Z."""
    np.copyto(Z, S(Z))
    return Z
