"""Lighthouse audit of every page of the built book (``make audit``; not part of ``make test``).

Serves _build/html gzipped from 127.0.0.1 (as a static host would), runs Lighthouse (mobile
emulation, simulated slow 4G and CPU) in Debian's Chromium on every page, prints one row per
page and exits non-zero when a page misses a target. The failing audits are listed under the
table; the JSON reports are kept in _build/audit/.

    python tests/audit_book.py [--html DIR] [--lighthouse BIN] [page.html ...]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"performance": 80, "accessibility": 100, "best-practices": 100, "seo": 100}
COMPRESSIBLE = (".html", ".css", ".js", ".json", ".svg", ".txt", ".ipynb", ".inv")


class GzipHandler(SimpleHTTPRequestHandler):
    """Static files, gzipped when the client accepts it; nothing logged."""

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?")[0].endswith("/"):
            path = path / "index.html"
        gzip_ok = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (gzip_ok and path.suffix in COMPRESSIBLE and path.is_file()):
            return super().send_head()  # other files, 404s, and the redirect of "dir" to "dir/"
        body = gzip.compress(path.read_bytes(), compresslevel=9)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600")
        self.end_headers()
        return _Body(body)

    def log_message(self, *args):
        pass


class _Body:
    """A file-like object over bytes, for SimpleHTTPRequestHandler.copyfile."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, size=-1):
        data, self.data = (self.data, b"") if size < 0 else (self.data[:size], self.data[size:])
        return data

    def close(self):
        pass


def serve(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(GzipHandler, directory=str(directory))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def pages(html: Path) -> list[str]:
    """Every HTML page of the book except the root redirect and the theme's templates."""
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if "_static" not in p.relative_to(html).parts and p != html / "index.html"
    )


def lighthouse(binary: str, chromium: str, url: str, report: Path) -> dict:
    flags = "--headless=new --no-sandbox --disable-gpu --no-first-run --disable-dev-shm-usage"
    subprocess.run(
        [
            binary,
            url,
            "--quiet",
            "--output=json",
            f"--output-path={report}",
            f"--chrome-flags={flags}",
            "--only-categories=" + ",".join(TARGETS),
        ],
        check=True,
        env={**os.environ, "CHROME_PATH": chromium},
        timeout=300,
    )
    return json.loads(report.read_text(encoding="utf-8"))


def failing_audits(result: dict) -> list[str]:
    """The titles of the scored audits below 1 in every category (performance: below 0.9)."""
    out = []
    for name, category in result["categories"].items():
        for ref in category["auditRefs"]:
            audit = result["audits"][ref["id"]]
            limit = 0.9 if name == "performance" else 1
            if ref["weight"] > 0 and audit["score"] is not None and audit["score"] < limit:
                value = audit.get("displayValue", "")
                out.append(f"{name}: {audit['title']} ({audit['score']:.2f}) {value}".rstrip())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help="pages relative to the HTML folder (default all)")
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--lighthouse", default=str(ROOT / ".node/node_modules/.bin/lighthouse"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--reports", type=Path, default=ROOT / "_build" / "audit")
    args = parser.parse_args()
    args.reports.mkdir(parents=True, exist_ok=True)
    httpd, base = serve(args.html)
    rows, problems = [], {}
    header = f"{'page':34} {'perf':>5} {'a11y':>5} {'best':>5} {'seo':>5}  FCP    LCP    TBT"
    print(header, flush=True)
    try:
        for page in args.pages or pages(args.html):
            report = args.reports / (page.replace("/", "__") + ".json")
            result = lighthouse(args.lighthouse, args.chromium, base + page, report)
            scores = {k: round(100 * (result["categories"][k]["score"] or 0)) for k in TARGETS}
            timing = [
                result["audits"][a]["displayValue"]
                for a in (
                    "first-contentful-paint",
                    "largest-contentful-paint",
                    "total-blocking-time",
                )
            ]
            row = f"{page:34} " + " ".join(f"{scores[k]:5d}" for k in TARGETS)
            print(row + "  " + "  ".join(f"{t:>5}" for t in timing), flush=True)
            rows.append(scores)
            if any(scores[k] < TARGETS[k] for k in TARGETS):
                problems[page] = failing_audits(result)
    finally:
        httpd.shutdown()
    for page, audits in problems.items():
        print(f"\n{page} misses a target:\n  " + "\n  ".join(audits or ["(no single audit)"]))
    print(
        f"\n{len(rows) - len(problems)} of {len(rows)} pages meet every target "
        f"(performance >= 80, accessibility, best practices and SEO 100)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
