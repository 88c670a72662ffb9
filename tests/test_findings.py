"""The findings' DataFrame functions on hand-computed cases, and their schema errors."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from unpact.errors import UsageError
from unpact.findings import (
    combine_styles,
    contribution_change,
    contribution_frame,
    control_tokens,
    destructive_rates,
    focus_disruption,
    indiscriminateness,
    is_function_word,
    key_vs_control,
    outcome_frame,
    preregistered_verdict,
    recovery_frame,
    recovery_rates,
    seed_spread,
)
from unpact.stats import mcnemar_from_counts, wilson_interval

# item: (base_correct, unlearned_correct, emphasised correct with key tokens, with control tokens)
ITEMS = {
    1: (True, False, True, False),   # eligible; key recovers, control not  -> discordant b
    2: (True, False, False, False),  # eligible; neither
    3: (True, False, True, True),    # eligible; both
    4: (True, True, True, False),    # not forgotten: not eligible
    5: (False, False, True, True),   # never known: not eligible
    6: (True, False, False, False),  # eligible; neither
}


def hand_recovery_frame() -> pd.DataFrame:
    rows = []
    for item, (base, unl, key, ctl) in ITEMS.items():
        for source, emph in (("base_key", key), ("control", ctl)):
            rows.append(dict(item_id=item, method="ga", domain="news", style="repeat", source=source,
                             base_correct=base, unlearned_correct=unl, emphasized_correct=emph))
    return pd.DataFrame(rows)


def test_recovery_rate_hand_computed() -> None:
    out = recovery_rates(hand_recovery_frame(), ci_method="wilson").set_index("source")
    # eligible items 1, 2, 3, 6; key recovers 1 and 3, control recovers 3
    assert out.loc["base_key", ["n_items", "n", "k"]].tolist() == [6, 4, 2]
    assert out.loc["base_key", "rate"] == 0.5
    assert out.loc["control", "rate"] == 0.25
    assert (out.loc["base_key", "ci_low"], out.loc["base_key", "ci_high"]) == pytest.approx(wilson_interval(2, 4))


def test_recovery_optional_columns() -> None:
    frame = hand_recovery_frame()
    frame = frame[frame["source"] == "base_key"].copy()
    frame["first_token_top1"] = [True, True, False, False, False, False]
    frame["answer_prob_unlearned"] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    frame["answer_prob_emphasized"] = [0.5, 0.2, 0.4, 0.0, 0.0, 0.3]
    row = recovery_rates(frame).iloc[0]
    assert row["top1_rate"] == pytest.approx(2 / 4)  # eligible 1,2,3,6 -> True, True, False, False
    assert row["prob_change"] == pytest.approx((0.4 + 0.0 + 0.1 - 0.3) / 4)
    assert row["prob_change_ci_low"] <= row["prob_change_ci_high"]


def test_recovery_schema_errors() -> None:
    frame = hand_recovery_frame()
    with pytest.raises(UsageError, match="missing column.*emphasized_correct"):
        recovery_rates(frame.drop(columns="emphasized_correct"))
    bad = frame.astype({"base_correct": object})
    bad.loc[0, "base_correct"] = "yes"
    with pytest.raises(UsageError, match="'base_correct' must be boolean"):
        recovery_rates(bad)
    with pytest.raises(UsageError, match="not unique"):
        recovery_rates(pd.concat([frame, frame.iloc[:1]]))
    with pytest.raises(UsageError, match="needs both"):
        recovery_rates(frame.assign(answer_prob_unlearned=0.5))
    with pytest.raises(UsageError, match="missing column"):
        recovery_rates(frame, by=("method", "seed"))


def test_key_vs_control_hand_computed() -> None:
    row = key_vs_control(hand_recovery_frame()).iloc[0]
    # eligible items 1,2,3,6: key [1,0,1,0], control [0,0,1,0]: b = 1, c = 0
    assert (row["n_pairs"], row["n_unpaired"], row["b"], row["c"]) == (4, 0, 1, 0)
    assert row["key_rate"] == 0.5 and row["control_rate"] == 0.25
    assert row["diff"] == pytest.approx(0.25)
    assert row["p_value"] == 1.0  # 2 * 0.5**1
    assert row["diff_ci_low"] <= row["diff"] <= row["diff_ci_high"]


def test_key_vs_control_significant_and_unpaired() -> None:
    rows = []
    for item in range(10):  # 6 items only key recovers, 4 where neither
        for source, emph in (("base_key", item < 6), ("control", False)):
            rows.append(dict(item_id=item, method="npo", domain="books", style="suffix", source=source,
                             base_correct=True, unlearned_correct=False, emphasized_correct=emph))
    frame = pd.DataFrame(rows)
    row = key_vs_control(frame).iloc[0]
    assert (row["b"], row["c"]) == (6, 0)
    assert row["p_value"] == pytest.approx(2 * 0.5**6)
    assert row["p_value"] == mcnemar_from_counts(6, 0).p_value
    dropped = frame[~((frame["item_id"] == 0) & (frame["source"] == "control"))]
    row = key_vs_control(dropped).iloc[0]
    assert (row["n_pairs"], row["n_unpaired"], row["b"]) == (9, 1, 5)
    with pytest.raises(UsageError, match="sources present: base_key, control"):
        key_vs_control(frame, key_source="gold_keywords")


def destructive_frame() -> pd.DataFrame:
    rows = [("r1", "retain", True, False), ("r2", "retain", True, True), ("r3", "retain", False, False),
            ("g1", "general", True, False), ("f1", "forget", True, False)]
    return pd.DataFrame([dict(item_id=i, method="ga", domain="news", split=s, base_correct=b, unlearned_correct=u)
                         for i, s, b, u in rows])


def test_destructive_rate_hand_computed() -> None:
    row = destructive_rates(destructive_frame()).iloc[0]
    # base-correct retain/general items r1, r2, g1; wrong after: r1, g1 (the forget item is ignored)
    assert (row["n_items"], row["n"], row["k"]) == (4, 3, 2)
    assert row["rate"] == pytest.approx(2 / 3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson_interval(2, 3))
    per_split = destructive_rates(destructive_frame(), by=("method", "split")).set_index("split")
    assert per_split.loc["retain", "rate"] == 0.5 and per_split.loc["general", "rate"] == 1.0


def test_destructive_errors() -> None:
    with pytest.raises(UsageError, match="splits present: forget"):
        destructive_rates(destructive_frame().query("split == 'forget'"))
    with pytest.raises(UsageError, match="missing column.*split"):
        destructive_rates(destructive_frame().drop(columns="split"))


# (item, split, unit, is_key, before, after)
UNITS = [
    ("f1", "forget", "Curie", True, 2.0, 0.5),      # change -1.5, disrupted (0.5 < 0.5*2)
    ("f1", "forget", "radium", True, 1.0, 0.8),     # change -0.2, kept (0.8 >= 0.5)
    ("f1", "forget", "the", False, 0.2, 0.0),       # change -0.2
    ("f1", "forget", "discovered", False, 0.4, 0.1),  # change -0.3
    ("f2", "forget", "Nobel", True, 1.0, -1.0),     # change -2.0, disrupted
    ("f2", "forget", "prize", True, -0.5, -1.0),    # change -0.5, excluded from disruption (c_before <= 0)
    ("f2", "forget", "of", False, 0.1, 0.1),        # change 0
    ("r1", "retain", "Paris", False, 0.5, 0.3),     # change -0.2
    ("r1", "retain", "is", False, 0.1, 0.1),        # change 0
]


def units_frame() -> pd.DataFrame:
    return pd.DataFrame([dict(item_id=i, method="npo", domain="news", split=s, unit=u, is_key=k,
                              is_function_word=is_function_word(u), c_before=b, c_after=a)
                         for i, s, u, k, b, a in UNITS])


def test_focus_disruption_hand_computed() -> None:
    out = focus_disruption(units_frame(), beta=0.5).set_index("split")
    assert (out.loc["forget", "n"], out.loc["forget", "k"], out.loc["forget", "n_excluded"]) == (3, 2, 1)
    assert out.loc["forget", "rate"] == pytest.approx(2 / 3)
    assert "retain" not in out.index  # no key units there
    assert focus_disruption(units_frame(), beta=0.0).set_index("split").loc["forget", "k"] == 1  # only Nobel < 0
    with pytest.raises(UsageError, match="beta"):
        focus_disruption(units_frame(), beta=1.5)


def test_contribution_change_by_class() -> None:
    out = contribution_change(units_frame()).set_index(["split", "unit_class"])
    assert out.loc[("forget", "key"), "mean_change"] == pytest.approx((-1.5 - 0.2 - 2.0 - 0.5) / 4)
    assert out.loc[("forget", "non_key"), "mean_change"] == pytest.approx((-0.2 - 0.3 + 0.0) / 3)
    assert out.loc[("forget", "key"), "n_items"] == 2
    assert out.loc[("retain", "non_key"), "mean_change"] == pytest.approx(-0.1)
    fn = contribution_change(units_frame(), classify="function").set_index(["split", "unit_class"])
    assert fn.loc[("forget", "function"), "mean_change"] == pytest.approx((-0.2 + 0.0) / 2)
    assert fn.loc[("forget", "content"), "mean_change"] == pytest.approx((-1.5 - 0.2 - 0.3 - 2.0 - 0.5) / 5)
    for _, row in out.iterrows():
        assert row["ci_low"] <= row["ci_high"]
    with pytest.raises(UsageError, match="function, key"):
        contribution_change(units_frame(), classify="pos")


def test_indiscriminateness_hand_computed() -> None:
    out = indiscriminateness(units_frame()).set_index("index")
    key_drop, non_key_drop = 4.2 / 4, 0.5 / 3
    assert out.loc["non_key_vs_key", "value"] == pytest.approx(non_key_drop / key_drop)
    forget_drop = (4.2 + 0.5) / 7
    assert out.loc["retain_vs_forget", "value"] == pytest.approx(0.1 / forget_drop)
    assert "general_vs_forget" not in out.index  # no general prompts in the frame
    assert np.isfinite(out.loc["non_key_vs_key", ["ci_low", "ci_high"]].astype(float)).all()


def test_indiscriminateness_undefined_when_key_tokens_do_not_drop() -> None:
    frame = units_frame()
    frame.loc[frame["is_key"], "c_after"] = frame.loc[frame["is_key"], "c_before"] + 0.1  # key units gain
    row = indiscriminateness(frame).set_index("index").loc["non_key_vs_key"]
    assert math.isnan(row["value"]) and math.isnan(row["ci_low"]) and row["invalid_share"] == 1.0


def test_control_tokens_never_key_and_fewer_when_short() -> None:
    words = "What is the capital city of France ?".split()
    seen = set()
    for seed in range(50):
        picked = control_tokens(words, ["France"], np.random.default_rng(seed))
        assert len(picked) == 1 and picked[0] in {"capital", "city"}
        seen.add(picked[0])
    assert seen == {"capital", "city"}
    assert control_tokens(words, ["capital", "city", "France"], 0) == []  # no content word left: fewer (0)
    assert control_tokens(words, ["France", "x"], 1) == ["capital", "city"]  # question order
    kept = control_tokens(words, ["capital", "city", "France"], 0, exclude_function_words=False)
    assert set(kept) <= {"What", "is", "the", "of"}
    assert control_tokens(["Who", "wrote", "New", "York", "Trilogy?"], ["New York"], 0) in (["wrote"], ["Trilogy"])


def test_function_words() -> None:
    assert is_function_word("Ġthe") and is_function_word("?") and is_function_word("Question")
    assert not is_function_word("▁Paris") and not is_function_word("radium")


def test_verdict_unknown_finding() -> None:
    with pytest.raises(UsageError, match="indiscriminate, keyword_focus, recovery"):
        preregistered_verdict("finding4", {}, n_questions=10)


def _eval(ids: list[str], splits: list[str], correct: list[bool], prob: list[float] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"id": ids, "domain": "news", "split": splits, "correct": correct})
    if prob is not None:
        frame["answer_prob"] = prob
    return frame


def test_assembled_frames_feed_the_rates() -> None:
    ids, splits = ["f1", "f2", "r1", "r2"], ["forget", "forget", "retain", "retain"]
    base = _eval(ids, splits, [True, True, True, True])
    # order differs from base: r2 wrong, r1 right, f2 wrong (prob 0.3), f1 right
    ga = _eval(ids[::-1], splits[::-1], [False, True, False, True], [0.1, 0.2, 0.3, 0.4])
    outcome = outcome_frame(base, {"ga": ga}).set_index("item_id")
    assert outcome.loc["r2", "unlearned_correct"] == np.False_ and outcome.loc["r1", "unlearned_correct"]
    row = destructive_rates(outcome.reset_index()).iloc[0]
    assert (row["n"], row["k"]) == (2, 1)
    emph = _eval(ids, splits, [True, True, False, False], [0.9, 0.9, 0.3, 0.3])
    rec = recovery_frame(base.iloc[:2], ga.iloc[2:], {("repeat", "base_key"): emph.iloc[:2]}, "ga")
    row = recovery_rates(rec).iloc[0]
    assert (row["n"], row["k"]) == (1, 1)  # f2 forgotten (f1 still known), recovered
    assert row["prob_change"] == pytest.approx(0.9 - 0.3)
    with pytest.raises(UsageError, match="item ids differ"):
        outcome_frame(base, {"ga": ga.iloc[:3]})


def test_contribution_frame_from_unit_changes() -> None:
    from unpact.data.schema import QAItem

    items = [QAItem(id="a", question="q", answer="x", domain="news", split="forget"),
             QAItem(id="b", question="q", answer="y", domain="news", split="retain")]
    changes = pd.DataFrame({"item_id": ["a", "a", "b"], "position": [0, 1, 0], "unit": [" Curie", " the", " Paris"],
                            "before": [1.0, 0.2, 0.5], "after": [0.1, 0.1, 0.5], "change": [-0.9, -0.1, 0.0],
                            "key_before": [True, False, True], "key_after": [False, False, True]})
    frame = contribution_frame(changes, items, "npo")
    assert frame["item_id"].tolist() == ["a", "a", "b"] and frame["split"].tolist() == ["forget", "forget", "retain"]
    assert frame["is_function_word"].tolist() == [False, True, False]
    out = focus_disruption(frame).set_index("split")
    assert out.loc["forget", "rate"] == 1.0 and out.loc["retain", "rate"] == 0.0
    with pytest.raises(UsageError, match="not among"):
        contribution_frame(changes.assign(item_id=["a", "a", "c"]), items, "npo")


def test_combine_styles_is_or_over_styles() -> None:
    frame = hand_recovery_frame()
    other = frame.assign(style="suffix", emphasized_correct=frame["item_id"].isin([2]))
    both = combine_styles(pd.concat([frame, other], ignore_index=True))
    out = recovery_rates(both).set_index(["style", "source"])
    # key: repeat recovers 1, 3; suffix recovers 2 -> any recovers 1, 2, 3 of eligible 1, 2, 3, 6
    assert out.loc[("any", "base_key"), "k"] == 3 and out.loc[("any", "base_key"), "n"] == 4
    assert out.loc[("suffix", "base_key"), "k"] == 1
    with pytest.raises(UsageError, match="already used"):
        combine_styles(both)
    with pytest.raises(UsageError, match="present: repeat"):
        combine_styles(frame, styles=["marker"])


def test_seed_spread() -> None:
    summary = pd.DataFrame({"method": ["ga"] * 3 + ["npo"], "domain": "news", "seed": [0, 1, 2, 0],
                            "rate": [0.2, 0.4, 0.6, 0.5]})
    out = seed_spread(summary).set_index("method")
    assert out.loc["ga", "mean"] == pytest.approx(0.4) and out.loc["ga", "std"] == pytest.approx(0.2)
    assert (out.loc["ga", "min"], out.loc["ga", "max"], out.loc["ga", "n_seeds"]) == (0.2, 0.6, 3)
    assert math.isnan(out.loc["npo", "std"]) and out.loc["npo", "n_seeds"] == 1


def test_combine_styles_keeps_optional_columns() -> None:
    frame = hand_recovery_frame().assign(first_token_top1=False, answer_prob_unlearned=0.1, answer_prob_emphasized=0.2)
    other = frame.assign(style="suffix", first_token_top1=frame["item_id"] == 6, answer_prob_emphasized=0.5)
    rates = recovery_rates(combine_styles(pd.concat([frame, other]))).set_index(["style", "source"])
    row = rates.loc[("any", "base_key")]
    assert row["top1_rate"] == pytest.approx(1 / 4)  # item 6 of eligible 1, 2, 3, 6
    assert row["prob_change"] == pytest.approx(0.5 - 0.1)


def test_indiscriminateness_per_method_with_general_prompts() -> None:
    npo = units_frame()
    general = npo[npo["split"] == "retain"].assign(item_id="g1", split="general", c_after=0.5)  # drops 0 and -0.4
    ga = npo.assign(method="ga", c_after=npo["c_after"] - 1.0)  # every unit loses one more nat
    out = indiscriminateness(pd.concat([npo, general, ga])).set_index(["method", "index"])
    assert sorted(out.index.get_level_values("index").unique()) == [
        "general_vs_forget", "non_key_vs_key", "retain_vs_forget"]
    assert out.loc[("npo", "general_vs_forget"), "value"] == pytest.approx(((0.5 - 0.5) + (0.1 - 0.5)) / 2 / (4.7 / 7))
    assert ("ga", "general_vs_forget") not in out.index
    # GA penalises everything by one extra nat: the non-key/key ratio moves towards 1
    assert out.loc[("ga", "non_key_vs_key"), "value"] == pytest.approx((0.5 / 3 + 1) / (4.2 / 4 + 1))
