"""backprop: back-propagation, line by line, after the lecture "Back-Propagation".

Notation. The lecture numbers layers l = 1, ..., L; Python lists start at 0. Everywhere in
this package a per-layer list holds layer l at index l-1:

    net.W[l-1] = W_l, shape (p_l, p_{l-1})     net.b[l-1] = b_l, shape (p_l,)
    zs[l-1]    = z_l                            activations[l] = a_l  (a_0 = x, a_L = g)
    net.p[l]   = p_l  (p_0 inputs, p_L outputs)

A batch X has shape (n, p_0), one example per row, so the lecture's z_l = W_l a_{l-1} + b_l
reads Z_l = A_{l-1} W_l^T + b_l. θ is one flat vector: W_1 (row-major), b_1, ..., W_L, b_L,
of length dim θ = Σ_l (p_{l-1} p_l + p_l). The squared-error loss is ||y - g||² (no 1/2);
the training loss ℓ_τ is the mean of C_i over the examples, plus the weight penalty
(α/2n) Σ_l ||W_l||² of a network built with ``alpha`` > 0 (scikit-learn's MLP ``alpha``).

Where things are: ``gradients`` holds the lecture's algorithms and the batch form every
backend runs (forward, backpropagate, batch_gradient); ``network`` the Network (settings in
``settings``, θ's layout in ``parameters``); ``activations`` and ``losses`` the tables of S,
S', losses and δ_L; ``optim``, ``train`` and ``history`` the training. The private
``_numpy_kernel`` computes the batch gradient in place on NumPy, only for speed.

Code built on the package (optimisers, gradient checks, distributed training) uses this
interface of a network, never its private attributes: ``net.checked_batch(X, y)`` -> (X, Y)
checked once; ``net.batch_loss(X, Y, theta=None)`` and ``net.batch_loss_and_gradient(X, Y,
out=None)`` on such a batch; ``net.theta_buffer``, the live flat θ an optimiser updates in
place; ``net.layers`` (θ's layout), ``net.output_layer``, ``net.loss_function``; and the
module functions ``gradients.forward``, ``gradients.backpropagate``,
``gradients.batch_gradient``. ``net.release_workspace()`` frees the NumPy kernel's arrays.

Quick start::

    import backprop as bp
    net = bp.Network([1, 20, 20, 1], hidden="relu", output="identity", init="normal")
    g = net.predict(X)                 # (n, 1)
    grad = net.gradient(X, y)          # ∂ℓ_τ/∂θ, flat, by the batch form of Algorithm 2
    print(bp.gradcheck(net, X, y))     # central differences, per layer
"""

from . import (
    activations,
    autodiff,
    backend,
    checkpoint,
    datasets,
    explorables,
    finite_differences,
    forward_mode,
    gradients,
    hessian,
    losses,
    metrics,
    optim,
    parameters,
    plotting,
    timing,
)
from .activations import ACTIVATIONS
from .backend import available_backends, cupy_available, get_namespace, to_numpy
from .finite_differences import numerical_gradient, numerical_jacobian
from .forward_mode import jvp
from .gradcheck import GradcheckResult, KinkWarning, gradcheck
from .gradients import algorithm1, algorithm2
from .hessian import hvp
from .history import DivergenceError, History
from .io import load, save
from .losses import LOSSES, OUTPUTS, output_delta, output_delta_general
from .metrics import accuracy, confusion_matrix, multilabel_accuracy, predict_labels
from .network import Network
from .optim import LBFGS, SGD, Adam, BarzilaiBorwein, Momentum, Optimizer, SteepestDescent
from .source import glue, taught_source
from .train import fit

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OUTPUTS",
    "SGD",
    "Adam",
    "BarzilaiBorwein",
    "DivergenceError",
    "GradcheckResult",
    "History",
    "LBFGS",
    "Momentum",
    "Optimizer",
    "SteepestDescent",
    "accuracy",
    "confusion_matrix",
    "metrics",
    "multilabel_accuracy",
    "predict_labels",
    "KinkWarning",
    "Network",
    "activations",
    "autodiff",
    "checkpoint",
    "finite_differences",
    "forward_mode",
    "hessian",
    "hvp",
    "jvp",
    "algorithm1",
    "algorithm2",
    "available_backends",
    "backend",
    "cupy_available",
    "datasets",
    "explorables",
    "glue",
    "gradients",
    "fit",
    "get_namespace",
    "gradcheck",
    "load",
    "losses",
    "optim",
    "parameters",
    "output_delta",
    "output_delta_general",
    "numerical_gradient",
    "numerical_jacobian",
    "plotting",
    "save",
    "taught_source",
    "timing",
    "to_numpy",
]


def __getattr__(name):
    # bp.distributed imports Dask, so it is loaded on first use, not by ``import backprop``
    if name == "distributed":
        import importlib

        return importlib.import_module(f"{__name__}.distributed")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
