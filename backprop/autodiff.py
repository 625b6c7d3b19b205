"""A small reverse-mode automatic differentiator on arrays: back-propagation in general.

A :class:`Tensor` wraps an array of any array-API backend. Every operation on Tensors
records, on the result, its inputs and its vector-Jacobian product: the map that turns
∂f/∂(result) into the contributions ∂f/∂(input) (the chain rule, one factor at a time).
``f.backward()`` visits the recorded graph from f back to the leaves in reverse
topological order, applying each vector-Jacobian product once, and leaves ∂f/∂x in
``x.grad`` for every Tensor x that f depends on.

Algorithm 1 is this procedure for one particular graph: line 10, δ_{l-1} = S'(z_{l-1}) ⊙
W_l^T δ_l, is the vector-Jacobian product of ``@`` (multiply by W_l^T) followed by that of
the activation (multiply by D_{l-1}). :func:`loss` builds the network's training loss ℓ_τ
from Tensors; :func:`gradient` differentiates it and returns the flat ∂ℓ_τ/∂θ.
"""

from __future__ import annotations

import numbers

import numpy as np
from array_api_compat import array_namespace

from .activations import ACTIVATIONS, Activation
from .gradients import pre_activation


def _axes(axis, ndim):
    """``axis`` (None, an int or a tuple of distinct ints, negative allowed) as a sorted
    tuple of axes 0..ndim-1; TypeError / ValueError naming axis otherwise."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    expected = f"None, an int or a tuple of distinct ints in -{ndim}..{ndim - 1}"
    if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes):
        raise TypeError(f"axis must be {expected}; got {axis!r}")
    if any(not -ndim <= a < ndim for a in axes) or len({a % ndim for a in axes}) < len(axes):
        raise ValueError(f"axis must be {expected} (the Tensor has {ndim} axes); got {axis!r}")
    return tuple(sorted(int(a) % ndim for a in axes))


def _kept_shape(shape, axes):
    """The shape of a reduction over ``axes`` with keepdims=True: those axes of size 1."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _unbroadcast(xp, grad, shape):
    """The gradient of an input of ``shape`` that was broadcast to grad's shape: the sum
    over the broadcast axes (a bias b_l added to every row gets the column sums)."""
    while grad.ndim > len(shape):
        grad = xp.sum(grad, axis=0)
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    return xp.sum(grad, axis=axes, keepdims=True) if axes else grad


