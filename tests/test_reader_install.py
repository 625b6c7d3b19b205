"""A reader's route, from the built site's downloads to a running chapter (``make test``, after
the book build).

The files are found as a reader finds them: the links of the running page and the download
menu of every page. The distributions are checked (name, version, ``twine check``), then the
notebook archive is unpacked outside the checkout, a fresh virtual environment is made there
and the package installed into it exactly as the archive's README says (the package from the
wheel beside the notebooks, its dependencies from the package index), and chapters 4 and 8 are
executed with nbclient in that environment. The package those chapters import must be the
installed wheel, not this checkout.

Needs the package index (CI reaches it). Without a built book the module is skipped.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml
from bs4 import BeautifulSoup

import backprop

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
RUNNING = HTML / "book" / "running.html"
CHAPTERS_RUN = ("04_algorithm1", "08_multilogit")
DIST_NAME = "backprop-book"

pytestmark = pytest.mark.skipif(
    not RUNNING.is_file(), reason="no built book: run `make book` first (`make test` does)"
)


def _downloads_linked(page: Path) -> dict[str, Path]:
    """The files of downloads/ that a page links to, by suffix ('.zip', '.whl', '.tar.gz')."""
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    found = {}
    for a in soup.find_all("a", href=True):
        target = (page.parent / unquote(a["href"].split("#")[0])).resolve()
        if target.parent == HTML / "downloads":
            suffix = ".tar.gz" if target.name.endswith(".tar.gz") else target.suffix
            found[suffix] = target
    return found


@pytest.fixture(scope="module")
def downloads() -> dict[str, Path]:
    files = _downloads_linked(RUNNING)
    # the notebooks, the wheel and the sdist (and the PDF edition, tests/test_pdf.py)
    assert set(files) == {".zip", ".whl", ".tar.gz", ".pdf"}, f"running.html links to {files}"
    missing = [str(p) for p in files.values() if not p.is_file()]
    assert not missing, f"linked downloads missing from the site: {missing}"
    return files


def test_every_page_offers_the_notebooks_and_the_wheel(downloads):
    pages = [p for p in HTML.joinpath("book").glob("*.html")]
    assert len(pages) >= 20
    bad = [p.name for p in pages if {".zip", ".whl"} - set(_downloads_linked(p))]
    assert not bad, f"pages whose download menu lacks the archive or the wheel: {bad}"
    index = _downloads_linked(HTML / "book" / "index.html")
    assert index[".zip"] == downloads[".zip"]


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(z.read(name).decode())


def test_distribution_name_version_and_metadata(downloads):
    meta = _metadata(downloads[".whl"])
    assert meta["Name"] == DIST_NAME != "backprop"  # `backprop` on the index is another project
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert meta["Version"] == backprop.__version__ == str(citation["version"])
    assert meta["License-Expression"] == "MIT"
    assert meta["Author"] or meta["Author-email"], "no author in the metadata"
    assert meta.get_all("Classifier"), "no classifiers"
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "book" in meta.get_all("Provides-Extra")
    assert downloads[".whl"].name.startswith(f"backprop_book-{meta['Version']}-")
    assert downloads[".tar.gz"].name == f"backprop_book-{meta['Version']}.tar.gz"


def test_twine_check_passes(downloads):
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict",
         str(downloads[".whl"]), str(downloads[".tar.gz"])],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def _toc_notebooks() -> set[str]:
    text = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    files = re.findall(r"file:\s*(book/\S+)", text)
    return {f"{f.removeprefix('book/')}.ipynb" for f in files if (ROOT / f"{f}.ipynb").is_file()}


def test_archive_holds_every_chapter_the_wheel_and_a_readme(downloads):
    with zipfile.ZipFile(downloads[".zip"]) as z:
        names = z.namelist()
        top = {n.split("/")[0] for n in names}
        assert top == {"backprop-notebooks"}, top
        members = {n.split("/", 1)[1] for n in names}
        notebooks = {m.removeprefix("book/") for m in members if m.startswith("book/")}
        assert notebooks == _toc_notebooks()
        assert z.read(f"backprop-notebooks/{downloads['.whl'].name}") == downloads[".whl"].read_bytes()
        readme = z.read("backprop-notebooks/README.md").decode()
        assert f'pip install -f . "{DIST_NAME}[book]"' in readme
        # chapters 11, 12 and appendix A2 read the stored benchmark results
        assert "benchmarks/results.json" in members
        for name in notebooks:
            nb = json.loads(z.read(f"backprop-notebooks/book/{name}"))
            cells = nb["cells"]
            first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
            note = cells[first_code - 1]
            assert "reader-note" in note["metadata"].get("tags", []), name
            assert f'%pip install --find-links .. \\"{DIST_NAME}[book]\\"' in json.dumps(
                note["source"]
            ), name


def _run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


EXECUTE = r"""
import json, sys, nbformat
from nbclient import NotebookClient
folder, names = sys.argv[1], sys.argv[2:]
report = {}
for name in names:
    nb = nbformat.read(f"{folder}/{name}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import backprop, importlib.metadata\n"
        "print(backprop.__file__)\n"
        "print(importlib.metadata.version('backprop-book'))"))
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": folder}}).execute()
    # the kernel may send the two printed lines as one stream output or as two
    report[name] = "".join(o.get("text", "") for o in nb.cells[-1].outputs).split()
