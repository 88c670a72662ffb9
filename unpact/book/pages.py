"""Book pages generated at ``unpact book`` time from files, so no number in the book is typed by hand.

Everything goes to ``book/_generated/`` (git-ignored) and is pulled into the hand-written pages
with MyST ``{include}``:

- ``status.md``, ``findings.md`` and ``verdict.png``: the introduction's status table, its "what
  we found" list and its verdict figure (:mod:`unpact.book.verdict`), read from each finding
  notebook's ``results/<profile>/<notebook>/summary.json``. The schema a finding notebook writes::

      {"finding": "Keyword focus is disrupted",          # one line, the paper's claim
       "verdict": "reproduced" | "partly" | "not reproduced" | "not testable",
       "headline": {"name": "KeyToken contribution drop, forget items (GA)",
                    "value": 0.41, "ci_low": 0.35, "ci_high": 0.47, "n": 120,
                    "direction": "higher = focus more disrupted",    # optional
                    "threshold": 0.5},                    # optional: the rule's line in the figure
       "control": {"name": "random non-key tokens",      # optional: drawn beside the headline
                   "value": 0.1, "ci_low": 0.05, "ci_high": 0.2},
       "conditions": [{"name": "CI low > 0.5", "met": true, "value": 0.84}],   # optional: the rule's
                                                         # conditions, shown as met / not met
       "n_questions": 72, "n_pairs": 1440,               # optional: independent questions, pairs
       "detail": "one sentence: what was measured and on what",          # optional
       "rule": "the verdict rule in words"}                              # optional

  A missing summary shows as "not run yet"; a malformed one is an error naming the file.
- ``parameters.md``: every notebook's parameters (name, default, comment) read from its ``parameters`` cell.
- ``profiles.md``: the built-in profiles, verbatim.
- ``performance.md``: one table per benchmark result ``results/benchmarks/*.json``, each of the form
  ``{"title": str, "machine": str, "command": str, "rows": [{column: value, ...}], "notes": str,
  "commit": str, "measured_utc": str, "code": {"paths": [...], "digest": str}}`` (written by
  :func:`unpact.report.write_benchmark`; ``notes`` optional; files without ``commit``/``code``
  were measured before commit tracking and say so; other keys are shown as a key/value table).
- ``api.md``: one ``automodule`` section per public ``unpact`` module (Sphinx autodoc imports the
  package and renders the docstrings, so the general index lists every documented object).

Notebooks of the table of contents that were not executed get a stub page saying how to run them
(``book/executed/NAME.ipynb``), so ``unpact book --only ...`` still builds a whole book.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import unpact
from unpact.book.notebooks import FINDING_NOTEBOOKS, NOTEBOOKS, notebook_parameters
from unpact.book.profiles import builtin_profiles
from unpact.book.provenance import benchmark_status, periodic_reason
from unpact.book.runner import EXECUTED_DIR, RESULTS_DIR, results_dir
from unpact.book.verdict import (
    conditions_marks,
    family_entries,
    family_label,
    found_sentence,
    sample_size,
    value_ci,
    verdict_figure,
)
from unpact.errors import UsageError
from unpact.findings.verdicts import VERDICTS
from unpact.io import atomic_write_text

GENERATED_DIR = Path("book") / "_generated"
BENCHMARKS_DIR = RESULTS_DIR / "benchmarks"
BENCHMARK_META = ("title", "machine", "command", "commit", "measured_utc", "code")
HEADLINE_KEYS = ("name", "value", "ci_low", "ci_high", "n")
CI_KEYS = ("value", "ci_low", "ci_high")
FINDING_TITLES = {
    "01_keyword_focus": "1. Keyword focus after unlearning",
    "02_recovery_by_emphasis": "2. Recovery by emphasis",
    "03_indiscriminate_penalization": "3. Penalty on non-key tokens",
}


def generate_pages(root: Path, profile_name: str) -> list[Path]:
    """Write every generated page for the results of ``profile_name`` under ``root``; return the files written."""
    root = Path(root)
    out = root / GENERATED_DIR
    pages = {
        "status.md": status_markdown(root, profile_name),
        "findings.md": findings_markdown(root, profile_name),
        "parameters.md": parameters_markdown(root),
        "profiles.md": profiles_markdown(),
        "performance.md": performance_markdown(root / BENCHMARKS_DIR),
        "api.md": api_markdown(Path(unpact.__file__).parent),
        "rules.md": rules_markdown(),
    }
    written = [atomic_write_text(out / name, text) for name, text in pages.items()]
    figure = verdict_figure(finding_summaries(root, profile_name), FINDING_TITLES, out / "verdict.png")
    return [*written, figure, *write_missing_notebook_stubs(root)]


def read_summary(path: Path) -> dict[str, Any]:
    """Read and check a finding's ``summary.json`` (schema in this module's docstring), each family's entry too."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from exc
    problems = [k for k in ("finding",) if k not in summary] + _entry_problems(summary)
    for name, entry in (summary.get("by_family") or {}).items():
        problems += [f"by_family.{name}: {p}" for p in _entry_problems(entry)]
    if problems:
        raise UsageError(f"{path}: malformed summary ({'; '.join(problems)})")
    return summary


