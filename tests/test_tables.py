"""How notebooks show tables (``unpact.tables``) and how their cells are tagged for the book."""
from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from unpact.book.notebooks import NOTEBOOKS, read_notebook
from unpact.tables import MAX_ROWS, full_table_link, notebook_display, show_table

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What ``show_table`` displays, captured instead of printed."""
    import IPython.display

    captured: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs: captured.extend(objs))
    return captured


def _body_rows(html: str) -> int:
    return len(re.findall(r"<tr", re.search(r"<tbody>.*?</tbody>", html, re.S).group(0)))


def test_a_long_table_is_summarised_with_its_full_csv(tmp_path: Path, shown: list[Any]) -> None:
    with pd.option_context("display.precision", 6, "display.max_rows", 60, "display.min_rows", 10,
                           "display.max_colwidth", 50):  # restored afterwards
        notebook_display()
        frame = pd.DataFrame({"method": [f"m{i}" for i in range(60)], "rate": [i / 7 for i in range(60)]})
        path = show_table(frame, tmp_path / "out", "rates")
        assert path == tmp_path / "out" / "rates.csv" and pd.read_csv(path).equals(frame)
        table, link = shown
        assert _body_rows(table._repr_html_()) <= MAX_ROWS < len(frame)   # first and last rows only
        assert "0.143" in table._repr_html_() and "0.1428" not in table._repr_html_()  # 3 decimals
        href = re.search(r'href="data:text/csv;base64,([^"]+)"', link.data).group(1)
        assert base64.b64decode(href) == path.read_bytes() and "Full table: 60 rows" in link.data
        shown.clear()
        show_table(frame.head(5).set_index("method"), tmp_path / "out", "short")
        assert len(shown) == 1  # whole, no link
        assert list(pd.read_csv(tmp_path / "out" / "short.csv").columns) == ["method", "rate"]  # a named index is kept


def test_a_table_too_large_to_embed_names_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("unpact.tables.EMBED_LIMIT", 10)
    path = tmp_path / "big.csv"
    path.write_text("a,b\n" + "1,2\n" * 10)
    assert "data:" not in full_table_link(path, 10) and path.as_posix() in full_table_link(path, 10)


def _code_cells(name: str) -> list[Any]:
    return [c for c in read_notebook(REPO / "notebooks" / f"{name}.md").cells if c.cell_type == "code"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_cells_are_tagged_for_the_reader(name: str) -> None:
    """The parameters cell and every plotting cell hide their code; display options are set once, by unpact."""
    cells = _code_cells(name)
    tags = [set(c.metadata.get("tags", [])) for c in cells]
    [params] = [t for t in tags if "parameters" in t]
    assert "hide-input" in params
    plotting = [c.source.splitlines()[0] for c, t in zip(cells, tags)
                if re.search(r"\bshow\(", c.source) and not t & {"hide-input", "remove-input", "remove-cell"}]
    assert not plotting, f"{name}: plotting cells showing their code: {plotting}"
    assert sum("notebook_display()" in c.source for c in cells) == 1
    assert not any("set_option" in c.source for c in cells), "display options belong in unpact.tables"
