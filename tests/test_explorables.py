"""bp.explorables: the numbers of the explorable figures, the JSON files and the placeholder.

The browser test (tests/test_explorables_html.py) compares what the pages show with the
package; these tests hold the builders to the package's own functions and the lecture's
hand example, and ``show`` to writing a file only when its numbers change.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop import explorables


def hand_network():
    """The [2, 3, 1] ReLU network of chapter 4's example to redo by hand, and (x, y)."""
    net = bp.Network([2, 3, 1], hidden="relu", output="identity", seed=0)
    net.W[0][...] = [[1, 0], [-1, 1], [1, -2]]
    net.b[0][...] = [1, 0, 1]
    net.W[1][...] = [[1, -2, 3]]
    net.b[1][...] = [1]
    return net, np.array([1.0, 2.0]), np.array([4.0])


def test_same_numbers_compares_structure_exactly_and_numbers_within_rtol():
    old = {"a": [1.0, 2, "x"], "b": {"c": 3.0}}
    assert explorables.same_numbers(old, {"a": [1.0 + 1e-15, 2, "x"], "b": {"c": 3.0}})
    assert not explorables.same_numbers(old, {"a": [1.0 + 1e-8, 2, "x"], "b": {"c": 3.0}})
    assert not explorables.same_numbers(old, {"a": [1.0, 2], "b": {"c": 3.0}})
    assert not explorables.same_numbers(old, {"a": [1.0, 2, "y"], "b": {"c": 3.0}})
    assert not explorables.same_numbers(old, {"a": [1.0, 2, "x"], "b": {"d": 3.0}})
    assert explorables.same_numbers(0, 0.0) and not explorables.same_numbers(0, 1e-300)


def test_show_writes_the_file_only_when_its_numbers_change(tmp_path, capsys):
    explorables.show("demo", {"v": [1.0, 2.5]}, "Demo", "A demo.", folder=tmp_path)
    path = tmp_path / "demo.json"
    assert json.loads(path.read_text()) == {"v": [1.0, 2.5]}
    path.write_text('{"v":[1.0,2.5]}\n')  # what a machine that rounded differently wrote
    explorables.show("demo", {"v": [1.0 * (1 + 1e-15), 2.5]}, "Demo", "A demo.", folder=tmp_path)
    assert path.read_text() == '{"v":[1.0,2.5]}\n'  # within rounding: left alone
    explorables.show("demo", {"v": [1.5, 2.5]}, "Demo", "A demo.", folder=tmp_path)
    assert json.loads(path.read_text()) == {"v": [1.5, 2.5]}
    explorables.show("other", {"v": 1}, "Demo", "A demo.", folder=tmp_path / "missing")
    assert not (tmp_path / "missing").exists()  # a reader's copy of a notebook writes nothing
    assert capsys.readouterr().out == ""  # outside IPython nothing is displayed


def test_show_refuses_names_that_are_not_file_names_and_numbers_that_are_not_finite(tmp_path):
    for name in ["Demo", "a b", "../x", ""]:
        with pytest.raises(ValueError, match="name"):
            explorables.show(name, {}, "Demo", "A demo.", folder=tmp_path)
    with pytest.raises(ValueError, match="finite"):
        explorables._number(np.float64("nan"))


def test_placeholder_names_the_figure_and_keeps_the_description():
    text = explorables.PLACEHOLDER.format(name="demo", alt="A <b> demo.", label="Demo")
    assert 'data-explorable="demo"' in text and 'aria-label="Demo"' in text
    assert text.startswith('<div class="book-explorable" data-explorable="demo"')


def test_algorithm1_trace_of_the_hand_example_is_the_table():
    net, x, y = hand_network()
    trace = explorables.algorithm1_trace(net, x, y)
    assert [s["line"] for s in trace["steps"]] == [1, 3, 3, 3, 4, 4, 4, 3, 4, 5, 6,
                                                   8, 9, 10, 10, 10, 8, 9, 10, 11]
    final = {k: v for s in trace["steps"] for k, v in s["set"].items()}
    table = {"z1": [2, 1, -2], "a1": [2, 1, 0], "s1": [1, 1, 0], "d1": [-6, 12, 0],
             "db1": [-6, 12, 0], "z2": [1], "a2": [1], "d2": [-6], "db2": [-6]}
    for prefix, values in table.items():
        assert [final[f"{prefix}_{j}"] for j in range(1, len(values) + 1)] == values, prefix
    assert [[final[f"dW1_{j}_{k}"] for k in (1, 2)] for j in (1, 2, 3)] == [[-6, -12], [12, 24],
                                                                            [0, 0]]
    assert [final[f"dW2_1_{k}"] for k in (1, 2, 3)] == [-12, -6, 0]
    assert final["C"] == 9 and final["g"] == 1 and final["a0_2"] == 2
    assert all(isinstance(v, int) for v in final.values())  # exact: stored as integers
    assert trace["W"] == [[[1, 0], [-1, 1], [1, -2]], [[1, -2, 3]]]