def _entry_problems(summary: dict[str, Any]) -> list[str]:
    problems = [k for k in ("verdict", "headline") if k not in summary]
    headline = summary.get("headline")
    if not isinstance(headline, dict):
        problems.append("headline must be a mapping")
    else:
        problems += [f"headline.{k}" for k in HEADLINE_KEYS if k not in headline]
    if summary.get("verdict") not in VERDICTS:
        problems.append(f"verdict must be one of {', '.join(VERDICTS)}")
    conditions = summary.get("conditions", [])
    if not isinstance(conditions, list) or not all(
            isinstance(c, dict) and "name" in c and isinstance(c.get("met"), bool) for c in conditions):
        problems.append("conditions must be a list of {name, met: true/false, value?}")
    control = summary.get("control")
    if control is not None and not (isinstance(control, dict) and all(k in control for k in CI_KEYS)):
        problems.append("control must be a mapping with value, ci_low, ci_high")
    return problems


def finding_summaries(root: Path, profile_name: str) -> dict[str, dict[str, Any] | None]:
    """Each finding notebook's checked ``summary.json`` (``None`` when it has not run)."""
    paths = {nb: Path(root) / results_dir(profile_name, nb) / "summary.json" for nb in FINDING_NOTEBOOKS}
    return {nb: read_summary(path) if path.is_file() else None for nb, path in paths.items()}


def status_markdown(root: Path, profile_name: str) -> str:
    """The introduction's status table, from the notebooks' ``summary.json``: one row per finding (its
    headline measure under its title), one column per model family, each cell the family's verdict, the
    headline value with its 95% CI, the rule's conditions met / not met (when recorded) and n."""
    summaries = finding_summaries(root, profile_name)
    entries = {nb: family_entries(s) if s else [] for nb, s in summaries.items()}
    families = list(dict.fromkeys(family_label(e) for es in entries.values() for e in es)) or ["results"]
    header = ["Finding: headline measure", *families]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for nb, es in entries.items():
        link = f"{{doc}}`{FINDING_TITLES[nb]} </book/executed/{nb}>`"
        if not es:
            lines.append("| " + " | ".join([link, *["not run yet"] * len(families)]) + " |")
            continue
        measure = es[0]["headline"]["name"]
        by_family = {family_label(e): e for e in es}
        cells = [_status_cell(by_family[f], measure) if f in by_family else "not run" for f in families]
        lines.append("| " + " | ".join([f"{link}: {_cell(measure)}", *cells]) + " |")
    source = (f"Profile `{profile_name}`, from `results/{profile_name}/*/summary.json`; value [95% CI] to two "
              "significant figures; (a), (b): the rule's conditions, met ✓ or not ✗; n = independent questions "
              "(pairs) where recorded, else the headline's count.")
    return "\n".join(lines) + "\n\n" + source + "\n"


