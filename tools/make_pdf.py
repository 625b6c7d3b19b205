"""The PDF edition: the single-page HTML build of the book printed by Chromium (`make pdf`).

The single page (``jupyter-book build --builder singlehtml`` from the outputs stored in the
notebooks, the ones nbval checks) is opened from disk in the installed Chromium, with the
book's print style sheet (``@media print`` in custom.css); every solution and hidden block
is opened, and the page printed to A4 with page numbers. Nothing is fetched from the
network. A second edition for instructors, OUTPUT less ``.pdf`` plus ``-exercises.pdf``, has
the exercises without their solutions. Usage::

    python tools/make_pdf.py SINGLEHTML_DIR OUTPUT.pdf
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import sys
import threading
from pathlib import Path

CHROMIUM = os.environ.get("BOOK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PAGE = "book-single-page.html"
# Type at 85 % of the screen's (body text about 10 pt), and the page laid out at the width the
# printed column then has: A4's 210 mm less the margins, at 96 px per inch, over the scale.
SCALE = 0.85
A4_WIDTH_PX = round((210 - 28) / 25.4 * 96 / SCALE)
MARGIN = {"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"}

# Before printing: every solution and toggled block open (sphinx-togglebutton opens them on
# the browser's beforeprint event, which page.pdf does not send), every section drawn.
OPEN_EVERYTHING = """() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  document.querySelectorAll('.admonition.toggle-hidden')
    .forEach(a => a.classList.remove('toggle-hidden'));
  document.querySelectorAll('.bd-article section')
    .forEach(s => s.style.contentVisibility = 'visible');
  document.documentElement.dataset.theme = 'light';
  document.documentElement.dataset.mode = 'light';
}"""

# Code blocks and formulas whose lines run past their box in the print layout.
OVERFLOWING = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('pre, div.math .katex-html, table')) {
    if (el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right >
        document.querySelector('article').getBoundingClientRect().right + 1)
      bad.push(`${el.tagName.toLowerCase()}: ${el.textContent.trim().slice(0, 60)}`);
  }
  return bad;
}"""


# The instructors' edition: the same page with every solution box taken out.
REMOVE_SOLUTIONS = """() => {
  const boxes = document.querySelectorAll('div.solution');
  boxes.forEach(box => box.remove());
  return boxes.length;
}"""


def without_solutions(output: Path) -> Path:
    """The instructors' edition's file name beside ``output``."""
    return output.with_name(output.stem + "-exercises.pdf")


def print_pdf(page, output: Path) -> None:
    """Print ``page`` to A4 at ``output``, through a temporary name (never a half-written
    PDF under the real one)."""
    partial = output.with_suffix(".pdf.part")
    page.pdf(
        path=str(partial),
        format="A4",
        margin=MARGIN,
        scale=SCALE,
        print_background=True,
        display_header_footer=True,
        header_template="<span></span>",
        footer_template='<div style="font-size:8px;width:100%;text-align:center">'
        '<span class="pageNumber"></span> / <span class="totalPages"></span></div>',
    )
    partial.replace(output)
    print(f"{output}: {output.stat().st_size / 1e6:.1f} MB")


def print_page(page):
    """Lay ``page`` out as it will print and open everything."""
    page.emulate_media(media="print", color_scheme="light")
    page.evaluate(OPEN_EVERYTHING)
    page.evaluate("document.fonts.ready")


@contextlib.contextmanager
def served(directory: Path):
    """``directory`` over HTTP on localhost (a page opened from disk loses its images and
    style sheets to the query strings Sphinx appends to their addresses)."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def open_single_page(browser, url: str):
    page = browser.new_page(viewport={"width": A4_WIDTH_PX, "height": 1123})
    local = ("http://127.0.0.1:", "http://localhost:")
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(local) else r.abort())
    page.goto(url + PAGE, wait_until="load")
    print_page(page)
    return page


def main(singlehtml: Path, output: Path) -> None:
    from playwright.sync_api import sync_playwright

    # Sphinx writes the single page to book/index.html (the root document's name) with
    # addresses relative to the build's root: it is opened from there.
    shutil.copy(singlehtml / "book" / "index.html", singlehtml / PAGE)
    with served(singlehtml) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = open_single_page(browser, url)
        overflowing = page.evaluate(OVERFLOWING)
        output.parent.mkdir(parents=True, exist_ok=True)
        print_pdf(page, output)
        removed = page.evaluate(REMOVE_SOLUTIONS)
        if not removed:
            sys.exit("no solution boxes found: the instructors' edition would be the same")
        print_pdf(page, without_solutions(output))
        browser.close()
    if overflowing:
        print(f"{len(overflowing)} blocks run past the text column:", *overflowing, sep="\n  ")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
