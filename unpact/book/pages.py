"""Book pages generated at ``unpact book`` time from files, so no number in the book is typed by hand.

Everything goes to ``book/_generated/`` (git-ignored) and is pulled into the hand-written pages
with MyST ``{include}``:

- ``status.md``: the status table of the introduction, read from each finding notebook's
  ``results/<profile>/<notebook>/summary.json``. The schema a finding notebook writes::

      {"finding": "Keyword focus is disrupted",          # one line, the paper's claim
       "verdict": "reproduced" | "partly" | "not reproduced",
       "headline": {"name": "KeyToken contribution drop, forget items (GA)",
                    "value": 0.41, "ci_low": 0.35, "ci_high": 0.47, "n": 120,
                    "direction": "higher = focus more disrupted"},   # direction optional
       "detail": "one sentence: what was measured and on what"}          # optional

  A missing summary shows as "not run yet"; a malformed one is an error naming the file.
- ``parameters.md``: every notebook's parameters (name, default, comment) read from its ``parameters`` cell.
- ``profiles.md``: the built-in profiles, verbatim.
- ``performance.md``: one table per benchmark result ``results/benchmarks/*.json``, each of the form
  ``{"title": str, "machine": str, "command": str, "rows": [{column: value, ...}], "notes": str}``
  (``notes`` optional; other keys are shown as a key/value table).
- ``api.md``: the public functions and classes of every ``unpact`` module with their signatures and
  docstrings, read from the source with ``ast`` (nothing is imported or executed).

Notebooks of the table of contents that were not executed get a stub page saying how to run them
(``book/executed/NAME.ipynb``), so ``unpact book --only ...`` still builds a whole book.
"""
from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any

import unpact
from unpact.book.notebooks import FINDING_NOTEBOOKS, NOTEBOOKS, notebook_parameters
from unpact.book.profiles import builtin_profiles
from unpact.book.runner import EXECUTED_DIR, RESULTS_DIR, results_dir
from unpact.errors import UsageError
from unpact.findings.verdicts import VERDICTS
from unpact.io import atomic_write_text

GENERATED_DIR = Path("book") / "_generated"
BENCHMARKS_DIR = RESULTS_DIR / "benchmarks"
HEADLINE_KEYS = ("name", "value", "ci_low", "ci_high", "n")
FINDING_TITLES = {
    "01_keyword_focus": "1. Keyword focus is disrupted",
    "02_recovery_by_emphasis": "2. Recovery without weight change",
    "03_indiscriminate_penalization": "3. Indiscriminate penalization",
}


def generate_pages(root: Path, profile_name: str) -> list[Path]:
    """Write every generated page for the results of ``profile_name`` under ``root``; return the files written."""
    root = Path(root)
    out = root / GENERATED_DIR
    pages = {
        "status.md": status_markdown(root, profile_name),
        "parameters.md": parameters_markdown(root),
        "profiles.md": profiles_markdown(),
        "performance.md": performance_markdown(root / BENCHMARKS_DIR),
        "api.md": api_markdown(Path(unpact.__file__).parent),
    }
    written = [atomic_write_text(out / name, text) for name, text in pages.items()]
    return written + write_missing_notebook_stubs(root)


