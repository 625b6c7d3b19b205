"""The source code the book prints: a function's taught lines, its input checks elided.

A function of the package first checks its arguments (``if ...: raise ValueError(...)``) and
then computes. The book prints the computation; the checks, noise for a learner, become one
marked line ``...  # input checks`` per run of them. The elided text stays in the package
and in ``inspect.getsource``.
"""

import ast
import inspect
import math
import textwrap

MARK = "...  # input checks"


def _is_check(stmt):
    # A raise, or an ``if`` (no else) whose body is only checks: what a caller sees only as an
    # error. Loops and ``try`` blocks are computation, so they are never elided whole.
    if isinstance(stmt, ast.Raise):
        return stmt.exc is not None  # a bare ``raise`` passes an error on: control flow
    if isinstance(stmt, ast.If) and not stmt.orelse:
        return all(_is_check(s) for s in stmt.body)
    return False


def _check_runs(body):
    """(first line, last line) of each run of consecutive checks in a block, and in blocks
    nested in it, 1-based as in ``ast``."""
    runs, current = [], None
    for stmt in body:
        if _is_check(stmt):
            current = [stmt.lineno, stmt.end_lineno] if current is None else [current[0],
                                                                               stmt.end_lineno]
            continue
        if current is not None:
            runs.append(tuple(current))
            current = None
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                runs += _check_runs(inner)
        # (except blocks are left whole: what they raise reports a failure, not bad input)
    if current is not None:
        runs.append(tuple(current))
    return runs


def taught_source(obj):
    """``inspect.getsource(obj)`` with every run of input checks replaced by ``...``.

    A check is a ``raise`` statement or an ``if`` without ``else`` whose body holds only
    checks; each run of consecutive checks becomes one line ``...  # input checks``, indented
    as they were. A block that would be left empty keeps the mark, so the result is still
    valid Python. Functions without checks come back unchanged.
    """
    source = inspect.getsource(obj)
    lines = source.splitlines(keepends=True)
    tree = ast.parse(textwrap.dedent(source))
    if not tree.body or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.ClassDef)):
        raise TypeError(f"obj must be a function, method or class; got {type(obj).__name__}")
    runs = []
    for node in ast.walk(tree.body[0]):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            runs += _check_runs(node.body)
    for first, last in sorted(set(runs), reverse=True):  # bottom up: line numbers stay valid
        indent = lines[first - 1][: len(lines[first - 1]) - len(lines[first - 1].lstrip())]
        lines[first - 1 : last] = [indent + MARK + "\n"]
    return "".join(lines)


GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value, digits: int | None = 6) -> None:
    """Store ``value`` under ``name`` in the cell's output, for ``{glue:text}`name:.2f``` in
    the prose around it.

    The format is MyST-NB's ``glue(name, value, display=False)`` (the value's display data
    under the ``application/papermill.record/`` types, the name in the ``scrapbook``
    metadata), written with IPython alone, so that a reader's notebook runs without the
    book's build tools. Nothing is shown in the notebook. Outside IPython it does nothing.
    A NumPy scalar is stored as the Python number it holds (NumPy 2 writes
    ``np.float64(0.25)``, which no format spec reads), and a float rounded to ``digits``
    significant digits (None: all of them): the prose shows a few, and nbval compares the
    stored text, which must not change with the order in which a machine sums.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier (a glue key); got {name!r}")
    try:
        from IPython import get_ipython
        from IPython.core.formatters import format_display_data
        from IPython.display import display
    except ImportError:  # plain Python: there is no notebook to store it in
        return
    if get_ipython() is None:
        return
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and digits is not None and math.isfinite(value):
        value = float(f"{value:.{digits}g}")
    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)
