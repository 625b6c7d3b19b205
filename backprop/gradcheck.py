"""Check a gradient against central differences of the training loss.

For each checked coordinate θ_i, with h = h0 · max(1, |θ_i|),

    D_i(h) = (ℓ_τ(θ + h e_i) - ℓ_τ(θ - h e_i)) / (2h)  = ∂ℓ_τ/∂θ_i + c h² + O(h⁴),

and gradcheck takes Richardson's combination (4 D_i(h) - D_i(2h)) / 3, whose O(h²) terms
cancel. Its error is O(h⁴) from truncation and O(ε ℓ_τ / h) from rounding; h0 = ε^(1/4).

The differences are always taken in float64 (ε = 2.2e-16, h0 ≈ 1.2e-4) on a float64 NumPy
copy of the network (``net.copy(backend="numpy", dtype="float64")``), whatever the network's
own dtype and backend: a float32 loss carries only ~7 digits, and float32 differences can
be off by tens of percent at a trained θ, where the gradient is small. The batch is first
rounded to the network's dtype, so the copy computes the very function the network does.
The copy is also why gradcheck never writes the caller's θ (it may run while other threads
use the network).

The verdict is per block (each W_l and each b_l), in the 2-norm. A block passes when

    ‖analytic - numeric‖ <= tolerance · max(‖analytic‖, ‖numeric‖) + ‖2 ρ + r‖,

* ρ_i: the rounding of the analytic gradient in the network's dtype, measured: the
  network's own gradient code run in its dtype minus the same code in float64 (the largest
  over three summation orders). Zero for a float64 NumPy network; about 1e-7 to 1e-3 of
  the gradient in float32, more at a trained θ where the gradient is the small sum of
  large terms. It counts twice, as a gradient from other code (Algorithm 2, a gradient
  written by hand) rounds otherwise. A bug that shows only in float32 looks like float32
  rounding to this check: run it on a float64 network too.
* r_i = 16 (L + 1) ε_64 s / h_i: the rounding of the difference quotient, where s is ℓ_τ
  plus the size of the terms it is summed from.
* tolerance: a relative floor, 1e-6 for float64 networks and 1e-4 (about 840 float32 ε)
  for float32 by default.

So PASSED says the gradient matches the loss's derivative up to what rounding explains; a
block whose error exceeds that is reported FAILED: its gradient (or the loss, if the two
were derived apart) is wrong there. A 1% error in one layer is well above the allowance
unless the float32 gradient itself is that noisy (then ρ says so).

At a ReLU kink the loss has no derivative and a central difference straddling it sees a
slope of neither side. Each perturbation is watched for a hidden pre-activation z (or a
relu output's z_L) whose sign differs among θ ± h e_i and θ ± 2h e_i; such coordinates are
reported, left out of the error, and a :class:`KinkWarning` is issued.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _validate as check
from .backend import dtype_of, to_numpy
from .finite_differences import check_options, numerical_gradient, step_sizes
from .gradients import add_weight_penalty_gradient

TOLERANCE = {"float64": 1e-6, "float32": 1e-4}
_EPS64 = float(np.finfo(np.float64).eps)
_H0 = _EPS64 ** 0.25  # about 1.2e-4: Richardson's O(h⁴) truncation against ε ℓ / h rounding
_ROWS_ONE_BY_ONE = 1024  # a third summation order for ρ, up to this many rows
_RHO_FACTOR = 2.0  # ρ samples a few rounding patterns; other correct code rounds otherwise


class KinkWarning(UserWarning):
    """A finite-difference step crossed a ReLU kink (z = 0); that coordinate was skipped."""


@dataclass
class GradcheckResult:
    """What :func:`gradcheck` measured. ``bool(result)`` is ``result.passed``.

    layer_errors[l-1] = (rel. error of W_l, rel. error of b_l), each
    ‖analytic - numeric‖ / max(‖analytic‖, ‖numeric‖) over that block's compared
    coordinates; layer_allowed[l-1] the errors rounding and the tolerance allow there (see
    the module docstring); nan where nothing was compared. n_checked coordinates were
    differenced; the kink_indices among them were skipped, the other n_compared compared.
    """

    max_rel_error: float
    layer_errors: list
    max_abs_error: float
    n_checked: int
    dim_theta: int
    tolerance: float
    kink_indices: list = field(default_factory=list)
    analytic: np.ndarray | None = field(default=None, repr=False)
    numeric: np.ndarray | None = field(default=None, repr=False)
    indices: np.ndarray | None = field(default=None, repr=False)
    layer_allowed: list = field(default_factory=list)

    @property
    def n_compared(self) -> int:
        """Coordinates whose difference quotient entered the verdict (checked minus kinks)."""
        return self.n_checked - len(self.kink_indices)

    @property
    def passed(self) -> bool:
        """True when every compared block's error is within what is allowed there.

        PASSED: the analytic gradient agrees with float64 central differences up to the
        tolerance plus the rounding of both. FAILED: some W_l or b_l differs by more than
        rounding explains, so the gradient (or the loss it is compared with) is wrong there;
        also FAILED when nothing could be compared (every step crossed a kink).
        """
        if not self.layer_allowed:  # built by hand without allowances: the tolerance alone
            return bool(self.max_rel_error <= self.tolerance)
        pairs = [
            (e, a)
            for errs, allowed in zip(self.layer_errors, self.layer_allowed, strict=True)
            for e, a in zip(errs, allowed, strict=True)
            if not np.isnan(e)
        ]
        return bool(pairs) and all(e <= a for e, a in pairs)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        skipped = len(self.kink_indices)
        lines = [
            f"gradcheck: {'PASSED' if self.passed else 'FAILED'}  max relative error "
            f"{self.max_rel_error:.1e} (tolerance {self.tolerance:.0e} + rounding), "
            f"{self.n_compared} of {self.dim_theta} coordinates compared"
            + (f" ({skipped} skipped at ReLU kinks)" if skipped else ""),
            "  layer   rel. error W_l (allowed)   rel. error b_l (allowed)",
        ]
        allowed = self.layer_allowed or [(self.tolerance, self.tolerance)] * len(self.layer_errors)
        for l, ((eW, eb), (aW, ab)) in enumerate(
            zip(self.layer_errors, allowed, strict=True), start=1
        ):
            lines.append(f"  {l:>5}   {eW:>14.1e} ({aW:.1e})   {eb:>14.1e} ({ab:.1e})")
        if np.isnan(self.max_rel_error):
            lines.append("  no coordinate could be compared: nothing was checked")
        if skipped:
            lines.append(f"  {skipped} coordinate(s) crossed a ReLU kink and were skipped")
        return "\n".join(lines)


def _kink_signs(net, zs):
    """Signs of every pre-activation that feeds a ReLU, as one NumPy bool vector."""
    parts = [to_numpy(zs[l - 1]) > 0 for l in range(1, net.L + 1) if net.S(l).name == "relu"]
    return np.concatenate([p.ravel() for p in parts]) if parts else np.zeros(0, bool)


def _gradient(net, X, Y):
    """∂ℓ_τ/∂θ of a checked batch (X, Y from ``net.checked_batch``)."""
    return net.batch_loss_and_gradient(X, Y, with_loss=False)[1]


def _rounding(net, ref, own, X, Y, X64, Y64) -> np.ndarray:
    """ρ: how far rounding in the network's dtype moves its gradient, per coordinate.

    The network's gradient minus the same code run in float64 on the copy, for three
    summation orders (the batch as given, its rows reversed, and, for batches of up to
    ``_ROWS_ONE_BY_ONE`` rows, the sum of one-row gradients taken in turn, as a loop over
    examples such as Algorithm 2 adds them); the largest of the three. Zero for a float64
    NumPy network.
    """
    if net.dtype == "float64" and net.backend == "numpy":
        return np.zeros(net.dim_theta)  # the same code on the same data: no difference
    xp, n = net.xp, X.shape[0]
    exact = _gradient(ref, X64, Y64)
    rows = xp.flip(xp.arange(n))
    samples = [own, _gradient(net, xp.take(X, rows, axis=0), xp.take(Y, rows, axis=0))]
    if n <= _ROWS_ONE_BY_ONE:
        # the penalty is no sum over rows: the rows' data terms, then the penalty's once
        rows_net = net.copy(alpha=0.0) if net.alpha else net
        total = xp.zeros_like(samples[1])
        for i in range(n):
            total = total + _gradient(rows_net, X[i : i + 1, :], Y[i : i + 1, :])
        samples.append(add_weight_penalty_gradient(xp, net.layers, net.theta_buffer, net.alpha,
                                                   n, total / n))
    return np.max([np.abs(to_numpy(g).astype(np.float64) - exact) for g in samples], axis=0)


def _loss_scale(ref, X64, Y64) -> float:
    """ℓ_τ plus the size of the terms it is computed from (mean Σ_k |z_L,k| (|g_k| + |y_k|))."""
    zs, A = ref.forward(X64)
    Z, G = zs[-1], A[-1]
    terms = np.abs(Z).sum(axis=1) * (np.abs(G).max(axis=1) + np.abs(Y64).max(axis=1))
    return abs(float(ref.batch_loss(X64, Y64))) + float(terms.mean())


def _crossed(signs, k: int, m: int) -> bool:
    """Whether the ReLU signs differ among θ ± h e_i and θ ± 2h e_i (coordinate k of m)."""
    first = signs[2 * k]
    return any(np.any(first != s) for s in (signs[2 * k + 1], signs[2 * m + 2 * k],
                                            signs[2 * m + 2 * k + 1]))


def _blocks(net, sample, seed):
    """[(indices into θ of W_l, of b_l) for each layer]: all, or ``sample`` of each, seeded."""
    k = None if sample is None else check.check_int(sample, "sample", minimum=1)
    rng = np.random.default_rng(seed)
    blocks = []
    for sW, sb in net.layer_slices():
        pair = []
        for s in (sW, sb):
            idx = np.arange(s.start, s.stop)
            if k is not None:
                idx = np.sort(rng.choice(idx, size=min(k, idx.size), replace=False))
            pair.append(idx)
        blocks.append(pair)
    return blocks


def _compare(blocks, analytic, numeric, allowance, keep, tol):
    """Per block: (rel. error, allowed rel. error) over the kept coordinates, nan if none."""
    errors, allowed, start = [], [], 0
    for pair in blocks:
        e_pair, a_pair = [], []
        for idx in pair:
            sl = slice(start, start + idx.size)
            start += idx.size
            a, n, r = analytic[sl][keep[sl]], numeric[sl][keep[sl]], allowance[sl][keep[sl]]
            if a.size == 0:
                e_pair.append(float("nan"))
                a_pair.append(float("nan"))
                continue
            if not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
                # an overflowing loss or gradient agrees with nothing: FAILED, not skipped
                e_pair.append(float("inf"))
                a_pair.append(float(tol))
                continue
            scale = max(np.linalg.norm(a), np.linalg.norm(n), np.finfo(np.float64).tiny)
            e_pair.append(float(np.linalg.norm(a - n) / scale))
            a_pair.append(float(tol + np.linalg.norm(r) / scale))
        errors.append(tuple(e_pair))
        allowed.append(tuple(a_pair))
    return errors, allowed


def _differences(ref, X64, Y64, indices, h0):
    """(Richardson's central differences of ℓ at ref's θ for the given coordinates, the
    coordinates whose steps crossed a ReLU kink). ref: the float64 copy, written freely."""
    theta0 = ref.theta
    watch = "relu" in (*ref.hidden, ref.output)
    signs = []  # the ReLU signs at θ ± h_i e_i (each i in turn), then at θ ± 2 h_i e_i

    def loss(theta):
        ref.theta = theta
        if watch:
            signs.append(_kink_signs(ref, ref.forward(X64)[0]))
        return float(ref.batch_loss(X64, Y64))

    with np.errstate(all="ignore"):  # an overflowing loss becomes a failed block, no warning
        near = numerical_gradient(loss, theta0, h0, indices)
        far = numerical_gradient(loss, theta0, 2 * float(h0), indices)
    ref.theta = theta0
    m = indices.size
    kinks = [int(i) for k, i in enumerate(indices) if watch and _crossed(signs, k, m)]
    return (4 * near - far) / 3, kinks  # Richardson: the h² terms of the two cancel


def gradcheck(net, X, y, *, gradient=None, h=None, sample=None, seed=0, tolerance=None,
              warn=True) -> GradcheckResult:
    """Compare ∂ℓ_τ/∂θ with float64 central differences (ℓ(θ+h e_i) - ℓ(θ-h e_i)) / 2h.

    Parameters
    ----------
    net, X, y : the network and a batch, as for :meth:`Network.gradient`.
    gradient : the analytic gradient to test (flat, θ order); default ``net.gradient(X, y)``.
    h : base step h0 (scaled by max(1, |θ_i|)); default ε^(1/4) of float64, about 1.2e-4.
    sample : check at most this many coordinates of each W_l and each b_l, drawn at random
        (seeded); default: every coordinate (4 dim θ loss evaluations).
    tolerance : relative tolerance on top of rounding (module docstring); default 1e-6
        (float64 network), 1e-4 (float32).
    warn : issue a KinkWarning when a step crosses a ReLU kink.

    Returns a :class:`GradcheckResult`; print it for a per-layer table. PASSED means every
    W_l and b_l agrees with the differences within the tolerance plus what rounding
    explains; FAILED means some block differs by more (see ``GradcheckResult.passed``).
    The differences run on a float64 NumPy copy of the network: the network
    itself is only read, so gradcheck may run while other threads use it.
    """
    check_options(h, tolerance, seed, warn)
    xp = net.xp
    X, Y = net.checked_batch(X, y)
    blocks = _blocks(net, sample, seed)
    indices = np.concatenate([i for pair in blocks for i in pair])
    tol = TOLERANCE[net.dtype] if tolerance is None else float(tolerance)
    ref = net.copy(backend="numpy", dtype="float64")  # NumPy: no per-call device overhead
    # the batch the network sees, given exactly to its float64 copy
    X64, Y64 = (to_numpy(xp.astype(M, xp.float64)) for M in (X, Y))
    own = to_numpy(_gradient(net, X, Y)).astype(np.float64)
    if gradient is None:
        gradient = own
    gradient = check.check_theta(xp, gradient, net.dim_theta, dtype_of(xp, net.dtype), "gradient")
    analytic = to_numpy(gradient).astype(np.float64)[indices]
    rho = _rounding(net, ref, own, X, Y, X64, Y64)

    h0 = _H0 if h is None else h
    theta0 = ref.theta
    numeric, kinks = _differences(ref, X64, Y64, indices, h0)
    # the rounding of ℓ in float64 (about ε times the size of its terms), over the step
    allowance = _RHO_FACTOR * rho[indices] + 16 * (net.L + 1) * _EPS64 * _loss_scale(
        ref, X64, Y64
    ) / step_sizes(theta0, indices, h0)
    keep = ~np.isin(indices, kinks)
    layer_errors, layer_allowed = _compare(blocks, analytic, numeric, allowance, keep, tol)
    if kinks and warn:
        warnings.warn(
            f"{len(kinks)} finite-difference step(s) crossed a ReLU kink (some z changed sign); "
            f"those coordinates were left out of the error: {kinks[:10]}"
            + (" ..." if len(kinks) > 10 else ""),
            KinkWarning,
            stacklevel=2,
        )
    finite = [e for pair in layer_errors for e in pair if not np.isnan(e)]
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
        layer_allowed=layer_allowed,
    )