class Tensor:
    """An array with a place in the computational graph: ``data``, and after
    ``backward()`` the gradient ``grad`` (same shape) of the output with respect to it."""

    # NumPy arrays defer to Tensor's operators (array - Tensor is a Tensor, not an object array).
    __array_ufunc__ = None

    def __init__(self, data, parents=(), name="", requires_grad=True, op=""):
        self.data = data
        self.op = op  # the operation that made it ("" for a leaf)
        self.grad = None
        # (parent Tensor, vjp) pairs: vjp maps ∂f/∂self to parent's share of ∂f/∂parent.
        # Constants (requires_grad False) are left out: no product is spent on them.
        self.parents = tuple((t, vjp) for t, vjp in parents if t.requires_grad)
        self.requires_grad = bool(self.parents) if parents else requires_grad
        self.name = name

    @property
    def xp(self):
        return array_namespace(self.data)

    @property
    def shape(self):
        return tuple(self.data.shape)

    def __repr__(self) -> str:
        label = ", ".join(x for x in (self.op, self.name) if x)
        return f"Tensor(shape={self.shape}{', ' + label if label else ''})"

    # ------------------------------------------------------------------ graph
    def graph(self):
        """The Tensors this one depends on (itself included), each after all its inputs:
        a topological order of the computational graph, constants left out."""
        order, seen, stack = [], set(), [(self, False)]
        while stack:  # depth-first, iterative: a deep network would exhaust the recursion limit
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((parent, False) for parent, _ in reversed(node.parents))
        return order

    def backward(self):
        """Fill ``.grad`` of every Tensor this one depends on with ∂(self)/∂(that Tensor).

        self must be a scalar (shape ()). The graph is visited from self back to the leaves
        (reverse topological order), so a node's gradient is complete, summed over every
        path, before its vector-Jacobian products pass it on; each is applied once.
        """
        if self.shape != ():
            raise ValueError(f"backward() needs a scalar Tensor (shape ()); got shape {self.shape}")
        order = self.graph()
        for node in order:
            node.grad = None
        self.grad = self.xp.ones_like(self.data)
        for node in reversed(order):  # every node after all the nodes that use it
            for parent, vjp in node.parents:
                g = vjp(node.grad)
                # the first share is copied: a vjp may pass g on as it is (add) or as a
                # read-only broadcast view (sum), and no two .grad may share memory
                parent.grad = _copy(g) if parent.grad is None else parent.grad + g

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        other = _tensor(other)
        xp = self.xp
        return Tensor(self.data + other.data, op="add", parents=[
            (self, lambda g: _unbroadcast(xp, g, self.shape)),
            (other, lambda g: _unbroadcast(xp, g, other.shape)),
        ])

    __radd__ = __add__

    def __neg__(self):
        return Tensor(-self.data, [(self, lambda g: -g)], op="neg")

    def __sub__(self, other):
        return self + (-_tensor(other))

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        other = _tensor(other)
        xp = self.xp
        return Tensor(self.data * other.data, op="mul", parents=[
            (self, lambda g: _unbroadcast(xp, g * other.data, self.shape)),
            (other, lambda g: _unbroadcast(xp, g * self.data, other.shape)),
        ])

    __rmul__ = __mul__

    def __matmul__(self, other):
        other = _tensor(other)
        A, B = self.data, other.data
        if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
            return _matmul(self, other)  # vectors, stacks of matrices, or a refusal
        # C = A B: ∂f/∂A = (∂f/∂C) B^T, ∂f/∂B = A^T (∂f/∂C) (2-D operands).
        return Tensor(A @ B, op="matmul", parents=[
            (self, lambda g: g @ B.T),
            (other, lambda g: A.T @ g),
        ])

    def __rmatmul__(self, other):  # array @ Tensor (NumPy defers: __array_ufunc__ is None)
        return _tensor(other) @ self

    def __truediv__(self, other):
        """self / other, element-wise (broadcasting): ∂f/∂a = g / b, ∂f/∂b = -g a / b²."""
        other = _tensor(other)
        xp, a, b = self.xp, self.data, other.data
        return Tensor(a / b, op="div", parents=[
            (self, lambda g: _unbroadcast(xp, g / b, self.shape)),
            (other, lambda g: _unbroadcast(xp, -g * a / (b * b), other.shape)),
        ])

    def __rtruediv__(self, other):
        """c / self for a constant c (an array or a number): ∂f/∂x = -g c / x²."""
        xp, c, x = self.xp, other, self.data
        return Tensor(c / x, [(self, lambda g: _unbroadcast(xp, -g * c / (x * x), self.shape))],
                      op="div")

    def __pow__(self, exponent):
        """x ** k element-wise for a constant real k: ∂f/∂x = g k x^(k-1).

        k is a number, not a Tensor: a power whose exponent is differentiated too is
        exp(k ln x), which the tape builds from ``log`` and ``exp``. As in NumPy, a negative
        x with a fractional k gives NaN, and 0 ** k with k < 1 an infinite slope.
        """
        if isinstance(exponent, (bool, np.bool_)) or not isinstance(exponent, numbers.Real):
            kind = type(exponent).__name__
            hint = (" (a differentiated exponent is (k * x.log()).exp())"
                    if isinstance(exponent, Tensor) else "")
            raise TypeError(
                f"exponent must be a constant real number (int or float) for Tensor ** "
                f"exponent; got {kind}{hint}"
            )
        # a plain Python number: array_api_strict refuses NumPy scalars as operands
        k = int(exponent) if isinstance(exponent, numbers.Integral) else float(exponent)
        x = self.data
        if k == 0:  # x ** 0 = 1 has slope 0 everywhere (k x^(k-1) would be 0 · inf at 0)
            return Tensor(self.xp.ones_like(x), [(self, lambda g: 0 * g)], op="pow")
        return Tensor(x ** k, [(self, lambda g: g * (k * x ** (k - 1)))], op="pow")

    @property
    def T(self):
        """The transpose of a 2-D Tensor."""
        return Tensor(self.data.T, [(self, lambda g: g.T)], op="T")

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims=False):
        """Σ over ``axis`` (None: all axes; an int or a tuple of ints); its vector-Jacobian
        product spreads g back over the summed axes."""
        xp, shape = self.xp, self.shape
        kept = _kept_shape(shape, _axes(axis, len(shape)))

        def vjp(g):
            return xp.broadcast_to(xp.reshape(g, kept), shape)

        return Tensor(xp.sum(self.data, axis=axis, keepdims=keepdims), [(self, vjp)], op="sum")

    def mean(self, axis=None, keepdims=False):
        """(1/N) Σ over ``axis`` (None: all axes; an int or a tuple of ints), N the number of
        entries summed."""
        count = 1
        for i in _axes(axis, len(self.shape)):
            count *= self.shape[i]
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    def logsumexp(self, axis=-1, keepdims=True):
        """ln Σ_k exp(x_k) along ``axis`` (an int, a tuple, or None for all axes), computed as
        m + ln Σ exp(x - m) (m = max, which never overflows); its vector-Jacobian product is
        g times the softmax of x."""
        xp = self.xp
        axes = _axes(axis, len(self.shape))
        m = xp.max(self.data, axis=axis, keepdims=True)
        E = xp.exp(self.data - m)
        S = xp.sum(E, axis=axis, keepdims=True)
        out = m + xp.log(S)
        P = E / S
        kept = tuple(out.shape)
        dropped = tuple(s for i, s in enumerate(self.shape) if i not in axes)

        def vjp(g):
            return xp.reshape(g, kept) * P

        return Tensor(out if keepdims else xp.reshape(out, dropped), [(self, vjp)],
                      op="logsumexp")

    # ------------------------------------------------------------------ element-wise
    def exp(self):
        y = self.xp.exp(self.data)
        return Tensor(y, [(self, lambda g: g * y)], op="exp")

    def log(self):
        x = self.data
        return Tensor(self.xp.log(x), [(self, lambda g: g / x)], op="log")

    def softplus(self):
        """ln(1 + e^x) element-wise, computed as logaddexp(0, x) (no overflow for large x);
        its slope is the logistic σ(x), so the vector-Jacobian product is g ⊙ σ(x)."""
        xp, x = self.xp, self.data
        y = xp.logaddexp(xp.zeros_like(x), x)
        return Tensor(y, [(self, lambda g: g * ACTIVATIONS["logistic"].S_xp(xp, x))],
                      op="softplus")

    def tanh(self):
        return self.apply("tanh")

    def logistic(self):
        return self.apply("logistic")

    def relu(self):
        """max(x, 0), with slope 0 at x = 0 (the package's convention)."""
        return self.apply("relu")

    def apply(self, activation):
        """S(x) element by element for an entry of the activation table (or its name):
        a = S(x), and the vector-Jacobian product g ↦ g ⊙ S'(x), S' computed from a."""
        act = activation if isinstance(activation, Activation) else ACTIVATIONS[activation]
        xp = self.xp
        a = act.S_xp(xp, self.data)
        return Tensor(a, [(self, lambda g: g * act.S_prime_from_a_xp(xp, a))], op=act.name)


