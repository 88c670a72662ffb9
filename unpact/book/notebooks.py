"""The project's notebooks: their order, their files, and the parameters they declare.

Notebooks are stored as MyST-markdown text (jupytext) in ``notebooks/NAME.md``. Each has one
code cell tagged ``parameters`` made of plain assignments, e.g.::

    profile = "quick"          # organism size: micro, quick or full
    methods = ["ga", "npo"]    # unlearning methods to compare
    out_dir = "results/quick/01_keyword_focus"   # where the notebook writes its results

Those names (and their defaults, and the trailing comments) are the notebook's parameters:
``unpact run`` validates profiles against them and the Reproduce chapter lists them.
"""
from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unpact.errors import UsageError

#: The book's notebooks, in reading (and execution) order.
NOTEBOOKS: tuple[str, ...] = (
    "00_organism",
    "01_keyword_focus",
    "02_recovery_by_emphasis",
    "03_indiscriminate_penalization",
    "04_robustness",
    "05_unlearning_methods",
)

#: The notebooks whose results carry a finding of the paper (they write ``summary.json``).
FINDING_NOTEBOOKS: tuple[str, ...] = ("01_keyword_focus", "02_recovery_by_emphasis", "03_indiscriminate_penalization")

#: Every notebook declares this parameter: the folder its results (JSON + tidy CSV) go to.
OUT_DIR = "out_dir"


@dataclass(frozen=True)
class Parameter:
    """One assignment of a ``parameters`` cell: its name, default (source text and value) and comment."""

    name: str
    default_source: str
    default: Any
    comment: str


def notebook_path(root: Path, name: str) -> Path:
    """``root/notebooks/NAME.md``; a ``UsageError`` if it does not exist."""
    path = Path(root) / "notebooks" / f"{name}.md"
    if not path.is_file():
        raise UsageError(f"notebook {name!r} not found at {str(path)!r}")
    return path


def available_notebooks(root: Path) -> list[str]:
    """The notebook names present under ``root/notebooks``: the book's own order first, then any others sorted."""
    folder = Path(root) / "notebooks"
    present = {p.stem for p in folder.glob("*.md")} if folder.is_dir() else set()
    return [n for n in NOTEBOOKS if n in present] + sorted(present - set(NOTEBOOKS))


def read_notebook(path: Path) -> Any:
    """Read a jupytext text notebook into an ``nbformat`` notebook node (kernel set to ``python3``)."""
    import jupytext

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def parameters_cell_source(nb: Any, name: str = "notebook") -> str:
    """The source of the single code cell tagged ``parameters``; a ``UsageError`` if there is none or several."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise UsageError(f"{name}: expected exactly one code cell tagged 'parameters', found {len(cells)}")
    return str(cells[0].source)


def parse_parameters(source: str, name: str = "notebook") -> dict[str, Parameter]:
    """The parameters declared by a ``parameters`` cell: ``NAME = literal  # comment`` lines, in order.

    Defaults must be Python literals (papermill overrides them with JSON-like values); anything
    else in the cell is an error, so the table in the book is always complete.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise UsageError(f"{name}: parameters cell is not valid Python: {exc.msg} (line {exc.lineno})") from exc
    comments = _line_comments(source)
    params: dict[str, Parameter] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        else:
            raise UsageError(f"{name}: parameters cell line {node.lineno}: "
                             "only 'name = literal' assignments are allowed")
        text = ast.get_source_segment(source, value) or ast.unparse(value)
        try:
            default = ast.literal_eval(value)
        except ValueError as exc:
            raise UsageError(f"{name}: parameter {target!r} needs a literal default, got {text!r}") from exc
        end = node.end_lineno or node.lineno
        comment = " ".join(comments.get(i, "") for i in range(node.lineno, end + 1)).strip()
        params[target] = Parameter(target, text, default, comment)
    return params


def notebook_parameters(root: Path, name: str) -> dict[str, Parameter]:
    """The parameters declared by notebook ``name`` under ``root`` (its ``parameters`` cell)."""
    nb = read_notebook(notebook_path(root, name))
    params = parse_parameters(parameters_cell_source(nb, name), name)
    if OUT_DIR not in params:
        raise UsageError(f"{name}: the parameters cell must declare {OUT_DIR!r} (the results folder)")
    return params


def _line_comments(source: str) -> dict[int, str]:
    """Line number -> text of the ``#`` comment on that line."""
    out: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out
