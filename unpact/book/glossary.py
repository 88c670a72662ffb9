"""Is every word a reader meets in the book's tables defined in its glossary (``book/glossary.md``)?

The words are collected where a reader meets them: the header of every CSV a notebook writes to
its results folder (``results/<profile>/<notebook>/*.csv``), and the header cells of every table an
executed notebook shows (``book/executed/*.ipynb``, ``text/html`` outputs; a header such as
``key_beats_control value`` is split into its words). Numbers are not words. A column ``X_ci_low``
or ``X_ci_high`` is defined when ``X`` is (the glossary's ``ci_low``/``ci_high`` say how).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

GLOSSARY = Path("book") / "glossary.md"
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_CI = ("_ci_low", "_ci_high")


def glossary_terms(path: Path) -> set[str]:
    """The terms of the ``{glossary}`` blocks of a MyST page: their unindented lines (one term each; terms on
    consecutive lines share the definition below them)."""
    terms: set[str] = set()
    inside = False
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("```{glossary}"):
            inside = True
        elif inside and line.startswith("```"):
            inside = False
        elif inside and line.strip() and not line[0].isspace() and not line.startswith(":"):
            terms.add(line.strip())
    return terms


def is_defined(word: str, terms: set[str]) -> bool:
    """``word`` is a term, or ``X_ci_low``/``X_ci_high`` of a term ``X``."""
    return word in terms or any(word.endswith(s) and word[: -len(s)] in terms for s in _CI)


class _HeaderCells(HTMLParser):
    """The text of every ``<th>`` inside a ``<thead>``."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._head = self._cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "thead":
            self._head = True
        elif tag == "th" and self._head:
            self._cell = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._head = False
        elif tag == "th":
            self._cell = False

    def handle_data(self, data: str) -> None:
        if self._cell:
            self.cells[-1] += data


def table_header_words(html: str) -> set[str]:
    """The words of the header cells of the HTML tables in ``html``."""
    parser = _HeaderCells()
    parser.feed(html)
    return {w for cell in parser.cells for w in _WORD.findall(cell)}


def shown_words(root: Path, profile: str) -> dict[str, str]:
    """Every word of a results CSV header or a shown table header, with the first place it is seen."""
    root = Path(root)
    seen: dict[str, str] = {}

    def add(words: Iterable[str], where: str) -> None:
        for word in words:
            seen.setdefault(word, where)

    for csv in sorted((root / "results" / profile).glob("*/*.csv")):
        header = csv.read_text(encoding="utf-8").partition("\n")[0]
        add((c.strip('"') for c in header.split(",") if c.strip('"')), csv.relative_to(root).as_posix())
    for page in sorted((root / "book" / "executed").glob("*.ipynb")):
        for cell in json.loads(page.read_text(encoding="utf-8")).get("cells", []):
            for output in cell.get("outputs", []):
                html = "".join(output.get("data", {}).get("text/html", []))
                add(table_header_words(html), page.relative_to(root).as_posix())
    return seen


def undefined_words(root: Path, profile: str) -> list[str]:
    """``word (where)`` for every word a reader meets in the book's tables that ``book/glossary.md`` does not define."""
    terms = glossary_terms(Path(root) / GLOSSARY)
    return [f"{word} ({where})" for word, where in sorted(shown_words(root, profile).items())
            if not is_defined(word, terms)]
