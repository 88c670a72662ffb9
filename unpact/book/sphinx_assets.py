"""A Sphinx extension adding the book's own stylesheet and script (``unpact/book/static``).

- ``unpact.css``: page fit. Images never exceed the content column; wide tables and code scroll
  inside their own container, not the page (checked at 390 px by ``tests/test_browser.py``);
  the introduction's status table is compact.
- ``unpact.js``: click-to-zoom. Each figure links to its full-size image.

Enabled in ``_config.yml`` (``sphinx: extra_extensions``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

STATIC = Path(__file__).parent / "static"


def add_static_dir(app: Any, config: Any) -> None:
    """``config-inited``: copy ``unpact/book/static`` into the book's ``_static``."""
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", add_static_dir)
    app.add_css_file("unpact.css")
    app.add_js_file("unpact.js")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
