"""The figures the book draws more than once: loss curves, fits, decision regions and
confusion matrices, and the stacked panels of its multi-panel figures (``panels``).

Each ``plot_*`` function draws on ``ax`` (a new figure of about book width when None),
labels its axes, and returns the Axes. matplotlib is imported inside the functions, so
``import backprop`` does not need it. Networks on any backend are accepted; their outputs
are copied to NumPy for drawing.
"""

from __future__ import annotations

import numpy as np

from .backend import to_numpy
from .metrics import confusion_matrix  # noqa: F401  (bp.plotting.confusion_matrix, as before)

# A figure of several panels stacks them in one column of this width (inches), so that it
# reads on a phone as well as on a wide screen: scaled to a 390-px phone's column, its
# 10-point labels stay about 11 px tall (side by side at 7-8 inches they shrank to 6 px).
PANEL_WIDTH = 4.2
PANEL_HEIGHT = 2.5


def panels(n: int = 2, *, height: float = PANEL_HEIGHT, **subplots_kwargs):
    """(fig, axes): n panels stacked in one column, PANEL_WIDTH wide and ``height`` each.

    ``subplots_kwargs`` go to ``plt.subplots`` (``sharex=True``, ``sharey=True``, ...);
    axes is a 1-D array of the n Axes, top to bottom.
    """
    import matplotlib.pyplot as plt

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer (the number of panels); got {n!r}")
    fig, axes = plt.subplots(n, 1, figsize=(PANEL_WIDTH, n * height), squeeze=False,
                             **subplots_kwargs)
    return fig, axes[:, 0]


