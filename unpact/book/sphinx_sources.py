"""A Sphinx extension pointing a notebook page's "Show source" button at the notebook's text file.

The book renders the executed copies ``book/executed/NAME.ipynb``, which are git-ignored, so the
theme's source link (``<repository>/blob/<branch>/book/executed/NAME.ipynb``) would not exist in
the repository; the source a reader wants is ``notebooks/NAME.md``. Enabled in ``_config.yml``.
"""
from __future__ import annotations

from typing import Any

EXECUTED_PREFIX = "book/executed/"
SOURCE_BUTTON = "source-file-button"


def notebook_source_url(url: str, pagename: str) -> str:
    """``.../book/executed/NAME.ipynb?plain=1`` -> ``.../notebooks/NAME.md?plain=1`` (other URLs unchanged)."""
    name = pagename[len(EXECUTED_PREFIX):]
    executed = f"{EXECUTED_PREFIX}{name}.ipynb"
    return url.replace(executed, f"notebooks/{name}.md") if pagename.startswith(EXECUTED_PREFIX) else url


def _fix_buttons(buttons: list[dict[str, Any]], pagename: str) -> None:
    for button in buttons:
        if button.get("label") == SOURCE_BUTTON and "url" in button:
            button["url"] = notebook_source_url(button["url"], pagename)
        _fix_buttons(button.get("buttons", []), pagename)


def redirect_notebook_sources(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                              doctree: Any) -> None:
    """``html-page-context`` (after the theme added its buttons): rewrite the source button of notebook pages."""
    _fix_buttons(context.get("header_buttons", []), pagename)


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", redirect_notebook_sources, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
