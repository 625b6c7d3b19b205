"""The PDF edition (``make pdf``; ``make test`` runs this after the book build).

The PDF offered by the site is read back: it has a title page's worth of text, every page of
the table of contents by its title, the solutions, and no unresolved reference ("??"). The
single page it was printed from is laid out again as it prints, and no code block, formula or
table may run past the text column.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
SINGLE = ROOT / "_build" / "pdf" / "_build" / "singlehtml"
sys.path.insert(0, str(ROOT / "tools"))

pytestmark = pytest.mark.skipif(
    not (HTML / "book" / "running.html").is_file(),
    reason="no built book: run `make book` first (`make test` does)",
)


def _linked_pdf() -> Path:
    soup = BeautifulSoup((HTML / "book" / "running.html").read_text(encoding="utf-8"),
                         "html.parser")
    links = {(HTML / "book" / a["href"]).resolve() for a in soup.find_all("a", href=True)
             if a["href"].endswith(".pdf") and not a["href"].endswith("-exercises.pdf")}
    assert len(links) == 1, f"running.html links to {links}"
    return links.pop()


@pytest.fixture(scope="module")
def pdf_text() -> list[str]:
    from pypdf import PdfReader

    path = _linked_pdf()
    assert path.is_file(), f"{path} is linked but missing"
    return [page.extract_text() or "" for page in PdfReader(path).pages]


def _squash(text: str) -> str:
    """Letters and digits only, ligatures (ﬀ, ﬁ) spelt out: what survives a PDF's text layer."""
    return re.sub(r"[\W_]", "", unicodedata.normalize("NFKC", text)).casefold()


def _titles() -> dict[str, str]:
    """Every built page's title (its h1, without the permalink sign)."""
    titles = {}
    for page in sorted(HTML.joinpath("book").glob("*.html")):
        h1 = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find("h1")
        if h1:
            titles[page.stem] = h1.get_text(" ", strip=True).rstrip("#").strip()
    return titles


def test_pdf_has_every_chapter_and_no_unresolved_reference(pdf_text):
    assert len(pdf_text) > 100, f"only {len(pdf_text)} pages"
    text = _squash("".join(pdf_text))
    titles = _titles()
    assert len(titles) >= 20
    missing = [t for t in titles.values() if _squash(t) not in text]
    assert not missing, f"chapter titles missing from the PDF: {missing}"
    assert not any("??" in page for page in pdf_text), "an unresolved reference (??) in the PDF"


def test_pdf_includes_the_solutions(pdf_text):
    expected = sum(
        len(BeautifulSoup(p.read_text(encoding="utf-8"), "html.parser").select("div.solution"))
        for p in HTML.joinpath("book").glob("*.html")
    )
    assert expected > 10
    found = sum(page.count("Solution to") for page in pdf_text)
    assert found >= expected, f"{found} solutions in the PDF, {expected} in the book"


def test_no_block_runs_off_the_printed_page():
    from make_pdf import CHROMIUM, OVERFLOWING, PAGE, open_single_page, served
    from playwright.sync_api import sync_playwright

    assert (SINGLE / PAGE).is_file(), "no single page: `make pdf` writes it"
    with served(SINGLE) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = open_single_page(browser, url)
        blocks = page.evaluate("document.querySelectorAll('pre, div.math').length")
        overflowing = page.evaluate(OVERFLOWING)
        browser.close()
    assert blocks > 500
    assert not overflowing, "blocks wider than the printed column:\n" + "\n".join(overflowing)


def test_the_instructors_edition_has_the_exercises_and_no_solutions(pdf_text):
    from pypdf import PdfReader

    path = _linked_pdf().with_name(_linked_pdf().stem + "-exercises.pdf")
    assert path.is_file(), f"{path.name} missing beside the PDF edition"
    soup = BeautifulSoup((HTML / "book" / "running.html").read_text(encoding="utf-8"),
                         "html.parser")
    assert any(a["href"].endswith(path.name) for a in soup.find_all("a", href=True))
    pages = [page.extract_text() or "" for page in PdfReader(path).pages]
    text = "".join(pages)
    assert "Solution to" not in text
    full = "".join(pdf_text)
    assert text.count("Exercise") >= 0.9 * full.count("Exercise") - full.count("Solution to")
    assert 0.5 * len(pdf_text) < len(pages) < len(pdf_text)