print(json.dumps(report))
"""


def test_reader_installs_from_the_downloads_and_runs_chapters(downloads, tmp_path_factory):
    work = tmp_path_factory.mktemp("reader")
    assert ROOT not in work.parents, "the reader's folder must be outside the checkout"
    with zipfile.ZipFile(downloads[".zip"]) as z:
        z.extractall(work)
    folder = work / "backprop-notebooks"
    venv = folder / ".venv"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # The reader's shell: nothing of this checkout's environment on the path.
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP"}}
    env |= {
        "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}",
        "JUPYTER_DATA_DIR": str(work / "jupyter-data"),  # no kernel specs of this machine
        "JUPYTER_CONFIG_DIR": str(work / "jupyter-config"),
        "IPYTHONDIR": str(work / "ipython"),
        "MPLBACKEND": "agg",
    }
    env.pop("JUPYTER_PATH", None)
    start = time.perf_counter()
    _run([sys.executable, "-m", "venv", str(venv)], cwd=folder, env=env)
    # The README's command, in the venv: pip install -f . "backprop-book[book]"
    pip = python.parent / ("pip.exe" if os.name == "nt" else "pip")
    _run([str(pip), "install", "--quiet", "-f", ".", f"{DIST_NAME}[book]"],
         cwd=folder, env=env, timeout=1800)
    installed = time.perf_counter() - start
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"reader's install: {installed:.0f} s, {size / 1e6:.0f} MB")

    # Offline, once the dependencies are there, the same command needs no index (running.md).
    offline = _run([str(python), "-m", "pip", "install", "--no-index", "--find-links", ".",
                    f"{DIST_NAME}[book]"], cwd=folder, env=env)
    assert f"Requirement already satisfied: {DIST_NAME}" in offline.stdout, offline.stdout

    pip_show = _run([str(python), "-m", "pip", "show", "-f", DIST_NAME], cwd=folder, env=env)
    assert "Editable project location" not in pip_show.stdout

    result = _run([str(python), "-c", EXECUTE, str(folder / "book"), *CHAPTERS_RUN],
                  cwd=folder, env=env, timeout=1800)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                cwd=folder, env=env).stdout.strip()
    for chapter in CHAPTERS_RUN:
        path, version = report[chapter]
        assert Path(path).resolve().is_relative_to(Path(site).resolve()), (chapter, path, site)
        assert not Path(path).resolve().is_relative_to(ROOT), (chapter, path)
        assert version == backprop.__version__


# --------------------------------------------------------------------------- the reader's pages


def _page_text(name: str) -> BeautifulSoup:
    soup = BeautifulSoup((HTML / "book" / f"{name}.html").read_text(encoding="utf-8"),
                         "html.parser")
    return soup.find("article") or soup


def test_running_page_is_download_install_open_without_make():
    article = _page_text("running")
    headings = [h.get_text(" ", strip=True).rstrip("#").strip() for h in article.find_all("h2")]
    assert headings[:3] == ["1. Download", "2. Install", "3. Open a chapter"], headings
    commands = " ".join(el.get_text() for el in article.find_all(["pre", "code"]))
    assert not re.search(r"\bmake\b", commands), "running.html shows a make command"
    assert "python -m venv" in commands or "python3 -m venv" in commands
    assert "MathJax" not in article.get_text()


def test_landing_page_starts_readers_before_the_contents():
    article = _page_text("index")
    links = article.find_all("a", href=True)
    hrefs = [a["href"] for a in links]
    toc = links.index(article.select_one(".toctree-wrapper a[href]"))
    start = hrefs.index("01_training.html")
    bridge = hrefs.index("bridge.html")
    assert start < toc and bridge < toc, "the entries must come before the contents"
    text = article.get_text(" ", strip=True)
    for part in ("Part I", "Part II", "Part III", "Part IV"):
        assert part in text.split("Contents")[0], f"'What you will learn' misses {part}"


def test_every_page_names_version_and_licences_in_its_footer():
    bad = []
    for page in HTML.joinpath("book").glob("*.html"):
        footer = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find(
            class_="extra_footer"
        )
        text = footer.get_text(" ", strip=True) if footer else ""
        if not ("CC BY 4.0" in text and "MIT" in text and backprop.__version__ in text):
            bad.append(page.name)
    assert not bad, f"pages without version and licences in the footer: {bad}"
