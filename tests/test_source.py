"""bp.taught_source: the printed source keeps the computation and marks the elided checks."""

import ast
import inspect
import textwrap

import numpy as np
import pytest

import backprop as bp
from backprop.autodiff import Tensor
from backprop.source import MARK, taught_source


def _sample(x, n):
    """A function with checks before, between and inside its computation."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if not isinstance(x, float):
        if x is None:
            raise TypeError("x must be a number")
    y = 2 * x
    if n == 0:
        return y
    for _ in range(n):
        if y > 1e300:
            raise OverflowError("too large")
        y = y * x
    if y < 0:
        y = -y
    else:
        raise ValueError("y must be negative here")
    raise RuntimeError("unreachable")


def test_runs_of_checks_become_one_marked_line_each():
    text = taught_source(_sample)
    assert "raise" not in text
    # the two leading checks form one run; the loop's check, the raise of the else block and
    # the final raise one each
    assert text.count(MARK) == 4
    lines = text.splitlines()
    assert lines[2] == "    " + MARK  # right after the docstring, indented as the body
    assert "        " + MARK in lines  # the check inside the loop keeps its indentation
    assert lines[-1] == "    " + MARK  # the trailing raise
    # the computation stays, and an if with an else is kept, its raise elided in the block
    assert "    else:\n        " + MARK in text
    for kept in ("y = 2 * x", "if n == 0:", "return y", "y = y * x", "if y < 0:", "y = -y"):
        assert kept in text, kept
    ast.parse(textwrap.dedent(text))


def test_functions_without_checks_are_unchanged():
    for obj in (bp.gradients.algorithm1_steps, bp.algorithm2, Tensor.__add__):
        assert taught_source(obj) == inspect.getsource(obj)


@pytest.mark.parametrize("obj", [bp.algorithm1, Tensor.backward, "distributed.fit"])
def test_package_functions_the_book_prints(obj):
    if obj == "distributed.fit":
        from backprop import distributed

        obj = distributed.fit
    full = inspect.getsource(obj)
    text = taught_source(obj)
    assert "raise " in full and "raise " not in text
    assert MARK in text
    assert len(text.splitlines()) < len(full.splitlines())
    ast.parse(textwrap.dedent(text))  # a method's source is indented


def test_refuses_what_is_not_a_function():
    with pytest.raises(TypeError, match="obj must be a function"):
        taught_source(bp)


def test_glue_writes_myst_nbs_format(monkeypatch):
    pytest.importorskip("IPython")
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display",
                        lambda data, raw, metadata: shown.append((data, raw, metadata)))
    bp.glue("final_loss", 0.25)
    (data, raw, metadata), = shown
    assert raw is True
    assert data == {"application/papermill.record/text/plain": "0.25"}
    assert metadata["scrapbook"] == {"name": "final_loss",
                                     "mime_prefix": "application/papermill.record/"}
    bp.glue("ratio", np.float64(1.5))
    assert shown[-1][0] == {"application/papermill.record/text/plain": "1.5"}
    bp.glue("rounded", 0.8377179145681545)  # six significant digits by default
    assert shown[-1][0] == {"application/papermill.record/text/plain": "0.837718"}
    bp.glue("exact", 0.8377179145681545, digits=None)
    assert shown[-1][0] == {"application/papermill.record/text/plain": "0.8377179145681545"}
    bp.glue("count", 1178)
    assert shown[-1][0] == {"application/papermill.record/text/plain": "1178"}
    with pytest.raises(ValueError, match="name must be a Python identifier"):
        bp.glue("final loss", 1.0)


def test_glue_outside_ipython_does_nothing(monkeypatch):
    pytest.importorskip("IPython")
    import IPython
    import IPython.display

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: pytest.fail("displayed"))
    bp.glue("x", 1.0)


def test_except_blocks_and_bare_raises_are_kept():
    """What an except block raises reports a failure, not bad input; a bare raise passes one
    on. Both stay in the listing."""
    text = taught_source(bp.get_namespace)
    assert text.count(MARK) == 1  # the check that CuPy sees a GPU (the names: in resolve)
    assert "except ImportError as err:" in text and ") from err" in text
    fit = taught_source(bp.fit)
    assert fit == inspect.getsource(bp.fit) and "        raise\n" in fit
