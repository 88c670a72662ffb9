"""KeyToken rules, gold-keyword precision/recall and before/after tracking on hand-made maps."""
from __future__ import annotations

import numpy as np
import pytest

from unpact.attribution.attributor import AttributionResult, PromptAttribution
from unpact.attribution.keytokens import gold_keyword_mask, key_mask, keyword_precision_recall, keyword_scores
from unpact.attribution.tracking import tracking_summary, unit_changes
from unpact.errors import UsageError

C = np.array([0.5, -0.2, 0.1, 0.4, 0.0, 0.3])


def test_relative_threshold_keeps_only_positive_large() -> None:
    assert key_mask(C, alpha=0.5).tolist() == [True, False, False, True, False, True]
    assert key_mask(-np.abs(C), alpha=0.5).tolist() == [False] * 6


def test_top_k_and_ties_and_positivity() -> None:
    assert key_mask(C, top_k=2, alpha=None).tolist() == [True, False, False, True, False, False]
    assert key_mask([0.2, 0.2, 0.1], top_k=1, alpha=None).tolist() == [True, False, False]
    assert key_mask([-0.1, -0.3], top_k=1, alpha=None).tolist() == [False, False]


def test_criteria_combine_by_and() -> None:
    assert key_mask(C, top_k=3, alpha=0.7).tolist() == [True, False, False, True, False, False]
    assert key_mask(C, alpha=None, min_contribution=0.25).tolist() == [True, False, False, True, False, True]
    assert key_mask(C, top_k=2, alpha=None, min_contribution=0.45).tolist() == [True] + [False] * 5


def test_bad_keytoken_parameters() -> None:
    with pytest.raises(UsageError, match="at least one"):
        key_mask(C, alpha=None)
    with pytest.raises(UsageError, match="top_k"):
        key_mask(C, top_k=0)
    with pytest.raises(UsageError, match="alpha"):
        key_mask(C, alpha=1.5)


def test_gold_keywords_match_word_by_word() -> None:
    units = ["What", "city", "was", "Mira", "Tolan", "born", "in", "?"]
    gold = gold_keyword_mask(units, ["Mira Tolan", "born"])
    assert gold.tolist() == [False, False, False, True, True, True, False, False]
    key = np.array([False, True, False, True, False, True, False, False])
    assert keyword_precision_recall(key, gold) == pytest.approx((2 / 3, 2 / 3))
    p, r = keyword_precision_recall(np.zeros(8, bool), gold)
    assert np.isnan(p) and r == 0


def _result(maps: list[list[float]], lp: float, ids: str = "pq") -> AttributionResult:
    return AttributionResult([
        PromptAttribution(i, "a b c d", " x", list("abcd")[: len(m)], [(0, 1)] * len(m), np.array(m), lp, "loo", "word")
        for i, m in zip(ids, maps)
    ])


def test_tracking_numbers_on_hand_made_maps() -> None:
    before = _result([[0.4, 0.1, 0.3, -0.1]], -1.0)
    after = _result([[0.0, 0.1, 0.35, -0.3]], -2.0)
    summary = tracking_summary(before, after, keywords=[["c", "b"]], alpha=0.5)
    row = summary.iloc[0]
    # key before: a (0.4), c (0.3 >= 0.2); key after: c only (0.35 is max, 0.1 < 0.175)
    assert row["n_key"] == 2 and row["key_kept"] == pytest.approx(0.5)
    assert row["mean_change_key"] == pytest.approx(((0.0 - 0.4) + (0.35 - 0.3)) / 2)
    assert row["mean_change_nonkey"] == pytest.approx((0.0 + (-0.2)) / 2)
    # ranks before: d<b<c<a -> [4,2,3,1]; after: d<a<b<c -> [2,3,4,1]
    assert row["spearman"] == pytest.approx(np.corrcoef([4, 2, 3, 1], [2, 3, 4, 1])[0, 1])
    assert row["keyword_precision"] == pytest.approx(0.5) and row["keyword_recall"] == pytest.approx(0.5)
    changes = unit_changes(before, after, alpha=0.5)
    assert changes["change"].tolist() == pytest.approx([-0.4, 0.0, 0.05, -0.2])
    assert changes["key_before"].tolist() == [True, False, True, False]


def test_tracking_needs_the_same_units() -> None:
    with pytest.raises(UsageError, match="same units"):
        tracking_summary(_result([[0.1, 0.2]], 0), _result([[0.1, 0.2, 0.3]], 0))
    with pytest.raises(UsageError, match="same prompt ids"):
        tracking_summary(_result([[0.1, 0.2]], 0), _result([[0.1, 0.2]], 0, ids="r"))


def test_tracking_matches_prompts_by_id_not_position() -> None:
    before = _result([[0.4, 0.1], [0.2, 0.3]], -1.0)
    after = AttributionResult(list(reversed(_result([[0.0, 0.1], [0.2, 0.5]], -2.0).items)))
    changes = unit_changes(before, after, top_k=1, alpha=None)
    assert changes["item_id"].tolist() == ["p", "p", "q", "q"]
    assert changes["change"].tolist() == pytest.approx([-0.4, 0.0, 0.0, 0.2])
    with pytest.raises(UsageError, match="unique"):
        AttributionResult(before.items + before.items[:1])


def test_keyword_scores_per_prompt() -> None:
    result = _result([[0.4, 0.1, 0.3, -0.1], [0.1, 0.2]], -1.0)
    frame = keyword_scores(result, [["c", "d"], None], alpha=0.5)
    assert frame["prompt_id"].tolist() == [0] and frame["item_id"].tolist() == ["p"]  # no keywords: skipped
    by_id = keyword_scores(result, {"q": None, "p": ["c", "d"]}, alpha=0.5)
    assert by_id.drop(columns="prompt_id").equals(frame.drop(columns="prompt_id"))
    row = frame.iloc[0]
    assert (row["n_key"], row["n_gold"], row["hits"]) == (2, 2, 1)
    assert row["precision"] == pytest.approx(0.5) and row["recall"] == pytest.approx(0.5)
    with pytest.raises(UsageError, match="keyword lists"):
        keyword_scores(result, [["c"]])