def read_summary(path: Path) -> dict[str, Any]:
    """Read and check a finding's ``summary.json`` (schema in this module's docstring)."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from exc
    problems = [k for k in ("finding", "verdict", "headline") if k not in summary]
    headline = summary.get("headline")
    if not isinstance(headline, dict):
        problems.append("headline must be a mapping")
    else:
        problems += [f"headline.{k}" for k in HEADLINE_KEYS if k not in headline]
    if summary.get("verdict") not in VERDICTS:
        problems.append(f"verdict must be one of {', '.join(VERDICTS)}")
    if problems:
        raise UsageError(f"{path}: malformed summary ({'; '.join(problems)})")
    return summary


def status_markdown(root: Path, profile_name: str) -> str:
    """The introduction's status table: one row per finding, from the notebooks' ``summary.json``."""
    lines = [f"Results of the `{profile_name}` profile (read from `results/{profile_name}/*/summary.json`).", "",
             "| Finding | On the organism | Headline number | Value [95% CI] | n |", "| --- | --- | --- | --- | --- |"]
    for nb in FINDING_NOTEBOOKS:
        link = f"{{doc}}`{FINDING_TITLES[nb]} </book/executed/{nb}>`"
        path = Path(root) / results_dir(profile_name, nb) / "summary.json"
        if not path.is_file():
            lines.append(f"| {link} | not run yet | | | |")
            continue
        s = read_summary(path)
        h = s["headline"]
        name = h["name"] + (f" ({h['direction']})" if h.get("direction") else "")
        value = f"{_num(h['value'])} [{_num(h['ci_low'])}, {_num(h['ci_high'])}]"
        lines.append(f"| {link} | **{s['verdict']}** | {_cell(name)} | {value} | {h['n']} |")
    return "\n".join(lines) + "\n"


def parameters_markdown(root: Path) -> str:
    """One table per notebook: its parameters with default value and meaning (from the ``parameters`` cell)."""
    parts = []
    for nb in NOTEBOOKS:
        try:
            params = notebook_parameters(root, nb)
        except UsageError as exc:
            parts.append(f"**`{nb}`**: {_cell(str(exc))}\n")
            continue
        rows = [f"| `{p.name}` | `{_cell(p.default_source)}` | {_cell(p.comment)} |" for p in params.values()]
        header = ["| parameter | default | meaning |", "| --- | --- | --- |"]
        parts.append("\n".join([f"**`{nb}`**", "", *header, *rows, ""]))
    return "\n".join(parts)


def profiles_markdown() -> str:
    """The built-in profiles verbatim, one YAML block each (micro, quick, full first)."""
    order = ("micro", "quick", "full")
    names = sorted(builtin_profiles(), key=lambda n: (order.index(n) if n in order else len(order), n))
    parts = []
    for name in names:
        path = builtin_profiles()[name]
        text = path.read_text(encoding="utf-8").rstrip()
        parts.append(f"**`{name}`** (`unpact/profiles/{path.name}`)\n\n````yaml\n{text}\n````\n")
    return "\n".join(parts)


def performance_markdown(folder: Path) -> str:
    """One table per benchmark result file in ``folder`` (machine and command named)."""
    files = sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []
    if not files:
        return f"No benchmark results yet (expected `{BENCHMARKS_DIR.as_posix()}/*.json`).\n"
    parts = []
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UsageError(f"{path}: not valid JSON ({exc})") from exc
        title = data.get("title", path.stem)
        head = [f"## {title}", "", f"Machine: {data.get('machine', 'not recorded')}. "
                f"Command: `{data.get('command', 'not recorded')}`. "
                f"File: `{BENCHMARKS_DIR.as_posix()}/{path.name}`.", ""]
        rows = data.get("rows")
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            table = _table(rows)
        else:
            shown = {k: v for k, v in data.items() if k not in ("title", "machine", "command", "notes")}
            table = _table([{"key": k, "value": v} for k, v in shown.items()])
        notes = ["", f"{data['notes']}"] if data.get("notes") else []
        parts.append("\n".join(head + table + notes + [""]))
    return "\n".join(parts)


def api_markdown(package_dir: Path) -> str:
    """Reference of the public API, module by module, from the source (signatures and docstrings)."""
    parts = []
    for path in sorted(Path(package_dir).rglob("*.py")):
        rel = path.relative_to(Path(package_dir).parent).with_suffix("")
        parts_ = rel.parts
        if any(p.startswith("_") and p != "__init__" for p in parts_) or "commands" in parts_ or parts_[-1] == "cli":
            continue
        module = ".".join(parts_[:-1] if parts_[-1] == "__init__" else parts_)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        entries = _public_entries(tree)
        doc = ast.get_docstring(tree)
        if not entries and not doc:
            continue
        parts.append(f"## `{module}`\n")
        if doc:
            parts.append(_text_block(doc))
        for signature, docstring in entries:
            parts.append(f"````python\n{signature}\n````\n")
            if docstring:
                parts.append(_text_block(docstring))
    return "\n".join(parts)


def write_missing_notebook_stubs(root: Path) -> list[Path]:
    """A one-cell stub ``book/executed/NAME.ipynb`` for each book notebook not executed yet."""
    import nbformat

    written = []
    for nb in NOTEBOOKS:
        target = Path(root) / EXECUTED_DIR / f"{nb}.ipynb"
        if target.is_file():
            continue
        stub = nbformat.v4.new_notebook()
        stub.cells.append(nbformat.v4.new_markdown_cell(
            f"# {nb} (not executed yet)\n\nThis notebook has not been executed for this build. "
            f"Run `unpact run --only {nb}` (or `unpact book`) to execute it."))
        stub.metadata["unpact_stub"] = True
        atomic_write_text(target, nbformat.writes(stub))
        written.append(target)
    return written


def _public_entries(tree: ast.Module) -> list[tuple[str, str | None]]:
    """(signature, docstring) of the module's public top-level functions and classes (and their public methods)."""
    exported = _dunder_all(tree)
    entries: list[tuple[str, str | None]] = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if node.name.startswith("_") or (exported is not None and node.name not in exported):
            continue
        if isinstance(node, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            entries.append((f"class {node.name}({bases})" if bases else f"class {node.name}", ast.get_docstring(node)))
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    entries.append((f"{node.name}.{_signature(item)}", ast.get_docstring(item)))
        else:
            entries.append((_signature(node), ast.get_docstring(node)))
    return entries


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"{node.name}({ast.unparse(node.args)}){returns}"


def _dunder_all(tree: ast.Module) -> set[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                return set(ast.literal_eval(node.value))
            except ValueError:
                return None
    return None


def _text_block(text: str) -> str:
    return f"````text\n{text.rstrip()}\n````\n"


def _table(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(_cell(_num(r.get(c, ""))) for c in columns) + " |" for r in rows]
    return lines


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
