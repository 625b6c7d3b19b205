"""The figures of the package: loss curves, fits, decision regions, confusion matrices."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_plot_loss_and_fit(plt):
    X, y = bp.datasets.polyreg()
    net = bp.Network([1, 8, 1], seed=0)
    h = bp.fit(net, X, y, optimizer=bp.Adam(0.01), batch_size=20, epochs=3,
               validation=(X, y), early_stopping=5)
    for x in ("iteration", "epoch", "time"):
        ax = bp.plotting.plot_loss(h, x=x)
        assert ax.get_ylabel() == "loss" and ax.get_xlabel()
        assert len(ax.get_lines()) == 4  # batch, training, validation, best-epoch marker
    ax = bp.plotting.plot_fit(net, X, y)
    assert ax.get_xlabel() == "input x" and ax.get_ylabel() == "output y"
    ax = bp.plotting.plot_loss(h, x="epoch", batches=False)
    training = ax.get_lines()[0].get_xdata()
    np.testing.assert_allclose(training, h.evaluated_at / h.iterations_per_epoch)
    assert training[-1] == 3 and ax.get_xlabel() == "epoch"
    with pytest.raises(ValueError, match="x must be one of"):
        bp.plotting.plot_loss(h, x="epochs")
    with pytest.raises(ValueError, match="no accuracy"):
        bp.plotting.plot_accuracy(h)
    with pytest.raises(ValueError, match="p_0 = 1"):
        bp.plotting.plot_fit(bp.Network([2, 1]), X, y)


def test_plot_decision_regions_and_confusion(plt):
    X, y = bp.datasets.spirals(n=90, classes=3, seed=0)
    net = bp.Network([2, 16, 3], output="softmax", seed=0)
    bp.fit(net, X, y, optimizer=bp.Adam(0.05), batch_size=30, epochs=5)
    ax = bp.plotting.plot_decision_regions(net, X, y, resolution=50)
    assert ax.get_xlabel() == "$x_1$"
    y_pred = np.argmax(bp.to_numpy(net.predict(X)), axis=1)
    C = bp.plotting.confusion_matrix(y, y_pred, 3)
    assert C.shape == (3, 3) and C.sum() == 90
    np.testing.assert_array_equal(C.sum(axis=1), np.bincount(y, minlength=3))
    assert np.trace(C) == np.sum(y == y_pred)
    ax = bp.plotting.plot_confusion(C, normalize=True)
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"


def test_plot_accuracy(plt):
    X, y = bp.datasets.blobs(n=90, classes=3, std=0.4, seed=0)
    Xv, yv = bp.datasets.blobs(n=30, classes=3, std=0.4, seed=1)
    net = bp.Network([2, 8, 3], output="softmax", seed=0)
    h = bp.fit(net, X, y, optimizer=bp.Adam(0.05), batch_size=30, epochs=4, validation=(Xv, yv))
    ax = bp.plotting.plot_accuracy(h)
    train, val = ax.get_lines()
    np.testing.assert_array_equal(train.get_xdata(), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(train.get_ydata(), h.train_accuracy)
    np.testing.assert_array_equal(val.get_ydata(), h.val_accuracy)
    assert ax.get_ylabel() == "accuracy" and ax.get_xlabel() == "epoch"
    ax = bp.plotting.plot_accuracy(h, x="iteration", label="Adam")
    assert ax.get_lines()[0].get_xdata()[-1] == 12
    assert ax.get_legend().get_texts()[0].get_text() == "Adam: training accuracy"


def test_confusion_matrix_by_hand():
    C = bp.plotting.confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    np.testing.assert_array_equal(C, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    with pytest.raises(ValueError, match="0..2"):
        bp.plotting.confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="same length"):
        bp.plotting.confusion_matrix(np.array([0, 1]), np.array([0]), 3)


def test_plot_passes_draws_every_layer_and_both_passes(plt):
    ax = bp.plotting.plot_passes([3, 5, 4, 2])
    texts = [t.get_text() for t in ax.texts]
    assert [t for t in texts if t.startswith(r"$\delta_") and len(t) == 10] == [
        r"$\delta_1$", r"$\delta_2$", r"$\delta_3$"]
    assert any(t.startswith("forward") for t in texts)
    assert any(t.startswith("backward") for t in texts)
    assert len(ax.collections) == 4  # one column of units per layer
    ax = bp.plotting.plot_passes([2, 3, 2, 1], lines=True)
    assert any(t.endswith("(line 10)") for t in (t.get_text() for t in ax.texts))
    ax = bp.plotting.plot_passes([1, 20, 1], max_units=6)
    assert "⋮" in [t.get_text() for t in ax.texts]
    assert len(ax.collections[1].get_offsets()) == 6
    with pytest.raises(ValueError, match="at least two widths"):
        bp.plotting.plot_passes([3])


def test_panels_stack_in_one_column_of_phone_width(plt):
    fig, axes = bp.plotting.panels(3, sharex=True)
    assert axes.shape == (3,)
    width, height = fig.get_size_inches()
    assert width == bp.plotting.PANEL_WIDTH and height == 3 * bp.plotting.PANEL_HEIGHT
    # top to bottom, one column: the same left edge, falling bottoms
    boxes = [ax.get_position() for ax in axes]
    assert len({round(b.x0, 6) for b in boxes}) == 1
    assert boxes[0].y0 > boxes[1].y0 > boxes[2].y0
    assert axes[0].get_shared_x_axes().joined(axes[0], axes[2])
    fig2, (one,) = bp.plotting.panels(1, height=2.0)
    assert tuple(fig2.get_size_inches()) == (bp.plotting.PANEL_WIDTH, 2.0)
    for bad in (0, -1, 2.0, True, "2"):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            bp.plotting.panels(bad)
