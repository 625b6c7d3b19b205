"""Checks of the built HTML book in _build/html (run by ``make test`` after ``make book``).

Three kinds of check:

* static scans of the files: no script, style sheet or font fetched from the internet (the
  book must work offline); no absolute path of the build machine in any page; every internal
  link and ``#anchor`` resolves; every figure in a chapter has a caption and alt text;
* a browser run: every page is served gzipped from localhost (by the server of
  ``tests/audit_book.py``, as a static host serves it) and opened in headless Chromium (the
  system's ``/usr/bin/chromium``, driven by Playwright's Python package). It asserts no console
  error, no request leaving localhost, a favicon that loads, every formula typeset when the book
  was built (KaTeX HTML, no math JavaScript, no KaTeX error, every KaTeX font loaded), numbered
  equations that carry their number, a page weight within budget, links whose colour contrasts
  with their background in light and dark mode, every image loaded, a sidebar that lists every
  chapter of ``_toc.yml``, a search page that finds "Algorithm 1", and a working notebook
  download link on every chapter written as a notebook.

Without a built book the whole module is skipped; without Chromium only the browser tests are.
Set BOOK_HTML to check a book built elsewhere, BOOK_CHROMIUM to use another browser binary,
and BOOK_REQUIRE_BROWSER=1 (as .ci/run does) to fail rather than skip without Chromium.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml
from audit_book import serve
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()

_SHOWN = HTML.relative_to(ROOT).as_posix() if ROOT in HTML.parents else HTML.name
pytestmark = pytest.mark.skipif(
    not (HTML / "index.html").is_file(),
    reason=f"no built book ({_SHOWN}/index.html is missing): run `make book` first "
    "(`make test` builds it before running this module)",
)

CHROMIUM = os.environ.get("BOOK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
# The start of an absolute path on a build machine (Linux, macOS, CI runners, temp dirs).
MACHINE_PATH = re.compile(
    r"(?<![\w/.:~-])/(?:home|root|Users|tmp|work|var/folders|opt/hostedtoolcache)/"
)
FILENAME_ALT = re.compile(r"^[\w./-]*\.(?:png|jpe?g|svg|gif|webp)$", re.IGNORECASE)
# Bytes a page may transfer (gzipped where a static host gzips, every image loaded): in all,
# and without its images (HTML, style sheets, scripts, fonts, the search index). A chapter
# moved 1.3-1.6 MB when MathJax typeset it in the browser and the theme drew its icons with
# a script; now 0.28-0.59 MB, at most 0.35 MB without images.
PAGE_BUDGET = 800_000
PAGE_BUDGET_WITHOUT_IMAGES = 400_000
MIN_CONTRAST = 4.5  # WCAG AA for body text


# --------------------------------------------------------------------------- the built pages


def _pages() -> list[Path]:
    """Every HTML page of the book (not the theme's HTML templates under _static)."""
    return sorted(p for p in HTML.rglob("*.html") if "_static" not in p.relative_to(HTML).parts)


@functools.cache
def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@functools.cache
def _ids(path: Path) -> frozenset[str]:
    soup = _soup(path)
    return frozenset(
        [t["id"] for t in soup.find_all(id=True)]
        + [t["name"] for t in soup.find_all("a", attrs={"name": True})]
    )


def _rel(path: Path) -> str:
    return path.relative_to(HTML).as_posix()


def _toc_files() -> list[str]:
    """The files of _toc.yml in reading order, root first, without extension."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [re.sub(r"\.(md|ipynb)$", "", f) for f in files]


def _notebook_chapters() -> list[str]:
    return [f for f in _toc_files() if (ROOT / f"{f}.ipynb").is_file()]


# --------------------------------------------------------------------------- static checks


def test_every_toc_file_was_built():
    missing = [f for f in _toc_files() if not (HTML / f"{f}.html").is_file()]
    assert not missing, f"pages listed in _toc.yml but not built: {missing}"


def test_no_resource_from_the_internet():
    """No script, style sheet, font or image is fetched from http(s)://, so the book works offline."""
    bad = []
    css_remote = re.compile(
        r"(?:@import\s+(?:url\()?\s*['\"]?|url\(\s*['\"]?)\s*(?:https?:)?//", re.IGNORECASE
    )
    for page in _pages():
        soup = _soup(page)
        for tag in soup.find_all(["script", "img", "iframe", "source", "audio", "video", "embed"]):
            if EXTERNAL.match(tag.get("src", "")):
                bad.append(f"{_rel(page)}: <{tag.name} src={tag['src']}>")
        for tag in soup.find_all("link", href=True):
            if EXTERNAL.match(tag["href"]):
                bad.append(f"{_rel(page)}: <link rel={tag.get('rel')} href={tag['href']}>")
        for tag in soup.find_all("style"):
            if css_remote.search(tag.get_text()):
                bad.append(f"{_rel(page)}: <style> imports from the internet")
        for tag in soup.find_all(style=True):
            if css_remote.search(tag["style"]):
                bad.append(f"{_rel(page)}: style attribute loads from the internet")
    for css in sorted(HTML.rglob("*.css")):
        for match in css_remote.finditer(css.read_text(encoding="utf-8", errors="replace")):
            bad.append(f"{_rel(css)}: {match.group(0)!r}")
    assert not bad, "resources fetched from the internet:\n" + "\n".join(bad)


def test_no_absolute_path_of_the_build_machine():
    needles = {str(ROOT), str(Path.home())} - {"/"}
    bad = []
    for page in [*_pages(), HTML / "searchindex.js"]:
        if not page.is_file():
            continue
        text = page.read_text(encoding="utf-8", errors="replace")
        for needle in needles:
            if needle in text:
                bad.append(f"{_rel(page)}: contains {needle!r}")
        for match in MACHINE_PATH.finditer(text):
            context = text[max(0, match.start() - 40) : match.end() + 40].replace("\n", " ")
            bad.append(f"{_rel(page)}: ...{context}...")
    assert not bad, "absolute paths of the build machine in the book:\n" + "\n".join(bad[:40])


def test_every_page_has_a_description_and_no_heavy_script():
    """A meta description in words (no TeX source left in it), and neither the theme's icon
    script (1.5 MB) nor a math script: formulas are typeset when the book is built."""
    bad = []
    for page in _pages():
        soup = _soup(page)
        if _redirect_target(page):
            continue
        meta = soup.find("meta", attrs={"name": "description"})
        text = meta.get("content", "") if meta else ""
        if not 40 <= len(text) <= 160 or "\\" in text or "$" in text:
            bad.append(f"{_rel(page)}: description {text!r}")
        for script in soup.find_all("script", src=True):
            if re.search(r"fontawesome|mathjax|katex", script["src"], re.IGNORECASE):
                bad.append(f"{_rel(page)}: loads {script['src']}")
    assert not bad, "\n".join(bad)


def _internal_target(page: Path, ref: str) -> tuple[Path | None, str]:
    """The file and fragment a relative link of `page` points to (None for external links)."""
    if not ref or EXTERNAL.match(ref) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", ref):
        return None, ""  # http(s)://, //host, mailto:, javascript:, data: ...
    parts = urlsplit(ref)
    target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def test_internal_links_and_anchors_resolve():
    broken = []
    attrs = [("a", "href"), ("link", "href"), ("img", "src"), ("script", "src"), ("source", "src")]
    for page in _pages():
        soup = _soup(page)
        refs = [
            (tag.name, tag[attr])
            for name, attr in attrs
            for tag in soup.find_all(name, attrs={attr: True})
        ]
        for meta in soup.find_all("meta", attrs={"http-equiv": re.compile("refresh", re.I)}):
            found = re.search(r"url=(\S+)", meta.get("content", ""), re.IGNORECASE)
            if found:
                refs.append(("meta refresh", found.group(1).strip("'\"")))
        for name, ref in refs:
            target, fragment = _internal_target(page, ref)
            if target is None:
                continue
            if HTML not in target.parents and target != HTML:
                broken.append(f"{_rel(page)}: <{name}> {ref} leaves the book")
            elif not target.is_file():
                broken.append(f"{_rel(page)}: <{name}> {ref} -> missing file")
            elif fragment and target.suffix == ".html" and fragment not in _ids(target):
                broken.append(
                    f"{_rel(page)}: <{name}> {ref} -> no id={fragment!r} in {_rel(target)}"
                )
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(sorted(set(broken)))


def _figure_problems(page: Path) -> list[str]:
    """Images in the page's article without descriptive alt text or without a caption."""
    soup = _soup(page)
    article = soup.find("article") or soup.find(attrs={"role": "main"}) or soup
    problems = []
    for img in article.find_all("img"):
        src = img.get("src", "?")
        alt = (img.get("alt") or "").strip()
        if not alt or FILENAME_ALT.match(alt) or alt == src:
            problems.append(f"{_rel(page)}: <img src={src}> has no alt text (alt={alt!r})")
        figure = img.find_parent("figure")
        caption = figure.find("figcaption") if figure else None
        if caption is None or not caption.get_text(strip=True):
            problems.append(
                f"{_rel(page)}: <img src={src}> is not in a <figure> with a <figcaption>"
            )
    for figure in article.find_all("figure"):
        caption = figure.find("figcaption")
        if caption is None or not caption.get_text(strip=True):
            problems.append(f"{_rel(page)}: <figure id={figure.get('id')}> has no caption")
    return problems


@pytest.mark.parametrize("page", _toc_files())
def test_every_figure_has_caption_and_alt_text(page):
    path = HTML / f"{page}.html"
    if not path.is_file():
        pytest.fail(f"{page}.html was not built")
    problems = sorted(set(_figure_problems(path)))
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the browser run


@pytest.fixture(scope="module")
def server():
    """The book served gzipped on localhost, on a free port, from a background thread."""
    httpd, url = serve(HTML)
    yield url
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser_context():
    """A headless Chromium context in which every request to a host other than localhost is
    aborted and recorded (in ``context.external_requests``)."""
    if not Path(CHROMIUM).is_file():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("BOOK_REQUIRE_BROWSER") == "1":  # CI: a missing browser is a failure
            pytest.fail(message)
        pytest.skip(message + "; browser checks skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: pip install -r requirements.txt")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(
            service_workers="block", viewport={"width": 1280, "height": 900}
        )
        context.external_requests = []

        def guard(route):
            if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
                route.continue_()
            else:
                context.external_requests.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        yield context
        context.close()
        browser.close()


PAGE_REPORT = """async () => {
  await document.fonts.ready;
  const icon = document.querySelector('link[rel~="icon"]');
  const iconStatus = icon ? await fetch(icon.href).then(r => r.ok && r.headers.get('content-type'),
                                                          e => String(e)) : null;
  const images = Array.from(document.images);
  await Promise.all(images.map(img => {
    img.loading = 'eager';
    if (img.complete) return null;
    return new Promise(done => { img.onload = img.onerror = done; setTimeout(done, 5000); });
  }));
  const text = root => {
    const copy = root.cloneNode(true);
    copy.querySelectorAll('pre, code, script, style, textarea, .katex, .highlight').forEach(e => e.remove());
    return copy.textContent;
  };
  const body = text(document.body);
  const unsized = images.filter(img => img.closest('article')).filter(img => {
    const [w, h] = [img.getAttribute('width'), img.getAttribute('height')];
    if (!w || !h || img.naturalWidth === 0) return true;
    const box = img.getBoundingClientRect();
    const ratios = [w / h, img.naturalWidth / img.naturalHeight, box.width / box.height];
    return Math.max(...ratios) / Math.min(...ratios) > 1.02;
  }).map(img => img.getAttribute('src'));
  // Every subsection drawn (content-visibility: auto skips those off screen), so that every
  // formula asks for its font: the fonts in use, against the ones the page preloads.
  document.querySelectorAll('.bd-article section').forEach(s => s.style.contentVisibility = 'visible');
  document.body.getBoundingClientRect();
  await document.fonts.ready;
  const faces = {'400 normal': 'Regular', '700 normal': 'Bold', '400 italic': 'Italic', '700 italic': 'BoldItalic'};
  const fontsUsed = Array.from(document.fonts)
    .filter(f => f.status === 'loaded' && f.family.startsWith('KaTeX'))
    .map(f => `${f.family}-${faces[f.weight + ' ' + f.style]}.woff2`).sort();
  const fontsPreloaded = Array.from(document.querySelectorAll('link[rel="preload"][as="font"]'))
    .map(l => l.href.split('/').pop()).sort();
  const nav = document.querySelector('nav.bd-docs-nav') || document.querySelector('.bd-sidebar-primary');
  const h1 = document.querySelector('article h1, main h1, h1');
  let title = '';
  if (h1) { const c = h1.cloneNode(true); c.querySelectorAll('.headerlink').forEach(e => e.remove()); title = c.textContent; }
  return {
    icon: icon ? icon.getAttribute('href') : null,
    iconStatus: iconStatus,
    mathScripts: Array.from(document.scripts).map(s => s.src)
      .filter(src => /mathjax|katex|tex-(chtml|svg|mml)/i.test(src)),
    mathElements: document.querySelectorAll('.math').length,
    untypeset: Array.from(document.querySelectorAll('span.math, div.math'))
      .filter(e => !e.querySelector('.katex .katex-html') || !e.querySelector('.katex math'))
      .map(e => e.textContent.trim().slice(0, 80)),
    typeset: document.querySelectorAll('.katex').length,
    mathErrors: Array.from(document.querySelectorAll('.katex-error'))
      .map(e => e.getAttribute('title') || e.textContent.slice(0, 80)),
    fontErrors: Array.from(document.fonts).filter(f => f.status === 'error').map(f => f.family),
    unnumbered: Array.from(document.querySelectorAll('div.math[id^="equation-"]'))
      .filter(e => !/^\\(\\d+(\\.\\d+)*\\)$/.test((e.querySelector('.eqno') || {textContent: ''})
        .textContent.replace(/#$/, '').trim())).map(e => e.id),
    rawDelimiters: ['\\\\(', '\\\\[', '$$'].filter(d => body.includes(d)),
    unsizedImages: unsized,
    fontsUsed: fontsUsed,
    fontsPreloaded: fontsPreloaded,
    brokenImages: images.filter(img => !(img.complete && img.naturalWidth > 0))
      .map(img => img.getAttribute('src')),
    sidebar: nav ? Array.from(nav.querySelectorAll('a[href]'))
      .map(a => [a.href.split('#')[0], a.textContent.trim().replace(/\\s+/g, ' ')]) : null,
    title: title.trim().replace(/\\s+/g, ' '),
    downloads: Array.from(document.querySelectorAll('a[href]')).map(a => a.href)
      .filter(h => /\\.(ipynb|md)$/.test(h.split('#')[0].split('?')[0])),
  };
}"""


# The visible links whose text colour has less than MIN_CONTRAST against the colour behind
# them (the element's and its ancestors' background colours, composed; the canvas is white).
LINK_CONTRAST = """() => {
  const rgba = c => { const m = c.match(/[\\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
  const over = (top, below) => top.slice(0, 3).map((v, i) => v * top[3] + below[i] * (1 - top[3])).concat([1]);
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    return layers.reverse().reduce((below, top) => over(top, below), [255, 255, 255, 1]);
  };
  const bad = [];
  for (const a of document.querySelectorAll('a[href]')) {
    const box = a.getBoundingClientRect(), style = getComputedStyle(a);
    if (!a.textContent.trim() || !box.width || !box.height || style.visibility !== 'visible'
        || a.classList.contains('headerlink')) continue;
    const bg = background(a), fg = over(rgba(style.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < MIN) bad.push(`${a.textContent.trim().slice(0, 30)} (${style.color} on rgb(${bg.slice(0, 3).map(Math.round)})): ${ratio.toFixed(2)}`);
  }
  return bad;
}""".replace("MIN", str(MIN_CONTRAST))


def _redirect_target(path: Path) -> str | None:
    meta = _soup(path).find("meta", attrs={"http-equiv": re.compile("refresh", re.I)})
    found = re.search(r"url=(\S+)", meta.get("content", ""), re.IGNORECASE) if meta else None
    return found.group(1).strip("'\"") if found else None


@pytest.fixture(scope="module")
def crawl(server, browser_context):
    """Open every page once; return {page: report} with console errors and the DOM checks."""
    started = time.perf_counter()
    page = browser_context.new_page()
    reports = {}
    for path in _pages():
        rel = _rel(path)
        errors = []
        on_console = lambda msg, errors=errors: msg.type == "error" and errors.append(msg.text)
        on_error = lambda exc, errors=errors: errors.append(f"uncaught: {exc}")
        page.on("console", on_console)
        page.on("pageerror", on_error)
        redirect = _redirect_target(path)
        transfers = []
        on_finished = lambda request, transfers=transfers: transfers.append(request)
        page.on("requestfinished", on_finished)
        response = page.goto(server + rel, wait_until="load")
        if redirect:  # the root index.html only forwards to the landing page
            page.wait_for_url(urljoin(server + rel, redirect), timeout=10_000)
            report = {"redirect": page.url}
        else:
            report = page.evaluate(PAGE_REPORT)
            report["contrast"] = {"light": page.evaluate(LINK_CONTRAST)}
        page.wait_for_timeout(50)  # let late console messages arrive
        page.remove_listener("console", on_console)
        page.remove_listener("pageerror", on_error)
        page.remove_listener("requestfinished", on_finished)
        report["status"] = response.status if response else None
        report["console"] = errors
        report["bytes"] = _transferred(transfers)
        reports[rel] = report
    page.emulate_media(color_scheme="dark")
    for rel, report in _rendered(reports).items():
        page.goto(server + rel, wait_until="load")
        report["contrast"]["dark"] = page.evaluate(LINK_CONTRAST)
    page.close()
    reports_time = time.perf_counter() - started
    print(f"\nbrowser: opened {len(reports)} pages in {reports_time:.1f} s")
    return reports


def _transferred(requests) -> dict:
    """Bytes on the wire (headers and encoded bodies) by kind: 'all' and 'images'."""
    total = {"all": 0, "images": 0}
    for request in requests:
        sizes = request.sizes()
        size = sizes["responseHeadersSize"] + sizes["responseBodySize"]
        total["all"] += size
        if request.resource_type == "image":
            total["images"] += size
    return total


def _rendered(crawl: dict) -> dict:
    """The reports of real pages (not of the redirect at the root)."""
    return {rel: r for rel, r in crawl.items() if "redirect" not in r}


def test_browser_every_page_loads_without_console_errors(crawl):
    bad = {
        p: r["console"] or r["status"]
        for p, r in crawl.items()
        if r["console"] or r["status"] != 200
    }
    assert not bad, "console errors (or HTTP status != 200):\n" + json.dumps(bad, indent=1)


def test_browser_no_request_leaves_localhost(crawl, browser_context):
    external = sorted(set(browser_context.external_requests))
    assert not external, "requests to other hosts (aborted):\n" + "\n".join(external)


def test_browser_every_formula_is_typeset(crawl):
    bad = {}
    for rel, r in _rendered(crawl).items():
        problems = []
        if r["mathScripts"]:
            problems.append(f"math JavaScript on the page: {r['mathScripts']}")
        if r["untypeset"]:
            problems.append(f"not typeset (no KaTeX HTML and MathML): {r['untypeset'][:5]}")
        if r["mathErrors"]:
            problems.append(f"KaTeX errors: {r['mathErrors'][:5]}")
        if r["fontErrors"]:
            problems.append(f"fonts that did not load: {sorted(set(r['fontErrors']))}")
        if r["unnumbered"]:
            problems.append(f"labelled equations without a number: {r['unnumbered'][:5]}")
        if r["rawDelimiters"]:
            problems.append(f"raw TeX delimiters left in the text: {r['rawDelimiters']}")
        if problems:
            bad[rel] = problems
    assert not bad, json.dumps(bad, indent=1)
    assert any(r["typeset"] for r in _rendered(crawl).values()), (
        "no formula typeset anywhere in the book"
    )


def test_browser_every_page_has_a_favicon(crawl):
    """A page without <link rel="icon"> makes the browser ask for /favicon.ico (a 404 and a
    console error on most hosts)."""
    bad = {
        p: f"icon {r['icon']!r}: {r['iconStatus']!r}"
        for p, r in _rendered(crawl).items()
        if not (r["icon"] and str(r["iconStatus"]).startswith("image/"))
    }
    assert not bad, "pages without a loading favicon:\n" + json.dumps(bad, indent=1)


def test_browser_page_weight_within_budget(crawl):
    weights = {p: r["bytes"] for p, r in _rendered(crawl).items()}
    print("\nbytes transferred per page (all, images):")
    for page, w in sorted(weights.items(), key=lambda item: -item[1]["all"]):
        print(f"  {page:34} {w['all']:>9,} {w['images']:>9,}")
    bad = [
        f"{p}: {w['all']:,} bytes in all (budget {PAGE_BUDGET:,}), "
        f"{w['all'] - w['images']:,} without images (budget {PAGE_BUDGET_WITHOUT_IMAGES:,})"
        for p, w in weights.items()
        if w["all"] > PAGE_BUDGET or w["all"] - w["images"] > PAGE_BUDGET_WITHOUT_IMAGES
    ]
    assert not bad, "pages over the weight budget:\n" + "\n".join(bad)
    assert all(w["all"] > 10_000 for w in weights.values()), f"implausibly light: {weights}"


def test_browser_links_contrast_in_light_and_dark_mode(crawl):
    bad = [
        f"{p} ({mode}): {link}"
        for p, r in _rendered(crawl).items()
        for mode, links in r["contrast"].items()
        for link in links
    ]
    assert not bad, f"links below {MIN_CONTRAST}:1 contrast with their background:\n" + "\n".join(
        bad[:40]
    )


def test_browser_every_image_loads(crawl):
    bad = {p: r["brokenImages"] for p, r in _rendered(crawl).items() if r["brokenImages"]}
    assert not bad, "images that did not load (naturalWidth == 0):\n" + json.dumps(bad, indent=1)


def test_browser_every_image_has_its_size_before_it_loads(crawl):
    """An image without width and height gets its height only when it arrives and moves the
    text below it (a layout shift); with them, the box it is drawn in keeps their ratio."""
    bad = {p: r["unsizedImages"] for p, r in _rendered(crawl).items() if r["unsizedImages"]}
    assert not bad, "images without width/height, or drawn at another ratio:\n" + json.dumps(
        bad, indent=1
    )


def test_browser_preloads_exactly_the_fonts_a_page_uses(crawl):
    """A font used but not preloaded arrives after the first layout and moves every formula;
    one preloaded but unused costs bytes (and a console warning)."""
    bad = {
        p: {"preloaded": r["fontsPreloaded"], "used": r["fontsUsed"]}
        for p, r in _rendered(crawl).items()
        if r["fontsPreloaded"] != r["fontsUsed"]
    }
    assert not bad, "KaTeX fonts preloaded != fonts used:\n" + json.dumps(bad, indent=1)
    assert any(r["fontsUsed"] for r in _rendered(crawl).values())


def test_browser_sidebar_lists_every_chapter(crawl, server):
    expected = {urljoin(server, f"{f}.html"): f for f in _toc_files()[1:]}
    titles = {
        urljoin(server, f"{f}.html"): crawl.get(f"{f}.html", {}).get("title", "")
        for f in expected.values()
    }
    strip_number = functools.partial(re.sub, r"^\d+(\.\d+)*\.?\s+", "")
    bad = []
    for rel in [f"{f}.html" for f in _toc_files()]:
        sidebar = crawl[rel]["sidebar"]
        if sidebar is None:
            bad.append(f"{rel}: no sidebar navigation")
            continue
        links = dict(sidebar)
        missing = [f for url, f in expected.items() if url not in links]
        if missing:
            bad.append(f"{rel}: sidebar lacks {missing}")
        for url, text in links.items():
            if url in titles and strip_number(text) != strip_number(titles[url]):
                bad.append(f"{rel}: sidebar says {text!r}, the page's title is {titles[url]!r}")
    assert not bad, "\n".join(sorted(set(bad)))


def test_browser_search_finds_algorithm_1(server, browser_context):
    page = browser_context.new_page()
    errors = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.goto(server + "search.html?q=Algorithm+1", wait_until="load")
    page.wait_for_selector("#search-results ul.search li", timeout=20_000)
    results = page.locator("#search-results ul.search li a").evaluate_all(
        "els => els.map(a => a.href)"
    )
    page.close()
    assert results, "the search for 'Algorithm 1' listed no page"
    assert not errors, f"console errors on the search page: {errors}"


def test_browser_notebook_download_links_work(crawl, browser_context):
    bad = []
    for chapter in _notebook_chapters():
        rel = f"{chapter}.html"
        links = [h for h in crawl[rel]["downloads"] if h.split("?")[0].endswith(".ipynb")]
        if not links:
            bad.append(f"{rel}: no .ipynb download link")
        for href in links:
            response = browser_context.request.get(href)
            if response.status != 200:
                bad.append(f"{rel}: {href} -> HTTP {response.status}")
                continue
            try:
                notebook = json.loads(response.body())
            except ValueError:
                bad.append(f"{rel}: {href} is not JSON")
                continue
            if not notebook.get("cells"):
                bad.append(f"{rel}: {href} has no cells")
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------- on a phone

PHONE = {"width": 390, "height": 844}
# Display formulas that may still be wider than a phone's column, book-wide; each of them must
# scroll sideways with a visible cue (custom.css). All the others break into lines.
MAX_SCROLLING_FORMULAS = 5

PHONE_REPORT = """async () => {
  document.querySelectorAll('.bd-article section').forEach(s => s.style.contentVisibility = 'visible');
  const wide = [];
  for (const d of document.querySelectorAll('div.math')) {
    const k = d.querySelector('.katex-html');
    if (!k || k.scrollWidth <= k.clientWidth + 1) continue;
    k.scrollIntoView();  // scroll-cue.js marks a formula when it comes near the screen
    await new Promise(done => setTimeout(done, 150));
    const s = getComputedStyle(k);
    const cue = s.overflowX === 'auto' && k.classList.contains('book-scrolls')
      && s.boxShadow.includes('inset');
    const tex = d.querySelector('annotation');
    wide.push({tex: (tex ? tex.textContent : d.textContent).trim().slice(0, 60),
               over: k.scrollWidth - k.clientWidth, cue: cue, inBox: !!d.closest('div.algorithm')});
  }
  const cut = [];
  for (const box of document.querySelectorAll('div.algorithm')) {
    const right = box.getBoundingClientRect().right;
    const title = box.querySelector('.admonition-title');
    for (const el of box.querySelectorAll('*')) {
      if (el.closest('.katex-mathml')) continue;  // KaTeX's invisible MathML copy
      const r = el.getBoundingClientRect();
      if (r.width && r.right > right + 1) {
        cut.push(`${title ? title.textContent.trim().slice(0, 40) : '?'}: "${el.textContent.trim().slice(0, 40)}" ends ${Math.round(r.right - right)} px past the box`);
        break;
      }
    }
  }
  return {wide: wide, cut: cut};
}"""


@pytest.fixture(scope="module")
def phone(server, browser_context):
    """Every rendered page opened at 390 x 844 px: {page: {wide: [...], cut: [...]}}."""
    context = browser_context.browser.new_context(service_workers="block", viewport=PHONE)
    context.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url)
                  .hostname in LOCAL_HOSTS else route.abort())
    page = context.new_page()
    reports = {}
    for path in _pages():
        if _redirect_target(path):
            continue
        page.goto(server + _rel(path), wait_until="load")
        reports[_rel(path)] = page.evaluate(PHONE_REPORT)
    context.close()
    return reports


