"""Does any page state a finding's headline number differently from the introduction?

The introduction shows each finding's headline as ``value [low, high]`` (``unpact.report.fmt_ci``,
two significant figures) from ``summary.json``. A notebook page that states the same triple in
another format (``0.94 [0.84, 1.00]``) or with other rounding is a disagreement a reader sees:
:func:`restatement_problems` finds every ``a [b, c]`` in a page's text whose three numbers round to
the headline's, and reports those not written exactly as the introduction writes them. A page
that does not state the headline at all is fine.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from unpact.book.verdict import sig2, value_ci

_NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
_TRIPLE = re.compile(rf"({_NUMBER}) \[({_NUMBER}), ({_NUMBER})\]")


def restatement_problems(headline: dict[str, Any], text: str, where: str) -> list[str]:
    """One message per ``a [b, c]`` in ``text`` that is the headline's value and CI written differently."""
    wanted = value_ci(headline)
    target = tuple(sig2(headline.get(k)) for k in ("value", "ci_low", "ci_high"))
    problems = []
    for match in _TRIPLE.finditer(text):
        if tuple(sig2(float(x)) for x in match.groups()) == target and match.group(0) != wanted:
            problems.append(f"{where} states {headline['name']!r} as {match.group(0)}, the introduction as {wanted}")
    return problems


def notebook_text(path: Path) -> str:
    """The text a reader sees of an executed notebook: markdown cells and text/markdown/plain outputs."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    parts = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            parts.append("".join(cell.get("source", [])))
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for mime in ("text/markdown", "text/plain", "text/html"):
                if mime in data:
                    parts.append("".join(data[mime]))
            if "text" in output:
                parts.append("".join(output["text"]))
    return "\n".join(parts)


def book_restatements(book_root: Path) -> list[str]:
    """Disagreements between the headlines of the executed finding notebooks' summaries and every executed page.

    The summaries are found through the run stamps (``book/executed/NAME.stamp.json`` records the
    ``out_dir`` the notebook wrote ``summary.json`` to).
    """
    from unpact.book.pages import read_summary
    from unpact.book.runner import EXECUTED_DIR

    executed = Path(book_root) / EXECUTED_DIR
    headlines = []
    for stamp in sorted(executed.glob("*.stamp.json")):
        try:
            out_dir = json.loads(stamp.read_text(encoding="utf-8"))["parameters"]["out_dir"]
        except (ValueError, KeyError, TypeError):
            continue
        summary = Path(book_root) / out_dir / "summary.json"
        if summary.is_file():
            headlines.append(read_summary(summary)["headline"])
    problems = []
    for page in sorted(executed.glob("*.ipynb")):
        if page.name.endswith(".partial.ipynb"):
            continue
        text = notebook_text(page)
        for headline in headlines:
            problems += restatement_problems(headline, text, f"{EXECUTED_DIR.as_posix()}/{page.name}")
    return problems
