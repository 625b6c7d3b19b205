"""Draw the landing page's figure, book/images/forward_backward.png (run by hand).

The two passes of back-propagation on a [2, 3, 3, 1] network, laid out for a phone's column:
the network across the top, then the forward pass and the backward pass as two short lists
of formulas, one per layer. The figure is 4.2 inches wide and stored at 200 dots per inch, so
its 10-point labels stay about 11 px tall at 390 px and sharp when zoomed.

    .venv/bin/python tools/landing_figure.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "book" / "images" / "forward_backward.png"
FORWARD, BACKWARD, TEXT = "#1f77b4", "#d2601a", "0.15"
P = [2, 3, 3, 1]


def main() -> None:
    fig = plt.figure(figsize=(4.2, 4.4))
    net = fig.add_axes([0.0, 0.52, 1.0, 0.48])
    net.set_xlim(-0.6, 4.6)
    net.set_ylim(-1.25, 1.15)
    net.axis("off")
    ys = [np.linspace(-0.5 * (w - 1), 0.5 * (w - 1), w) * 0.6 for w in P]
    for l in range(1, len(P)):
        for y0 in ys[l - 1]:
            for y1 in ys[l]:
                net.plot([l - 1, l], [y0, y1], color="0.75", lw=0.7, zorder=1)
    for l, column in enumerate(ys):
        net.scatter(np.full(len(column), l), column, s=170, color="white", edgecolors="0.3",
                    linewidths=1.2, zorder=2)
        name = r"$\mathbf{a}_0 = \mathbf{x}$" if l == 0 else (
            r"$\mathbf{a}_3 = \mathbf{g}$" if l == 3 else rf"$\mathbf{{a}}_{l}$")
        net.text(l, 0.95, name, ha="center", va="center", fontsize=10, color=TEXT)
    net.plot([3, 4], [0, 0], color="0.75", lw=0.7, zorder=1)
    net.scatter([4], [0], s=420, color="0.95", edgecolors="0.3", linewidths=1.2, zorder=2)
    net.text(4, 0, "$C$", ha="center", va="center", fontsize=11)
    net.annotate("", xy=(3.3, -1.05), xytext=(0.2, -1.05),
                 arrowprops={"arrowstyle": "-|>", "color": FORWARD, "lw": 1.6})
    net.text(0.2, -0.85, "forward", color=FORWARD, fontsize=10, fontweight="bold")
    net.annotate("", xy=(0.7, -1.22), xytext=(3.8, -1.22),
                 arrowprops={"arrowstyle": "-|>", "color": BACKWARD, "lw": 1.6})
    net.text(3.8, -0.85, "backward", color=BACKWARD, fontsize=10, fontweight="bold",
             ha="right")

    rows = fig.add_axes([0.0, 0.0, 1.0, 0.5])
    rows.set_xlim(0, 1)
    rows.set_ylim(0, 1)
    rows.axis("off")
    forward = [rf"$\mathbf{{z}}_{l} = \mathbf{{W}}_{l}\mathbf{{a}}_{l - 1} + \mathbf{{b}}_{l},"
               rf"\ \ \mathbf{{a}}_{l} = S_{l}(\mathbf{{z}}_{l})$" for l in (1, 2, 3)]
    backward = [r"$\boldsymbol{\delta}_3 = (\partial S_3/\partial \mathbf{z}_3)"
                r"(\partial C/\partial \mathbf{g})$"]
    backward += [rf"$\boldsymbol{{\delta}}_{l} = \mathbf{{D}}_{l}\mathbf{{W}}_{l + 1}^\top"
                 rf"\boldsymbol{{\delta}}_{l + 1}$" for l in (2, 1)]
    grads = [rf"$\partial C/\partial \mathbf{{W}}_{l} = \boldsymbol{{\delta}}_{l}"
             rf"\mathbf{{a}}_{l - 1}^\top$" for l in (3, 2, 1)]
    for i, text in enumerate(forward):
        rows.text(0.04, 0.93 - 0.135 * i, text, color=FORWARD, fontsize=10, va="center")
    for i, (delta, grad) in enumerate(zip(backward, grads, strict=True)):
        y = 0.40 - 0.14 * i
        rows.text(0.04, y, delta, color=BACKWARD, fontsize=10, va="center")
        rows.text(0.97, y, grad, color=TEXT, fontsize=9, va="center", ha="right")
    rows.text(0.04, 0.53, "then back, from the cost:", color=TEXT, fontsize=9, va="center",
              style="italic")
    fig.savefig(OUT, dpi=200, facecolor="white")
    print(OUT.relative_to(OUT.parents[2]), fig.get_size_inches() * 200)


if __name__ == "__main__":
    main()