def _copy(x):
    return array_namespace(x).asarray(x, copy=True)


def _matmul(a, b):
    """a @ b for Tensors that are not two matrices of matching sizes, as ``@`` treats them.

    A 1-D left operand is the row vector (1, k), a 1-D right one the column (k, 1), and that
    axis is dropped from C; operands of 3 or more dimensions are stacks of matrices, their
    leading axes broadcast. The 2-D rule ∂f/∂A = (∂f/∂C) B^T, ∂f/∂B = A^T (∂f/∂C) then holds
    matrix by matrix (transposing the last two axes only), and an operand broadcast along
    leading axes gets its gradient summed over them. 0-D operands and sizes that do not
    match are refused, naming both shapes.
    """
    A, B, xp = a.data, b.data, a.xp
    if A.ndim == 0 or B.ndim == 0:
        raise ValueError(
            f"@ needs operands of at least 1 dimension; got shapes {a.shape} and {b.shape}"
        )
    A2 = xp.reshape(A, (1, A.shape[0])) if A.ndim == 1 else A
    B2 = xp.reshape(B, (B.shape[0], 1)) if B.ndim == 1 else B
    if A2.shape[-1] != B2.shape[-2]:
        raise ValueError(
            f"@ needs the last axis of the left operand as long as the "
            f"{'first' if B.ndim == 1 else 'second-to-last'} of the right one; got shapes "
            f"{a.shape} and {b.shape}"
        )
    try:
        C2 = A2 @ B2
    except ValueError as err:  # leading (stack) axes that do not broadcast
        raise ValueError(
            f"@ cannot multiply stacks of shapes {a.shape} and {b.shape}: {err}"
        ) from None
    shape2 = tuple(C2.shape)

    def grad_A(g):  # g back in C2's shape (the dropped axes put back), then the 2-D rule
        gA = xp.reshape(g, shape2) @ xp.matrix_transpose(B2)
        return xp.reshape(_unbroadcast(xp, gA, tuple(A2.shape)), a.shape)

    def grad_B(g):
        gB = xp.matrix_transpose(A2) @ xp.reshape(g, shape2)
        return xp.reshape(_unbroadcast(xp, gB, tuple(B2.shape)), b.shape)

    return Tensor(A @ B, op="matmul", parents=[(a, grad_A), (b, grad_B)])


