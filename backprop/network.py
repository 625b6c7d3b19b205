"""The feed-forward network: sizes, parameters θ, forward pass, prediction and loss.

Python lists are 0-based and the lecture's layers are 1-based: ``net.W[l-1]`` is W_l,
``net.b[l-1]`` is b_l, ``zs[l-1]`` is z_l and ``activations[l]`` is a_l (a_0 = X).

All parameters live in one flat buffer θ (W_1 row-major, b_1, ..., W_L, b_L); each W_l and
b_l is a view into it, so reading θ needs no copy and an optimiser updates every layer with
one vector operation.

On the NumPy backend the batch gradient runs on a fast path (see :meth:`Network.gradient`):
its intermediate arrays live in a workspace that is reused from one call to the next, and
every matrix product writes straight into its place. Every other backend (CuPy,
array_api_strict) runs the same equations through the generic array-API code.
"""

from __future__ import annotations

import math
import numbers
import threading

import numpy as np

from . import _validate as check
from .activations import get_activation
from .backend import backend_name, dtype_of, get_namespace, to_numpy
from .losses import get_loss, get_output, output_delta

INITS = ("normal", "xavier", "he")

# The NumPy fast path keeps its workspaces (see Network.gradient), at most WORKSPACES_KEPT
# of them (one per batch size and thread) and WORKSPACE_BYTES in all; a batch too large for
# that gets fresh arrays that are freed after the call. The back-propagated product
# Delta_l W_l is formed in blocks of rows of about BLOCK_BYTES, so it never needs an array
# as large as a whole layer's activations.
_thread_id = threading.get_ident
WORKSPACE_BYTES = 64 << 20
WORKSPACES_KEPT = 4
BLOCK_BYTES = 2 << 20


def _all_finite(x) -> bool:
    """True when every entry of the NumPy float array x is finite: exact, one pass, no copy.

    Σ x_i² (one BLAS dot product) is NaN or +inf when some entry is NaN or ±inf (the terms
    are >= 0, so no inf - inf can cancel to a finite value); a finite value therefore
    proves every entry finite. It can also be +inf for finite entries whose squares
    overflow (|x| above about 1e154 in float64); only then are the entries tested one by one.
    """
    return math.isfinite(np.vdot(x, x)) or bool(np.isfinite(x).all())


def _forward_inplace(xp, act, Z, zeros=None):
    """a = S(z) written over Z where the table has an in-place form; else a new array."""
    return act.S_xp(xp, Z) if act.S_inplace is None else act.S_inplace(Z, zeros)


def _backward_inplace(xp, act, A, T) -> None:
    """A := S'(z) ⊙ T, with S'(z) computed from a = S(z) held in A (NumPy). T may be changed."""
    if act.S_prime_inplace is None:
        np.multiply(T, act.S_prime_from_a_xp(xp, A), out=A)
    else:
        act.S_prime_inplace(A, T)


