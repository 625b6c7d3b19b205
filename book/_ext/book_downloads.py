"""Sphinx extension: what a reader downloads from the book to run it, and how to cite it.

* Before the pages are read, the package is built as an sdist and a wheel (``python -m build``
  without isolation, so offline, from this checkout) and every chapter notebook is put in one
  archive with a reader's README and the wheel. The files land in ``downloads/`` of the site
  (``html_extra_path``); their names carry the version from ``pyproject.toml``.
* ``{book-download}`notebooks``` (or ``wheel``, ``sdist``, ``pdf``) links to one of them, with
  its size.
* The PDF edition (``make pdf``, which the HTML builds run first) is copied there too, and
  the instructors' edition without the solutions.
* Every page's download menu offers the archive, the wheel and the PDF beside the page's own
  files.
* ``{book-citation}`` shows ``CITATION.cff`` as BibTeX and as a line of text.
* ``{{ version }}`` and ``{{ dist_name }}`` are MyST substitutions; the footer of every page
  names the version and the two licences.

The archive mirrors the repository's layout (``book/`` beside ``benchmarks/``), since the
speed chapters read the stored benchmark results from ``../benchmarks``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import yaml
from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.errors import ExtensionError
from sphinx.util import logging

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

logger = logging.getLogger(__name__)

DOWNLOADS = "downloads"
PDF_DIR = "_build/pdf"  # where `make pdf` writes the PDF edition
ARCHIVE_FOLDER = "backprop-notebooks"
# The stored benchmark results that chapters 11, 12 and appendix A2 read.
BENCHMARK_GLOB = "results*.json"
FOOTER = (
    "{title}, version {version}. Text and figures: "
    '<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>; '
    "code: MIT licence. "
    '<a href="{about}">How to cite and report an erratum</a>.'
)


def project(root: Path) -> dict:
    """The ``[project]`` table of pyproject.toml."""
    with (root / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]


def file_names(root: Path) -> dict[str, str]:
    """The download files' names, from the distribution name and version."""
    meta = project(root)
    stem = f"{meta['name'].replace('-', '_')}-{meta['version']}"
    return {
        "wheel": f"{stem}-py3-none-any.whl",
        "sdist": f"{stem}.tar.gz",
        "notebooks": f"{ARCHIVE_FOLDER}-{meta['version']}.zip",
        "pdf": f"backprop-book-{meta['version']}.pdf",
        # the instructors' edition: the exercises without their solutions
        "pdf_exercises": f"backprop-book-{meta['version']}-exercises.pdf",
    }


def _source_date_epoch(root: Path) -> str:
    """The last commit's time (so that a rebuild of one commit gives the same archives), or
    the release date of CITATION.cff outside a git checkout."""
    if "SOURCE_DATE_EPOCH" in os.environ:
        return os.environ["SOURCE_DATE_EPOCH"]
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%ct"], cwd=root, capture_output=True, text=True,
            check=True,
        ).stdout.strip()
        if out:
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    import datetime as dt

    released = dt.date.fromisoformat(str(_citation(root)["date-released"]))
    return str(int(dt.datetime(*released.timetuple()[:3], tzinfo=dt.timezone.utc).timestamp()))


def build_distributions(root: Path, outdir: Path, epoch: str) -> None:
    """sdist and wheel of this checkout into ``outdir`` (the wheel is built from the sdist)."""
    env = dict(os.environ, SOURCE_DATE_EPOCH=epoch)
    with tempfile.TemporaryDirectory(prefix="book_dist_") as work:
        # A copy, so that the build leaves no egg-info or build folder in the checkout.
        source = Path(work) / "src"
        shutil.copytree(root / "backprop", source / "backprop",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy(root / name, source / name)
        result = subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir),
             str(source)],
            env=env, capture_output=True, text=True,
        )
    if result.returncode != 0:
        raise ExtensionError(f"python -m build failed:\n{result.stdout}\n{result.stderr}")


