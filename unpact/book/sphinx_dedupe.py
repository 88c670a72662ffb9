"""A Sphinx extension that drops repeated ``<script>`` entries from each HTML page.

Jupyter Book 1 with sphinx-thebe 0.3 adds sphinx-thebe's inline configuration script twice, so
every page raises ``Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been declared``
in the browser. Keeping the first of identical scripts fixes it without touching anything else.
Enabled in ``_config.yml`` (``sphinx: extra_extensions``).
"""
from __future__ import annotations

from typing import Any


def dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Remove later duplicates (same file, None and "" alike for inline scripts, same attributes) from
    ``context['script_files']``."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    kept = []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        filename = str(getattr(script, "filename", script) or "")
        key = (filename, tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
