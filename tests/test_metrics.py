"""Answer metrics and judges on hand-computed cases."""
from __future__ import annotations

import math

import pytest

from unpact.errors import UsageError
from unpact.metrics import (
    JUDGES,
    answer_probability,
    contains,
    exact_match,
    get_judge,
    normalize_answer,
    rouge_l_f1,
    rouge_l_recall,
)


def test_normalisation_and_exact_match() -> None:
    assert normalize_answer("  The Eiffel-Tower! ") == "eiffel tower"
    assert exact_match("the Eiffel Tower.", "Eiffel tower")
    assert not exact_match("Eiffel", "Eiffel tower")


def test_rouge_l_hand_computed() -> None:
    # gold tokens [paris, france]; prediction [the, capital, is, paris]: LCS = 1
    assert rouge_l_recall("the capital is Paris", "Paris, France") == pytest.approx(1 / 2)
    p, r = 1 / 4, 1 / 2
    assert rouge_l_f1("the capital is Paris", "Paris, France") == pytest.approx(2 * p * r / (p + r))
    # LCS keeps order: [a, c] in [a, b, c] gives recall 1
    assert rouge_l_recall("alpha beta gamma", "alpha gamma") == 1.0
    assert rouge_l_recall("", "alpha") == 0.0


def test_contains_is_whole_word() -> None:
    assert contains("It is Paris, France.", "paris france")
    assert not contains("Parisian food", "Paris")
    assert not contains("anything", "")


def test_answer_probability() -> None:
    assert answer_probability(math.log(0.25)) == pytest.approx(0.25)


def test_judges_registry_and_thresholds() -> None:
    assert set(JUDGES) == {"exact", "contains", "rouge_l_recall"}
    assert get_judge("exact") is exact_match
    assert get_judge("rouge_l_recall")("the capital is Paris", "Paris France")  # recall 0.5 >= 0.5
    assert not get_judge("rouge_l_recall", threshold=0.6)("the capital is Paris", "Paris France")
    assert get_judge("contains")("it was Paris", "paris")

    def mine(prediction: str, gold: str) -> bool:
        return prediction.startswith(gold)

    assert get_judge(mine) is mine


def test_judge_errors_list_valid_choices() -> None:
    with pytest.raises(UsageError, match="contains, exact, rouge_l_recall"):
        get_judge("gpt4")
    with pytest.raises(UsageError, match="no threshold"):
        get_judge("exact", threshold=0.5)
    with pytest.raises(UsageError, match=r"\[0, 1\]"):
        get_judge("rouge_l_recall", threshold=2.0)