class _Workspace:
    """The arrays that the NumPy fast path writes into, for batches of n rows.

    A[l-1]: Z_l, then a_l (hidden layers l = 1..L-1), then Delta_l on the way back;
    Zt: Z_L^T, then Delta_L^T (the output layer is kept transposed, shape (p_L, n));
    Gt: one more (p_L, n) array; Y: one-hot targets (n, K); m, s: (n,) maxima and sums
    over the classes; ones: (n,) ones for column sums;
    T[l]: a block of rows of Delta_{l+1} W_{l+1} (l = 1..L-1);
    zeros[l]: a block of rows of zeros of width p_l (for the ReLU), never written;
    one_block: True when one block holds the whole batch.
    """

    __slots__ = ("A", "Zt", "Gt", "Y", "m", "s", "ones", "T", "zeros", "one_block", "nbytes")

    @staticmethod
    def layout(net, n: int):
        """(rows of a block, widest hidden layer, bytes of the whole workspace)."""
        p, L, size = net.p, net.L, net._np_dtype.itemsize
        widest = max(p[1:L], default=0)
        rows = min(n, max(64, BLOCK_BYTES // (size * max(widest, 1))))
        entries = n * (sum(p[1:L]) + 2 * p[L] + net.K + 3) + 2 * rows * widest
        return rows, widest, entries * size

    def __init__(self, net, n: int):
        dt, p, L = net._np_dtype, net.p, net.L
        rows, widest, self.nbytes = self.layout(net, n)
        self.A = [np.empty((n, p[l]), dtype=dt) for l in range(1, L)]
        self.Zt = np.empty((p[L], n), dtype=dt)
        self.Gt = np.empty((p[L], n), dtype=dt)
        self.Y = np.empty((n, net.K), dtype=dt)
        self.m = np.empty(n, dtype=dt)
        self.s = np.empty(n, dtype=dt)
        self.ones = np.ones(n, dtype=dt)
        self.one_block = rows == n  # the whole batch is one block of rows
        block = np.empty(rows * widest, dtype=dt)
        self.T = [None] + [block[: rows * p[l]].reshape(rows, p[l]) for l in range(1, L)]
        zeros = np.zeros(rows * widest, dtype=dt)
        self.zeros = [None] + [zeros[: rows * p[l]].reshape(rows, p[l]) for l in range(1, L)]


class ParamList(list):
    """A list of views into θ; assigning ``net.W[l-1] = M`` copies M into θ (shape checked)."""

    def __init__(self, net, kind: str, views):
        super().__init__(views)
        self._net, self._kind = net, kind

    def __setitem__(self, index, value):
        # Python and NumPy integers are layer indices; slices and bools are not.
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"net.{self._kind} takes one integer layer index; got {index!r}")
        self._net._set_block(self._kind, int(index), value)


class Network:
    """A feed-forward network g(x | θ) with layer widths p = [p_0, p_1, ..., p_L].

    z_l = W_l a_{l-1} + b_l and a_l = S_l(z_l) for l = 1..L, with a_0 = x and g = a_L
    (the lecture's feed-forward transitions). For a batch X of shape (n, p_0) the same lines
    read Z_l = A_{l-1} W_l^T + b_l, one example per row.

    Parameters
    ----------
    p : widths [p_0, ..., p_L], L >= 1.
    hidden : the activation S of the hidden layers 1..L-1: one name, or a list of L-1 names
        ('identity', 'logistic' (alias 'sigmoid'), 'relu', 'tanh').
    output : S_L: an element-wise name, 'softmax', or 'softmax_reduced' (K = p_L + 1 classes,
        class 0's logit fixed at 0).
    loss : 'squared_error' (||y - g||^2) or 'cross_entropy' (-ln g_{y+1}); default: cross-entropy
        for a softmax output, squared error otherwise.
    init : 'normal' (W and b drawn N(0, 1), the course's choice), 'xavier' (N(0, 2/(p_{l-1}+p_l)))
        or 'he' (N(0, 2/p_{l-1})); the last two start with b = 0.
    seed : seed of the NumPy Generator that draws θ (the same θ on every backend).
    dtype : 'float64' or 'float32', kept end to end.
    backend : 'numpy', 'cupy', 'array_api_strict', or 'auto' (CuPy when available).
    """

    def __init__(
        self,
        p,
        hidden="relu",
        output="identity",
        loss=None,
        init="he",
        seed=0,
        dtype="float64",
        backend="numpy",
    ):
        if isinstance(p, (str, bytes)) or not hasattr(p, "__len__"):
            raise TypeError(
                f"p must be a list of layer widths [p_0, ..., p_L]; got {type(p).__name__}"
            )
        if len(p) < 2:
            raise ValueError(
                f"p must list at least two widths [p_0, p_1] (L >= 1); got {list(p)}"
            )
        self.p = tuple(check.check_int(w, f"p[{i}]", minimum=1) for i, w in enumerate(p))
        self.L = len(self.p) - 1
        if isinstance(hidden, str):
            hidden = [hidden] * (self.L - 1)
        elif not isinstance(hidden, (list, tuple)):
            raise TypeError(
                f"hidden must be a name or a list of L-1 = {self.L - 1} names; got {hidden!r}"
            )
        if len(hidden) != self.L - 1:
            raise ValueError(
                f"hidden must name L-1 = {self.L - 1} activations (one per hidden layer) for "
                f"p = {list(self.p)}; got {len(hidden)}: {list(hidden)}"
            )
        self.hidden = [get_activation(h, "hidden").name for h in hidden]
        self._hidden = [get_activation(h, "hidden") for h in self.hidden]
        self._output = get_output(output)
        self.output = self._output.name
        if loss is None:
            loss = "cross_entropy" if self._output.logits_xp is not None else "squared_error"
        self._loss = get_loss(loss)
        self.loss_name = self._loss.name
        if self._loss.classification and self._output.logits_xp is None:
            raise ValueError(
                f"loss='cross_entropy' needs output='softmax' or 'softmax_reduced' (g must be a "
                f"probability vector); got output={output!r}"
            )
        if self.output == "softmax_reduced" and not self._loss.classification:
            raise ValueError(
                f"output='softmax_reduced' pairs only with loss='cross_entropy'; got loss={loss!r}"
            )
        if init not in INITS:
            raise ValueError(f"init must be one of {list(INITS)}; got {init!r}")
        self.init = init
        self.seed = check.check_int(seed, "seed")
        self.dtype = dtype if isinstance(dtype, str) else str(np.dtype(dtype))
        self.xp = get_namespace(backend)
        self._dtype = dtype_of(self.xp, self.dtype)
        self.backend = backend_name(self.xp)
        self.K = self._output.n_outputs(self.p[-1])  # length of g (classes, or outputs)

        sizes = [(self.p[l + 1], self.p[l]) for l in range(self.L)]
        self._offsets = []
        start = 0
        for rows, cols in sizes:
            mid = start + rows * cols
            self._offsets.append((start, mid, mid + rows, rows, cols))
            start += rows * cols + rows
        self.dim_theta = start
        theta = self._initial_theta(np.random.default_rng(self.seed))
        self._theta = self.xp.asarray(theta, dtype=self._dtype)
        self._make_views()
        self._reset_caches()

    # ------------------------------------------------------------------ parameters
    def _initial_theta(self, rng) -> np.ndarray:
        blocks = []
        for rows, cols in ((self.p[l + 1], self.p[l]) for l in range(self.L)):
            if self.init == "normal":
                blocks += [rng.standard_normal((rows, cols)).ravel(), rng.standard_normal(rows)]
            else:
                var = 2.0 / (cols + rows) if self.init == "xavier" else 2.0 / cols
                blocks += [np.sqrt(var) * rng.standard_normal((rows, cols)).ravel(), np.zeros(rows)]
        return np.concatenate(blocks)

    def _make_views(self) -> None:
        xp, th = self.xp, self._theta
        self._W = [xp.reshape(th[s:m], (r, c)) for s, m, e, r, c in self._offsets]
        self._b = [th[m:e] for s, m, e, r, c in self._offsets]
        self._b_col = [xp.reshape(b, (-1, 1)) for b in self._b]  # b_l as a column (views)
        self._WT = [W.T for W in self._W]  # W_l^T (views)

    @property
    def W(self) -> ParamList:
        """[W_1, ..., W_L]: ``W[l-1]`` has shape (p_l, p_{l-1}); views into θ."""
        return ParamList(self, "W", self._W)

    @property
    def b(self) -> ParamList:
        """[b_1, ..., b_L]: ``b[l-1]`` has shape (p_l,); views into θ."""
        return ParamList(self, "b", self._b)

    def _set_block(self, kind: str, index: int, value) -> None:
        if not -self.L <= index < self.L:
            raise IndexError(f"net.{kind} has L = {self.L} layers; index {index} is out of range")
        s, m, e, r, c = self._offsets[index % self.L]
        shape = (r, c) if kind == "W" else (r,)
        value = check.to_backend(self.xp, value, f"{kind}[{index}]")
        if tuple(value.shape) != shape:
            raise ValueError(
                f"{kind}[{index}] (layer l = {index % self.L + 1}) must have shape {shape}; "
                f"got shape {tuple(value.shape)}"
            )
        check._check_finite(self.xp, value, f"{kind}[{index}]")
        lo, hi = (s, m) if kind == "W" else (m, e)
        self._theta[lo:hi] = self.xp.reshape(self.xp.astype(value, self._dtype), (-1,))
        self._make_views()

    @property
    def theta(self) -> np.ndarray:
        """θ as a flat NumPy copy: W_1 (row-major), b_1, ..., W_L, b_L; length dim_theta."""
        return np.array(to_numpy(self._theta), copy=True)

    @theta.setter
    def theta(self, value) -> None:
        # Validate before writing, so a rejected vector leaves the network as it was.
        value = check.check_theta(self.xp, value, self.dim_theta, self._dtype)
        self._theta[...] = value
        self._make_views()

    def copy(self, backend: str | None = None, dtype: str | None = None) -> Network:
        """An independent copy, optionally on another backend or in another dtype."""
        new = Network.__new__(Network)
        new.__dict__.update(self.__dict__)
        # No list is shared with the original (their items are immutable descriptions).
        for name in ("hidden", "_hidden", "_offsets"):
            setattr(new, name, list(getattr(self, name)))
        new.xp = get_namespace(backend) if backend is not None else self.xp
        new.backend = backend_name(new.xp)
        new.dtype = dtype or self.dtype
        new._dtype = dtype_of(new.xp, new.dtype)
        new._theta = new.xp.asarray(to_numpy(self._theta), dtype=new._dtype, copy=True)
        new._make_views()
        new._reset_caches()  # never share a workspace with the original
        return new

    # ------------------------------------------------------------------ checked inputs
    def _reset_caches(self) -> None:
        """Drop the NumPy fast path's workspaces and cached one-hot table (after a dtype or
        backend change, and in copies)."""
        self._fast = self.backend == "numpy"
        self._np_dtype = np.dtype(self.dtype) if self._fast else None
        self._workspaces = {}
        self._eye = None

    def _check_X(self, X):
        # Fast path: a NumPy array that already has the network's dtype and shape needs no
        # conversion, only the finiteness check (exact, see _all_finite). Anything else, and
        # every error message, goes through the general checks.
        if (
            self._fast
            and type(X) is np.ndarray
            and X.dtype == self._np_dtype
            and X.ndim == 2
            and X.shape[1] == self.p[0]
            and X.shape[0] > 0
            and _all_finite(X)
        ):
            return X
        return check.check_X(self.xp, X, self.p[0], self._dtype)

    def _check_y(self, y, n: int, scratch=False):
        """Targets as the matrix Y of the loss table: one-hot rows for labels, else (n, p_L).

        scratch=True (NumPy): one-hot rows may be written into the workspace of batch size n,
        for a caller that does not keep Y beyond the next call.
        """
        if self._fast and type(y) is np.ndarray and n > 0 and y.shape[:1] == (n,):
            if self._loss.classification:
                # Integer labels in 0..K-1: row y_i of the identity matrix is e_{y_i + 1}
                # (take raises IndexError for a label >= K; negative ones are tested first).
                if y.ndim == 1 and y.dtype.kind in "iu" and np.minimum.reduce(y) >= 0:
                    if self._eye is None:
                        self._eye = np.eye(self.K, dtype=self._np_dtype)
                    ws = self._workspaces.get((n, _thread_id())) if scratch else None
                    if scratch and ws is None and (
                        _Workspace.layout(self, n)[2] <= WORKSPACE_BYTES
                    ):
                        ws = self._workspace(n)  # kept, so the gradient will use it too
                    try:
                        if ws is not None:
                            return self._eye.take(y, axis=0, out=ws.Y)
                        return self._eye.take(y, axis=0)
                    except IndexError:
                        pass  # the general check below says what is wrong
            elif y.dtype == self._np_dtype and _all_finite(y):
                if y.ndim == 2 and y.shape[1] == self.p[-1]:
                    return y
                if y.ndim == 1 and self.p[-1] == 1:
                    return y.reshape(n, 1)
        if self._loss.classification:
            labels = check.check_labels(self.xp, y, n, self.K)
            return check.one_hot(self.xp, labels, self.K, self._dtype)
        return check.check_targets(self.xp, y, n, self.p[-1], self._dtype)

    def _check_Xy(self, X, y, scratch=False):
        X = self._check_X(X)
        return X, self._check_y(y, X.shape[0], scratch)

    # ------------------------------------------------------------------ computation
    def S(self, l: int):
        """S_l for the lecture's l = 1..L: a hidden Activation, or the Output head for l = L."""
        return self._hidden[l - 1] if l < self.L else self._output

    def _forward(self, X):
        xp, L = self.xp, self.L
        zs, activations = [], [X]
        for l in range(L):
            S = self._hidden[l] if l < L - 1 else self._output
            if self._fast:  # the same line, with one temporary array fewer
                z = np.dot(activations[-1], self._WT[l])
                z += self._b[l]
            else:
                z = activations[-1] @ self._W[l].T + self._b[l]
            zs.append(z)
            activations.append(S.S_xp(xp, z))
        return zs, activations

    def forward(self, X):
        """The feed-forward pass: ([z_1, ..., z_L], [a_0, ..., a_L]) for a batch X.

        z_l = W_l a_{l-1} + b_l, a_l = S_l(z_l) (Algorithm 1, lines 1-4), row by row.
        X: (n, p_0); z_l, a_l: (n, p_l), except a_L: (n, K) for the reduced softmax.
        """
        return self._forward(self._check_X(X))

    def predict(self, X):
        """g(X | θ) = a_L, one row per example: shape (n, p_L), or (n, K) class probabilities."""
        return self._forward(self._check_X(X))[1][-1]

    def _mean_loss(self, Z_L, G, Y):
        """ℓ_τ = (1/n) Σ_i C_i as a 0-D backend array, from z_L, g and the target matrix Y
        (the log-sum-exp form from the logits where the loss has one)."""
        xp = self.xp
        if self._loss.from_logits_xp is not None:
            return xp.mean(self._loss.from_logits_xp(xp, self._output.logits_xp(xp, Z_L), Y))
        return xp.mean(self._loss.value_xp(xp, G, Y))

    def loss(self, X, y) -> float:
        """The training loss ℓ_τ = (1/n) Σ_i C_i(θ) (equation (1)), as a Python float."""
        X, Y = self._check_Xy(X, y)
        zs, activations = self._forward(X)
        return float(self._mean_loss(zs[-1], activations[-1], Y))

    def loss_at(self, theta, X, y) -> float:
        """ℓ_τ(θ) (equation (1)) at another parameter vector θ; the network keeps its own θ.

        The loss as a function of θ alone, e.g. for ``bp.numerical_gradient``:
        ``numerical_gradient(lambda th: net.loss_at(th, X, y), net.theta)``.
        """
        saved = self.theta
        self.theta = theta
        try:
            return self.loss(X, y)
        finally:
            self.theta = saved

    def _loss_and_gradient(self, X, Y, out=None, with_loss=True):
        """(ℓ_τ as a 0-D backend scalar, ∂ℓ_τ/∂θ flat) for a checked batch X and matrix Y.

        X, Y as returned by ``_check_Xy``. The gradient is a new array, unless ``out`` (a
        contiguous flat array of the backend, dtype and length dim_theta) is given: then it
        is written there and returned. With ``with_loss=False`` the loss may be skipped
        (returned as None) where that saves work.
        """
        if self._fast:
            return self._loss_and_gradient_numpy(X, Y, out, with_loss)
        xp = self.xp
        zs, A = self._forward(X)
        loss = self._mean_loss(zs[-1], A[-1], Y)
        # Averaging over examples (Algorithm 2, line 3) is done once, on δ_L.
        Delta = output_delta(xp, self._output, self._loss, zs[-1], A[-1], Y) / X.shape[0]
        grad, _ = self._backward(A, Delta)
        if out is not None:
            self._check_out(out)
            out[...] = grad
            grad = out
        return loss, grad

    def _backward(self, A, Delta):
        """(Σ_i ∂C_i/∂θ flat, [Delta_1, ..., Delta_L]) from a_0..a_{L-1} and the rows Delta_L.

        Lines 7-10 of Algorithm 1 with one example per row: Σ_i δ_l a_{l-1}^T = Delta_l^T A_{l-1},
        Σ_i δ_l = the column sums of Delta_l, and Delta_{l-1} = (Delta_l W_l) ⊙ S'(z_{l-1}),
        with S' computed from a_{l-1} (activations.py).
        """
        xp, L = self.xp, self.L
        grads, deltas = [None] * (2 * L), [None] * L
        for l in range(L - 1, -1, -1):  # lecture layers L, ..., 1
            deltas[l] = Delta
            grads[2 * l] = xp.reshape(Delta.T @ A[l], (-1,))  # Σ_i δ_l a_{l-1}^T
            grads[2 * l + 1] = xp.sum(Delta, axis=0)  # Σ_i δ_l
            if l > 0:
                Delta = (Delta @ self._W[l]) * self._hidden[l - 1].S_prime_from_a_xp(xp, A[l])
        return xp.concat(grads), deltas

    def backward(self, activations, Delta_L):
        """Back-propagate the output errors: (∂ℓ_τ/∂θ flat, [Delta_1, ..., Delta_L]).

        δ_{l-1} = S'(z_{l-1}) ⊙ W_l^T δ_l for l = L, ..., 2 (Algorithm 1, line 10), for every
        example at once, then ∂ℓ_τ/∂W_l = (1/n) Σ_i δ_l a_{l-1}^T and ∂ℓ_τ/∂b_l = (1/n) Σ_i δ_l.

        activations: [a_0, ..., a_L] as returned by ``forward(X)``. Delta_L: shape (n, p_L),
        row i is δ_L of example i, usually ``bp.output_delta(...)``; any other δ_L (a wrong
        one, to see what a gradient check makes of it) is back-propagated just the same.
        Row i of the returned Delta_l is δ_l of example i. ``gradient`` is this with the
        right δ_L, on a faster path.
        """
        xp, L = self.xp, self.L
        if not isinstance(activations, (list, tuple)) or len(activations) != L + 1:
            raise TypeError(
                f"activations must be the list [a_0, ..., a_L] of L + 1 = {L + 1} arrays that "
                f"forward(X) returns; got {type(activations).__name__}"
                + (f" of length {len(activations)}" if hasattr(activations, "__len__") else "")
            )
        A = [check.to_backend(xp, a, f"activations[{l}]") for l, a in enumerate(activations)]
        Delta = check.to_backend(xp, Delta_L, "Delta_L")
        n = A[0].shape[0] if A[0].ndim == 2 else -1
        for name, x, width in [(f"activations[{l}]", A[l], self.p[l]) for l in range(L)] + [
            ("Delta_L", Delta, self.p[L])
        ]:
            if tuple(x.shape) != (n, width):
                raise ValueError(
                    f"{name} must have shape (n, {width}) with the n = {n} rows of "
                    f"activations[0]; got shape {tuple(x.shape)}"
                )
            check._check_finite(xp, x, name)
        A = [check._cast(xp, A[l], self._dtype, f"activations[{l}]") for l in range(L)]
        grad, deltas = self._backward(A, check._cast(xp, Delta, self._dtype, "Delta_L"))
        return grad / n, deltas

    def _check_out(self, out) -> None:
        if (
            tuple(out.shape) != (self.dim_theta,)
            or out.dtype != self._dtype
            or (isinstance(out, np.ndarray) and not out.flags.c_contiguous)
        ):
            raise ValueError(
                f"out must be a contiguous flat array of dtype {self.dtype} and length "
                f"dim(theta) = {self.dim_theta}; got shape {tuple(out.shape)}, dtype {out.dtype}"
            )

    def _loss_and_gradient_numpy(self, X, Y, out, with_loss):
        """The NumPy fast path of _loss_and_gradient: the same equations, in place.

        Z_l = A_{l-1} W_l^T + b_l is written into a workspace array and S_l is applied in
        place (the hidden z_l are not kept: a_l is enough for S', see activations.py).
        Backwards, Delta_l^T A_{l-1} and the column sums 1^T Delta_l go straight into the
        views of the gradient vector, and Delta_{l-1} = (Delta_l W_l) ⊙ S'(A_{l-1}) overwrites
        A_{l-1}, which is not needed after it. A call allocates only the gradient (unless
        ``out``) and, for a few output layers, arrays of the size of Z_L. np.dot with out= is
        NumPy's cheapest call into BLAS; out arguments are positional (a little less overhead).
        """
        n, L = X.shape[0], self.L
        flags = X.flags
        if not (flags.c_contiguous or flags.f_contiguous):
            X = np.ascontiguousarray(X)  # strided input: BLAS needs one unit stride
        ws = self._workspaces.get((n, _thread_id())) or self._workspace(n)
        if out is None:
            grad = np.empty(self.dim_theta, dtype=self._np_dtype)
        else:
            self._check_out(out)
            grad = out
        dot, add, W, b = np.dot, np.add, self._W, self._b
        A = [X]  # a_0, ..., a_{L-1}
        for l in range(L - 1):  # hidden layers 1..L-1
            Z = ws.A[l]
            dot(A[l], self._WT[l], Z)
            add(Z, b[l], Z)
            A.append(self._activate(ws, l, Z))
        # The output layer is kept transposed, Z_L^T = W_L A_{L-1}^T + b_L of shape (p_L, n):
        # its reductions over the classes then run along whole rows of length n.
        Zt = ws.Zt
        dot(W[-1], A[-1].T, Zt)
        add(Zt, self._b_col[-1], Zt)
        loss, Delta = self._output_numpy(ws, Zt, Y, n, with_loss)  # δ_L / n as rows, (n, p_L)
        ones = ws.ones
        for l in range(L - 1, -1, -1):  # lecture layers L, ..., 1
            s, m, e, r, c = self._offsets[l]
            dot(Delta.T, A[l], grad[s:m].reshape(r, c))  # Σ_i δ_l a_{l-1}^T
            dot(ones, Delta, grad[m:e])  # Σ_i δ_l = 1^T Delta_l
            if l == 0:
                break
            Delta = self._delta_back(ws, Delta, l, A[l])
        return loss, grad

    def _output_numpy(self, ws, Zt, Y, n, with_loss):
        """(ℓ_τ, Delta_L / n) from Z_L^T (p_L, n); may overwrite Zt. Delta is returned as an
        (n, p_L) array (a transposed view for the fused forms)."""
        output, loss, Yt = self._output, self._loss, Y.T
        if output.name == "softmax" and loss.name == "cross_entropy":
            # ln g = z - m - ln Σ exp(z - m) (log-sum-exp, m = max_k z_k), g = exp(z - m) /
            # Σ exp(z - m) and δ_L = g - e_{y+1}: the formulas of losses.py, in place.
            m, s, shifted = ws.m, ws.s, ws.Gt
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
        act = output.activation
        if act is not None and loss.name == "squared_error":
            # C = ||g - y||^2, δ_L = S'_L(z_L) ⊙ 2(g - y).
            identity = act.name == "identity"
            G = Zt if identity else _forward_inplace(self.xp, act, Zt)
            R = ws.Gt
            np.subtract(G, Yt, R)
            value = np.vdot(R, R) / n if with_loss else None
            if identity:
                np.multiply(R, 2 / n, R)
                return value, R.T
            _backward_inplace(self.xp, act, G, R)  # G := S'(z_L) ⊙ (g - y)
            np.multiply(G, 2 / n, G)
            return value, G.T
        # Any other pair (e.g. the reduced softmax): the general code of losses.py.
        xp, Z = self.xp, Zt.T
        G = output.S_xp(xp, Z)
        value = self._mean_loss(Z, G, Y)
        return value, np.ascontiguousarray(output_delta(xp, output, loss, Z, G, Y) / n)

    def _activate(self, ws, l, Z):
        """a_{l+1} = S(z_{l+1}) over Z (0-based l), in place where the table allows, in
        blocks of rows against ws.zeros (see activations.py) when the batch needs several."""
        act, zeros = self._hidden[l], ws.zeros[l + 1]
        if ws.one_block or act.S_inplace is None:
            return _forward_inplace(self.xp, act, Z, zeros if ws.one_block else None)
        rows, n = zeros.shape[0], Z.shape[0]
        for r0 in range(0, n, rows):
            r1 = min(r0 + rows, n)
            _forward_inplace(self.xp, act, Z[r0:r1], zeros[: r1 - r0])
        return Z

    def _delta_back(self, ws, Delta, l, A):
        """Delta_l = (Delta_{l+1} W_{l+1}) ⊙ S'(A_l) (0-based l), written over A = a_l.

        The product is formed in blocks of rows in a small scratch array, so no array of the
        full batch size is needed besides the activations themselves.
        """
        W, act, T = self._W[l], self._hidden[l - 1], ws.T[l]
        if ws.one_block:
            np.dot(Delta, W, T)
            _backward_inplace(self.xp, act, A, T)
            return A
        rows, n = T.shape[0], A.shape[0]
        for r0 in range(0, n, rows):
            r1 = min(r0 + rows, n)
            Tb = T[: r1 - r0]
            np.dot(Delta[r0:r1], W, Tb)
            _backward_inplace(self.xp, act, A[r0:r1], Tb)
        return A

    def _workspace(self, n: int):
        """The reusable arrays of the NumPy fast path for a batch of n rows (this thread)."""
        key = (n, _thread_id())
        ws = self._workspaces.get(key)
        if ws is None:
            ws = _Workspace(self, n)
            if ws.nbytes <= WORKSPACE_BYTES:  # keep it, dropping the oldest ones if needed
                total = ws.nbytes + sum(w.nbytes for w in self._workspaces.values())
                while self._workspaces and (
                    total > WORKSPACE_BYTES or len(self._workspaces) >= WORKSPACES_KEPT
                ):
                    total -= self._workspaces.pop(next(iter(self._workspaces))).nbytes
                self._workspaces[key] = ws
        return ws

    def gradient(self, X, y):
        """∂ℓ_τ/∂θ, flat in θ's order, by the batch form of Algorithm 2.

        One matrix product per layer per pass, no loop over examples: with Delta_l holding
        δ_l of every example as rows, Σ_i δ_l a_{l-1}^T = Delta_l^T A_{l-1}, Σ_i δ_l is a column
        sum, and δ_{l-1} = S'(z_{l-1}) ⊙ W_l^T δ_l is Delta_{l-1} = (Delta_l W_l) ⊙ S'(Z_{l-1}).
        Returns an array of the network's backend, shape (dim_theta,).

        The returned array is always new and belongs to the caller: a later call never
        changes it. On NumPy the intermediate arrays (activations, deltas) live in a
        workspace of the network that the next call with the same batch size reuses, so
        repeated calls allocate almost nothing (at most ``WORKSPACES_KEPT`` workspaces and
        ``WORKSPACE_BYTES`` in all are kept; each thread has its own).
        """
        return self._loss_and_gradient(*self._check_Xy(X, y, scratch=True), with_loss=False)[1]

    def loss_and_gradient(self, X, y):
        """(ℓ_τ as a float, ∂ℓ_τ/∂θ) from one forward and one backward pass."""
        loss, grad = self._loss_and_gradient(*self._check_Xy(X, y, scratch=True))
        return float(loss), grad

    def unflatten(self, vector):
        """Split a flat vector in θ's order into ([W_1-shaped, ...], [b_1-shaped, ...]) views."""
        vector = check.check_theta(self.xp, vector, self.dim_theta, self._dtype, "vector")
        Ws = [self.xp.reshape(vector[s:m], (r, c)) for s, m, e, r, c in self._offsets]
        bs = [vector[m:e] for s, m, e, r, c in self._offsets]
        return Ws, bs

    def flatten(self, Ws, bs):
        """The flat vector [vec(W_1), b_1, ..., vec(W_L), b_L] (θ's order) of per-layer arrays."""
        xp = self.xp
        parts = []
        for l, (Wl, bl) in enumerate(zip(Ws, bs, strict=False)):
            s, m, e, r, c = self._offsets[l]
            if tuple(Wl.shape) != (r, c) or tuple(bl.shape) != (r,):
                raise ValueError(
                    f"layer l = {l + 1} needs shapes ({r}, {c}) and ({r},); "
                    f"got {tuple(Wl.shape)} and {tuple(bl.shape)}"
                )
            parts += [xp.reshape(Wl, (-1,)), bl]
        if len(parts) != 2 * self.L:
            raise ValueError(
                f"need L = {self.L} weight and bias arrays; got {len(Ws)} and {len(bs)}"
            )
        return xp.concat(parts)

    def layer_slices(self):
        """[(slice of W_l in θ, slice of b_l in θ) for l = 1..L]."""
        return [(slice(s, m), slice(m, e)) for s, m, e, r, c in self._offsets]

    def __repr__(self) -> str:
        hidden = self.hidden[0] if len(set(self.hidden)) == 1 else self.hidden
        return (
            f"Network({list(self.p)}, hidden={hidden!r}, output={self.output!r}, "
            f"loss={self.loss_name!r}, dtype={self.dtype!r}, backend={self.backend!r}, "
            f"dim_theta={self.dim_theta})"
        )
