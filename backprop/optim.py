"""Optimisers: how θ moves once the gradient ∂ℓ_τ/∂θ is known.

Every optimiser here turns a flat gradient (θ's order, from back-propagation) into one
update of the network's flat parameter buffer θ, ``net.theta_buffer -= step``: in place on
NumPy, CuPy and torch, so the views W_l, b_l stay valid; on JAX, whose arrays cannot be
written, the same line makes a new θ and hands it to the network (always through the
attribute, never through a name bound to it before). The common interface:

    opt.step(net, grad)   θ_{t+1} = θ_t - (a step built from grad); writes net's θ in place
    opt.reset()           forget the state (t, stored previous values, moment buffers)

Notation: θ_t is the parameter vector after t steps and ∇ℓ(θ_t) the gradient handed to
``step`` -- the training-loss gradient for full-batch methods, a mini-batch estimate for
stochastic ones (which examples go into a batch is :func:`backprop.fit`'s job). α is the
learning rate. Vector products such as ∇ℓ ⊙ ∇ℓ and √v are element-wise.

State buffers (a velocity, moment estimates, the previous θ and gradient) are created on
the first step, in the network's array namespace and dtype, so the same optimiser code runs
on NumPy, CuPy, array_api_strict, torch and JAX (where ``self.v *= β`` rebinds the state to a
new array). Nothing in ``step`` moves data to the host.

``OPTIMIZERS`` maps a short name to its class, so ``fit(..., optimizer="adam")`` works.

:class:`LBFGS` is the exception: a quasi-Newton method whose iterations (a line search
each) SciPy makes, so it has no ``step``; ``fit`` runs it through SciPy instead.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _validate as check


def _check_positive(value, name: str) -> float:
    """A finite real number > 0 (a learning rate, ε), as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive real number; got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {name}={value!r}")
    return value


def _check_beta(value, name: str) -> float:
    """A decay rate β in [0, 1), as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1); got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1); got {name}={value!r}")
    return value


class Optimizer:
    """Base class: ``step(net, grad)`` updates θ in place, ``reset()`` clears the state.

    Subclasses name their hyperparameters (shown by repr) and their state buffers (arrays
    of length dim θ, None until the first step) and implement ``update(net, grad)``, the
    method's rule on a gradient known to be valid; ``step`` checks the gradient (its backend,
    shape and finiteness), counts the steps in ``self.t`` and calls it.
    """

    name = "optimizer"
    full_batch = False  # True: meant for full-batch gradients (fit warns with mini-batches)
    drives_loop = False  # True: makes its own iterations (fit hands it ℓ_τ and ∇ℓ_τ of θ)
    hyperparameters: tuple[str, ...] = ("lr",)
    state: tuple[str, ...] = ()

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget every state buffer and set the step counter t back to 0."""
        self.t = 0  # number of steps taken since the last reset
        for key in self.state:
            setattr(self, key, None)

    def _zeros(self, net):
        theta = net.theta_buffer
        return net.xp.zeros(theta.shape, dtype=theta.dtype)

    def step(self, net, grad, *, check_input: bool = True) -> None:
        """Update ``net``'s θ in place by one step of this method, given ∇ℓ(θ_t) = ``grad``.

        grad: flat array of the network's backend, shape (dim_theta,), in θ's order, finite.
        check_input=False skips the check of grad (``fit`` passes gradients the network just
        computed); a grad that is not such an array then gives undefined results.
        """
        if check_input:
            grad = check.check_theta(net.xp, grad, net.dim_theta, net.theta_buffer.dtype, "grad")
        for key in self.state:
            buffer = getattr(self, key)
            if buffer is not None and tuple(buffer.shape) != (net.dim_theta,):
                raise ValueError(
                    f"{type(self).__name__} holds state for dim(theta) = {buffer.shape[0]} but "
                    f"this network has dim(theta) = {net.dim_theta}; call reset() first"
                )
        self.update(net, grad)
        self.t += 1

    def update(self, net, grad) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.hyperparameters)
        return f"{type(self).__name__}({args})"


class SteepestDescent(Optimizer):
    """θ_{t+1} = θ_t - α ∇ℓ_τ(θ_t): steepest descent with a fixed step size α = ``lr``.

    The gradient is that of the whole training loss ℓ_τ (full batch); with mini-batches the
    same update is :class:`SGD`. Default α = 0.005, as SGD's.
    """

    name = "steepest_descent"

    def __init__(self, lr: float = 0.005):
        super().__init__()
        self.lr = _check_positive(lr, "lr")

    def update(self, net, grad) -> None:
        net.theta_buffer -= self.lr * grad

    def update_overwriting(self, theta, grad) -> None:
        """``update`` on a NumPy θ with a gradient the caller lets it overwrite (fit's own
        buffer): θ += (-α g), two in-place calls and no temporary α g, the same numbers."""
        np.add(theta, np.multiply(grad, -self.lr, grad), theta)


