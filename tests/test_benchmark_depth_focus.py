"""benchmarks/depth_focus.py: the Performance page's rows of finding 1's measures per attributed step."""
from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "depth_focus.py"


def test_page_rows_round_each_measure_and_join_its_ci() -> None:
    script = runpy.run_path(str(SCRIPT))
    table = pd.DataFrame([{"method": "npo", "step": 0, "forget_accuracy": 1.0, "utility": 0.9, "n_forgotten": 0,
                           "n_questions": 3, "kept": 1.0, "kept_ci_low": 1.0, "kept_ci_high": 1.0,
                           "key_change": -0.12345, "key_change_ci_low": -0.2, "key_change_ci_high": -0.05}])
    [row] = script["page_rows"](table)
    assert row["kept"] == 1.0 and row["kept_ci"] == "[1.00, 1.00]" and row["n_questions"] == 3
    assert row["key_change"] == -0.123 and row["key_change_ci"] == "[-0.20, -0.05]" and "flipped" not in row
