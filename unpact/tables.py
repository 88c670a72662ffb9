"""How a notebook shows its tables in the book: one number format, and long tables summarised.

``notebook_display()`` (called once at the top of every notebook) sets pandas' display options: 3
decimals, and a frame longer than ``MAX_ROWS`` rows shows its first and last ``SHOWN_ROWS // 2`` rows
only, so no page shows a table a reader has to scroll through. ``show_table`` shows such a frame with
a download link to the full table, which it writes as CSV into the notebook's results folder.
"""
from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import pandas as pd

from unpact.io import atomic_write_csv, ensure_writable_dir

MAX_ROWS = 25       # a displayed frame longer than this is truncated to SHOWN_ROWS rows
SHOWN_ROWS = 20
PRECISION = 3       # decimals of displayed floats
EMBED_LIMIT = 2_000_000  # bytes: a full table up to this size is embedded in the page as a download


def notebook_display() -> None:
    """Set pandas' display options for the book (precision, long frames truncated, wide text cells)."""
    pd.set_option("display.precision", PRECISION)
    pd.set_option("display.max_rows", MAX_ROWS)
    pd.set_option("display.min_rows", SHOWN_ROWS)
    pd.set_option("display.max_colwidth", 120)


def show_table(frame: pd.DataFrame, out_dir: str | os.PathLike[str], name: str) -> Path:
    """Write ``frame`` to ``out_dir/NAME.csv`` and display it: whole if at most ``MAX_ROWS`` rows, else its
    first and last rows with a link that downloads the full CSV (embedded in the page, so it works
    offline and in a copied book; above ``EMBED_LIMIT`` bytes the link is replaced by the file's path).
    Returns the CSV's path."""
    from IPython.display import HTML, display

    tidy = frame.reset_index() if any(n is not None for n in frame.index.names) else frame  # a named index is data
    path = atomic_write_csv(ensure_writable_dir(out_dir, what="results folder") / f"{name}.csv", tidy)
    display(frame)
    if len(frame) > MAX_ROWS:
        display(HTML(full_table_link(path, len(frame))))
    return path


def full_table_link(path: Path, n_rows: int) -> str:
    """HTML line offering the full table at ``path``: a ``data:`` download link, or its path when too large."""
    what = f"Full table: {n_rows:,} rows"
    data = path.read_bytes()
    if len(data) > EMBED_LIMIT:
        return f"<p>{what} in <code>{html.escape(path.as_posix())}</code>.</p>"
    href = "data:text/csv;base64," + base64.b64encode(data).decode("ascii")
    return f'<p>{what}, <a download="{html.escape(path.name)}" href="{href}">download {html.escape(path.name)}</a>.</p>'
