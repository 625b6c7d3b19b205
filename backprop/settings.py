"""What defines a network: the constructor's arguments, checked into one dictionary.

A network's settings are fixed once it is built (``Network`` exposes them read-only); a
network with other settings is a new one, or ``net.copy(backend=..., dtype=...)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from . import _validate as check
from .activations import get_activation
from .backend import backend_name, get_namespace
from .losses import get_loss, get_output
from .parameters import INITS

SETTINGS = ("p", "hidden", "output", "loss_name", "init", "seed", "dtype", "backend", "alpha")
SEED_MAX = 2**63 - 1  # a seed is stored as an int64 (backprop.save)


def dtype_name(dtype) -> str:
    """'float64' or 'float32' for a name or a NumPy dtype; a clear error for anything else."""
    if dtype is None or isinstance(dtype, bool):
        raise TypeError(f"dtype must be 'float64' or 'float32'; got {dtype!r}")
    try:
        name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"dtype must be 'float64' or 'float32'; got {dtype!r}") from None
    if name not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32'; got {dtype!r}")
    return name


def widths(p) -> tuple[int, ...]:
    """The layer widths (p_0, ..., p_L) from a list, tuple or 1-D array of integers >= 1."""
    if isinstance(p, np.ndarray) and p.ndim == 1:
        p = p.tolist()
    if isinstance(p, (str, bytes)) or not isinstance(p, Sequence):
        raise TypeError(f"p must be a list of layer widths [p_0, ..., p_L]; got {type(p).__name__}")
    if len(p) < 2:
        raise ValueError(f"p must list at least two widths [p_0, p_1] (L >= 1); got {list(p)}")
    return tuple(check.check_int(w, f"p[{i}]", minimum=1) for i, w in enumerate(p))


def hidden_names(hidden, p) -> tuple[str, ...]:
    """The L-1 hidden activation names (one name is repeated), aliases resolved."""
    L = len(p) - 1
    if isinstance(hidden, str):
        hidden = [hidden] * (L - 1)
    elif not isinstance(hidden, (list, tuple)):
        raise TypeError(f"hidden must be a name or a list of L-1 = {L - 1} names; got {hidden!r}")
    if len(hidden) != L - 1:
        raise ValueError(
            f"hidden must name L-1 = {L - 1} activations (one per hidden layer) for "
            f"p = {list(p)}; got {len(hidden)}: {list(hidden)}"
        )
    return tuple(get_activation(h, "hidden").name for h in hidden)


def penalty_strength(alpha) -> float:
    """α of the weight penalty (α/2n) Σ_l ‖W_l‖²: a finite real number >= 0, as a float."""
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(
            f"alpha must be a real number >= 0 (the strength of the weight penalty); got "
            f"{check._describe(alpha)}"
        )
    value = float(alpha)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"alpha must be a finite number >= 0; got alpha={alpha!r}")
    return value


def settings(p, hidden, output, loss, init, seed, dtype, backend, alpha=0.0) -> dict:
    """The checked settings of ``Network(p, hidden, output, loss, init, seed, dtype, backend,
    alpha=...)``."""
    p = widths(p)
    hidden = hidden_names(hidden, p)
    head = get_output(output)
    if loss is None:
        loss = "cross_entropy" if head.logits_xp is not None else "squared_error"
    cost = get_loss(loss)
    if cost.classification and head.logits_xp is None:
        hint = ("; for one sigmoid per output (0/1 targets, multi-label) use "
                "loss='binary_cross_entropy'" if head.name == "logistic" else "")
        raise ValueError(
            f"loss='cross_entropy' needs output='softmax' or 'softmax_reduced' (g must be a "
            f"probability vector); got output={output!r}{hint}"
        )
    if cost.binary_targets and head.name != "logistic":
        raise ValueError(
            f"loss='binary_cross_entropy' needs output='logistic' (alias 'sigmoid': g_k is the "
            f"probability that label k applies); got output={output!r}"
        )
    if head.name == "softmax_reduced" and not cost.classification:
        raise ValueError(
            f"output='softmax_reduced' pairs only with loss='cross_entropy'; got loss={loss!r}"
        )
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}; got {init!r}")
    seed = check.check_int(seed, "seed")
    if seed > SEED_MAX:
        raise ValueError(f"seed must lie in 0 .. 2**63 - 1 (it is saved as an int64); got {seed}")
    return {"p": p, "hidden": hidden, "output": head.name, "loss_name": cost.name, "init": init,
            "seed": seed, "dtype": dtype_name(dtype),
            "backend": backend_name(get_namespace(backend)), "alpha": penalty_strength(alpha)}