READER_README = """\
# Back-propagation, line by line: the notebooks

Version {version}. Every chapter of the book as a Jupyter notebook (in `book/`, with the
outputs the book shows), the stored benchmark results that chapters 11 and 12 read (in
`benchmarks/`), and the package `backprop` as a wheel ({wheel}).

## Install (once)

Python 3.10 or newer. In this folder, on Linux or macOS:

    python3 -m venv .venv
    source .venv/bin/activate
    pip install -f . "{dist}[book]"

On Windows (PowerShell or cmd):

    py -m venv .venv
    .venv\\Scripts\\activate
    pip install -f . "{dist}[book]"

`-f .` (short for `--find-links .`) makes pip take the package from the wheel in this
folder, and NumPy, matplotlib, scikit-learn,
Dask and JupyterLab from the package index. (`pip install backprop` would fetch an unrelated
package of that name.) The page "Coming from scikit-learn or PyTorch" also needs PyTorch:
`pip install -f . "{dist}[book,torch]"`.

## Run

    jupyter lab

then open any notebook in `book/`, for example `book/04_algorithm1.ipynb`, and run it from
the top. Each chapter seeds its own random numbers, so you see the book's results.

Text and figures: CC BY 4.0. Code: MIT licence (see the wheel's LICENSE).
"""