def _status_cell(entry: dict[str, Any], measure: str) -> str:
    """``**reproduced** 0.85 [0.83, 0.87]; (a) ✓ · (b) ✓; 72 questions`` (the measure named when it differs; no
    value when the headline was not measured, as where the finding is not testable)."""
    n = sample_size(entry)
    headline = entry["headline"]
    named = "" if headline["name"] == measure else f"{headline['name']}: "
    value = f" {named}{value_ci(headline)}" if headline.get("value") is not None else ""
    parts = [f"**{entry['verdict']}**{value}", conditions_marks(entry), n]
    return _cell("; ".join(part for part in parts if part))


def findings_markdown(root: Path, profile_name: str) -> str:
    """What was found, one item per finding, generated from the results (verdict, headline, control, rule)."""
    items = []
    for nb, s in finding_summaries(root, profile_name).items():
        link = f"{{doc}}`{FINDING_TITLES[nb]} </book/executed/{nb}>`"
        if s is None:
            items.append(f"- {link}: not run yet (`unpact run --only {nb}`).")
            continue
        rule = f" Rule: {s['rule']}" if s.get("rule") else ""
        found = " ".join(found_sentence(e) for e in family_entries(s))
        items.append(f"- {link}. {found}{rule}")
    return "\n".join(items) + "\n"


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
    """One table per benchmark result file in ``folder``: machine, command, commit and date it was measured at."""
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
        where = (f"Machine: {data.get('machine', 'not recorded')}. Command: `{data.get('command', 'not recorded')}`. "
                 f"File: `{BENCHMARKS_DIR.as_posix()}/{path.name}`.")
        head = [f"## {title}", "", measured_line(data, periodic_reason(path.name)), "", where, ""]
        rows = data.get("rows")
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            table = _table(rows)
        else:
            shown = {k: v for k, v in data.items() if k not in (*BENCHMARK_META, "notes")}
            table = _table([{"key": k, "value": v} for k, v in shown.items()])
        notes = ["", str(data["notes"])] if data.get("notes") else []
        parts.append("\n".join(head + table + notes + [""]))
    return "\n".join(parts)


def measured_line(data: dict[str, Any], periodic: str | None = None) -> str:
    """``Measured at commit `abc1234` on 2026-12-02 05:30 UTC.``, and whether the code changed since (provenance).

    ``periodic``: why the result is re-measured periodically (``unpact.book.provenance.PERIODIC``), said when stale.
    """
    status = benchmark_status(data)
    if status == "untracked":
        return ("**Measured before commit tracking** (no commit or code digest recorded; "
                "the date, if any, is in the notes).")
    commit = data.get("commit")
    when = str(data.get("measured_utc", "")).replace("T", " ").replace("Z", " UTC")
    dirty = "+dirty" if commit and commit.endswith("+dirty") else ""
    text = f"Measured at commit `{commit[:12]}{dirty}`" if commit else "Measured"
    text += f" on {when}." if when else "."
    return text + {"current": " The code that made it is unchanged since.",
                   "stale": " **Stale**: the code that made it has changed since; rerun the command below." + (
                       f" Re-measured periodically, not with every change ({periodic}): the numbers are those of "
                       "the commit above." if periodic else ""),
                   "unknown": " (The code that made it is not in this checkout, so staleness is not checked.)"}[status]


def api_modules(package_dir: Path) -> list[str]:
    """The documented modules of the package: every public module except the command-line wrappers, sorted."""
    package_dir = Path(package_dir)
    modules = []
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if any(p.startswith("_") and p != "__init__" for p in parts) or "commands" in parts or parts[-1] == "cli":
            continue
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def api_markdown(package_dir: Path) -> str:
    """Reference of the public API, one section per module, rendered by Sphinx autodoc (napoleon for the docstrings)."""
    sections = [f"## {module}\n\n```{{eval-rst}}\n.. automodule:: {module}\n```\n"
                for module in api_modules(package_dir)]
    return "\n".join(sections)


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


def rules_markdown() -> str:
    """The pre-registered verdict rules (``unpact.findings.verdicts.PREREGISTERED``) and the operating point."""
    from unpact.findings.depth import OPERATING_RULE
    from unpact.findings.verdicts import preregistered_rules_markdown

    return (preregistered_rules_markdown() + "\n\nOperating point of an unlearning run (finding 2's headline): "
            + OPERATING_RULE + "; the end of the budget is reported beside it.\n")
