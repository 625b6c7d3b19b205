"""Output layers S_L, losses C = Loss(y, g), and the output-layer error δ_L.

Two tables:

* ``OUTPUTS``: name -> :class:`Output`, the map g = S_L(z_L), the product (∂S_L/∂z_L) v,
  and what second derivatives need: ġ = J ż and the derivative of J^T u along ż. Element-wise
  outputs come from the activation table; ``softmax`` and ``softmax_reduced`` (K classes from
  K-1 logits, the logit of class 0 fixed at 0) are not element-wise, so their ∂S_L/∂z_L is a
  full matrix, applied here without forming it.
* ``LOSSES``: name -> :class:`Loss`, its value per example, ∂C/∂g, its curvature
  (∂²C/∂g²) ġ, and per output the fused closed forms of δ_L and of its tangent:
  ``squared_error``, ``cross_entropy`` (softmax heads, class labels) and
  ``binary_cross_entropy`` (sigmoid outputs, a 0/1 target per output: multi-label).

Every rule of an output layer or a loss lives in its entry here: the gradient, the
Hessian-vector product (``hessian.py``), the tape (``autodiff.py``) and the NumPy kernel
read them from these tables, so a new entry works everywhere at once. The ``*_tape`` fields
build the same maps from :class:`~backprop.autodiff.Tensor` operations.

A batch has one example per row: Z has shape (n, p_L), G and Y (n, K), where K = p_L except
for ``softmax_reduced`` (K = p_L + 1). Class labels enter as one-hot rows of Y (e_{y+1}).

The lecture's ∂S_L/∂z_L is the transpose of the Jacobian of S_L (its layout puts the
variable we differentiate by in the rows), so δ_L = (∂S_L/∂z_L)(∂C/∂g) = J^T (∂C/∂g).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from array_api_compat import array_namespace

from .activations import ACTIVATIONS, ALIASES, Activation

# ----------------------------------------------------------------------------- outputs


def log_softmax(xp, Z):
    """ln g for g = softmax(z), one row per example, through log-sum-exp.

    ln g_k = z_k - m - ln Σ_j exp(z_j - m) with m = max_j z_j, so nothing overflows:
    logits of ±1e4 give finite values.
    """
    m = xp.max(Z, axis=1, keepdims=True)
    shifted = Z - m
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def softmax(xp, Z):
    """g = exp(z) / Σ_k exp(z_k), row by row, computed as exp(z - max z) / Σ exp(z - max z)."""
    E = xp.exp(Z - xp.max(Z, axis=1, keepdims=True))
    return E / xp.sum(E, axis=1, keepdims=True)


def _full_logits(xp, Z):
    """[0, z_1, ..., z_{K-1}]: the K logits of a reduced softmax, class 0's fixed at 0."""
    return xp.concat([xp.zeros((Z.shape[0], 1), dtype=Z.dtype), Z], axis=1)


def _softmax_vjp(xp, G, V):
    # J^T v for J = diag(g) - g g^T (symmetric, so also J v = ġ): g ⊙ (v - <g, v>), O(K).
    return G * (V - xp.sum(G * V, axis=1, keepdims=True))


def _softmax_vjp_dot(xp, G, Gdot, U):
    # J^T u = g ⊙ (u - <g, u>); its derivative along ż, u fixed: ġ ⊙ (u - <g, u>) - g <ġ, u>
    return (Gdot * (U - xp.sum(G * U, axis=1, keepdims=True))
            - G * xp.sum(Gdot * U, axis=1, keepdims=True))


def _reduced_logits_tape(Z):
    # [0, z] as z times the constant (p_L, K) matrix [0 | I], which the tape can differentiate.
    xp, p_L = Z.xp, Z.shape[1]
    P = xp.concat([xp.zeros((p_L, 1), dtype=Z.data.dtype), xp.eye(p_L, dtype=Z.data.dtype)],
                  axis=1)
    return Z @ P


def _softmax_tape(logits_tape):
    def S_tape(Z):  # g = exp(z - ln Σ exp z), from the K logits
        logits = logits_tape(Z)
        return (logits - logits.logsumexp(axis=1)).exp()

    return S_tape