def test_phone_formulas_fit_the_column_or_show_that_they_scroll(phone):
    wide = [(rel, f) for rel, report in phone.items() for f in report["wide"]]
    listing = "\n".join(f"{rel}: {f['over']} px too wide: {f['tex']}" for rel, f in wide)
    assert all(f["cue"] for _, f in wide), "formulas that scroll without a cue:\n" + listing
    assert len(wide) <= MAX_SCROLLING_FORMULAS, (
        f"{len(wide)} display formulas wider than the column at 390 px "
        f"(at most {MAX_SCROLLING_FORMULAS}):\n{listing}"
    )


def test_phone_every_algorithm_line_is_visible(phone):
    problems = [f"{rel}: {c}" for rel, report in phone.items() for c in report["cut"]]
    problems += [f"{rel}: a formula in an algorithm box scrolls: {f['tex']}"
                 for rel, report in phone.items() for f in report["wide"] if f["inBox"]]
    assert not problems, "\n".join(problems)


def test_algorithm_boxes_carry_the_lectures_numbers():
    titles = {}
    for chapter in ("01_training", "04_algorithm1", "05_algorithm2", "10_training",
                    "16_distributed"):
        soup = _soup(HTML / "book" / f"{chapter}.html")
        titles[chapter] = [t.get_text(" ", strip=True)
                           for t in soup.select("div.algorithm .admonition-title")]
    assert titles["04_algorithm1"][0].startswith("Algorithm 1 "), titles
    assert titles["05_algorithm2"][0].startswith("Algorithm 2 "), titles
    # the book's own algorithms are lettered, so no number is the lecture's
    others = [t for c in ("01_training", "10_training", "16_distributed") for t in titles[c]]
    assert all(re.match(r"Algorithm [A-Z] ", t) for t in others), others
    # the numbers Sphinx gave them by chapter (chapter 14 cites Nocedal and Wright's 5.2)
    old = re.compile(r"Algorithm (?:1|4|5|10|16)\.1\b")
    stray = [(_rel(p), m) for p in _pages() for m in old.findall(_soup(p).get_text(" "))]
    assert not stray, f"chapter-numbered algorithms: {stray}"


