"""The feed-forward network: its settings, its parameters θ, and the calls that use them.

Python lists are 0-based and the lecture's layers are 1-based: ``net.W[l-1]`` is W_l,
``net.b[l-1]`` is b_l, ``zs[l-1]`` is z_l and ``activations[l]`` is a_l (a_0 = X). All
parameters live in one flat buffer θ (``parameters.py``); each W_l and b_l is a view into it.
θ is written in one place, :meth:`Network._write_theta`, through ``backend.write``: in place
where the library allows it, and on JAX, whose arrays cannot be written, by making the new θ
and slicing W_l, b_l from it again (there the views are copies, renewed at every write).

The computations are those of ``gradients.py``, written once against the array API. On NumPy
a private kernel (``_numpy_kernel.py``) computes the same equations faster, in place; it is
chosen in the methods below, each of which calls the readable code first and marks the
kernel's branch. ``Network(..., kernel=False)`` (or ``net.copy(kernel=False)``) runs the
readable code on NumPy too; a test holds the two equal.

Threads: the methods that do not change the network (forward, predict, loss, loss_at,
gradient, loss_and_gradient, backward, batch_loss, batch_loss_and_gradient) may run in
several threads at once and return what serial calls return (the kernel gives each thread
its own arrays). Writing θ while another thread computes with it is not safe.
"""

from __future__ import annotations

import numpy as np

from . import _validate as check
from . import checkpoint, forward_mode, gradients, hessian, parameters
from .activations import get_activation
from .backend import dtype_of, get_namespace, to_numpy, write
from .gradients import weight_penalty
from .losses import get_loss, get_output, mean_loss, output_delta
from .settings import SETTINGS, backend_and_device, dtype_name, penalty_strength, settings

try:
    from . import _numpy_kernel
except ImportError:  # pragma: no cover - the package works without it, only slower
    _numpy_kernel = None

# Fixed once the network is built (net.copy(...) or a new Network changes them).
_FIXED = frozenset(SETTINGS + ("L", "K", "dim_theta", "xp", "W", "b", "layers", "kernel"))


