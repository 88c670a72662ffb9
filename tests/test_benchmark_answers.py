"""benchmarks/answers.py: the forced answer prefix of the sentence scorer, and the rows it reports."""
from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import pytest

from unpact.data.facts import geography_facts

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "answers.py"


def test_answer_prefix_is_the_first_statement_up_to_the_answer() -> None:
    answers = runpy.run_path(str(SCRIPT))
    facts = {f.item.id: f.item for f in geography_facts()}
    items = [facts["geo-capital-AFG"], facts["geo-state-capital-WY"]]
    assert answers["answer_prefixes"](items) == {"geo-capital-AFG": "The capital of Afghanistan is",
                                                 "geo-state-capital-WY": "The capital of Wyoming is"}
    wrong = items[0].__class__(**{**items[0].to_dict(), "answer": "Herat"})
    with pytest.raises(ValueError, match="does not end with its answer"):
        answers["answer_prefixes"]([wrong])


def test_score_rows_give_means_changes_and_the_paired_key_minus_control() -> None:
    answers = runpy.run_path(str(SCRIPT))
    rows = []
    for model, shift in (("base", 0.0), ("checkpoint", -1.0)):
        for condition, bonus in (("plain", 0.0), ("key", 0.5), ("control", 0.0)):
            for i, item in enumerate(("a", "b", "c")):
                rows.append({"id": item, "model": model, "condition": condition,
                             "bare": -2.0 + shift + bonus + i, "sentence": -1.0 + shift + i})
    out = {r["condition"]: r for r in answers["score_rows"](pd.DataFrame(rows), ["a", "b"])}
    assert out["plain"]["bare_base"] == -1.5 and out["plain"]["bare_checkpoint"] == -2.5
    assert out["plain"]["bare_change"] == -1.0 and out["plain"]["bare_change_ci"] == "[-1.00, -1.00]"
    assert out["key minus control"]["bare_checkpoint"] == 0.5 and out["key minus control"]["bare_change"] == 0.0
    assert out["key minus control"]["sentence_checkpoint"] == 0.0
