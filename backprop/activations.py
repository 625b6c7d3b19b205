"""Element-wise activation functions S and their derivatives S'.

One table, ``ACTIVATIONS``, maps a name to an :class:`Activation` holding S, S' and S'
written through the output a = S(z) (which the batch gradient uses, since it keeps the a_l
of the forward pass anyway). Adding an activation is one entry and one test (the NumPy
kernel's in-place forms, keyed by name, are optional).

Softmax is not element-wise, so it is not here: it is an *output head* (see ``losses``).

Convention at the ReLU kink: S'(0) = 0, a value in ReLU's subdifferential [0, 1]. The
gradient formulas hold wherever every S_l is differentiable at z_l; at a kink the result
depends on the convention, and it can differ from the loss's true derivative even where
that exists (chapter 6). Kinks are met with probability zero for continuous data and θ.

S_second (S'') serves the Hessian-vector products of ``hessian.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from array_api_compat import array_namespace


def identity(xp, z):
    return z


def identity_prime(xp, z):
    return xp.ones_like(z)


def logistic(xp, z):
    # exp(-|z|) never overflows, so |z| up to 1e4 gives no warning and no inf.
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def logistic_prime(xp, z):
    s = logistic(xp, z)
    return s * (1 - s)


def logistic_prime_from_a(xp, a):
    return a * (1 - a)


def relu(xp, z):
    return xp.maximum(z, 0.0)


def relu_prime(xp, z):
    return xp.astype(z > 0, z.dtype)


def relu_prime_from_a(xp, a):
    # a = max(z, 0) > 0 exactly when z > 0, so this equals relu_prime(z).
    return xp.astype(a > 0, a.dtype)


def tanh(xp, z):
    return xp.tanh(z)


def tanh_prime(xp, z):
    t = xp.tanh(z)
    return 1 - t * t


def tanh_prime_from_a(xp, a):
    return 1 - a * a


# S''(z), for the Hessian-vector product (hessian.py). ReLU's is 0 wherever it is defined.
def zero_second(xp, z):
    return xp.zeros_like(z)


def logistic_second(xp, z):
    s = logistic(xp, z)
    return s * (1 - s) * (1 - 2 * s)


def tanh_second(xp, z):
    t = xp.tanh(z)
    return -2 * t * (1 - t * t)


@dataclass(frozen=True)
class Activation:
    """An element-wise activation: S(z), S'(z) and S' written in terms of a = S(z).

    Call ``act.S(z)`` and ``act.S_prime(z)`` with an array of any backend; the namespace
    is found from the array. The ``*_xp`` fields take the namespace first and are what the
    package uses inside loops.
    """

    name: str
    S_xp: Callable
    S_prime_xp: Callable
    S_prime_from_a_xp: Callable
    S_second_xp: Callable | None = None  # (xp, z) -> S''(z), for Hessian-vector products

    def S(self, z):
        """a = S(z), applied element by element."""
        return self.S_xp(array_namespace(z), z)

    def S_prime(self, z):
        """S'(z), element by element: the diagonal of D_l = diag(S'(z_l))."""
        return self.S_prime_xp(array_namespace(z), z)

    def S_prime_from_a(self, a):
        """S'(z) computed from a = S(z) (no second pass over z)."""
        return self.S_prime_from_a_xp(array_namespace(a), a)

    def S_second(self, z):
        """S''(z), element by element (0 for ReLU away from its kink)."""
        return self.S_second_xp(array_namespace(z), z)


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation("identity", identity, identity_prime, identity_prime, zero_second),
    "logistic": Activation(
        "logistic", logistic, logistic_prime, logistic_prime_from_a, logistic_second
    ),
    "relu": Activation("relu", relu, relu_prime, relu_prime_from_a, zero_second),
    "tanh": Activation("tanh", tanh, tanh_prime, tanh_prime_from_a, tanh_second),
}
ALIASES = {"sigmoid": "logistic"}


def get_activation(name: str, argument: str = "activation") -> Activation:
    """The table entry for ``name`` (aliases allowed); a clear error for anything else."""
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be an activation name (str); got {type(name).__name__}")
    key = ALIASES.get(name, name)
    if key not in ACTIVATIONS:
        known = sorted(ACTIVATIONS) + sorted(ALIASES)
        raise ValueError(f"{argument} must be one of {known}; got {name!r}")
    return ACTIVATIONS[key]