class Network:
    """A feed-forward network g(x | θ) with layer widths p = [p_0, p_1, ..., p_L].

    z_l = W_l a_{l-1} + b_l and a_l = S_l(z_l) for l = 1..L, with a_0 = x and g = a_L
    (the lecture's feed-forward transitions). For a batch X of shape (n, p_0) the same lines
    read Z_l = A_{l-1} W_l^T + b_l, one example per row.

    Parameters
    ----------
    p : widths [p_0, ..., p_L], L >= 1 (a list, tuple or 1-D array of integers).
    hidden : the activation S of the hidden layers 1..L-1: one name, or a list of L-1 names
        ('identity', 'logistic' (alias 'sigmoid'), 'relu', 'tanh').
    output : S_L: an element-wise name, 'softmax', or 'softmax_reduced' (K = p_L + 1 classes,
        class 0's logit fixed at 0).
    loss : 'squared_error' (||y - g||^2), 'cross_entropy' (-ln g_{y+1}, softmax outputs, y a
        class label) or 'binary_cross_entropy' (-Σ_k [y_k ln g_k + (1 - y_k) ln(1 - g_k)],
        logistic outputs, y a 0/1 row: multi-label, or binary with p_L = 1); default:
        cross-entropy for a softmax output, squared error otherwise.
    init : 'normal' (W and b drawn N(0, 1), the course's choice), 'xavier' (N(0, 2/(p_{l-1}+p_l)))
        or 'he' (N(0, 2/p_{l-1})); the last two start with b = 0.
    seed : seed (0 .. 2**63 - 1) of the NumPy Generator that draws θ (the same θ on every backend).
    dtype : 'float64' or 'float32' (or the NumPy dtype), kept end to end.
    backend : 'numpy', 'cupy', 'array_api_strict', 'torch' (PyTorch tensors), 'jax' (JAX
        arrays, in float64: asking for it switches on JAX's process-wide ``jax_enable_x64``),
        or 'auto' (CuPy when usable, else torch on CUDA or MPS, else NumPy).
    kernel : True (default): on NumPy, compute with the private kernel (the same equations,
        in place, faster); False: run the readable code of ``gradients.py`` on NumPy too. Not
        a setting of the network's mathematics: ``save`` does not store it.
    device : for backend='torch': 'cpu' (the default), 'cuda', 'mps' (Apple silicon; float32
        only) or 'auto' (CUDA, else MPS for float32, else the CPU); for backend='jax': 'cpu'.
        Other backends take no device (None). Not stored by ``save`` either.
    alpha : α >= 0, the strength of a weight penalty (default 0: none). The training loss
        becomes ℓ_τ = (1/n) Σ_i C_i + (α/2n) Σ_l ‖W_l‖² (weights only, n the rows of the
        batch), scikit-learn's MLP ``alpha``; its gradient adds (α/n) W_l to ∂ℓ_τ/∂W_l.
        Every loss, gradient, jvp, hvp, gradcheck, fit and save of the network includes it.

    These settings are read-only attributes (``net.p``, ``net.hidden``, ``net.output``,
    ``net.loss_name``, ``net.init``, ``net.seed``, ``net.dtype``, ``net.backend``,
    ``net.device``, ``net.alpha``): a network with other settings is a new ``Network`` or
    ``net.copy(backend=..., dtype=..., device=..., alpha=...)``.
    ``copy.deepcopy`` and ``pickle`` give an equal, independent network.
    """

    def __init__(self, p, hidden="relu", output="identity", loss=None, init="he", seed=0,
                 dtype="float64", backend="numpy", kernel=True, device=None, alpha=0.0):
        config = settings(p, hidden, output, loss, init, seed, dtype, backend, device, alpha)
        self._setup(config, None, check.check_bool(kernel, "kernel"))

    @classmethod
    def _from(cls, config: dict, theta, kernel: bool) -> Network:
        new = cls.__new__(cls)
        new._setup(dict(config), theta, kernel)
        return new

    def _setup(self, config: dict, theta, kernel: bool) -> None:
        """Build everything from the (checked) settings, with θ given or drawn from the seed."""
        config.setdefault("device", None)  # a network pickled before devices existed
        self._config = config
        self._xp = xp = get_namespace(config["backend"], config["device"])
        self._dtype = dtype_of(xp, config["dtype"])
        self._hidden = [get_activation(h) for h in config["hidden"]]
        self._output = get_output(config["output"])
        self._loss = get_loss(config["loss_name"])
        self._layers, self._dim = parameters.layout(config["p"])
        if theta is None:
            rng = np.random.default_rng(config["seed"])
            theta = parameters.initial_theta(self._layers, config["init"], rng)
        self._theta = xp.asarray(theta, dtype=self._dtype, copy=True)
        Ws, bs = parameters.unflatten(xp, self._layers, self._theta)
        self._W = parameters.LayerViews("W", Ws, self._assign)
        self._b = parameters.LayerViews("b", bs, self._assign)
        self._use_kernel, self._kernel = kernel, None
        if kernel and _numpy_kernel is not None and config["backend"] == "numpy":
            self._kernel = _numpy_kernel.Kernel(self._theta, self._layers, self._hidden,
                                                self._output, self._loss, self.K,
                                                config["alpha"])

    def __setattr__(self, name, value):
        if name in _FIXED:
            raise AttributeError(
                f"net.{name} is fixed when the network is built; make a new Network, or "
                f"net.copy(backend=..., dtype=...) for another backend or dtype"
            )
        object.__setattr__(self, name, value)

    def __reduce__(self):  # pickle and copy.deepcopy: the settings and θ, nothing else
        return Network._from, (dict(self._config), self.theta, self._use_kernel)

    # ------------------------------------------------------------------ settings
    p = property(lambda self: self._config["p"], doc="Widths (p_0, ..., p_L).")
    hidden = property(lambda self: list(self._config["hidden"]),
                      doc="Names of S_1..S_{L-1} (a new list at each access).")
    output = property(lambda self: self._config["output"], doc="Name of the output layer S_L.")
    loss_name = property(lambda self: self._config["loss_name"], doc="Name of the loss C.")
    init = property(lambda self: self._config["init"], doc="How θ was initialised.")
    seed = property(lambda self: self._config["seed"], doc="Seed of the initial θ.")
    dtype = property(lambda self: self._config["dtype"], doc="'float64' or 'float32'.")
    backend = property(lambda self: self._config["backend"], doc="The array library's name.")
    alpha = property(lambda self: self._config["alpha"],
                     doc="α of the weight penalty (α/2n) Σ_l ‖W_l‖² (0.0: none).")
    device = property(lambda self: self._config["device"],
                      doc="Where a torch or JAX network's arrays live ('cpu', 'cuda', 'mps'); "
                          "None for the other backends.")
    xp = property(lambda self: self._xp, doc="The array-API namespace of the backend.")
    L = property(lambda self: len(self._layers), doc="Number of layers L.")
    K = property(lambda self: self._output.n_outputs(self.p[-1]), doc="Length of g.")
    dim_theta = property(lambda self: self._dim, doc="dim θ = Σ_l (p_l p_{l-1} + p_l).")
    layers = property(lambda self: self._layers,
                      doc="θ's layout: one parameters.Layer (slices of W_l, b_l; shape) per layer.")
    output_layer = property(lambda self: self._output, doc="S_L: the losses.Output entry.")
    kernel = property(lambda self: self._kernel is not None,
                      doc="True when the private NumPy kernel computes this network's passes.")
    loss_function = property(lambda self: self._loss, doc="C: the losses.Loss entry.")

    def S(self, l: int):
        """S_l for the lecture's l = 1..L: a hidden Activation, or the Output head for l = L."""
        return self._hidden[l - 1] if l < self.L else self._output

    # ------------------------------------------------------------------ parameters
    @property
    def W(self) -> parameters.LayerViews:
        """[W_1, ..., W_L]: ``W[l-1]`` has shape (p_l, p_{l-1}); views into θ; ``W[i] = M``
        copies M into θ."""
        return self._W

    @property
    def b(self) -> parameters.LayerViews:
        """[b_1, ..., b_L]: ``b[l-1]`` has shape (p_l,); views into θ; ``b[i] = v`` copies v."""
        return self._b

    def _assign(self, kind: str, index: int, value) -> None:
        layer = self._layers[index]
        shape = layer.shape if kind == "W" else layer.shape[:1]
        value = check.to_backend(self.xp, value, f"{kind}[{index}]")
        if tuple(value.shape) != shape:
            raise ValueError(
                f"{kind}[{index}] (layer l = {layer.l}) must have shape {shape}; "
                f"got shape {tuple(value.shape)}"
            )
        # finite and within the dtype's range (the shape is right by now)
        name, rows = f"{kind}[{index}]", layer.shape[0]
        if kind == "W":
            value = check.check_targets(self.xp, value, rows, shape[1], self._dtype, name)
            self._write_theta(layer.W, self.xp.reshape(value, (-1,)))
        else:
            self._write_theta(layer.b, check.check_theta(self.xp, value, rows, self._dtype, name))

    def _write_theta(self, index, value) -> None:
        """θ[index] = value: the one place θ is written. In place where the backend's arrays
        can be written (W_l, b_l are views and see it); on JAX a new θ, with W_l, b_l sliced
        from it again."""
        theta = write(self._theta, index, value)
        if theta is not self._theta:
            self._theta = theta
            Ws, bs = parameters.unflatten(self.xp, self._layers, theta)
            self._W.rebind(Ws)
            self._b.rebind(bs)

    @property
    def theta(self) -> np.ndarray:
        """θ as a flat NumPy copy: W_1 (row-major), b_1, ..., W_L, b_L; length dim_theta."""
        return np.array(to_numpy(self._theta), copy=True)

    @theta.setter
    def theta(self, value) -> None:
        # Validate before writing, so a rejected vector leaves the network as it was.
        self._write_theta(..., check.check_theta(self.xp, value, self.dim_theta, self._dtype))

    @property
    def theta_buffer(self):
        """The network's own flat θ, an array of its backend: what an optimiser updates
        (``net.theta_buffer -= step``, or ``net.theta_buffer = new``, unchecked but for its
        shape and dtype). On NumPy, CuPy and torch the update is in place and W_l, b_l see it;
        on JAX, whose arrays cannot be written, ``-=`` makes a new array and the assignment
        makes it the network's θ. Always update it through the attribute, never through a
        name bound to it earlier (``theta = net.theta_buffer; theta -= step`` leaves a JAX
        network unchanged)."""
        return self._theta

    @theta_buffer.setter
    def theta_buffer(self, value) -> None:
        if value is self._theta:  # ``net.theta_buffer -= step`` wrote in place already
            return
        if (tuple(getattr(value, "shape", ())) != (self.dim_theta,)
                or getattr(value, "dtype", None) != self._dtype):
            raise ValueError(
                f"theta_buffer must be set to a flat array of the network's backend, dtype "
                f"{self.dtype} and length dim(theta) = {self.dim_theta}; got "
                f"{check._describe(value)}" + (f" of dtype {value.dtype}"
                                                if hasattr(value, "dtype") else "")
            )
        self._write_theta(..., value)

    def unflatten(self, vector, name="vector"):
        """Split a flat vector in θ's order into ([W_1-shaped, ...], [b_1-shaped, ...]) views.

        The vector is checked as θ is (flat, length dim θ, finite, real); errors name ``name``.
        """
        vector = check.check_theta(self.xp, vector, self.dim_theta, self._dtype, name)
        return parameters.unflatten(self.xp, self._layers, vector)

    def flatten(self, Ws, bs):
        """The flat vector [vec(W_1), b_1, ..., vec(W_L), b_L] (θ's order) of per-layer arrays."""
        return parameters.flatten(self.xp, self._layers, Ws, bs)

    def layer_slices(self):
        """[(slice of W_l in θ, slice of b_l in θ) for l = 1..L]."""
        return [(layer.W, layer.b) for layer in self._layers]

    def copy(self, backend: str | None = None, dtype=None, kernel=None, device=None,
             alpha=None) -> Network:
        """An independent copy, optionally on another backend or device, in another dtype,
        with the NumPy kernel switched on or off (``kernel``; default: as this network has
        it), or with another weight penalty ``alpha``.

        ``device`` defaults to this network's where the backend stays the same, else to the
        new backend's default ('cpu' for torch and JAX).

        θ is cast as ``net.theta = ...`` casts it: a ValueError naming dtype, not an inf,
        where an entry is beyond the new dtype's range (1e300 in float32).
        """
        config = dict(self._config)
        if dtype is not None:
            config["dtype"] = dtype_name(dtype)
        if alpha is not None:
            config["alpha"] = penalty_strength(alpha)
        if backend is not None or device is not None or dtype is not None:
            backend = self.backend if backend is None else backend
            if device is None and backend == self.backend:
                device = self.device
            config["backend"], config["device"] = backend_and_device(backend, device,
                                                                     config["dtype"])
        theta = self.theta
        if config["dtype"] != self.dtype:
            numpy_xp = get_namespace("numpy")
            try:
                theta = check.check_theta(numpy_xp, theta, self.dim_theta,
                                          dtype_of(numpy_xp, config["dtype"]))
            except ValueError as err:
                raise ValueError(f"copy(dtype={dtype!r}): {err}") from None
        kernel = self._use_kernel if kernel is None else check.check_bool(kernel, "kernel")
        return Network._from(config, theta, kernel)

    def release_workspace(self) -> None:
        """Free the arrays the NumPy kernel keeps between calls (the next call makes new ones)."""
        if self._kernel is not None:
            self._kernel.workspaces.clear()

    def kept_workspaces(self) -> list[tuple[int, int]]:
        """[(batch size n, bytes)] of each workspace the NumPy kernel keeps (one per batch size
        and thread, oldest first); [] where no kernel runs."""
        return [] if self._kernel is None else self._kernel.workspaces.sizes()

    # ------------------------------------------------------------------ checked input
    def checked_batch(self, X, y, names=("X", "y")):
        """(X, Y): the batch as arrays of the backend and dtype, Y the loss's target matrix
        (one-hot rows e_{y+1} for labels, else (n, p_L): 0/1 entries for binary
        cross-entropy); errors name ``names``.

        The input of ``batch_loss`` and ``batch_loss_and_gradient``.
        """
        X = self.checked_X(X, names[0])
        n, kernel = X.shape[0], self._kernel
        # KERNEL: targets that need no conversion pass in one pass (None: the general check)
        Y = None if kernel is None else kernel.checked_Y(y, n)
        if Y is not None:
            return X, Y
        if self._loss.classification:
            labels = check.check_labels(self.xp, y, n, self.K, names[1])
            return X, check.one_hot(self.xp, labels, self.K, self._dtype)
        Y = check.check_targets(self.xp, y, n, self.p[-1], self._dtype, names[1])
        if self._loss.binary_targets:
            return X, check.check_binary_targets(self.xp, Y, names[1])
        return X, Y

    def checked_X(self, X, name="X"):
        """X as a finite (n, p_0) array of the backend and dtype; errors name ``name``."""
        # KERNEL: an X that is already right is passed in one pass (None: the general check)
        fast = None if self._kernel is None else self._kernel.checked_X(X)
        return check.check_X(self.xp, X, self.p[0], self._dtype, name) if fast is None else fast

    # ------------------------------------------------------------------ computation
    def forward(self, X):
        """The feed-forward pass: ([z_1, ..., z_L], [a_0, ..., a_L]) for a batch X.

        z_l = W_l a_{l-1} + b_l, a_l = S_l(z_l) (Algorithm 1, lines 1-4), row by row.
        X: (n, p_0); z_l, a_l: (n, p_l), except a_L: (n, K) for the reduced softmax.
        """
        return self._forward(self.checked_X(X))

    def _forward(self, X, theta=None):
        if self._kernel is None or theta is not None:
            return gradients.forward(self, X, theta)
        return self._kernel.forward(X)  # KERNEL: the same numbers, one temporary fewer

    def predict(self, X):
        """g(X | θ) = a_L, one row per example: shape (n, p_L), or (n, K) class probabilities."""
        return self._forward(self.checked_X(X))[1][-1]

    def batch_loss(self, X, Y, theta=None):
        """ℓ_τ = (1/n) Σ_i C_i (+ the weight penalty (α/2n) Σ_l ‖W_l‖²) as a 0-D backend
        array, for (X, Y) from ``checked_batch``, at the network's θ or at another flat
        ``theta`` (the network's θ is not touched)."""
        zs, A = self._forward(X, theta)
        at = (self._theta if theta is None or not self.alpha
              else check.check_theta(self.xp, theta, self.dim_theta, self._dtype))
        return mean_loss(self.xp, self._output, self._loss, zs[-1], A[-1], Y) + weight_penalty(
            self.xp, self._layers, at, self.alpha, X.shape[0])

    def loss(self, X, y) -> float:
        """The training loss ℓ_τ = (1/n) Σ_i C_i(θ) (equation (1)), as a Python float."""
        return float(self.batch_loss(*self.checked_batch(X, y)))

    def loss_at(self, theta, X, y) -> float:
        """ℓ_τ(θ) (equation (1)) at another parameter vector θ, as a Python float.

        The network's θ is neither written nor read, so other threads may use the network
        meanwhile. The loss as a function of θ alone, e.g. for ``bp.numerical_gradient``:
        ``numerical_gradient(lambda th: net.loss_at(th, X, y), net.theta)``.
        """
        theta = check.check_theta(self.xp, theta, self.dim_theta, self._dtype, "theta")
        return float(self.batch_loss(*self.checked_batch(X, y), theta))

    def batch_loss_and_gradient(self, X, Y, out=None, with_loss=True):
        """(ℓ_τ as a 0-D backend array, ∂ℓ_τ/∂θ flat) for (X, Y) from ``checked_batch``.

        The gradient is a new array, unless ``out`` (a contiguous flat array of the backend,
        dtype and length dim θ) is given: then it is written there and returned. With
        ``with_loss=False`` the loss may be skipped (None) where that saves work.
        """
        if out is not None:
            self._check_out(out)
        if self._kernel is None:
            loss, grad = gradients.batch_gradient(self, X, Y)
            if out is not None:  # on JAX, whose arrays cannot be written: a new array
                grad = write(out, ..., grad)
            return loss, grad
        # KERNEL: on NumPy, the same equations in place (_numpy_kernel.py, tested equal)
        return self._kernel.loss_and_gradient(X, Y, out, with_loss)

    def _loss_and_gradient_into(self, out):
        """``lambda X, Y: batch_loss_and_gradient(X, Y, out)``, with ``out`` checked once, here:
        for a loop that writes every gradient into the same buffer (fit's)."""
        self._check_out(out)
        if self._kernel is None:
            return lambda X, Y: self.batch_loss_and_gradient(X, Y, out)
        # KERNEL: straight to the kernel's one pass (fit's loop ignores floating-point flags,
        # so the retry of batch_loss_and_gradient's call is never needed there)
        gradient = self._kernel.products
        return lambda X, Y: gradient(X, Y, out)

    def _check_out(self, out) -> None:
        if not (hasattr(out, "shape") and hasattr(out, "dtype")):
            raise TypeError(f"out must be an array of the backend; got {type(out).__name__}")
        if (tuple(out.shape) != (self.dim_theta,) or out.dtype != self._dtype
                or (isinstance(out, np.ndarray) and not out.flags.c_contiguous)):
            raise ValueError(
                f"out must be a contiguous flat array of dtype {self.dtype} and length "
                f"dim(theta) = {self.dim_theta}; got shape {tuple(out.shape)}, dtype {out.dtype}"
            )

    def gradient(self, X, y, checkpoints=None):
        """∂ℓ_τ/∂θ, flat in θ's order, by the batch form of Algorithm 2.

        One matrix product per layer per pass, no loop over examples: with Delta_l holding
        δ_l of every example as rows, Σ_i δ_l a_{l-1}^T = Delta_l^T A_{l-1}, Σ_i δ_l is a column
        sum, and δ_{l-1} = S'(z_{l-1}) ⊙ W_l^T δ_l is Delta_{l-1} = (Delta_l W_l) ⊙ S'(Z_{l-1})
        (:func:`backprop.gradients.batch_gradient`). Returns a new array of the network's
        backend, shape (dim_theta,), that a later call never changes.

        On NumPy the intermediate arrays live in a workspace that the next call of the same
        thread with the same batch size reuses (at most a few, 64 MiB in all, are kept;
        ``release_workspace()`` frees them). With ``checkpoints=k`` only the activations of k
        evenly spaced layers are kept and the others recomputed on the way back
        (:func:`backprop.checkpoint.gradient`): the same gradient in less memory.
        """
        if checkpoints is not None:
            return checkpoint.gradient(self, X, y, checkpoints)
        if self._kernel is not None:  # KERNEL: a batch that needs no conversion, in one call
            grad = self._kernel.gradient(X, y)
            if grad is not None:
                return grad
        X, Y = self.checked_batch(X, y)
        return self.batch_loss_and_gradient(X, Y, with_loss=False)[1]

    def loss_and_gradient(self, X, y):
        """(ℓ_τ as a float, ∂ℓ_τ/∂θ) from one forward and one backward pass."""
        loss, grad = self.batch_loss_and_gradient(*self.checked_batch(X, y))
        return float(loss), grad

    def deltas(self, X, y):
        """[Delta_1, ..., Delta_L]: row i of Delta_l is δ_l = ∂C_i/∂z_l of example i (eq. (2))."""
        X, Y = self.checked_batch(X, y)
        Z, A = gradients.forward(self, X)
        Delta_L = output_delta(self.xp, self._output, self._loss, Z[-1], A[-1], Y)
        return gradients.backpropagate(self, A, Delta_L)[1]

    def jvp(self, X, y, v):
        """(∂ℓ_τ/∂θ)·v by forward mode, in one forward pass (:func:`backprop.forward_mode.jvp`)."""
        return forward_mode.jvp(self, X, y, v)

    def hvp(self, X, y, v):
        """∇²ℓ_τ(θ) v, exact up to rounding: forward over reverse (:func:`backprop.hessian.hvp`)."""
        return hessian.hvp(self, X, y, v)

    def backward(self, activations, Delta_L):
        """Back-propagate the output errors: (∂ℓ_τ/∂θ flat, [Delta_1, ..., Delta_L]).

        δ_{l-1} = S'(z_{l-1}) ⊙ W_l^T δ_l for l = L, ..., 2 (Algorithm 1, line 10), for every
        example at once, then ∂ℓ_τ/∂W_l = (1/n) Σ_i δ_l a_{l-1}^T (+ (α/n) W_l with a weight
        penalty) and ∂ℓ_τ/∂b_l = (1/n) Σ_i δ_l (:func:`backprop.gradients.backpropagate`,
        which this checks the input of).

        activations: [a_0, ..., a_L] as returned by ``forward(X)``. Delta_L: shape (n, p_L),
        row i is δ_L of example i, usually ``bp.output_delta(...)``; any other δ_L (a wrong
        one, to see what a gradient check makes of it) is back-propagated just the same.
        Row i of the returned Delta_l is δ_l of example i.
        """
        A, Delta = check.check_backward(self.xp, activations, Delta_L, self.p, self._dtype)
        return gradients.backpropagate(self, A, Delta)

    def __repr__(self) -> str:
        hidden = self.hidden[0] if len(set(self.hidden)) == 1 else self.hidden
        kernel = "" if self._use_kernel else ", kernel=False"
        kernel += f", alpha={self.alpha!r}" if self.alpha else ""
        # the device only where it is not the backend's default, so the usual repr is as it was
        device = self.device
        device = "" if device in (None, "cpu") else f", device={device!r}"
        return (
            f"Network({list(self.p)}, hidden={hidden!r}, output={self.output!r}, "
            f"loss={self.loss_name!r}, dtype={self.dtype!r}, backend={self.backend!r}"
            f"{device}{kernel}, dim_theta={self.dim_theta})"
        )