@dataclass(frozen=True)
class Output:
    """An output layer g = S_L(z_L) and the product (∂S_L/∂z_L) v, one row per example."""

    name: str
    S_xp: Callable  # (xp, Z) -> G
    vjp_xp: Callable  # (xp, Z, G, V) -> (∂S_L/∂z_L) V, shape of Z
    jvp_xp: Callable  # (xp, Z, G, Zdot) -> ġ = J ż, shape of G
    vjp_dot_xp: Callable  # (xp, Z, G, Zdot, Gdot, U) -> d/dt of J^T U along ż, U fixed
    S_tape: Callable  # Tensor Z -> Tensor G
    extra_class: int = 0  # K = p_L + extra_class
    activation: Activation | None = None  # the element-wise S_L, if it is one
    logits_xp: Callable | None = None  # (xp, Z) -> the K logits, for softmax heads
    logits_tape: Callable | None = None  # Tensor Z -> Tensor of the K logits

    def n_outputs(self, p_L: int) -> int:
        """K, the length of g: p_L, or p_L + 1 for the reduced softmax."""
        return p_L + self.extra_class

    def S(self, Z):
        """g = S_L(z_L), one row per example (any backend)."""
        return self.S_xp(array_namespace(Z), Z)

    def S_prime(self, Z):
        """S_L'(z_L) element by element, for an element-wise output; a softmax has a full
        Jacobian instead, applied to a vector by ``vjp_xp``."""
        if self.activation is None:
            raise TypeError(
                f"output {self.name!r} is not element-wise: its derivative is the matrix "
                f"∂S_L/∂z_L, applied as (∂S_L/∂z_L) v by vjp_xp(xp, Z, G, V)"
            )
        return self.activation.S_prime(Z)


def elementwise_output(act: Activation) -> Output:
    """The output S_L = S applied element by element: J = diag(S'(z)), so ġ = S'(z) ⊙ ż,
    and the derivative of J^T u = S'(z) ⊙ u along ż is S''(z) ⊙ ż ⊙ u."""
    return Output(
        name=act.name,
        S_xp=act.S_xp,
        vjp_xp=lambda xp, Z, G, V: act.S_prime_xp(xp, Z) * V,
        jvp_xp=lambda xp, Z, G, Zdot: act.S_prime_xp(xp, Z) * Zdot,
        vjp_dot_xp=lambda xp, Z, G, Zdot, Gdot, U: act.S_second_xp(xp, Z) * Zdot * U,
        S_tape=lambda Z: Z.apply(act),
        activation=act,
    )


OUTPUTS: dict[str, Output] = {name: elementwise_output(act) for name, act in ACTIVATIONS.items()}
OUTPUTS["softmax"] = Output(
    name="softmax",
    S_xp=softmax,
    vjp_xp=lambda xp, Z, G, V: _softmax_vjp(xp, G, V),
    jvp_xp=lambda xp, Z, G, Zdot: _softmax_vjp(xp, G, Zdot),  # J is symmetric
    vjp_dot_xp=lambda xp, Z, G, Zdot, Gdot, U: _softmax_vjp_dot(xp, G, Gdot, U),
    S_tape=_softmax_tape(lambda Z: Z),
    logits_xp=lambda xp, Z: Z,
    logits_tape=lambda Z: Z,
)
OUTPUTS["softmax_reduced"] = Output(
    name="softmax_reduced",
    S_xp=lambda xp, Z: softmax(xp, _full_logits(xp, Z)),
    # g depends on z_2..z_K only; drop the row of class 0's fixed logit.
    vjp_xp=lambda xp, Z, G, V: _softmax_vjp(xp, G, V)[:, 1:],
    jvp_xp=lambda xp, Z, G, Zdot: _softmax_vjp(xp, G, _full_logits(xp, Zdot)),
    vjp_dot_xp=lambda xp, Z, G, Zdot, Gdot, U: _softmax_vjp_dot(xp, G, Gdot, U)[:, 1:],
    S_tape=_softmax_tape(_reduced_logits_tape),
    extra_class=1,
    logits_xp=_full_logits,
    logits_tape=_reduced_logits_tape,
)


def get_output(name: str) -> Output:
    """The output-layer table entry for ``name`` ('sigmoid' is an alias of 'logistic')."""
    if not isinstance(name, str):
        raise TypeError(f"output must be an output-layer name (str); got {type(name).__name__}")
    key = ALIASES.get(name, name)
    if key not in OUTPUTS and key in ACTIVATIONS:  # an activation added to the table since
        OUTPUTS[key] = elementwise_output(ACTIVATIONS[key])
    if key not in OUTPUTS:
        raise ValueError(f"output must be one of {sorted(OUTPUTS)}; got {name!r}")
    return OUTPUTS[key]


# ----------------------------------------------------------------------------- losses


def squared_error_value(xp, G, Y):
    R = Y - G
    return xp.sum(R * R, axis=1)


def squared_error_dC_dg(xp, G, Y):
    return 2 * (G - Y)


def cross_entropy_value(xp, G, Y):
    # The definition -ln g_{y+1}; the network evaluates it from logits instead (stable).
    return -xp.log(xp.sum(G * Y, axis=1))


def cross_entropy_dC_dg(xp, G, Y):
    # ∂(-ln g_{y+1})/∂g = -e_{y+1} / g_{y+1}.
    return -Y / G


