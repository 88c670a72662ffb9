"""Build the HTML book with Jupyter Book 1 (warnings are errors) and check its internal links.

``jupyter-book build ROOT -W -n --keep-going``: the notebooks were executed by papermill before
(``execute_notebooks: "off"`` in ``_config.yml``), so the build only renders. A broken reference
fails the build; :func:`broken_internal_links` then checks every ``href``/``src`` of the HTML
pointing inside the book resolves to a file.
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

HTML_DIR = Path("_build") / "html"
_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")


class BookBuildFailed(RuntimeError):
    """``jupyter-book build`` reported warnings or errors, or the built HTML has broken internal links."""


def build_book(root: Path, log: Callable[[str], None] = print) -> Path:
    """Run ``jupyter-book build`` on ``root``; return ``_build/html/index.html``. Raises :class:`BookBuildFailed`."""
    root = Path(root).resolve()
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(root),
           "-W", "-n", "--keep-going", "--all"]
    log("jupyter-book build . -W -n --keep-going --all")
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise BookBuildFailed(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    html = root / HTML_DIR
    broken = broken_internal_links(html)
    if broken:
        raise BookBuildFailed("broken internal links in the built book:\n" + "\n".join(broken[:30]))
    index = html / "index.html"
    log(f"book written to {index}")
    return index


def broken_internal_links(html_dir: Path) -> list[str]:
    """``page: link`` for every relative ``href``/``src`` in the built HTML that points to a missing file."""
    html_dir = Path(html_dir)
    broken = []
    for page in sorted(html_dir.rglob("*.html")):
        if page.relative_to(html_dir).parts[0] in ("_static", "_sources"):  # theme templates, not pages
            continue
        for link in _LINK.findall(page.read_text(encoding="utf-8", errors="replace")):
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("#", "mailto:", "data:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if parts.path and not target.exists():
                broken.append(f"{page.relative_to(html_dir)}: {link}")
    return broken
