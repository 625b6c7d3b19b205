"""The numbers of the book's explorable figures, computed by the package, and the cell output
that puts one on a page.

An explorable figure is a static figure's interactive twin: the chapter keeps its static
figure (for print, the PDF and readers without JavaScript) and adds one cell::

    data = bp.explorables.algorithm1_trace(net, x, y)      # every number the figure shows
    bp.explorables.show("alg1-steps", data, "Algorithm 1, step by step", alt="...")

``show`` writes ``_static/explorables/<name>.json`` beside the notebook when that folder is
there (in the book's sources; a reader's copy of a notebook has none and writes nothing) and
displays a placeholder, ``<div data-explorable="<name>">``. The book's build gives each page
with a placeholder the scripts ``explorables/explorable.js`` and ``explorables/<name>.js``
(``book/_ext/book_explorables.py``); the second draws the figure from the JSON and does no
arithmetic on the numbers it shows, so what a reader sees is what the package computed.
A fourth figure is a builder here (or any dict of numbers), one ``show`` call and one script.

The builders below return plain dicts of Python numbers and lists (JSON as it is).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np

from .activations import ACTIVATIONS
from .backend import to_numpy
from .finite_differences import numerical_gradient

FOLDER = Path("_static") / "explorables"
# A file whose numbers agree with new ones to this relative size is left as it is: the two
# arithmetics under which nbval runs the chapters differ in the last bits of a sum (by up to
# 7e-13 in the saturation figure's deep tanh networks at large weights, where the error grows
# a thousandfold), and the file, committed and shipped by the book built from stored outputs,
# should not change with them. The browser test holds the shown numbers to the package's.
REWRITE_RTOL = 1e-10

PLACEHOLDER = (
    '<div class="book-explorable" data-explorable="{name}" role="group" aria-label="{label}">'
    '<p class="book-explorable-alt">{alt}<span class="book-explorable-nojs"> (The interactive '
    "version of this figure needs JavaScript; the static figure beside it shows the same.)"
    "</span></p></div>"
)


def _number(v):
    """A Python int or float from a NumPy (or backend) scalar, an int where it is whole."""
    v = float(to_numpy(v))
    if not math.isfinite(v):
        raise ValueError(f"an explorable figure's numbers must be finite; got {v}")
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def _numbers(array) -> list:
    """A nested list of Python numbers from an array."""
    array = np.asarray(to_numpy(array), dtype=float)
    if array.ndim == 0:
        return _number(array)
    return [_numbers(row) for row in array]


def _geometric_mean(values) -> float:
    """(Π v_i)^(1/n), the mean factor per layer of a product of n factors; 0 if one is 0."""
    return _number(math.exp(np.mean(np.log(values)))) if min(values) > 0 else 0


def same_numbers(old, new, rtol: float = REWRITE_RTOL) -> bool:
    """Whether two JSON values have the same structure, equal strings and numbers within rtol.

    |old - new| <= rtol · max(|old|, |new|) for every pair of numbers; the rest is ==.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(same_numbers(old[k], new[k], rtol) for k in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(
            same_numbers(a, b, rtol) for a, b in zip(old, new, strict=True))
    numeric = (int, float)
    if isinstance(old, numeric) and isinstance(new, numeric) and not isinstance(old, bool):
        return abs(old - new) <= rtol * max(abs(old), abs(new))
    return old == new


def show(name: str, data: dict, title: str, alt: str, folder=FOLDER) -> None:
    """Write ``data`` to ``folder/<name>.json`` and display the figure's placeholder.

    The file is written only when ``folder`` exists (the book's ``book/_static/explorables``,
    seen from a chapter's folder) and only when its numbers changed by more than rounding
    (``same_numbers``); the output is the same text on every machine. ``title`` names the
    figure (its accessible name); ``alt`` describes it in words: the placeholder's text,
    kept as the figure's caption, and the cell's text/plain output.
    """
    if not (isinstance(name, str) and name.replace("-", "").isalnum() and name.islower()):
        raise ValueError(f"name must be lower-case letters, digits and '-'; got {name!r}")
    folder = Path(folder)
    if folder.is_dir():
        path = folder / f"{name}.json"
        text = json.dumps(data, separators=(",", ":"), allow_nan=False) + "\n"
        if not (path.is_file() and same_numbers(json.loads(path.read_text("utf-8")), data)):
            path.write_text(text, encoding="utf-8")
    snippet = PLACEHOLDER.format(name=name, alt=html.escape(alt),
                                 label=html.escape(f"Interactive figure: {title}"))
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: there is no notebook to show it in
        return
    if get_ipython() is not None:
        display({"text/html": snippet, "text/plain": alt}, raw=True)


# --------------------------------------------------------------- Algorithm 1, step by step


def algorithm1_trace(net, x, y) -> dict:
    """Algorithm 1 on one example as a list of steps, each the line it runs and what it sets.

    The forward pass fills z_l (line 3) and a_l = S_l(z_l) (line 4) one unit at a time, line
    5 gives δ_L, and for l = L, ..., 1 lines 8-10 give ∂C/∂b_l = δ_l, ∂C/∂W_l = δ_l a_{l-1}^T
    and δ_{l-1} = S'(z_{l-1}) ⊙ W_l^T δ_l, unit by unit. Every number is the package's:
    z_l and a_l from ``net.forward``, the derivatives from ``bp.algorithm1``, S' from the
    activation table. A key names one number: ``z1_2`` is z_{1,2} (1-based units), ``dW2_1_3``
    is ∂C/∂W_2[1, 3]. x: (p_0,), y: (p_L,) (a network with an element-wise output layer).
    """
    from .gradients import algorithm1

    x = np.asarray(x, dtype=float)
    zs, activations = net.forward(x[None, :])
    dC_dW, dC_db, g = algorithm1(net, x, y)
    L, p = net.L, list(net.p)
    z = {l: to_numpy(zs[l - 1])[0] for l in range(1, L + 1)}
    a = {l: to_numpy(activations[l])[0] for l in range(L + 1)}
    S_prime = {l: to_numpy(net.S(l).S_prime(z[l])) for l in range(1, L)}
    cost = net.loss(x[None, :], np.asarray(y, dtype=float)[None, :])
    steps = [{"line": 1, "l": 0, "set": {f"a0_{k}": _number(a[0][k - 1])
                                          for k in range(1, p[0] + 1)}}]
    for l in range(1, L + 1):
        steps += [{"line": 3, "l": l, "unit": j, "set": {f"z{l}_{j}": _number(z[l][j - 1])}}
                  for j in range(1, p[l] + 1)]
        steps += [{"line": 4, "l": l, "unit": j, "set": {f"a{l}_{j}": _number(a[l][j - 1])}}
                  for j in range(1, p[l] + 1)]
    steps.append({"line": 5, "l": L, "set": {**{f"d{L}_{j}": _number(dC_db[L - 1][j - 1])
                                                for j in range(1, p[L] + 1)},
                                             "C": _number(cost)}})
    steps.append({"line": 6, "l": 0, "set": {}})
    for l in range(L, 0, -1):
        steps.append({"line": 8, "l": l, "set": {f"db{l}_{j}": _number(dC_db[l - 1][j - 1])
                                                 for j in range(1, p[l] + 1)}})
        steps.append({"line": 9, "l": l, "set": {
            f"dW{l}_{j}_{k}": _number(dC_dW[l - 1][j - 1, k - 1])
            for j in range(1, p[l] + 1) for k in range(1, p[l - 1] + 1)}})
        if l > 1:
            steps += [{"line": 10, "l": l, "unit": j,
                       "set": {f"s{l - 1}_{j}": _number(S_prime[l - 1][j - 1]),
                               f"d{l - 1}_{j}": _number(dC_db[l - 2][j - 1])}}
                      for j in range(1, p[l - 1] + 1)]
        else:  # δ_0 is computed and thrown away: nothing to show
            steps.append({"line": 10, "l": 1, "set": {}})
    steps.append({"line": 11, "l": 0, "set": {"g": _number(to_numpy(g)[0])}})
    return {
        "p": p,
        "hidden": net.hidden[0],
        "W": [_numbers(W) for W in net.W],
        "b": [_numbers(b) for b in net.b],
        "y": _numbers(np.asarray(y, dtype=float)),
        "steps": steps,
    }


# ------------------------------------------------------------------------- nudge a weight


def nudge_curves(net, X, y, weights, values, h: float) -> dict:
    """C(θ) along one weight at a time, its slope by back-propagation, and central differences.

    For each (l, j, k) in ``weights`` (lecture layer l, 1-based unit j and input k) and each
    t in ``values``, with W_l[j, k] set to t and every other parameter kept: the loss C(t)
    (``net.loss_at``), δ_l[j] and a_{l-1}[k] (``net.deltas``, ``net.forward``), the slope
    ∂C/∂W_l[j, k] = δ_l[j] a_{l-1}[k] (the package's ``net.gradient``), the central
    difference (C(t + h_t) - C(t - h_t)) / (2 h_t) with h_t = h · max(1, |t|)
    (``bp.numerical_gradient``), and z_{l,j}; for a ReLU layer, the kinks: the t where
    z_{l,j} = 0 (affine in t, so found between two grid points by linear interpolation).
    X: one example as a batch (1, p_0), so that the training loss is the cost C.
    """
    values = [float(t) for t in values]
    curves = []
    for l, j, k in weights:
        trial = net.copy(kernel=False)  # the readable batch form: δ a to the last bit
        base = trial.theta.copy()
        index = trial.layer_slices()[l - 1][0].start + (j - 1) * net.p[l - 1] + (k - 1)
        curve = {"l": l, "j": j, "k": k, "value": _number(net.W[l - 1][j - 1, k - 1]),
                 "C": [], "delta": [], "a": [], "slope": [], "cd": [], "z": [], "kinks": []}

        def cost(v, base=base, index=index, trial=trial):
            theta = base.copy()
            theta[index] = v[0]
            return trial.loss_at(theta, X, y)

        for t in values:
            trial.W[l - 1][j - 1, k - 1] = t
            zs, activations = trial.forward(X)
            delta = to_numpy(trial.deltas(X, y)[l - 1])[0, j - 1]
            a_in = to_numpy(activations[l - 1])[0, k - 1]
            slope = to_numpy(trial.gradient(X, y))[index]
            if slope != delta * a_in:  # the theorem, for n = 1, to the last bit here
                raise AssertionError(f"dC/dW_{l}[{j},{k}] = {slope} != δ a = {delta * a_in}")
            curve["C"].append(_number(trial.loss(X, y)))
            curve["delta"].append(_number(delta))
            curve["a"].append(_number(a_in))
            curve["slope"].append(_number(slope))
            curve["cd"].append(_number(numerical_gradient(cost, np.array([t]), h=h)[0]))
            curve["z"].append(_number(to_numpy(zs[l - 1])[0, j - 1]))
        if l < net.L and net.hidden[l - 1] == "relu":  # where unit j switches: z_{l,j} = 0
            z, t = curve["z"], values
            curve["kinks"] = [_number(t[i]) for i in range(len(t)) if z[i] == 0] + [
                _number(t[i - 1] + (t[i] - t[i - 1]) * z[i - 1] / (z[i - 1] - z[i]))
                for i in range(1, len(t)) if z[i - 1] * z[i] < 0]
        curves.append(curve)
    return {"values": [_number(t) for t in values], "h": _number(h), "hidden": net.hidden[0],
            "p": list(net.p), "curves": curves}


# --------------------------------------------------------------------------- saturation


def saturation_grid(X, y, p, hidden, sigmas, marks=None, seed: int = 0, bins: int = 10) -> dict:
    """‖δ_l‖ per layer, the distribution of S'(z_l) and the variance rule, on a grid of σ_w.

    For each activation in ``hidden`` and each σ_w in ``sigmas``: a network of widths p whose
    weights are W_l = σ_w √(p_1 / p_{l-1}) G_l (the same standard normal G_l for every
    network, so a hidden layer of width p_1 has standard deviation σ_w) and zero biases.
    Returned per network: the RMS over examples of ‖δ_l‖ (l = 1..L, ``net.deltas``); the
    counts of S'(z_l)/max S' in ``bins`` equal bins of [0, 1] for each hidden layer; and the
    variance rule Var δ_{l-1} ≈ p_l σ_l² E[S'(z_{l-1})²] Var δ_l as the RMS size it predicts
    from ‖δ_L‖ down (‖δ_l‖² sums p_l unit variances), and the factor per hidden layer, the
    rule's and the measured Var δ_{l-1} / Var δ_l, as geometric means over l = 2..L-1.
    marks: {name: σ_w} of scales to mark on the slider; each must be one of ``sigmas``.
    """
    from .network import Network

    X = np.asarray(X, dtype=float)
    rng = np.random.default_rng(seed)
    G = [rng.standard_normal((p[l], p[l - 1])) for l in range(1, len(p))]
    L = len(p) - 1
    sigmas = [float(s) for s in sigmas]
    where = {}
    for name, value in (marks or {}).items():
        found = [i for i, s in enumerate(sigmas) if math.isclose(s, value, rel_tol=1e-12)]
        if not found:
            raise ValueError(f"the mark {name!r} (σ_w = {value}) is not on the grid of σ_w")
        where[name] = found[0]
    result = {"p": list(p), "sigmas": [_number(s) for s in sigmas], "bins": bins,
              "hidden": list(hidden), "marks": [[n, i] for n, i in where.items()], "nets": {}}
    for name in hidden:
        S_max = float(np.max(ACTIVATIONS[name].S_prime(np.array([0.0, 1.0]))))
        rows = []
        for sigma in sigmas:
            net = Network(p, hidden=name, output="identity", seed=seed)
            scale = [sigma * math.sqrt(p[1] / p[l - 1]) for l in range(1, L + 1)]
            for l in range(1, L + 1):
                net.W[l - 1] = scale[l - 1] * G[l - 1]
                net.b[l - 1] = np.zeros(p[l])
            Deltas = [to_numpy(D) for D in net.deltas(X, y)]
            zs, _ = net.forward(X)
            S_prime = [to_numpy(net.S(l).S_prime(zs[l - 1])) for l in range(1, L)]
            rms = [math.sqrt(float(np.mean(np.sum(D**2, axis=1)))) for D in Deltas]
            factor = [p[l] * scale[l - 1] ** 2 * float(np.mean(S_prime[l - 2] ** 2))
                      for l in range(2, L + 1)]  # Var δ_{l-1} / Var δ_l by the rule
            measured = [float(np.mean(Deltas[l - 2] ** 2) / np.mean(Deltas[l - 1] ** 2))
                        for l in range(2, L + 1)]
            # The rule is about the variance of one unit's error; ‖δ_l‖² sums p_l of them.
            rule = [rms[-1]]
            for l in range(L, 1, -1):  # from δ_L down to δ_1
                rule.insert(0, rule[0] * math.sqrt(factor[l - 2] * p[l - 1] / p[l]))
            hidden_steps = slice(0, L - 2)  # l = 2..L-1: from one hidden layer to the next
            counts = [np.histogram(np.clip(s / S_max, 0, 1), bins=bins, range=(0, 1))[0]
                      for s in S_prime]
            rows.append({
                "rms": [_number(r) for r in rms],
                "rule": [_number(r) for r in rule],
                "hist": [_numbers(c) for c in counts],
                "factor": _geometric_mean(factor[hidden_steps]),
                "measured": _geometric_mean(measured[hidden_steps]),
            })
        result["nets"][name] = rows
    return result