def cross_entropy_curvature(xp, G, Y, Gdot):
    # ∂C/∂g = -e_{y+1} / g, so (∂²C/∂g²) ġ = e_{y+1} ⊙ ġ / g².
    return Y * Gdot / (G * G)


def squared_error_curvature(xp, G, Y, Gdot):
    # ∂C/∂g = 2(g - y), so (∂²C/∂g²) ġ = 2 ġ.
    return 2 * Gdot


def cross_entropy_from_logits(xp, logits, Y):
    """-ln g_{y+1} = -z_{y+1} + ln Σ_k exp(z_k), through log-sum-exp."""
    return -xp.sum(log_softmax(xp, logits) * Y, axis=1)


def binary_cross_entropy_value(xp, G, Y):
    # The definition -Σ_k [y_k ln g_k + (1 - y_k) ln(1 - g_k)]; the network evaluates it
    # from the logits instead (stable where g rounds to 0 or 1).
    return -xp.sum(Y * xp.log(G) + (1 - Y) * xp.log(1 - G), axis=1)


def binary_cross_entropy_dC_dg(xp, G, Y):
    # ∂C/∂g_k = -y_k / g_k + (1 - y_k) / (1 - g_k) = (g_k - y_k) / (g_k (1 - g_k)).
    return (G - Y) / (G * (1 - G))


def binary_cross_entropy_curvature(xp, G, Y, Gdot):
    # ∂²C/∂g_k² = y_k / g_k² + (1 - y_k) / (1 - g_k)², diagonal: times ġ element-wise.
    return (Y / (G * G) + (1 - Y) / ((1 - G) * (1 - G))) * Gdot


def binary_cross_entropy_from_logits(xp, Z, Y):
    """Σ_k [softplus(z_k) - y_k z_k], the binary cross-entropy of g = σ(z) from its logits.

    -ln σ(z) = softplus(-z) and -ln(1 - σ(z)) = softplus(z), and softplus(-z) = softplus(z) - z,
    so C = Σ_k [y_k softplus(-z_k) + (1 - y_k) softplus(z_k)] = Σ_k [softplus(z_k) - y_k z_k];
    softplus(z) = ln(1 + e^z) as logaddexp(0, z), finite for logits of ±1e4.
    """
    return xp.sum(xp.logaddexp(xp.zeros_like(Z), Z) - Y * Z, axis=1)


def binary_cross_entropy_tape(output, Z, Y):
    # Σ_k softplus(z_k) - y_k z_k from the logits, as binary_cross_entropy_from_logits
    return (Z.softplus() - Z * Y).sum(axis=1)


def fused_logistic_binary_cross_entropy(xp, Z, G, Y):
    # δ_L = σ'(z) ⊙ (g - y) / (g (1 - g)) = g - y, as for softmax with cross-entropy.
    return G - Y


def fused_tangent_logistic_binary_cross_entropy(xp, output, Z, G, Y, Zdot):
    # δ_L = g - y, whose derivative along ż is ġ = σ'(z) ⊙ ż (no 1/g², no 1/(1 - g)²).
    return output.jvp_xp(xp, Z, G, Zdot)


def squared_error_tape(output, Z, Y):
    R = output.S_tape(Z) - Y
    return (R * R).sum(axis=1)


def cross_entropy_tape(output, Z, Y):
    # ln Σ_k exp(z_k) - z_{y+1}, from the logits (log-sum-exp), as cross_entropy_from_logits
    logits = output.logits_tape(Z)
    return logits.logsumexp(axis=1, keepdims=False) - (logits * Y).sum(axis=1)


def fused_softmax_cross_entropy(xp, Z, G, Y):
    # δ_L,k = g_k - 1{y = k-1}  (the lecture's multi-logit slide).
    return G - Y


def fused_softmax_reduced_cross_entropy(xp, Z, G, Y):
    return (G - Y)[:, 1:]


def fused_tangent_softmax_cross_entropy(xp, output, Z, G, Y, Zdot):
    # δ_L = g - e_{y+1}, whose derivative along ż is ġ: stable where 1/g² would overflow.
    Gdot = output.jvp_xp(xp, Z, G, Zdot)
    return Gdot if output.extra_class == 0 else Gdot[:, 1:]


def fused_elementwise_squared_error(act):
    def fused(xp, Z, G, Y):
        # δ_L = S'_L(z_L) ⊙ 2(g - y)  (the lecture's multi-output regression slide).
        return act.S_prime_from_a_xp(xp, G) * (2 * (G - Y))

    return fused