def _tensor(x):
    """x itself if it is a Tensor, else a constant Tensor (an array or a Python number)."""
    return x if isinstance(x, Tensor) else Tensor(x, requires_grad=False)


# ---------------------------------------------------------------------- the network's loss


def parameters(net):
    """[W_1, b_1, ..., W_L, b_L] as leaf Tensors holding copies of the network's arrays."""
    xp, leaves = net.xp, []
    for l in range(1, net.L + 1):
        leaves += [Tensor(xp.asarray(net.W[l - 1], copy=True), name=f"W_{l}"),
                   Tensor(xp.asarray(net.b[l - 1], copy=True), name=f"b_{l}")]
    return leaves


def _checked_params(net, params):
    """params as given, once it is a list of 2L Tensors of the shapes of W_1, b_1, ..., b_L;
    otherwise a TypeError / ValueError naming params (a wrong shape would surface as a
    mismatch deep inside the forward pass)."""
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"params must be a list of the 2L = {2 * net.L} Tensors [W_1, b_1, "
                        f"..., W_L, b_L]; got {type(params).__name__}")
    if len(params) != 2 * net.L:
        raise ValueError(f"params must hold 2L = {2 * net.L} Tensors; got {len(params)}")
    for i, t in enumerate(params):
        layer = net.layers[i // 2]
        shape, name = ((layer.shape, f"W_{layer.l}") if i % 2 == 0
                       else (layer.shape[:1], f"b_{layer.l}"))
        if not isinstance(t, Tensor):
            raise TypeError(f"params[{i}] ({name}) must be a Tensor; got {type(t).__name__}")
        if t.shape != shape:
            raise ValueError(f"params[{i}] ({name}) must have shape {shape}; got {t.shape}")
    return params


def loss(net, X, y, params=None):
    """ℓ_τ = (1/n) Σ_i C(y_i, g(x_i | θ)) as a scalar Tensor, built from Tensor operations.

    The feed-forward pass z_l = W_l a_{l-1} + b_l, a_l = S_l(z_l) with rows as examples
    (Z_l = A_{l-1} W_l^T + b_l), then the loss: cross-entropy through log-sum-exp,
    -ln g_{y+1} = ln Σ_k exp(z_k) - z_{y+1}; squared error Σ_k (y_k - g_k)²; plus the
    weight penalty (α/2n) Σ_l ‖W_l‖² where ``net.alpha`` > 0.
    params: leaf Tensors [W_1, b_1, ..., W_L, b_L] (default: ``parameters(net)``).
    """
    X, Y = net.checked_batch(X, y)
    params = parameters(net) if params is None else _checked_params(net, params)
    A = Tensor(X, name="a_0", requires_grad=False)
    for l in range(1, net.L + 1):
        # line 3 of Algorithm 1, the package's own function applied to Tensors
        Z = pre_activation(A, params[2 * l - 2], params[2 * l - 1])
        A = Z.apply(net.S(l)) if l < net.L else Z
    # C of each example from the output's and the loss's entries (losses.py), e.g.
    # cross-entropy from the logits: ln Σ_k exp(z_k) - z_{y+1}
    ell = net.loss_function.value_tape(net.output_layer, Z, Y).mean()
    if net.alpha:  # the weight penalty (α/2n) Σ_l ‖W_l‖², weights only, on the tape
        ell = ell + (net.alpha / (2 * X.shape[0])) * sum((W * W).sum() for W in params[0::2])
    return ell


def gradient(net, X, y):
    """∂ℓ_τ/∂θ, flat in θ's order, by reverse mode on the graph that :func:`loss` records."""
    params = parameters(net)
    loss(net, X, y, params).backward()
    return net.flatten([t.grad for t in params[0::2]], [t.grad for t in params[1::2]])
