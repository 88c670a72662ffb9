"""benchmarks/reproducibility.py: what counts as the same between two runs, and how a difference is named."""
from __future__ import annotations

import json
import runpy
import subprocess
import sys
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


def test_reference_must_hold_an_earlier_runs_summaries(tmp_path: Path) -> None:
    (tmp_path / "01_keyword_focus").mkdir()
    result = subprocess.run([sys.executable, str(SCRIPT), "--profile", "micro", "--reference", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "holds no <notebook>/summary.json" in result.stderr and str(tmp_path) in result.stderr


def test_keep_cache_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "leftover").write_text("x")
    result = subprocess.run([sys.executable, str(SCRIPT), "--profile", "micro", "--keep-cache", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "is not empty" in result.stderr


def test_tables_of_a_reference_folder_leave_out_timings(tmp_path: Path) -> None:
    repro = runpy.run_path(str(SCRIPT))
    (tmp_path / "02").mkdir()
    (tmp_path / "02" / "summary.json").write_text('{"verdict": "partly"}')
    (tmp_path / "02" / "runs.csv").write_text("method,train_seconds\nga,1.5\n")
    (tmp_path / "02" / "figure.png").write_bytes(b"\x89PNG")
    found = repro["tables"](tmp_path)
    assert set(found) == {"02/summary.json", "02/runs.csv"}
    assert found["02/runs.csv"] == b"method\nga\n"