class SGD(SteepestDescent):
    """θ_{t+1} = θ_t - α ∇ℓ_{B_t}(θ_t): stochastic gradient descent, fixed step α = ``lr``.

    ∇ℓ_{B_t} is the gradient of the mean loss over the mini-batch B_t; :func:`backprop.fit`
    draws the batches. The default α = 0.005 is the course's polynomial-regression example.
    """

    name = "sgd"

    def __init__(self, lr: float = 0.005):
        super().__init__(lr)


class BarzilaiBorwein(Optimizer):
    """θ_{t+1} = θ_t - α_t ∇ℓ_τ(θ_t) with the Barzilai-Borwein step size α_t.

    α_0 = ``lr0``; afterwards, with Δθ = θ_t - θ_{t-1} and Δg = ∇ℓ_τ(θ_t) - ∇ℓ_τ(θ_{t-1}),

        α_t = (Δθ · Δg) / (Δg · Δg)

    (the second, "short" BB step; the other is (Δθ · Δθ) / (Δθ · Δg), which is longer).
    α_t fits a scalar multiple of the identity to the secant equation α Δg ≈ Δθ. Guard:
    when Δg · Δg = 0 (the gradient did not change), Δθ · Δg <= 0 (no positive curvature
    along the step, possible on a non-convex loss), or α_t is not finite, the step falls
    back to α_t = ``lr0``. The test is done with array operations, not on the host.
    Meant for full-batch gradients: with mini-batches Δg mixes two different batches.
    """

    name = "barzilai_borwein"
    full_batch = True
    hyperparameters = ("lr0",)
    state = ("theta_prev", "grad_prev")

    def __init__(self, lr0: float = 1e-3):
        super().__init__()
        self.lr0 = _check_positive(lr0, "lr0")

    def update(self, net, grad) -> None:
        xp, theta = net.xp, net.theta_buffer
        if self.theta_prev is None:
            step = self.lr0 * grad
        else:
            d_theta = theta - self.theta_prev
            d_grad = grad - self.grad_prev
            num = xp.sum(d_theta * d_grad)
            den = xp.sum(d_grad * d_grad)
            ok = (den > 0) & (num > 0)
            alpha = num / xp.where(ok, den, xp.ones_like(den))
            ok = ok & xp.isfinite(alpha)
            alpha = xp.where(ok, alpha, xp.full_like(alpha, self.lr0))
            step = alpha * grad
        self.theta_prev = xp.asarray(theta, copy=True)
        self.grad_prev = xp.asarray(grad, copy=True)
        net.theta_buffer -= step


class Momentum(Optimizer):
    """θ_{t+1} = θ_t + v_{t+1}, with v_{t+1} = β v_t - α ∇ℓ(θ_t) and v_0 = 0 (heavy ball).

    The velocity v keeps a decaying sum of past steps, β = ``beta`` its decay per step and
    α = ``lr`` the step size; β = 0 gives plain (stochastic) gradient descent. Defaults:
    α = 0.005 (SGD's), β = 0.9.
    """

    name = "momentum"
    hyperparameters = ("lr", "beta")
    state = ("v",)

    def __init__(self, lr: float = 0.005, beta: float = 0.9):
        super().__init__()
        self.lr = _check_positive(lr, "lr")
        self.beta = _check_beta(beta, "beta")

    def update(self, net, grad) -> None:
        if self.v is None:
            self.v = self._zeros(net)
        self.v *= self.beta
        self.v -= self.lr * grad
        net.theta_buffer += self.v


class Adam(Optimizer):
    """θ_{t+1} = θ_t - α m̂_{t+1} / (√v̂_{t+1} + ε): Adam (Kingma and Ba, 2015).

    With g = ∇ℓ(θ_t) and m_0 = v_0 = 0, t counted from 0:

        m_{t+1} = β_1 m_t + (1 - β_1) g             (first-moment estimate)
        v_{t+1} = β_2 v_t + (1 - β_2) g ⊙ g         (second-moment estimate)
        m̂_{t+1} = m_{t+1} / (1 - β_1^{t+1}),  v̂_{t+1} = v_{t+1} / (1 - β_2^{t+1})

    so the first step is θ_1 = θ_0 - α g / (|g| + ε): about α in every coordinate.
    α = ``lr``, β_1 = ``beta1``, β_2 = ``beta2``, ε = ``eps``.
    """

    name = "adam"
    hyperparameters = ("lr", "beta1", "beta2", "eps")
    state = ("m", "v")

    def __init__(
        self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ):
        super().__init__()
        self.lr = _check_positive(lr, "lr")
        self.beta1 = _check_beta(beta1, "beta1")
        self.beta2 = _check_beta(beta2, "beta2")
        self.eps = _check_positive(eps, "eps")

    def update(self, net, grad) -> None:
        xp = net.xp
        if self.m is None:
            self.m, self.v = self._zeros(net), self._zeros(net)
        b1, b2 = self.beta1, self.beta2
        self.m *= b1
        self.m += (1.0 - b1) * grad
        self.v *= b2
        self.v += (1.0 - b2) * (grad * grad)
        k = self.t + 1
        # α m̂ / (√v̂ + ε) with the bias corrections as Python floats (no device scalars).
        step_size = self.lr / (1.0 - b1**k)
        root_bc2 = math.sqrt(1.0 - b2**k)
        net.theta_buffer -= step_size * self.m / (xp.sqrt(self.v) / root_bc2 + self.eps)


