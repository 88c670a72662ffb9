"""Robustness and unlearning-outcome helpers: hand-computed numbers on small frames."""
from __future__ import annotations

import pandas as pd
import pytest

from tests.test_findings import hand_recovery_frame, units_frame
from unpact.findings import (
    accuracy_table,
    focus_disruption,
    keyword_quality,
    recovery_rates,
    setting_summary,
    target_misses,
)
from unpact.stats import wilson_interval

SCORES = pd.DataFrame({"arch": "llama", "seed": 0, "domain": "news", "split": ["forget", "forget", "retain"],
                       "item_id": ["a", "b", "c"], "n_key": [2, 2, 0], "n_gold": [2, 1, 1], "hits": [1, 1, 0]})


def test_keyword_quality_pools_counts() -> None:
    out = keyword_quality(SCORES).set_index("split")
    assert out.loc["forget", "precision"] == pytest.approx(2 / 4)
    assert out.loc["forget", "recall"] == pytest.approx(2 / 3)
    assert out.loc["forget", "n_items"] == 2
    assert out.loc["retain", "precision"] == 0.0  # no KeyTokens: 0 / max(0, 1)


def test_setting_summary_matches_the_findings_functions() -> None:
    units = units_frame()
    recovery = hand_recovery_frame()
    row = setting_summary(units, recovery, SCORES, beta=0.5, n_boot=50)
    disrupted = focus_disruption(units[units["split"] == "forget"], beta=0.5, by=("split",), n_boot=50).iloc[0]
    assert row["disruption"] == disrupted["rate"]
    assert row["recovery"] == recovery_rates(recovery, n_boot=50).set_index("source").loc["base_key", "rate"]
    assert row["control_recovery"] == 0.25 and row["n_forgotten"] == 4
    assert (row["keyword_precision"], row["keyword_recall"]) == pytest.approx((0.5, 2 / 3))  # forget items only


def test_accuracy_table_and_target_misses() -> None:
    outcomes = pd.DataFrame({"arch": "llama", "seed": 0, "method": "ga", "split": "forget",
                             "domain": ["news"] * 4 + ["hazard"] * 4,
                             "unlearned_correct": [True, False, False, False, True, True, False, False]})
    table = accuracy_table(outcomes, "unlearned_correct").set_index("domain")
    assert table.loc["news", "accuracy"] == 0.25 and table.loc["news", "model"] == "ga"
    assert (table.loc["news", "ci_low"], table.loc["news", "ci_high"]) == pytest.approx(wilson_interval(1, 4))
    # news 0.25 > 0.20 misses; hazard 0.5 is 0.25 from chance 0.25 > 0.10: misses too
    assert sorted(target_misses(table.reset_index())["domain"]) == ["hazard", "news"]
    assert target_misses(table.reset_index().assign(accuracy=[0.3, 0.1])).empty
    assert accuracy_table(outcomes, "unlearned_correct", "base")["model"].eq("base").all()