def _fixed_zipinfo(name: str, epoch: int) -> zipfile.ZipInfo:
    import time

    info = zipfile.ZipInfo(name, date_time=time.gmtime(max(epoch, 315532800))[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def build_notebook_archive(root: Path, outdir: Path, names: dict, epoch: str) -> list[str]:
    """The chapters, the benchmark results, the wheel and a README in one zip; returns the
    notebooks' names."""
    meta = project(root)
    notebooks = sorted((root / "book").glob("*.ipynb"))
    members = [(f"book/{nb.name}", nb.read_bytes()) for nb in notebooks]
    members += [
        (f"benchmarks/{path.name}", path.read_bytes())
        for path in sorted((root / "benchmarks").glob(BENCHMARK_GLOB))
    ]
    members.append((names["wheel"], (outdir / names["wheel"]).read_bytes()))
    readme = READER_README.format(version=meta["version"], wheel=names["wheel"], dist=meta["name"])
    members.append(("README.md", readme.encode()))
    with zipfile.ZipFile(outdir / names["notebooks"], "w") as archive:
        for name, data in sorted(members):
            archive.writestr(_fixed_zipinfo(f"{ARCHIVE_FOLDER}/{name}", int(epoch)), data)
    return [nb.name for nb in notebooks]


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(1, round(size / 1e3))} kB"


def _build_downloads(app) -> None:
    if app.builder.name != "html":  # not the single page that the PDF edition prints
        return
    root = Path(app.confdir)
    names = file_names(root)
    staging = Path(tempfile.mkdtemp(prefix="book_downloads_"))
    outdir = staging / DOWNLOADS
    outdir.mkdir()
    epoch = _source_date_epoch(root)
    build_distributions(root, outdir, epoch)
    missing = [names[k] for k in ("wheel", "sdist") if not (outdir / names[k]).is_file()]
    if missing:
        raise ExtensionError(f"python -m build did not write {missing}")
    build_notebook_archive(root, outdir, names, epoch)
    for kind in ("pdf", "pdf_exercises"):
        pdf = root / PDF_DIR / names[kind]
        if not pdf.is_file():  # an error under -W: the pages link to it
            logger.warning("the PDF edition %s is missing: `make pdf` builds it",
                           pdf.relative_to(root))
        else:
            shutil.copy(pdf, outdir / names[kind])
    app._book_downloads = {
        kind: (name, _size(outdir / name)) for kind, name in names.items()
        if (outdir / name).is_file()
    }
    app.config.html_extra_path.append(str(staging))
    app.connect("build-finished", lambda app, exc: shutil.rmtree(staging, ignore_errors=True))


def download_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{book-download}`notebooks```: a link to that file of the site's downloads."""
    app = inliner.document.settings.env.app
    downloads = getattr(app, "_book_downloads", None)
    kinds = file_names(Path(app.confdir))
    if text not in kinds:
        message = inliner.reporter.error(
            f"book-download: expected one of {sorted(kinds)}, got {text!r}", line=lineno
        )
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    file, size = (downloads or {}).get(text, (kinds[text], None))
    docname = inliner.document.settings.env.docname
    uri = "../" * docname.count("/") + f"{DOWNLOADS}/{file}"
    label = f"{file} ({size})" if size else file
    node = nodes.reference(rawtext, "", refuri=uri, classes=["book-download"])
    node += nodes.literal(file, label)
    return [node], []


def _citation(root: Path) -> dict:
    return yaml.safe_load((root / "CITATION.cff").read_text(encoding="utf-8"))


def bibtex(cff: dict) -> str:
    """CITATION.cff as one BibTeX entry, short-lined for a phone."""
    authors = " and ".join(
        "{" + a["name"] + "}" if "name" in a else f"{a['family-names']}, {a['given-names']}"
        for a in cff["authors"]
    )
    year = str(cff["date-released"])[:4]
    title, _, subtitle = cff["title"].partition(": ")
    subtitle = "\n    ".join(textwrap.wrap(subtitle, 48))
    fields = [
        ("author", "{" + authors + "}"),
        ("title", "{" + title + (":\n    " + subtitle if subtitle else "") + "}"),
        ("year", "{" + year + "}"),
        ("version", "{" + str(cff["version"]) + "}"),
        ("date", "{" + str(cff["date-released"]) + "}"),
        ("note", "{Python package " + "backprop-book" + ";\n    text CC BY 4.0, code MIT}"),
    ]
    body = ",\n".join(f"  {key:<7} = {value}" for key, value in fields)
    return f"@software{{backprop{year},\n{body},\n}}"


class CitationDirective(Directive):
    """The citation of CITATION.cff: a line of text, then the BibTeX entry."""

    has_content = False

    def run(self):
        env = self.state.document.settings.env
        root = Path(env.app.confdir)
        env.note_dependency(str(root / "CITATION.cff"))
        cff = _citation(root)
        meta = project(root)
        if str(cff["version"]) != meta["version"]:
            raise self.error(
                f"CITATION.cff has version {cff['version']!r}, pyproject.toml {meta['version']!r}"
            )
        who = " and ".join(a.get("name", a.get("family-names", "")) for a in cff["authors"])
        line = nodes.paragraph()
        line += nodes.Text(f"{who} ({str(cff['date-released'])[:4]}). ")
        line += nodes.emphasis(text=cff["title"])
        line += nodes.Text(f". Version {cff['version']}, released {cff['date-released']}.")
        block = nodes.literal_block(text=bibtex(cff), language="bibtex")
        return [line, block]


def _download_buttons(app, pagename, templatename, context, doctree) -> None:
    """Add the notebook archive and the wheel to the theme's download menu."""
    downloads = getattr(app, "_book_downloads", None)
    if not downloads:
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "download-buttons":
            continue
        for kind, text, icon, tooltip in (
            ("notebooks", "notebooks .zip", "fas fa-file-zipper", "Every chapter as a notebook"),
            ("wheel", "package .whl", "fas fa-box", "The backprop package"),
            ("pdf", "book .pdf", "fas fa-book", "The whole book as a PDF"),
        ):
            if kind not in downloads:
                continue
            group["buttons"].append(
                {
                    "type": "link",
                    "url": context["pathto"](f"{DOWNLOADS}/{downloads[kind][0]}", 1),
                    "text": text,
                    "icon": icon,
                    "tooltip": f"{tooltip} ({downloads[kind][1]})",
                    "label": f"download-{kind}-button",
                }
            )


def _config(app, config) -> None:
    meta = project(Path(app.confdir))
    config.myst_substitutions = {
        **config.myst_substitutions,
        "version": meta["version"],
        "dist_name": meta["name"],
    }


def _footer(app, pagename, templatename, context, doctree) -> None:
    """The theme's extra footer (``theme_extra_footer``) with a link relative to the page."""
    meta = project(Path(app.confdir))
    context["theme_extra_footer"] = FOOTER.format(
        title=app.config.html_title, version=meta["version"], about=context["pathto"]("book/about")
    )


def setup(app):
    app.connect("config-inited", _config)
    app.connect("builder-inited", _build_downloads)
    # After the theme's own handler (priority 500) has made the download menu.
    app.connect("html-page-context", _download_buttons, priority=600)
    app.connect("html-page-context", _footer)
    app.add_role("book-download", download_role)
    app.add_directive("book-citation", CitationDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
