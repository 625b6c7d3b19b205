"""Numbers in the prose come from code (issue 25).

Every decimal number in a Markdown cell of a notebook of the book (0.23, 1.5e-8, 4.5 in
4.5 · 10^-5) must be inserted by MyST-NB's ``{glue:text}`` from the cell that computes it,
or be on the page's short list in ``book/typed_numbers.yml``, each with the reason it may be
typed: a constant of the code (a step size the cell sets), an exact fact an assert beside it
checks, or a value from the cited literature. Code (fenced blocks, inline code) and the
targets of roles are not prose. Integers are not checked: widths, counts and orders of
magnitude are typed, and the asserts hold them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
ALLOWED = BOOK / "typed_numbers.yml"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))

# A decimal fraction or a number in scientific notation, not part of a name, a version or a
# longer number (3.10.2), nor preceded by a backslash (LaTeX) or a brace.
NUMBER = re.compile(r"(?<![\w.\\{])(\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w.]*\d)(?!\w)")
# A fence that holds code or output, not a directive (whose body is prose).
CODE_FENCE = re.compile(r"^(`{3,}|~{3,})(?!\s*\{)[^\n]*\n.*?^\1\s*$", re.S | re.M)
ROLE = re.compile(r"\{[\w:-]+\}`[^`]*`")
CODE_SPAN = re.compile(r"`[^`\n]*`")
OPTION = re.compile(r"^:[\w-]+:.*$", re.M)  # a directive's options (:label:, :class:)
URL = re.compile(r"https?://\S+")


def prose(markdown: str) -> str:
    """The text of a Markdown cell that a reader reads as prose."""
    for pattern in (CODE_FENCE, ROLE, CODE_SPAN, OPTION, URL):
        markdown = pattern.sub(" ", markdown)
    return markdown


def typed_numbers(notebook: Path | str) -> list[str]:
    """The decimal numbers typed into the Markdown cells of a notebook, in order."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    return [m.group(1) for c in cells if c["cell_type"] == "markdown"
            for m in NUMBER.finditer(prose("".join(c["source"])))]


def allowed() -> dict[str, dict[str, str]]:
    table = yaml.safe_load(ALLOWED.read_text(encoding="utf-8")) or {}
    return {page: {str(e["number"]): e["reason"] for e in (entries or [])}
            for page, entries in table.items()}


def test_the_scanner_finds_typed_numbers_and_skips_code_and_glue():
    text = ("The loss fell to 0.23 (about $4.5 \\cdot 10^{-5}$ of it), step `lr=0.005`,\n"
            "{glue:text}`final_loss:.2f` and {numref}`fig-1.2`; Python 3.10 and 1e-8.\n"
            "```python\nx = 0.7\n```\n```{exercise}\n:label: ex-2.5\nShow that 0.5 works.\n```")
    assert NUMBER.findall(prose(text)) == ["0.23", "4.5", "3.10", "1e-8", "0.5"]


def test_every_allowed_number_has_a_reason_and_a_page():
    table = yaml.safe_load(ALLOWED.read_text(encoding="utf-8"))
    pages = {p.stem for p in NOTEBOOKS}
    for page, entries in table.items():
        assert page in pages, f"{ALLOWED.name}: no notebook book/{page}.ipynb"
        for entry in entries or []:
            assert set(entry) == {"number", "reason"}, (page, entry)
            assert isinstance(entry["number"], str), f"{page}: quote {entry['number']!r}"
            assert len(entry["reason"].split()) >= 3, (page, entry)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_numbers_in_the_prose_are_glued_or_allowed(notebook):
    ok = allowed().get(notebook.stem, {})
    typed = [n for n in typed_numbers(notebook) if n not in ok]
    assert not typed, (f"{notebook.name}: typed numbers {typed}; glue them from the cell "
                       f"that computes them, or list them in {ALLOWED.name} with a reason")
    unused = set(ok) - set(typed_numbers(notebook))
    assert not unused, f"{ALLOWED.name} lists numbers {unused} that book/{notebook.name} lacks"
