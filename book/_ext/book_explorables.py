"""Sphinx extension: the scripts of the explorable figures, on the pages that have one.

A chapter declares an explorable figure with one cell (``backprop.explorables.show``): it
writes the figure's numbers to ``book/_static/explorables/<name>.json`` and displays a
placeholder ``<div data-explorable="<name>">``. A page whose body holds such a placeholder
gets one deferred script, ``explorables/explorable.js`` (shared helpers); when a figure comes
near the screen, that loads ``explorables/<name>.js`` (which draws it) and the JSON, so the
page's first paint waits for neither. No other page loads any. The files are in
``html_static_path``, so Sphinx copies them with the rest of ``book/_static``. A placeholder
without its script or its data is a build warning (an error under ``-W``).

The single-page build of the PDF edition gets no script: on paper the static figure beside
each explorable one is the figure (custom.css hides the placeholder in print).
"""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r'<div class="book-explorable" data-explorable="([a-z0-9-]+)"')
STATIC = Path("book") / "_static" / "explorables"


def _scripts(app, pagename, templatename, context, doctree) -> None:
    if app.builder.name != "html":
        return
    names = sorted(set(PLACEHOLDER.findall(context.get("body", ""))))
    if not names:
        return
    folder = Path(app.srcdir, STATIC)
    # Sphinx adds it to this page only (it restores its list of scripts after each page).
    app.add_js_file("explorables/explorable.js", defer="defer")
    for name in names:
        missing = [f"{name}.{ext}" for ext in ("js", "json")
                   if not (folder / f"{name}.{ext}").is_file()]
        if missing:
            logger.warning("explorable figure %r: %s missing in %s", name, " and ".join(missing),
                           STATIC.as_posix(), location=pagename)


def setup(app):
    app.connect("html-page-context", _scripts)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
