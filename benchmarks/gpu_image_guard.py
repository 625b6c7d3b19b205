"""A pytest plugin for the CPU dry run of gpu_check.py: imports behave as on the GPU image.

The dry run's Python has many distributions that the lent GPU machines lack (nbval, dask,
IPython, ...). A test module that imports one at module level collects here and errors there,
which would cost the GPU session its few minutes. Loaded with ``-p
benchmarks.gpu_image_guard`` and pointed at a list of allowed distributions by
``GPU_IMAGE_ALLOWED`` (a file, one name a line), it refuses every import whose distribution is
installed here but not on that list, from the first conftest on.

Modules without a distribution (the standard library, this repository's own) are never
refused. Modules that pytest's plugins imported before the guard was installed stay
importable; they are listed in the header so that a reader of the log sees them.
"""

from __future__ import annotations

import importlib.abc
import os
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed_names(path: str) -> set[str]:
    lines = Path(path).read_text().splitlines()
    return {normalise(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()}


def refused_modules(allowed: set[str]) -> dict[str, str]:
    """Top-level module -> its distribution, for the installed ones the image lacks."""
    refused = {}
    for module, dists in packages_distributions().items():
        names = {normalise(d) for d in dists}
        # The package itself travels as source; either CuPy build stands for the image's.
        if module == "backprop" or module == "cupy" or names & allowed:
            continue
        refused[module] = sorted(names)[0]
    return refused


class _Refuse(importlib.abc.MetaPathFinder):
    def __init__(self, refused: dict[str, str]):
        self.refused = refused

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.refused:
            raise ModuleNotFoundError(
                f"No module named {top!r} (gpu-image emulation: the GPU image lacks the "
                f"distribution {self.refused[top]!r})", name=top)
        return None


_refused: dict[str, str] = {}


# Before the first conftest, which imports the package: plugins are all loaded by then.
@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _refused
    _refused = refused_modules(allowed_names(os.environ["GPU_IMAGE_ALLOWED"]))
    sys.meta_path.insert(0, _Refuse(_refused))


def pytest_report_header(config):
    loaded = sorted(m for m in _refused if m in sys.modules)
    return [f"gpu-image emulation: {len(_refused)} installed modules refused; "
            f"already imported by plugins, so not refused: {', '.join(loaded) or 'none'}"]
