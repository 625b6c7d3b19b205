"""The feed-forward network: sizes, parameters θ, forward pass, prediction and loss.

Python lists are 0-based and the lecture's layers are 1-based: ``net.W[l-1]`` is W_l,
``net.b[l-1]`` is b_l, ``zs[l-1]`` is z_l and ``activations[l]`` is a_l (a_0 = X).

All parameters live in one flat buffer θ (W_1 row-major, b_1, ..., W_L, b_L); each W_l and
b_l is a view into it, so reading θ needs no copy and an optimiser updates every layer with
one vector operation.
"""

from __future__ import annotations

import numpy as np

from . import _validate as check
from .activations import get_activation
from .backend import backend_name, dtype_of, get_namespace, to_numpy
from .losses import get_loss, get_output, output_delta

INITS = ("normal", "xavier", "he")


class ParamList(list):
    """A list of views into θ; assigning ``net.W[l-1] = M`` copies M into θ (shape checked)."""

    def __init__(self, net, kind: str, views):
        super().__init__(views)
        self._net, self._kind = net, kind

    def __setitem__(self, index, value):
        if not isinstance(index, int):
            raise TypeError(f"net.{self._kind} takes one integer layer index; got {index!r}")
        self._net._set_block(self._kind, index, value)


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
            raise TypeError(f"p must be a list of layer widths [p_0, ..., p_L]; got {type(p).__name__}")
        if len(p) < 2:
            raise ValueError(f"p must list at least two widths [p_0, p_1] (L >= 1); got {list(p)}")
        self.p = tuple(check.check_int(w, f"p[{i}]", minimum=1) for i, w in enumerate(p))
        self.L = len(self.p) - 1
        if isinstance(hidden, str):
            hidden = [hidden] * (self.L - 1)
        elif not isinstance(hidden, (list, tuple)):
            raise TypeError(f"hidden must be a name or a list of L-1 = {self.L - 1} names; got {hidden!r}")
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
            self._offsets.append((start, start + rows * cols, start + rows * cols + rows, rows, cols))
            start += rows * cols + rows
        self.dim_theta = start
        theta = self._initial_theta(np.random.default_rng(self.seed))
        self._theta = self.xp.asarray(theta, dtype=self._dtype)
        self._make_views()

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
        new.xp = get_namespace(backend) if backend is not None else self.xp
        new.backend = backend_name(new.xp)
        new.dtype = dtype or self.dtype
        new._dtype = dtype_of(new.xp, new.dtype)
        new._theta = new.xp.asarray(to_numpy(self._theta), dtype=new._dtype, copy=True)
        new._make_views()
        return new

    # ------------------------------------------------------------------ checked inputs
    def _check_X(self, X):
        return check.check_X(self.xp, X, self.p[0], self._dtype)

    def _check_y(self, y, n: int):
        """Targets as the matrix Y of the loss table: one-hot rows for labels, else (n, p_L)."""
        if self._loss.classification:
            labels = check.check_labels(self.xp, y, n, self.K)
            return check.one_hot(self.xp, labels, self.K, self._dtype)
        return check.check_targets(self.xp, y, n, self.p[-1], self._dtype)

    def _check_Xy(self, X, y):
        X = self._check_X(X)
        return X, self._check_y(y, X.shape[0])

    # ------------------------------------------------------------------ computation
    def S(self, l: int):
        """S_l for the lecture's l = 1..L: a hidden Activation, or the Output head for l = L."""
        return self._hidden[l - 1] if l < self.L else self._output

    def _forward(self, X):
        xp = self.xp
        zs, activations = [], [X]
        for l in range(self.L):
            z = activations[-1] @ self._W[l].T + self._b[l]
            S = self._hidden[l].S_xp if l < self.L - 1 else self._output.S_xp
            zs.append(z)
            activations.append(S(xp, z))
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

    def _losses(self, Z_L, G, Y):
        if self._loss.from_logits_xp is not None:
            return self._loss.from_logits_xp(self.xp, self._output.logits_xp(self.xp, Z_L), Y)
        return self._loss.value_xp(self.xp, G, Y)

    def loss(self, X, y) -> float:
        """The training loss ℓ_τ = (1/n) Σ_i C_i(θ) (equation (1)), as a Python float."""
        X, Y = self._check_Xy(X, y)
        zs, activations = self._forward(X)
        return float(self.xp.mean(self._losses(zs[-1], activations[-1], Y)))

    def _loss_and_gradient(self, X, Y):
        xp, L = self.xp, self.L
        n = X.shape[0]
        zs, A = self._forward(X)
        loss = xp.mean(self._losses(zs[-1], A[-1], Y))
        # Averaging over examples (Algorithm 2, line 3) is done once, on δ_L.
        Delta = output_delta(xp, self._output, self._loss, zs[-1], A[-1], Y) / n
        grads = [None] * (2 * L)
        for l in range(L - 1, -1, -1):  # lecture layers L, ..., 1
            grads[2 * l] = xp.reshape(Delta.T @ A[l], (-1,))  # Σ_i δ_l a_{l-1}^T
            grads[2 * l + 1] = xp.sum(Delta, axis=0)  # Σ_i δ_l
            if l > 0:
                Delta = (Delta @ self._W[l]) * self._hidden[l - 1].S_prime_from_a_xp(xp, A[l])
        return loss, xp.concat(grads)

    def gradient(self, X, y):
        """∂ℓ_τ/∂θ, flat in θ's order, by the batch form of Algorithm 2.

        One matrix product per layer per pass, no loop over examples: with Delta_l holding
        δ_l of every example as rows, Σ_i δ_l a_{l-1}^T = Delta_l^T A_{l-1}, Σ_i δ_l is a column
        sum, and δ_{l-1} = S'(z_{l-1}) ⊙ W_l^T δ_l is Delta_{l-1} = (Delta_l W_l) ⊙ S'(Z_{l-1}).
        Returns an array of the network's backend, shape (dim_theta,).
        """
        return self._loss_and_gradient(*self._check_Xy(X, y))[1]

    def loss_and_gradient(self, X, y):
        """(ℓ_τ as a float, ∂ℓ_τ/∂θ) from one forward and one backward pass."""
        loss, grad = self._loss_and_gradient(*self._check_Xy(X, y))
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
        for l, (Wl, bl) in enumerate(zip(Ws, bs)):
            s, m, e, r, c = self._offsets[l]
            if tuple(Wl.shape) != (r, c) or tuple(bl.shape) != (r,):
                raise ValueError(
                    f"layer l = {l + 1} needs shapes ({r}, {c}) and ({r},); "
                    f"got {tuple(Wl.shape)} and {tuple(bl.shape)}"
                )
            parts += [xp.reshape(Wl, (-1,)), bl]
        if len(parts) != 2 * self.L:
            raise ValueError(f"need L = {self.L} weight and bias arrays; got {len(Ws)} and {len(bs)}")
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