def _axes(ax, figsize=(6, 3.5)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def plot_loss(history, ax=None, x: str = "iteration", batches: bool = True, log: bool = True,
              label: str | None = None):
    """The losses of a :class:`backprop.History` against iterations, epochs or time; returns ax.

    Draws the per-iteration batch loss (thin, when ``batches``) and the whole-set training
    loss ℓ_τ at each evaluation, and the validation loss when there is one.
    x: 'iteration' (steps taken), 'epoch' (steps / steps per epoch) or 'time' (wall
    seconds since the start of fit). log: logarithmic loss axis. label: prefix for the
    legend entries (to compare runs).
    """
    ax, t_batch, t_eval = _time_axis(history, x, ax)
    prefix = f"{label}: " if label else ""
    if batches and history.loss.size:
        ax.plot(t_batch, history.loss, lw=0.6, alpha=0.35, label=f"{prefix}batch loss")
    ax.plot(t_eval, history.train_loss, lw=1.6, label=f"{prefix}training loss $\\ell_\\tau$")
    if history.val_loss.size:
        ax.plot(t_eval, history.val_loss, lw=1.6, ls="--", label=f"{prefix}validation loss")
    if history.best_evaluation is not None:
        ax.axvline(t_eval[history.best_evaluation], color="grey", lw=0.8, ls=":")
    if log:
        ax.set_yscale("log")
    ax.set_ylabel("loss")
    ax.legend(frameon=False)
    return ax


def _time_axis(history, x: str, ax):
    """(ax, x of each iteration, x of each evaluation) for x in iteration / epoch / time."""
    if x not in _X_LABELS:
        raise ValueError(f"x must be one of {sorted(_X_LABELS)}; got {x!r}")
    steps = np.arange(1, history.loss.shape[0] + 1)
    if x == "iteration":
        t_batch, t_eval = steps, history.evaluated_at
    elif x == "epoch":
        per_epoch = history.iterations_per_epoch
        if not per_epoch:
            raise ValueError("x='epoch' needs a history of at least one step")
        t_batch, t_eval = steps / per_epoch, history.evaluated_at / per_epoch
    else:
        t_batch = history.time
        # the time of evaluation e is that of the step before it (0 before the first step)
        t_eval = np.concatenate([[0.0], history.time])[history.evaluated_at]
    ax = _axes(ax)
    ax.set_xlabel(_X_LABELS[x])
    return ax, t_batch, t_eval


_X_LABELS = {"iteration": "iteration t (optimiser steps)", "epoch": "epoch",
             "time": "wall time (s)"}


def plot_accuracy(history, ax=None, x: str = "epoch", label: str | None = None):
    """The training (and validation) accuracy of a classifier's History; returns ax.

    The fraction of the whole set classified right at each evaluation of :func:`fit`
    (recorded for classification, the cross-entropy loss). x: 'epoch', 'iteration' or
    'time' as in :func:`plot_loss`. label: prefix for the legend entries.
    """
    if not history.train_accuracy.size:
        raise ValueError(
            "history has no accuracy: fit records it for classification (loss='cross_entropy') "
            "only; plot_loss draws the loss"
        )
    ax, _, t_eval = _time_axis(history, x, ax)
    prefix = f"{label}: " if label else ""
    ax.plot(t_eval, history.train_accuracy, lw=1.6, label=f"{prefix}training accuracy")
    if history.val_accuracy.size:
        ax.plot(t_eval, history.val_accuracy, lw=1.6, ls="--",
                label=f"{prefix}validation accuracy")
    ax.set_ylabel("accuracy")
    ax.legend(frameon=False)
    return ax


def plot_fit(net, X, y, ax=None, points: int = 400):
    """A 1-D regression: the data (x_i, y_i) and the curve x -> g(x | θ); returns ax.

    Needs p_0 = 1 input and p_L = 1 output. The curve is drawn on ``points`` values of x
    spanning the data.
    """
    if net.p[0] != 1 or net.K != 1:
        raise ValueError(
            f"plot_fit draws 1-D regression: needs p_0 = 1 and one output; got p = {list(net.p)}"
        )
    X = np.asarray(to_numpy(X), dtype=np.float64).reshape(-1, 1)
    y = np.asarray(to_numpy(y), dtype=np.float64).reshape(-1)
    ax = _axes(ax)
    grid = np.linspace(X.min(), X.max(), points).reshape(-1, 1)
    g = np.asarray(to_numpy(net.predict(grid)), dtype=np.float64).reshape(-1)
    ax.scatter(X[:, 0], y, s=12, alpha=0.7, label="data $(x_i, y_i)$")
    ax.plot(grid[:, 0], g, color="C3", lw=2, label=r"$g(x \mid \theta)$")
    ax.set_xlabel("input x")
    ax.set_ylabel("output y")
    ax.legend(frameon=False)
    return ax


def plot_decision_regions(net, X, y, ax=None, resolution: int = 200, padding: float = 0.5):
    """The classes a 2-input classifier predicts over the plane, with the data; returns ax.

    Each point of a ``resolution`` x ``resolution`` grid around the data (``padding`` beyond
    its range) is coloured by argmax_k g_k(x | θ); the examples are drawn on top, coloured
    by their true class.
    """
    if net.p[0] != 2:
        raise ValueError(f"plot_decision_regions needs p_0 = 2 inputs; got p = {list(net.p)}")
    import matplotlib.pyplot as plt

    X = np.asarray(to_numpy(X), dtype=np.float64)
    y = np.asarray(to_numpy(y)).reshape(-1)
    ax = _axes(ax, figsize=(5, 4.5))
    lo, hi = X.min(axis=0) - padding, X.max(axis=0) + padding
    u = np.linspace(lo[0], hi[0], resolution)
    v = np.linspace(lo[1], hi[1], resolution)
    U, V = np.meshgrid(u, v)
    G = np.asarray(to_numpy(net.predict(np.column_stack([U.ravel(), V.ravel()]))))
    K = G.shape[1]
    classes = G.argmax(axis=1) if K > 1 else (G[:, 0] > 0.5).astype(int)
    n_colors = max(K, 2)
    cmap = plt.get_cmap("tab10", n_colors) if n_colors <= 10 else plt.get_cmap("tab20", n_colors)
    levels = np.arange(n_colors + 1) - 0.5
    ax.contourf(U, V, classes.reshape(U.shape), levels=levels, cmap=cmap, alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=n_colors - 0.5, s=12,
               edgecolors="k", linewidths=0.3)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax


def plot_confusion(C, ax=None, class_names=None, normalize: bool = False):
    """Draw a confusion matrix C (rows: true class, columns: predicted); returns ax.

    normalize: divide each row by its total, so the cells are the fraction of each true
    class given each prediction (the diagonal is the per-class recall).
    """
    C = np.asarray(C)
    K = C.shape[0]
    shown = C / np.maximum(C.sum(axis=1, keepdims=True), 1) if normalize else C
    ax = _axes(ax, figsize=(4.5, 4))
    ax.imshow(shown, cmap="Blues", vmin=0)
    names = list(class_names) if class_names is not None else [str(k) for k in range(K)]
    ax.set_xticks(range(K), names)
    ax.set_yticks(range(K), names)
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(K):
        for j in range(K):
            text = f"{shown[i, j]:.2f}" if normalize else f"{int(C[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > threshold else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return ax


def plot_passes(p, ax=None, lines: bool = False, max_units: int = 6):
    """A diagram of a network with widths p: the forward pass and δ_l flowing back; returns ax.

    Layer l is a column of p_l units (at most ``max_units`` drawn, then a "⋮"), joined to
    layer l-1 by the weights W_l. Above, the forward pass a_0 = x -> z_l, a_l -> g -> C
    (eq. of the theorem); below, the errors δ_L (from ∂S_L/∂z_L and ∂C/∂g) and
    δ_{l-1} = D_{l-1} W_l^T δ_l, right to left. lines: add Algorithm 1's line numbers.
    """
    import matplotlib.patches as mpatches

    p = [int(w) for w in p]
    if len(p) < 2 or min(p) < 1:
        raise ValueError(f"p must list at least two widths >= 1; got p = {p}")
    L = len(p) - 1
    ax = _axes(ax, figsize=(7, 3.6))
    fwd, bwd = "C0", "C3"
    tops, prev = [], []
    for l, width in enumerate(p):
        shown = min(width, max_units)
        ys = np.linspace(-0.5 * (shown - 1), 0.5 * (shown - 1), shown) * 0.45
        if l:
            for y0 in prev:
                for y1 in ys:
                    ax.plot([l - 1, l], [y0, y1], color="0.8", lw=0.5, zorder=1)
        ax.scatter(np.full(shown, l), ys, s=140, color="white", edgecolors="0.3", zorder=2)
        more = width > shown
        if more:
            ax.text(l, ys[0] - 0.35, "⋮", ha="center", va="center")
        tops.append(ys.max() + 0.35 * more)
        prev = ys
        name = r"$a_0 = x$" if l == 0 else (rf"$z_{L}, g$" if l == L else rf"$z_{l}, a_{l}$")
        ax.text(l, max(tops[-1], 0) + 0.45, name, ha="center", color=fwd)
        if l:
            ax.text(l, -tops[-1] - 0.55, rf"$\delta_{l}$", ha="center", color=bwd, fontsize=12)
            ax.text(l - 0.5, 0.05, rf"$W_{l}$", ha="center", color="0.4", fontsize=8)
    top, bottom = max(tops) + 1.1, -max(tops) - 1.3
    ax.text(L + 0.8, 0, "$C$", ha="center", va="center", fontsize=13,
            bbox=dict(boxstyle="round", fc="white", ec="0.3"))
    ax.annotate("", xy=(L + 0.65, 0), xytext=(L + 0.15, 0), arrowprops=dict(arrowstyle="->"))

    def arrow(x0, x1, y, color, text):
        ax.add_patch(mpatches.FancyArrowPatch((x0, y), (x1, y), arrowstyle="-|>",
                                              mutation_scale=14, color=color, lw=1.6))
        ax.text((x0 + x1) / 2, y + (0.12 if y > 0 else -0.3), text, ha="center",
                color=color, fontsize=9)

    tag = (lambda s: f" (line{s})") if lines else (lambda s: "")
    arrow(0, L, top, fwd, r"forward: $z_l = W_l a_{l-1} + b_l,\ a_l = S_l(z_l)$" + tag("s 1-4"))
    arrow(L, 1, bottom, bwd, r"backward: $\delta_{l-1} = D_{l-1} W_l^\top \delta_l$" + tag(" 10"))
    ax.text(L + 0.8, -0.7, r"$\delta_L = \frac{\partial S_L}{\partial z_L}"
            r"\frac{\partial C}{\partial g}$" + tag(" 5"), ha="center", color=bwd, fontsize=10)
    ax.text(L / 2, bottom - 0.75, r"every layer: $\partial C/\partial W_l = \delta_l a_{l-1}^\top$,"
            r" $\partial C/\partial b_l = \delta_l$" + tag("s 8-9"), ha="center", fontsize=9)
    ax.set_xlim(-0.5, L + 1.3)
    ax.set_ylim(bottom - 1.1, top + 0.5)
    ax.set_axis_off()
    return ax