def scipy_minimize():
    """scipy.optimize.minimize, or a ModuleNotFoundError that says SciPy is needed and how
    to install it (SciPy is an optional dependency, imported only here)."""
    try:
        from scipy.optimize import minimize
    except ImportError as err:
        raise ModuleNotFoundError(
            "optimizer 'lbfgs' (backprop.LBFGS) runs SciPy's L-BFGS-B "
            "(scipy.optimize.minimize), and scipy could not be imported; install it with "
            "`pip install scipy` (or the package's extra: `pip install 'backprop-book[lbfgs]'`)",
            name="scipy",
        ) from err
    return minimize


class LBFGS(Optimizer):
    """L-BFGS: θ_{t+1} = θ_t - α_t H_t ∇ℓ_τ(θ_t), H_t built from the last m pairs (Δθ, Δg).

    A quasi-Newton method: H_t approximates the inverse Hessian from the secant pairs
    s_k = θ_{k+1} - θ_k, y_k = ∇ℓ_τ(θ_{k+1}) - ∇ℓ_τ(θ_k) of the last m steps (the two-loop
    recursion), and α_t comes from a line search (Moré-Thuente, strong Wolfe conditions), so
    an iteration may spend several gradients. It runs SciPy's implementation,
    ``scipy.optimize.minimize(fun, θ_0, jac=True, method="L-BFGS-B")`` on the flat θ in
    float64 (scikit-learn's MLP solver="lbfgs" does the same), with ``fun(θ) = (ℓ_τ, ∇ℓ_τ)``
    from one forward and one backward pass.

    Full-batch only: ``fit`` refuses a batch_size. It makes its own iterations, so
    ``step`` is refused; ``fit`` fills the History after each iteration (SciPy's callback).
    It may end before the stopping rule when SciPy's own tests hold: max_k |∂ℓ_τ/∂θ_k| <=
    ``gtol``, or a relative decrease of ℓ_τ below ``ftol`` (``history.converged``), or
    after ``max_evaluations`` gradients. m = ``m`` (SciPy's maxcor). SciPy is an optional
    dependency: without it, LBFGS() raises ModuleNotFoundError saying how to install it.
    """

    name = "lbfgs"
    full_batch = True
    drives_loop = True
    hyperparameters = ("m", "gtol", "ftol", "max_evaluations")

    def __init__(self, m: int = 10, gtol: float = 1e-5, ftol: float = 2.220446049250313e-09,
                 max_evaluations: int = 15000):
        scipy_minimize()  # fail here, before any training, when SciPy is missing
        super().__init__()
        self.m = check.check_int(m, "m", minimum=1)
        self.gtol = check.check_nonnegative(gtol, "gtol")
        self.ftol = check.check_nonnegative(ftol, "ftol")
        self.max_evaluations = check.check_int(max_evaluations, "max_evaluations", minimum=1)

    def update(self, net, grad) -> None:
        raise TypeError(
            "LBFGS makes its iterations inside scipy.optimize.minimize (each one a line "
            "search, possibly several gradients), not one step per gradient: train with "
            "bp.fit(net, X, y, optimizer='lbfgs', iterations=...)"
        )

    def minimize(self, fun, theta0, iterations: int, callback):
        """SciPy's result of L-BFGS-B on ``fun(θ) -> (ℓ, ∇ℓ)`` from θ_0 (float64 NumPy), at
        most ``iterations`` iterations, ``callback(intermediate_result)`` after each one."""
        minimize = scipy_minimize()
        return minimize(fun, theta0, jac=True, method="L-BFGS-B", callback=callback,
                        options={"maxiter": iterations, "maxcor": self.m, "gtol": self.gtol,
                                 "ftol": self.ftol, "maxfun": self.max_evaluations})


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "steepest_descent": SteepestDescent,
    "sgd": SGD,
    "barzilai_borwein": BarzilaiBorwein,
    "momentum": Momentum,
    "adam": Adam,
    "lbfgs": LBFGS,
}


def get_optimizer(optimizer) -> Optimizer:
    """An Optimizer instance: ``optimizer`` itself, or ``OPTIMIZERS[name]()`` for a name.

    Every name gives its class with the documented defaults (SGD, SteepestDescent and
    Momentum: lr = 0.005; Adam: lr = 1e-3; BarzilaiBorwein: lr0 = 1e-3; LBFGS: m = 10,
    SciPy's tolerances).
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {optimizer!r}")
        return OPTIMIZERS[optimizer]()
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be an instance such as {optimizer.__name__}(...), not the class"
        )
    raise TypeError(
        f"optimizer must be a backprop.optim.Optimizer (SGD, Adam, ...) or one of "
        f"{sorted(OPTIMIZERS)}; got {type(optimizer).__name__}"
    )
