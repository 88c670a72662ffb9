"""benchmarks/depth_focus.py: finding 1's measures per checked step, beside the probe's accuracies."""
from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "depth_focus.py"


def _rows() -> pd.DataFrame:
    """Two steps of one run, as read back from the run's probe CSV (booleans as strings, NaN elsewhere)."""
    rows = []
    for step, correct in ((0, ("True", "True", "True")), (3, ("False", "True", "False"))):
        for item, ok in zip("abc", correct):
            rows.append({"kind": "probe", "step": step, "item_id": item, "condition": "plain", "gold_lp": -1.0,
                         "first_rank": 1, "correct": ok})
        rows.append({"kind": "probe", "step": step, "item_id": "u1", "condition": "utility", "gold_lp": -1.0,
                     "first_rank": 1, "correct": "True"})
    # per question: 3 words, the first a KeyToken; after unlearning a's key flips, b's shrinks, c's is kept
    after = {"a": (-2.0, 1.0, 0.5), "b": (1.0, 2.0, 0.5), "c": (3.5, 0.5, 0.2)}
    for step in (0, 3):
        for item, c_after in after.items():
            for unit, c_before, now in zip(("key", "w1", "w2"), (4.0, 1.0, 0.5), c_after):
                rows.append({"kind": "contribution", "step": step, "item_id": item, "split": "forget",
                             "unit": unit, "is_key": str(unit == "key"), "is_function_word": "False",
                             "c_before": c_before, "c_after": c_before if step == 0 else now})
    return pd.DataFrame(rows).assign(method="npo", domain="facts")


def test_focus_along_depth_gives_fates_and_ranks_per_step() -> None:
    script = runpy.run_path(str(SCRIPT))
    table = script["focus_along_depth"](_rows(), n_boot=200)
    assert list(table["step"]) == [0, 3]
    base, later = table.iloc[0], table.iloc[1]
    assert base["forget_accuracy"] == 1.0 and base["kept"] == 1.0 and base["flipped"] == 0.0
    assert base["spearman"] == pytest.approx(1.0) and base["topk_overlap"] == 1.0
    assert later["forget_accuracy"] == pytest.approx(1 / 3) and later["n_forgotten"] == 2
    assert later["utility"] == 1.0 and later["n_questions"] == 3
    assert (later["kept"], later["shrunk"], later["flipped"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert later["topk_overlap"] == pytest.approx(1 / 3)  # only c keeps its KeyToken on top
    assert later["kept_ci_low"] <= later["kept"] <= later["kept_ci_high"]
    assert later["key_change"] == pytest.approx((-6.0 - 3.0 - 0.5) / 3)
    assert later["nonkey_change"] == pytest.approx((0.0 + 1.0 - 0.5 + 0.0 + 0.0 - 0.3) / 6)
    assert base["key_change"] == 0.0 and base["key_change_ci_low"] == 0.0
    page = script["page_rows"](table)
    assert page[0]["kept"] == 1.0 and page[0]["kept_ci"] == "[1.00, 1.00]" and page[1]["n_questions"] == 3
