"""Issue 11: findings 1 and 3 along unlearning depth (attribution probe, focus frame, curves, figure)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from unpact.attribution import Attributor
from unpact.attribution.keytokens import KeyRule
from unpact.data.schema import QAItem
from unpact.errors import UsageError
from unpact.findings.focus_depth import curves_by_family, deep_summary, focus_curves, focus_frame, long_curves
from unpact.io import atomic_write_csv
from unpact.unlearn import Budget, unlearn
from unpact.unlearn.artifact import PROBES_FILE
from unpact.unlearn.probes import AttributionProbe, ForgetProbe, ProbeSet, attributed_step, probe_rows

FORGET = [QAItem(id=f"f{i}", question=q, answer=a, split="forget") for i, (q, a) in enumerate(
    [("what city was Mira born in ?", "Paris"), ("what job was Tolan father ?", "painter"),
     ("which prize None won ?", "award")])]  # "None": a word pandas would read as missing
RETAIN = [QAItem(id=f"r{i}", question=q, answer=a, split="retain") for i, (q, a) in enumerate(
    [("what city was Veska born in ?", "Rome"), ("what job is the writer ?", "writer")])]


def test_probe_set_attributes_every_kth_step_and_reads_each_kind_back(tiny_llama: tuple[Any, Any],
                                                                      tmp_path: Path) -> None:
    model, tok = tiny_llama
    items = FORGET + RETAIN
    before = Attributor(model, tok, progress=False).attribute(
        [it.question for it in items], [" " + it.answer for it in items], template="Question: {}\nAnswer:",
        ids=[it.id for it in items]).to_frame().sort_values(["item_id", "position"])  # the base model: step 0
    attribution = AttributionProbe([it.question for it in items], [" " + it.answer for it in items],
                                   [it.id for it in items], template="Question: {}\nAnswer:", every=5)
    probe = ProbeSet({"forget": ForgetProbe(FORGET, {"plain": [it.question for it in FORGET]}, prompt_format="plain"),
                      "attribution": attribution})
    result = unlearn(model, tok, FORGET, RETAIN, "ga", {"eval_every": 1, "batch_size": 2, "retain_batch_size": 2},
                     Budget(steps=5), progress=False, probe=probe)
    assert result.probes is not None
    atomic_write_csv(tmp_path / PROBES_FILE, result.probes)
    forget = probe_rows(tmp_path, "forget")
    assert sorted(forget["step"].unique()) == [0, 1, 2, 3, 4, 5] and "unit" not in forget.columns
    assert forget["correct"].map(type).eq(bool).all() and forget["first_rank"].dtype.kind == "i"
    rows = probe_rows(tmp_path, "attribution")
    assert sorted(rows["step"].unique()) == [0, 1, 2, 4, 5]  # 3 is neither a power of two nor a multiple of 5
    assert [s for s in range(70) if attributed_step(s, 20)] == [0, 1, 2, 4, 8, 16, 20, 32, 40, 60, 64]
    assert "None" in set(rows["unit"]) and rows["unit"].notna().all()
    step0 = rows[rows["step"] == 0].sort_values(["item_id", "position"])
    np.testing.assert_allclose(step0["contribution"].to_numpy(), before["contribution"].to_numpy(), atol=1e-5)
    with pytest.raises(UsageError, match="no 'relearn' probe rows"):
        probe_rows(tmp_path, "relearn")
    with pytest.raises(UsageError, match="every must be >= 1"):
        AttributionProbe(["q"], ["a"], ["i"], every=0)


def test_attribution_probe_takes_step_zero_from_a_given_base_attribution(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    questions, ids = [it.question for it in FORGET], [it.id for it in FORGET]
    targets = [" " + it.answer for it in FORGET]
    base = Attributor(model, tok, progress=False).attribute(questions, targets, template="Q: {}\nA:", ids=ids)
    probe = AttributionProbe(questions, targets, ids, template="Q: {}\nA:", base=base)
    reused = probe(None, None, 0)  # no model is needed at step 0
    fresh = AttributionProbe(questions, targets, ids, template="Q: {}\nA:")(model, tok, 0)
    pd.testing.assert_frame_equal(reused, fresh, check_exact=False, atol=1e-6)
    assert not probe(model, tok, 1).empty  # later steps are attributed on the model given
    with pytest.raises(UsageError, match="other items"):
        AttributionProbe(questions[:1], targets[:1], ids[1:2], base=base)


def _attribution_rows() -> pd.DataFrame:
    """Steps 0 and 4 of one run: 3 forget questions (3 words, the first the KeyToken), one retain question."""
    after = {"a": (-2.0, 1.0, 0.5), "b": (1.0, 2.0, 0.5), "c": (3.5, 0.5, 0.2), "r": (3.0, 0.0, 0.5)}
    rows = []
    for step in (0, 4):
        for item, now in after.items():
            for pos, (unit, before) in enumerate(zip(("key", "w1", "the"), (4.0, 1.0, 0.5))):
                rows.append({"step": step, "item_id": item, "position": pos, "unit": unit,
                             "contribution": before if step == 0 else now[pos]})
    return pd.DataFrame(rows)


def _probe_rows() -> pd.DataFrame:
    rows = []
    for step, correct in ((0, (True, True, True)), (4, (False, True, False))):
        for item, ok in zip("abc", correct):
            rows.append({"step": step, "item_id": item, "condition": "plain", "gold_lp": -1.0, "first_rank": 1,
                         "correct": ok})
        rows.append({"step": step, "item_id": "u1", "condition": "utility", "gold_lp": np.nan, "first_rank": -1,
                     "correct": True})
    return pd.DataFrame(rows).assign(method="npo", domain="facts")


ITEMS = [QAItem(id=i, question="q", answer="x", domain="facts", split="forget") for i in "abc"] + [
    QAItem(id="r", question="q", answer="x", domain="facts", split="retain")]


def test_focus_frame_compares_each_step_with_the_base_models_keytokens() -> None:
    focus = focus_frame(_attribution_rows(), ITEMS, KeyRule(top_k=1))
    assert set(focus["step"]) == {0, 4}
    later = focus[(focus["step"] == 4) & (focus["item_id"] == "a")].set_index("unit")
    assert later.loc["key", "is_key"] and not later.loc["w1", "is_key"]
    assert (later.loc["key", "c_before"], later.loc["key", "c_after"]) == (4.0, -2.0)
    assert later.loc["the", "is_function_word"] and set(focus["split"]) == {"forget", "retain"}
    with pytest.raises(UsageError, match="no step 0"):
        focus_frame(_attribution_rows().query("step == 4"), ITEMS)
    with pytest.raises(UsageError, match="not among"):
        focus_frame(_attribution_rows(), ITEMS[:2])


def test_focus_curves_give_fates_ranks_and_changes_per_step() -> None:
    focus = focus_frame(_attribution_rows(), ITEMS, KeyRule(top_k=1)).assign(method="npo")
    table = focus_curves(focus, _probe_rows(), "forget", n_boot=200)
    assert list(table["step"]) == [0, 4]
    base, later = table.iloc[0], table.iloc[1]
    assert base["forget_accuracy"] == 1.0 and base["kept"] == 1.0 and base["flipped"] == 0.0
    assert base["spearman"] == pytest.approx(1.0) and base["topk_overlap"] == 1.0 and base["key_change"] == 0.0
    assert later["forget_accuracy"] == pytest.approx(1 / 3) and later["n_forgotten"] == 2
    assert later["utility"] == 1.0 and later["n_questions"] == 3
    assert (later["kept"], later["shrunk"], later["flipped"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert later["topk_overlap"] == pytest.approx(1 / 3)  # only c keeps its KeyToken on top
    assert later["kept_ci_low"] <= later["kept"] <= later["kept_ci_high"]
    assert later["key_change"] == pytest.approx((-6.0 - 3.0 - 0.5) / 3)
    assert later["nonkey_change"] == pytest.approx((0.0 + 0.0 + 1.0 + 0.0 - 0.5 - 0.3) / 6)
    retain = focus_curves(focus, _probe_rows(), "retain", n_boot=200)
    assert retain["key_change"].iloc[1] == pytest.approx(-1.0) and retain["n_questions"].iloc[1] == 1
    with pytest.raises(UsageError, match="no 'general' questions"):
        focus_curves(focus, _probe_rows(), "general")


def test_family_curves_deep_summary_and_figure() -> None:
    from unpact.plots import plot_depth_measures

    focus = focus_frame(_attribution_rows(), ITEMS, KeyRule(top_k=1)).assign(method="npo", family="organism")
    curves = curves_by_family(focus, _probe_rows().assign(family="organism"), "forget", n_boot=50)
    assert set(curves["family"]) == {"organism"}
    deep = deep_summary(curves, ["kept", "flipped"]).iloc[0]
    assert deep["n_points"] == 1 and deep["kept"] == pytest.approx(1 / 3)  # step 4: forget accuracy 1/3 <= 0.5
    shallow = deep_summary(curves, ["kept"], fraction=0.1).iloc[0]
    assert shallow["n_points"] == 0 and np.isnan(shallow["kept"])
    long = long_curves(curves, ["kept", "spearman"])
    assert set(long["effect"]) == {"kept", "spearman"} and len(long) == 4
    fig = plot_depth_measures(long, title="t")
    assert len(fig.axes) == 2 and all(len(ax.lines) == 1 for ax in fig.axes)
    with pytest.raises(UsageError, match="no measure"):
        long_curves(curves, ["nope"])