@dataclass(frozen=True)
class Loss:
    """A loss C = Loss(y, g): its value per example, ∂C/∂g, (∂²C/∂g²) ġ, and per output
    the fused closed forms of δ_L and of its derivative along ż_L."""

    name: str
    value_xp: Callable  # (xp, G, Y) -> (n,)
    dC_dg_xp: Callable  # (xp, G, Y) -> (n, K)
    classification: bool
    curvature_xp: Callable | None = None  # (xp, G, Y, Gdot) -> (∂²C/∂g²) ġ: for H v
    value_tape: Callable | None = None  # (output, Tensor Z, Y) -> Tensor (n,): for the tape
    fused: dict = field(default_factory=dict)  # output name -> (xp, Z, G, Y) -> δ_L
    # output name -> (xp, output, Z, G, Y, Zdot) -> R{δ_L}, the derivative of δ_L along ż_L
    fused_tangent: dict = field(default_factory=dict)
    from_logits_xp: Callable | None = None  # (xp, logits, Y) -> (n,), the stable value
    # True: the targets are a 0/1 matrix (n, p_L), one column per label (multi-label)
    binary_targets: bool = False


LOSSES: dict[str, Loss] = {
    "squared_error": Loss(
        "squared_error",
        squared_error_value,
        squared_error_dC_dg,
        classification=False,
        curvature_xp=squared_error_curvature,
        value_tape=squared_error_tape,
        fused={name: fused_elementwise_squared_error(act) for name, act in ACTIVATIONS.items()},
    ),
    "cross_entropy": Loss(
        "cross_entropy",
        cross_entropy_value,
        cross_entropy_dC_dg,
        classification=True,
        curvature_xp=cross_entropy_curvature,
        value_tape=cross_entropy_tape,
        fused={"softmax": fused_softmax_cross_entropy,
               "softmax_reduced": fused_softmax_reduced_cross_entropy},
        fused_tangent={"softmax": fused_tangent_softmax_cross_entropy,
                       "softmax_reduced": fused_tangent_softmax_cross_entropy},
        from_logits_xp=cross_entropy_from_logits,
    ),
    # one sigmoid per output, each the probability that its label applies (multi-label, or
    # binary with p_L = 1); targets a 0/1 matrix, not class labels
    "binary_cross_entropy": Loss(
        "binary_cross_entropy",
        binary_cross_entropy_value,
        binary_cross_entropy_dC_dg,
        classification=False,
        curvature_xp=binary_cross_entropy_curvature,
        value_tape=binary_cross_entropy_tape,
        fused={"logistic": fused_logistic_binary_cross_entropy},
        fused_tangent={"logistic": fused_tangent_logistic_binary_cross_entropy},
        from_logits_xp=binary_cross_entropy_from_logits,
        binary_targets=True,
    ),
}


def get_loss(name: str) -> Loss:
    """The loss table entry for ``name``."""
    if not isinstance(name, str):
        raise TypeError(f"loss must be a loss name (str); got {type(name).__name__}")
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}; got {name!r}")
    return LOSSES[name]


# ----------------------------------------------------------------------------- δ_L


def output_delta_general(xp, output: Output, loss: Loss, Z, G, Y):
    """Output-layer error for a batch, by the general formula.

    Implements δ_L = (∂S_L/∂z_L)(∂C/∂g) (Algorithm 1, line 5) with no shortcut: ∂C/∂g from the
    loss table, then the output's product with ∂S_L/∂z_L (a Jacobian-vector product for
    softmax). Z: (n, p_L); G, Y: (n, K). Returns Delta: (n, p_L).
    """
    return output.vjp_xp(xp, Z, G, loss.dC_dg_xp(xp, G, Y))


def output_delta(xp, output: Output, loss: Loss, Z, G, Y):
    """Output-layer error for a batch, using the fused closed form when there is one.

    δ_L = g - e_{y+1} (softmax with cross-entropy), δ_L = g - y (sigmoid with binary
    cross-entropy) or δ_L = S'_L(z_L) ⊙ 2(g - y) (element-wise output with squared error);
    otherwise :func:`output_delta_general`.
    The fused forms are exact and also stable where ∂C/∂g alone would overflow.
    """
    fused = loss.fused.get(output.name)
    if fused is not None:
        return fused(xp, Z, G, Y)
    return output_delta_general(xp, output, loss, Z, G, Y)


def mean_loss(xp, output: Output, loss: Loss, Z, G, Y):
    """ℓ_τ = (1/n) Σ_i C_i (equation (1)) as a 0-D array, from z_L, g and the targets Y.

    Where the loss has a form in the logits (cross-entropy after a softmax, binary
    cross-entropy after a sigmoid), it is evaluated from z_L (through log-sum-exp or
    softplus), which stays finite where ln g would not. The logits of an element-wise
    output are z_L itself.
    """
    if loss.from_logits_xp is not None:
        logits = Z if output.logits_xp is None else output.logits_xp(xp, Z)
        return xp.mean(loss.from_logits_xp(xp, logits, Y))
    return xp.mean(loss.value_xp(xp, G, Y))
