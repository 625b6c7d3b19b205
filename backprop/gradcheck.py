"""Check a gradient against central differences of the training loss.

For each checked coordinate θ_i,

    ∂ℓ_τ/∂θ_i ≈ (ℓ_τ(θ + h e_i) - ℓ_τ(θ - h e_i)) / (2h),   h = h0 · max(1, |θ_i|),

with error O(h²) from truncation and O(ε ℓ_τ / h) from rounding; h0 = ε^(1/3) balances the
two (ε the machine epsilon of the network's dtype). The comparison is per layer, in the
2-norm: rel = ‖analytic - numeric‖ / max(‖analytic‖, ‖numeric‖, tiny).

Default tolerances (on that relative error): 1e-6 in float64 (typical errors 1e-9 to
1e-11) and 2e-2 in float32 (typical errors 1e-4 to 1e-3: a float32 loss carries only ~7
digits, of which the difference quotient loses about a third).

At a ReLU kink the loss has no derivative and a central difference straddling it sees a
slope of neither side. Each perturbation is watched for a hidden pre-activation z (or a
relu output's z_L) that changes sign between θ - h e_i and θ + h e_i; such coordinates are
reported, left out of the error, and a :class:`KinkWarning` is issued.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _validate as check
from .backend import to_numpy
from .gradients import forward
from .losses import mean_loss

TOLERANCE = {"float64": 1e-6, "float32": 2e-2}


class KinkWarning(UserWarning):
    """A finite-difference step crossed a ReLU kink (z = 0); that coordinate was skipped."""


@dataclass
class GradcheckResult:
    """What :func:`gradcheck` measured. ``bool(result)`` is ``result.passed``."""

    max_rel_error: float
    layer_errors: list  # [(rel error of W_l, rel error of b_l) for l = 1..L]; nan if none checked
    max_abs_error: float
    n_checked: int
    dim_theta: int
    tolerance: float
    kink_indices: list = field(default_factory=list)
    analytic: np.ndarray | None = field(default=None, repr=False)
    numeric: np.ndarray | None = field(default=None, repr=False)
    indices: np.ndarray | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        """max_rel_error <= tolerance (False when nothing could be compared: nan)."""
        return bool(self.max_rel_error <= self.tolerance)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        lines = [
            f"gradcheck: {'PASSED' if self.passed else 'FAILED'}  max relative error "
            f"{self.max_rel_error:.1e} (tolerance {self.tolerance:.0e}), "
            f"{self.n_checked} of {self.dim_theta} coordinates checked",
            "  layer   rel. error W_l   rel. error b_l",
        ]
        for l, (eW, eb) in enumerate(self.layer_errors, start=1):
            lines.append(f"  {l:>5}   {eW:>14.1e}   {eb:>14.1e}")
        if np.isnan(self.max_rel_error):
            lines.append("  no coordinate could be compared: nothing was checked")
        if self.kink_indices:
            lines.append(
                f"  {len(self.kink_indices)} coordinate(s) crossed a ReLU kink and were skipped"
            )
        return "\n".join(lines)


def _rel(a: np.ndarray, n: np.ndarray) -> float:
    if a.size == 0:
        return float("nan")
    scale = max(np.linalg.norm(a), np.linalg.norm(n), np.finfo(np.float64).tiny)
    return float(np.linalg.norm(a - n) / scale)


def _steps(x, indices, h) -> np.ndarray:
    """The step of each coordinate: h0 · max(1, |x_i|), h0 = h or ε^(1/3) of x's dtype."""
    h0 = float(np.finfo(x.dtype).eps) ** (1 / 3) if h is None else float(h)
    if not h0 > 0:
        raise ValueError(f"h must be a positive step; got {h}")
    return h0 * np.maximum(1.0, np.abs(x.ravel()[indices]))


def numerical_gradient(f, x, h=None, indices=None) -> np.ndarray:
    """∂f/∂x_i ≈ (f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i) for a scalar function f.

    x: a NumPy float array of any shape; f(x) returns a number. h_i = h0 · max(1, |x_i|)
    with h0 = h, or ε^(1/3) of x's dtype by default (see the module docstring). f is called
    as f(x + h_i e_i), then f(x - h_i e_i), coordinate after coordinate, on copies of x.
    Returns an array of x's shape; with ``indices`` (flat positions), only those
    coordinates, as a 1-D array in that order.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"x must be a float array; got dtype {x.dtype}")
    flat = x.ravel()
    picked = np.arange(flat.size) if indices is None else np.asarray(indices, dtype=np.intp)
    steps = _steps(x, picked, h)
    out = np.empty(picked.size)
    for k, (i, step) in enumerate(zip(picked, steps, strict=True)):
        plus, minus = flat.copy(), flat.copy()
        plus[i] += step
        minus[i] -= step
        # the step actually taken, after rounding x_i ± h_i to x's precision
        out[k] = (f(plus.reshape(x.shape)) - f(minus.reshape(x.shape))) / (plus[i] - minus[i])
    return out.reshape(x.shape) if indices is None else out


def numerical_jacobian(f, x, h=None) -> np.ndarray:
    """J_ij = ∂f_i/∂x_j by central differences, for f from vectors to vectors.

    The usual Jacobian: one row per component of f(x), one column per component of x.
    The lecture writes ∂f/∂x for its transpose, ``numerical_jacobian(f, x).T``.
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be a vector; got shape {x.shape}")
    columns = [numerical_gradient(lambda v, i=i: np.ravel(f(v))[i], x, h)
               for i in range(np.size(f(x)))]
    return np.stack(columns) if columns else np.zeros((0, x.size))


