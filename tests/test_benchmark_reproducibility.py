"""benchmarks/reproducibility.py: what counts as the same between two runs, and how a difference is named."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reproducibility.py"


def test_timing_columns_aside_tables_compare_and_differing_verdicts_are_named(tmp_path: Path) -> None:
    bench = runpy.run_path(str(SCRIPT))
    first_csv, second_csv = tmp_path / "a.csv", tmp_path / "b.csv"
    first_csv.write_text("method,seconds,train_seconds,accuracy\nga,1.5,3.0,0.25\n")
    second_csv.write_text("method,seconds,train_seconds,accuracy\nga,9.0,4.0,0.25\n")
    assert bench["without_timings"](first_csv) == bench["without_timings"](second_csv)
    second_csv.write_text("method,seconds,train_seconds,accuracy\nga,9.0,4.0,0.5\n")
    assert bench["without_timings"](first_csv) != bench["without_timings"](second_csv)

    summary = {"verdict": "partly", "headline": {"value": 0.4, "ci_low": 0.1}, "n_questions": 32}
    flipped = {"verdict": "not reproduced", "headline": {"value": 0.4, "ci_low": -0.1}, "n_questions": 32}
    first = {"02/summary.json": json.dumps(summary).encode(), "02/table.csv": b"x\n1\n", "00/organisms.csv": b"a\n"}
    second = {"02/summary.json": json.dumps(flipped).encode(), "02/table.csv": b"x\n1\n", "00/organisms.csv": b"a\n"}
    rows = {r["notebook"]: r for r in bench["compare"](first, second)}
    assert rows["00"] == {**rows["00"], "tables": 1, "identical": 1, "summary_identical": True}
    assert rows["02"]["summary_identical"] is False and rows["02"]["identical"] == 1
    assert (rows["02"]["verdict_run_1"], rows["02"]["verdict_run_2"]) == ("partly", "not reproduced")
    assert rows["02"]["differing_summary_fields"] == ".headline.ci_low, .verdict"
    assert rows["02"]["differing_tables"] == "summary.json"
    assert bench["json_differences"]([1, 2], [1, 2, 3]) == ["."]