def test_nudge_curves_are_the_cost_its_gradient_and_central_differences():
    net = bp.Network([3, 4, 2], hidden="tanh", output="identity", seed=3)
    X, Y = np.array([[0.3, -1.0, 0.5]]), np.array([[0.2, -0.4]])
    grid = [-0.5, 0.0, 0.75]
    data = explorables.nudge_curves(net, X, Y, [(1, 2, 3), (2, 1, 4)], grid, h=1e-5)
    for curve in data["curves"]:
        l, j, k = curve["l"], curve["j"], curve["k"]
        assert curve["kinks"] == [] and curve["value"] == float(net.W[l - 1][j - 1, k - 1])
        for i, t in enumerate(grid):
            trial = net.copy(kernel=False)  # the readable batch form, as nudge_curves uses
            trial.W[l - 1][j - 1, k - 1] = t
            dW, _ = trial.unflatten(trial.gradient(X, Y))
            assert curve["C"][i] == trial.loss(X, Y)
            assert curve["slope"][i] == dW[l - 1][j - 1, k - 1]
            assert curve["slope"][i] == curve["delta"][i] * curve["a"][i]
            assert math.isclose(curve["cd"][i], curve["slope"][i], rel_tol=1e-6, abs_tol=1e-9)
            assert curve["z"][i] == trial.forward(X)[0][l - 1][0, j - 1]
    assert float(net.W[0][1, 2]) == data["curves"][0]["value"]  # the network is not changed


def test_nudge_curves_find_where_a_relu_unit_switches():
    net, x, y = hand_network()
    grid = np.arange(-32, 33) / 8
    weights = [(1, j, k) for j in (1, 2, 3) for k in (1, 2)] + [(2, 1, 2)]
    data = explorables.nudge_curves(net, x[None, :], y[None, :], weights, grid, h=1 / 8)
    kinks = {(c["l"], c["j"], c["k"]): c["kinks"] for c in data["curves"]}
    # z_{1,j} = W_1[j, :] x + b_1[j] with x = (1, 2) is 0 where W_1[j, k] = w: by hand
    assert kinks == {(1, 1, 1): [-1], (1, 1, 2): [-1], (1, 2, 1): [-2], (1, 2, 2): [0.5],
                     (1, 3, 1): [3], (1, 3, 2): [-1], (2, 1, 2): []}
    coarse = explorables.nudge_curves(net, x[None, :], y[None, :], [(1, 2, 2)], [0.0, 1.0], h=0.1)
    assert coarse["curves"][0]["kinks"] == [0.5]  # between two grid points: interpolated


def test_saturation_grid_measures_the_deltas_and_marks_the_named_scales():
    u, y = np.linspace(0, 1, 20)[:, None], np.linspace(-1, 1, 20)[:, None]
    p, sigmas = [1, 8, 8, 8, 1], [0.25, 0.5]
    data = explorables.saturation_grid(u, y, p, ["relu", "logistic"], sigmas,
                                       marks={"He": math.sqrt(2 / 8)}, seed=1, bins=4)
    assert data["marks"] == [["He", 1]]
    rng = np.random.default_rng(1)
    G = [rng.standard_normal((p[l], p[l - 1])) for l in range(1, len(p))]
    for name in ("relu", "logistic"):
        for sigma, row in zip(sigmas, data["nets"][name], strict=True):
            net = bp.Network(p, hidden=name, output="identity")
            for l in range(1, len(p)):
                net.W[l - 1] = sigma * math.sqrt(p[1] / p[l - 1]) * G[l - 1]
                net.b[l - 1] = np.zeros(p[l])
            rms = [math.sqrt(np.mean(np.sum(D**2, axis=1))) for D in net.deltas(u, y)]
            assert np.allclose(row["rms"], rms, rtol=1e-12)
            assert row["rule"][-1] == row["rms"][-1]  # the rule starts from δ_L
            assert [sum(h) for h in row["hist"]] == [20 * 8] * 3  # every (unit, example)
            assert row["factor"] > 0 and row["measured"] > 0
    with pytest.raises(ValueError, match="not on the grid"):
        explorables.saturation_grid(u, y, p, ["relu"], sigmas, marks={"x": 0.3})


def test_the_shipped_files_are_json_with_finite_numbers_and_small():
    root = Path(__file__).resolve().parents[1] / "book" / explorables.FOLDER
    for name in ("alg1-steps", "nudge", "saturation"):
        text = (root / f"{name}.json").read_text(encoding="utf-8")
        json.loads(text, parse_constant=lambda c, name=name: pytest.fail(f"{name}.json: {c}"))
        script = (root / f"{name}.js").read_text(encoding="utf-8")
        assert f'Explorable.register("{name}"' in script
        assert len(text) + len(script) < 80_000, name  # each figure well under 100 kB
