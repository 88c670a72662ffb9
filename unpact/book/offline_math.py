"""A Sphinx extension that serves MathJax 3 from the book itself, so formulas render offline.

The PyPI package ``sphinx-mathjax-offline`` ships MathJax 3 (``tex-chtml.js`` with its fonts and
extensions). This extension points ``mathjax_path`` at ``_static/mathjax/tex-chtml.js`` and adds
that package's ``static`` folder to ``html_static_path``, so Sphinx copies MathJax into the built
book and no page loads it from a CDN. Enabled in ``_config.yml`` (``sphinx: extra_extensions``).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

PACKAGE = "sphinx-mathjax-offline"   # its import name has hyphens; only its data files are used
MATHJAX_PATH = "mathjax/tex-chtml.js"   # relative to _static/


def mathjax_static_dir() -> Path:
    """The ``static`` folder of the installed ``sphinx-mathjax-offline`` package (holds ``mathjax/``)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{PACKAGE} is not installed (pip install {PACKAGE}); "
                           "the book needs it to render math offline")
    static = Path(spec.origin).parent / "static"
    if not (static / MATHJAX_PATH).is_file():
        raise RuntimeError(f"{static / MATHJAX_PATH} is missing: reinstall {PACKAGE}")
    return static


def use_bundled_mathjax(app: Any, config: Any) -> None:
    """``config-inited``: MathJax from ``_static/mathjax``, copied there from the package."""
    config.mathjax_path = MATHJAX_PATH
    config.html_static_path = [*config.html_static_path, str(mathjax_static_dir())]


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", use_bundled_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
