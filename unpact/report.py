"""What a notebook leaves behind: tidy CSV tables, a JSON of key numbers and the finding's summary.

Every file is written atomically into the notebook's ``out_dir`` so a book page, a test or a
user's script can read results without parsing the notebook. ``summary.json`` follows the schema
of ``unpact.book.pages`` (finding, verdict, headline with value, CI and n).
"""
from __future__ import annotations

import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from unpact.io import atomic_write_csv, atomic_write_json, ensure_writable_dir

BENCHMARK_DIR = Path("results") / "benchmarks"


def write_results(out_dir: str | os.PathLike[str], tables: Mapping[str, pd.DataFrame],
                  numbers: Mapping[str, Any] | None = None, parameters: Mapping[str, Any] | None = None) -> Path:
    """Write ``<name>.csv`` per table, ``numbers.json`` and ``parameters.json``; return the folder."""
    folder = ensure_writable_dir(out_dir, what="results folder")
    for name, frame in tables.items():
        atomic_write_csv(folder / f"{name}.csv", frame)
    if numbers is not None:
        atomic_write_json(folder / "numbers.json", _finite(numbers))
    if parameters is not None:
        atomic_write_json(folder / "parameters.json", dict(parameters))
    return folder


def write_summary(out_dir: str | os.PathLike[str], finding: str, verdict: str, headline: Mapping[str, Any],
                  detail: str = "", rule: str = "", *, control: Mapping[str, Any] | None = None,
                  conditions: Sequence[Mapping[str, Any]] | None = None, n_questions: int | None = None,
                  n_pairs: int | None = None, extra: Mapping[str, Any] | None = None, family: str = "organism",
                  models: Sequence[str] = (), by_family: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write the finding's ``summary.json`` for the book's introduction (schema in ``unpact.book.pages``).

    Optional: ``control`` (``{name, value, ci_low, ci_high}``, drawn beside the headline),
    ``conditions`` (``[{name, met: bool, value?}]``, the verdict rule's conditions, shown as met /
    not met), ``n_questions`` and ``n_pairs`` (independent questions and the pairs they make).
    The top level is the verdict of one model ``family`` (``organism`` or ``pretrained``; ``models``
    names them); ``by_family`` holds the verdicts of the other families, each made by
    ``family_summary`` (same fields), so the status table shows one row per finding and family.
    """
    folder = ensure_writable_dir(out_dir, what="results folder")
    summary: dict[str, Any] = {"finding": finding, "rule": rule,
                               **family_summary(verdict, headline, detail, control=control, conditions=conditions,
                                                n_questions=n_questions, n_pairs=n_pairs, family=family,
                                                models=models)}
    summary.update({k: _finite(v) for k, v in (extra or {}).items() if k not in summary})
    if by_family:
        summary["by_family"] = {name: dict(entry) for name, entry in by_family.items()}
    return atomic_write_json(folder / "summary.json", summary)


def family_summary(verdict: str, headline: Mapping[str, Any], detail: str = "", *,
                   control: Mapping[str, Any] | None = None, conditions: Sequence[Mapping[str, Any]] | None = None,
                   n_questions: int | None = None, n_pairs: int | None = None, family: str = "organism",
                   models: Sequence[str] = ()) -> dict[str, Any]:
    """One model family's verdict in the ``summary.json`` schema (see ``write_summary``)."""
    entry: dict[str, Any] = {"family": family, "models": list(models), "verdict": verdict,
                             "headline": _finite(dict(headline)), "detail": detail}
    optional = {"control": _finite(dict(control)) if control is not None else None,
                "conditions": [_finite(dict(c)) for c in conditions] if conditions is not None else None,
                "n_questions": n_questions, "n_pairs": n_pairs}
    entry.update({k: v for k, v in optional.items() if v is not None})
    return entry


def headline(
    name: str, row: Mapping[str, Any] | pd.Series, value: str = "rate", n: str = "n", direction: str = ""
) -> dict[str, Any]:
    """A headline number from a summary row with ``ci_low``/``ci_high`` columns."""
    return {"name": name, "value": float(row[value]), "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]),
            "n": int(row[n]), "direction": direction}


def fmt_sig(value: Any, digits: int = 2) -> str:
    """``value`` to ``digits`` significant figures in plain notation (``0.94``, ``0.0075``, ``-0.010``, ``120``);
    ``n/a`` for a missing or non-finite value. The book's one number format."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    return f"{round(value, decimals):.{max(decimals, 0)}f}"


def fmt_ci(value: float | None, low: float | None, high: float | None, digits: int = 2) -> str:
    """``0.41 [0.35, 0.47]``: a value and its CI, each to ``digits`` significant figures (``n/a`` if missing)."""
    return f"{fmt_sig(value, digits)} [{fmt_sig(low, digits)}, {fmt_sig(high, digits)}]"


def _finite(obj: Any) -> Any:
    """Replace NaN/inf by None so the JSON is standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def machine_description() -> str:
    """CPU model, core count, OS, Python and torch versions, GPU if any: the machine a number was measured on."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        torch_version = str(torch.__version__)
    except ImportError:
        gpu, torch_version = "unknown GPU", "not installed"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{model}, {cores} cores available, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch_version}, {gpu}")


def write_benchmark(path: str | os.PathLike[str], title: str, command: str, rows: list[dict[str, Any]],
                    notes: str = "", code: Sequence[str] = ()) -> Path:
    """Write a benchmark result for the book's Performance page (schema of ``unpact.book.pages``):
    ``{"title", "machine", "command", "rows", "notes"}`` plus the measurement record of
    :func:`unpact.book.provenance.measurement_record` (git commit, UTC time, digest of ``code``: the
    benchmark script and the package parts it measures, paths relative to the repository root),
    from which the book build warns when the result is older than its code."""
    from unpact.book.provenance import measurement_record

    return atomic_write_json(path, {"title": title, "machine": machine_description(), "command": command,
                                    "rows": [_finite(dict(r)) for r in rows], "notes": notes,
                                    **measurement_record(code)})