def test_pages_outside_the_chapters_number_their_boxes_from_one():
    """Figures and exercises of unnumbered pages count per page, in the order they appear
    (Sphinx counted them across those pages: the appendix's exercises began at 3)."""
    bad = []
    for path in _pages():
        rel = _rel(path).removesuffix(".html")
        if re.fullmatch(r"book/\d\d_\w+", rel):  # a numbered chapter
            continue
        seen = {}
        for caption in _soup(path).select("span.caption-number"):
            kind, _, number = caption.get_text(strip=True).rpartition(" ")
            seen.setdefault(kind, []).append(number)
        for kind, numbers in seen.items():
            if numbers != [str(i) for i in range(1, len(numbers) + 1)]:
                bad.append(f"{rel}: {kind} {numbers}")
    assert not bad, bad
    # and the chapters keep their chapter numbers
    captions = _soup(HTML / "book" / "07_saturation.html").select("span.caption-number")
    assert captions[0].get_text(strip=True) == "Fig. 7.1"


def test_every_figure_opens_at_full_size():
    """On a phone a figure is scaled to the column; a tap on it opens the image file."""
    bad = []
    for path in _pages():
        for img in _soup(path).select("article figure img"):
            link = img.find_parent("a")
            if link is None or link["href"] != img["src"]:
                bad.append(f"{_rel(path)}: {img['src']} is not a link to itself")
            elif not (path.parent / unquote(link["href"])).is_file():
                bad.append(f"{_rel(path)}: {link['href']} missing")
    assert not bad, "\n".join(bad)


def test_every_exercise_title_links_to_itself():
    bad, count = [], 0
    for path in _pages():
        for box in _soup(path).select("div.exercise[id]"):
            count += 1
            link = box.select_one("p.admonition-title a.headerlink")
            if link is None or link.get("href") != f"#{box['id']}":
                bad.append(f"{_rel(path)}#{box['id']}")
    assert count > 40 and not bad, (count, bad)