def _kink_signs(net, zs):
    """Signs of every pre-activation that feeds a ReLU, as one NumPy bool vector."""
    parts = [
        to_numpy(zs[l]) > 0
        for l in range(net.L)
        if (net.hidden[l] if l < net.L - 1 else net.output) == "relu"
    ]
    return np.concatenate([p.ravel() for p in parts]) if parts else np.zeros(0, bool)


def gradcheck(net, X, y, *, gradient=None, h=None, sample=None, seed=0, tolerance=None,
              warn=True) -> GradcheckResult:
    """Compare ∂ℓ_τ/∂θ with central differences (ℓ(θ+h e_i) - ℓ(θ-h e_i)) / 2h.

    Parameters
    ----------
    net, X, y : the network and a batch, as for :meth:`Network.gradient`.
    gradient : the analytic gradient to test (flat, θ order); default ``net.gradient(X, y)``.
    h : base step h0 (scaled by max(1, |θ_i|)); default ε^(1/3) of the network's dtype.
    sample : check at most this many coordinates of each W_l and each b_l, drawn at random
        (seeded); default: every coordinate (2 dim θ loss evaluations).
    tolerance : pass/fail threshold on the relative error; default 1e-6 (float64), 2e-2 (float32).
    warn : issue a KinkWarning when a step crosses a ReLU kink.

    Returns a :class:`GradcheckResult`; print it for a per-layer table. θ is left unchanged.
    """
    xp = net.xp
    X, Y = net.checked_batch(X, y)
    if gradient is None:
        gradient = net.batch_loss_and_gradient(X, Y)[1]
    dtype = net.theta_buffer.dtype
    analytic_all = to_numpy(check.check_theta(xp, gradient, net.dim_theta, dtype, "gradient"))
    tol = TOLERANCE[net.dtype] if tolerance is None else float(tolerance)

    rng = np.random.default_rng(seed)
    blocks = []  # per layer: (indices into θ of W_l, of b_l)
    for sW, sb in net.layer_slices():
        pair = []
        for s in (sW, sb):
            idx = np.arange(s.start, s.stop)
            if sample is not None:
                k = check.check_int(sample, "sample", minimum=1)
                idx = np.sort(rng.choice(idx, size=min(k, idx.size), replace=False))
            pair.append(idx)
        blocks.append(pair)
    indices = np.concatenate([i for pair in blocks for i in pair])

    theta0 = net.theta
    signs = []  # the ReLU signs at θ + h_i e_i, then at θ - h_i e_i, for each i in turn

    def loss(theta):  # at θ, without writing the network's θ
        zs, A = forward(net, X, xp.asarray(theta, dtype=dtype))
        signs.append(_kink_signs(net, zs))
        return float(mean_loss(xp, net.output_layer, net.loss_function, zs[-1], A[-1], Y))

    numeric = numerical_gradient(loss, theta0, h, indices)
    kinks = [int(i) for i, plus, minus in zip(indices, signs[::2], signs[1::2], strict=True)
             if np.any(plus != minus)]

    analytic = analytic_all[indices]
    keep = ~np.isin(indices, kinks)
    layer_errors, start = [], 0
    for pair in blocks:
        errs = []
        for idx in pair:
            sl = slice(start, start + idx.size)
            errs.append(_rel(analytic[sl][keep[sl]], numeric[sl][keep[sl]]))
            start += idx.size
        layer_errors.append(tuple(errs))
    finite = [e for pair in layer_errors for e in pair if not np.isnan(e)]
    if kinks and warn:
        warnings.warn(
            f"{len(kinks)} finite-difference step(s) crossed a ReLU kink (some z changed sign); "
            f"those coordinates were left out of the error: {kinks[:10]}"
            + (" ..." if len(kinks) > 10 else ""),
            KinkWarning,
            stacklevel=2,
        )
    diff = np.abs(analytic - numeric)[keep]
    return GradcheckResult(
        # Nothing compared (every step crossed a kink) is no evidence: nan, and not passed.
        max_rel_error=max(finite) if finite else float("nan"),
        layer_errors=layer_errors,
        max_abs_error=float(diff.max()) if diff.size else 0.0,
        n_checked=int(indices.size),
        dim_theta=net.dim_theta,
        tolerance=tol,
        kink_indices=kinks,
        analytic=analytic,
        numeric=numeric,
        indices=indices,
    )
