"""Run the book twice from two empty caches and compare what the two runs wrote.

    python benchmarks/reproducibility.py [--profile micro] [--json results/benchmarks/reproducibility-micro.json]
                                         [--reference DIR] [--keep-cache DIR]

Each run is ``unpact run --profile P --force --cache <fresh temporary folder>`` in the repository root
(the same command ``benchmarks/book.py`` times), so models, unlearning runs and tables are all rebuilt.
After each run the finding notebooks' ``results/P/<notebook>/summary.json`` (the verdicts the book's
status table shows) and every other table the notebooks wrote (``*.csv``, ``*.json`` under
``results/P/``) are read back. One row per notebook: files compared, files identical (byte for byte,
except that columns of wall-clock seconds in a csv, e.g. ``train_seconds``, are left out), the
verdict of each run, and the first differing fields of any summary that differs (JSON paths), so a
reader sees whether a verdict could flip between two builds on one machine (issue 11: "two quick
builds from an empty cache give the same verdicts"). Exit status 1 when any summary differs.

``--reference DIR`` runs once and compares that run with the tables of an earlier one, copied to DIR
(laid out like ``results/<profile>``): a ``quick`` run takes over an hour here, so the earlier run can be
the one ``benchmarks/book.py`` made for the same code (its notebooks re-run on the models its cold run
trained). ``--keep-cache DIR`` (new or empty) runs in DIR and keeps it, as in ``benchmarks/book.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CODE = ("benchmarks/reproducibility.py", "unpact", "notebooks")
TABLE_SUFFIXES = (".csv", ".json")


def run_once(profile: str, keep_cache: Path | None = None) -> dict[str, bytes]:
    """Run the book from a fresh cache (``keep_cache``, else a temporary folder); its tables (``tables``)."""
    with tempfile.TemporaryDirectory(prefix="unpact-repro-cache-") as tmp:
        subprocess.run([sys.executable, "-m", "unpact.cli", "run", "--profile", profile, "--force", "--cache",
                        str(keep_cache or tmp)], cwd=ROOT, check=True)
    return tables(ROOT / "results" / profile)


def tables(out: Path) -> dict[str, bytes]:
    """The bytes of every table (``*.csv``, ``*.json``) under ``out``, by relative path (``without_timings``)."""
    return {str(p.relative_to(out)): without_timings(p) for p in sorted(out.rglob("*"))
            if p.is_file() and p.suffix in TABLE_SUFFIXES}


def without_timings(path: Path) -> bytes:
    """The file's bytes; for a csv, without its columns of wall-clock seconds (names ending in ``seconds``)."""
    if path.suffix != ".csv":
        return path.read_bytes()
    import pandas as pd

    table = pd.read_csv(path)
    return table.drop(columns=[c for c in table.columns if str(c).endswith("seconds")]).to_csv(index=False).encode()


def json_differences(a: Any, b: Any, path: str = "") -> list[str]:
    """JSON paths where ``a`` and ``b`` differ (a key present in one only counts as a difference)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in json_differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in json_differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path or "."]


def compare(first: dict[str, bytes], second: dict[str, bytes]) -> list[dict[str, object]]:
    """One row per notebook folder: tables compared and identical, each run's verdict, differing summary fields."""
    rows = []
    for notebook in sorted({name.split("/")[0] for name in [*first, *second] if "/" in name}):
        names = sorted(n for n in set(first) | set(second) if n.startswith(notebook + "/"))
        same = [n for n in names if first.get(n) == second.get(n)]
        summary = f"{notebook}/summary.json"
        verdicts = [json.loads(run[summary]).get("verdict", "") if summary in run else "" for run in (first, second)]
        differing = (json_differences(json.loads(first[summary]), json.loads(second[summary]))
                     if summary in first and summary in second else [])
        rows.append({"notebook": notebook, "tables": len(names), "identical": len(same),
                     "verdict_run_1": verdicts[0], "verdict_run_2": verdicts[1],
                     "summary_identical": summary not in names or summary in same,
                     "differing_summary_fields": ", ".join(differing[:5]) + (" ..." if len(differing) > 5 else ""),
                     "differing_tables": ", ".join(n.split("/", 1)[1] for n in names if n not in same)[:300]})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="micro")
    parser.add_argument("--json", default=None, help="also write the table for the book's Performance page here")
    parser.add_argument("--reference", type=Path, default=None,
                        help="run once and compare with the tables of an earlier run in this folder (laid out like "
                        "results/<profile>), instead of running twice")
    parser.add_argument("--keep-cache", type=Path, default=None,
                        help="run in this (new or empty) cache folder and keep it; default: a temporary folder")
    args = parser.parse_args()
    if args.reference is not None and not (args.reference.is_dir() and any(args.reference.glob("*/summary.json"))):
        parser.error(f"--reference {args.reference} holds no <notebook>/summary.json: copy an earlier "
                     f"results/{args.profile} folder there")
    if args.keep_cache is not None and args.keep_cache.exists() and any(args.keep_cache.iterdir()):
        parser.error(f"--keep-cache {args.keep_cache} is not empty: each run must start from an empty cache")
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from unpact.report import write_benchmark

    if args.reference is not None:
        first, second = tables(args.reference), run_once(args.profile, args.keep_cache)
    else:
        first = run_once(args.profile)
        second = run_once(args.profile, args.keep_cache)
    rows = compare(first, second)
    print(pd.DataFrame(rows).to_string(index=False))
    ok = all(r["summary_identical"] for r in rows)
    if args.json:
        runs = ("Both runs on one machine, one after the other, each with a fresh cache" if args.reference is None else
                f"Run 1: the tables of an earlier run, copied to {args.reference} (the Performance page says which); "
                "run 2: a fresh run with an empty cache")
        command = f"python benchmarks/reproducibility.py --profile {args.profile} --json {args.json}"
        if args.reference is not None:
            command += f" --reference {args.reference}"
        write_benchmark(args.json, f"Reproducibility: two `{args.profile}` runs from two empty caches", command, rows,
                        f"{runs}; tables = the csv "
                        f"and json files the notebooks wrote under results/{args.profile}/; identical = byte for "
                        "byte, csv columns of wall-clock seconds left out. Every summary.json (the status table's "
                        "verdicts) "
                        + ("is identical." if ok else "is NOT identical: see differing_summary_fields."),
                        code=CODE)
        print(f"wrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
