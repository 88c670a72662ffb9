"""Issue 11: gold log-prob probes, the trajectory hook, depth curves, the operating point, paired
question-clustered effects, the oracle hint, the relearning probe and the pre-registered verdicts."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from unpact.data.schema import QAItem
from unpact.emphasis import EMPHASIS_STYLES, ORACLE_STYLES, check_no_added_text, oracle_hint
from unpact.errors import UsageError
from unpact.findings.depth import (
    at_steps,
    depth_curves,
    effect_curves,
    operating_points,
    paired_effect,
    recovery_estimates,
    recovery_share,
)
from unpact.findings.verdicts import NOT_TESTABLE, PREREGISTERED, preregistered_rules_markdown, preregistered_verdict
from unpact.stats import cluster_mean_summary, minimum_detectable_effect
from unpact.unlearn import Budget, unlearn
from unpact.unlearn.probes import ForgetProbe, gold_measures, relearn_probe

FORGET = [QAItem(id=f"f{i}", question=q, answer=a, split="forget") for i, (q, a) in enumerate(
    [("what city was Mira born in ?", "Paris"), ("what job was Tolan father ?", "painter"),
     ("which prize Veska won ?", "award"), ("what city was Tolan born in ?", "Oslo")])]
RETAIN = [QAItem(id=f"r{i}", question=q, answer=a, split="retain") for i, (q, a) in enumerate(
    [("what city was Veska born in ?", "Rome"), ("what job is the writer ?", "writer")])]


def test_gold_measures_match_a_direct_computation(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    got = gold_measures(model, tok, ["what city was Mira born in ?"], ["Paris Rome"], prompt_format="plain")
    ids = tok("Question: what city was Mira born in ?\nAnswer:", add_special_tokens=True)["input_ids"]
    target = tok(" Paris Rome", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids + target])).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    expected = np.mean([float(logp[len(ids) - 1 + k, t]) for k, t in enumerate(target)])
    first = logits[len(ids) - 1]
    rank = int((first > first[target[0]]).sum()) + 1
    assert got["gold_lp"].iloc[0] == pytest.approx(expected, abs=1e-5)
    assert got["first_rank"].iloc[0] == rank
    assert (torch.argsort(first, descending=True) == target[0]).nonzero().item() + 1 == rank


def test_oracle_hint_adds_answer_text_and_is_not_an_emphasis_style() -> None:
    q = "what city was Mira born in ?"
    hinted = oracle_hint(q, "Paris Rome")
    assert hinted == f"{q} ( Paris )"
    assert "hint" in ORACLE_STYLES and "hint" not in EMPHASIS_STYLES
    with pytest.raises(AssertionError):
        check_no_added_text(q, hinted, "suffix")
    with pytest.raises(UsageError):
        oracle_hint(q, " ")


def test_probe_is_called_at_every_check_and_rows_carry_the_step(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    questions = {"plain": [it.question for it in FORGET],
                 "hint": [oracle_hint(it.question, it.answer) for it in FORGET]}
    probe = ForgetProbe(FORGET, questions, utility_items=RETAIN, prompt_format="plain")
    result = unlearn(model, tok, FORGET, RETAIN, "ga", {"eval_every": 2, "batch_size": 2, "retain_batch_size": 2},
                     Budget(steps=4), progress=False, probe=probe)
    probes = result.probes
    assert probes is not None
    assert sorted(probes["step"].unique()) == [0, 2, 4]
    assert len(probes) == 3 * (2 * len(FORGET) + len(RETAIN))
    # the probe at the last step scores the returned model
    last = probes[(probes["step"] == 4) & (probes["condition"] == "plain")]
    direct = gold_measures(result.model, tok, [it.question for it in FORGET], [it.answer for it in FORGET], "plain")
    np.testing.assert_allclose(last["gold_lp"].to_numpy(), direct["gold_lp"].to_numpy(), atol=1e-5)


def test_dense_early_checks_add_every_step_up_to_the_bound(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    probe = ForgetProbe(FORGET, {"plain": [it.question for it in FORGET]}, prompt_format="plain")
    params = {"eval_every": 4, "check_every_step_until": 2, "batch_size": 2, "retain_batch_size": 2}
    result = unlearn(model, tok, FORGET, RETAIN, "ga", params, Budget(steps=5), progress=False, probe=probe)
    assert result.probes is not None
    assert sorted(result.probes["step"].unique()) == [0, 1, 2, 4, 5]
    checked = result.log.dropna(subset=["forget_accuracy"])["step"].tolist()
    assert checked == [0, 1, 2, 4, 5]
    with pytest.raises(UsageError, match="check_every_step_until"):
        unlearn(model, tok, FORGET, RETAIN, "ga", {**params, "check_every_step_until": -1}, Budget(steps=1),
                progress=False)


def _frame() -> pd.DataFrame:
    """Two runs, 3 questions, steps 0/1/2: a planted +1 nat key effect, +0 control, +2 hint at step 2."""
    rows = []
    for method in ("ga", "npo"):
        for step in (0, 1, 2):
            for q in range(3):
                plain_lp = -1.0 - 2 * step - 0.1 * q
                correct = step == 0 or (step == 1 and q == 0)
                for cond, shift in (("plain", 0.0), ("key", 1.0), ("control", 0.0), ("hint", 2.0)):
                    rows.append(dict(method=method, domain="news", step=step, item_id=f"q{q}", condition=cond,
                                     gold_lp=plain_lp + shift + (0.01 * q if cond == "key" else 0),
                                     first_rank=5 if cond == "plain" else 1,
                                     correct=correct or (cond == "hint" and q < 2)))
            for u in range(4):
                lost = method == "npo" and step >= 1 and u < 2
                rows.append(dict(method=method, domain="news", step=step, item_id=f"u{u}", condition="utility",
                                 gold_lp=math.nan, first_rank=-1, correct=not lost))
    return pd.DataFrame(rows)


def test_depth_curves_and_operating_point_follow_the_stated_rule() -> None:
    curves = depth_curves(_frame())
    ga = curves[curves["method"] == "ga"].set_index("step")
    assert ga.loc[1, "forget_accuracy"] == pytest.approx(1 / 3)
    assert ga.loc[2, "n_forgotten"] == 3
    assert ga.loc[2, "recovered_hint"] == pytest.approx(2 / 3)
    ops = operating_points(curves).set_index("method")
    assert ops.loc["ga", "op_step"] == 1  # forget 1/3 <= 0.5 x 1, utility 1 >= 0.9
    assert ops.loc["npo", "op_step"] == -1  # utility 0.5 < 0.9: no operating point
    assert ops.loc["ga", "last_step"] == 2


def test_paired_effect_is_the_mean_difference_clustered_by_question() -> None:
    frame = _frame()
    end = at_steps(frame, operating_points(depth_curves(frame)), step_column="last_step")
    eff = paired_effect(end, "key", "control", n_boot=200)
    # 2 runs x 3 forgotten questions; differences 1 + 0.01 q
    assert eff["n_pairs"] == 6 and eff["n_questions"] == 3
    assert eff["value"] == pytest.approx(1.01)
    assert eff["ci_low"] > 0.99 and eff["ci_high"] < 1.03
    assert eff["rank_reference"] == 1 and eff["rank_treatment"] == 1
    hint = paired_effect(end, "hint", "plain", n_boot=200)
    assert hint["value"] == pytest.approx(2.0) and hint["ci_low"] == pytest.approx(2.0)
    share = recovery_share(end, "hint", n_boot=200)
    assert share["value"] == pytest.approx(4 / 6) and share["n_questions"] == 3
    curve = effect_curves(frame, "key", "control", n_boot=100)
    assert set(curve["step"]) == {1, 2}
    assert curve[curve["step"] == 1]["n_questions"].iloc[0] == 2
    for row in curve.itertuples():  # each step's row is paired_effect of that run's steps 0 and step
        run = frame[(frame["method"] == row.method) & frame["step"].isin([0, row.step])]
        direct = paired_effect(run, "key", "control", n_boot=100)
        assert (row.n_questions, row.value, row.ci_low, row.ci_high) == pytest.approx(
            (direct["n_questions"], direct["value"], direct["ci_low"], direct["ci_high"]), nan_ok=True)


def test_cluster_mean_summary_and_mde_formulas() -> None:
    values = [1.0, 3.0, 2.0, 2.0, 10.0]
    clusters = ["a", "a", "b", "b", "c"]
    s = cluster_mean_summary(values, clusters, n_boot=500)
    assert s["value"] == pytest.approx(np.mean(values)) and s["n_clusters"] == 3
    assert s["sd_cluster"] == pytest.approx(np.std([2.0, 2.0, 10.0], ddof=1))
    assert s["mde"] == pytest.approx((1.959964 + 0.841621) * s["sd_cluster"] / math.sqrt(3), rel=1e-4)
    assert math.isnan(minimum_detectable_effect(1.0, 1))


def _est(value: float, low: float, high: float) -> dict[str, float]:
    return {"value": value, "ci_low": low, "ci_high": high}


def test_preregistered_verdicts_need_effect_size_n_and_a_working_positive_control() -> None:
    ok = {"emphasis_recovers": _est(0.3, 0.2, 0.4), "key_beats_control": _est(0.5, 0.2, 0.8)}
    good_control = _est(1.0, 0.5, 1.5)
    assert preregistered_verdict("recovery", ok, 30, good_control).label == "reproduced"
    # significant but tiny effects (5/664-like) do not count
    tiny = {"emphasis_recovers": _est(0.0075, 0.003, 0.015), "key_beats_control": _est(0.02, 0.01, 0.03)}
    assert preregistered_verdict("recovery", tiny, 30, good_control).label == "not reproduced"
    failed = preregistered_verdict("recovery", ok, 30, _est(0.05, -0.1, 0.2))
    assert failed.label == NOT_TESTABLE and "positive control" in failed.reason
    few = preregistered_verdict("recovery", ok, 3, good_control)
    assert few.label == NOT_TESTABLE and "3 independent questions" in few.reason
    none = preregistered_verdict("recovery", {"key_beats_control": _est(0.5, 0.2, 0.8)}, 30, good_control)
    assert none.label == NOT_TESTABLE
    focus = {"key_contribution_falls": _est(-0.2, -0.3, -0.1), "most_keytokens_disrupted": _est(0.55, 0.45, 0.65)}
    assert preregistered_verdict("keyword_focus", focus, 30).label == "partly"
    text = preregistered_rules_markdown()
    assert all(name in text for name in PREREGISTERED) and "0.1 nats" in text


def test_family_readings_state_each_familys_verdict_and_conditions() -> None:
    from unpact.findings.headlines import FindingResult, family_readings

    focus = {"key_contribution_falls": _est(-0.2, -0.3, -0.1), "most_keytokens_disrupted": _est(0.55, 0.45, 0.65)}
    gains = {"key_contribution_falls": _est(0.31, 0.22, 0.39), "most_keytokens_disrupted": _est(0.08, 0.05, 0.12)}
    results = {}
    for family, est, models in (("organism", focus, ["llama"]), ("pretrained", gains, ["smollm2-135m"])):
        v = preregistered_verdict("keyword_focus", est, 40)
        head = {"name": "KeyTokens disrupted", "direction": "higher = focus more disrupted",
                **est["most_keytokens_disrupted"]}
        results[family] = (FindingResult(v, est, head, "detail line"), models)
    text = family_readings(results)
    organism, pretrained = text.splitlines()
    assert "**organism** (llama): **partly**, 40 independent questions" in organism
    assert "mean contribution change of base KeyTokens met (-0.20 [-0.30, -0.10])" in organism
    assert "share of KeyTokens disrupted (shrunk or sign-flipped) not met" in organism
    assert "**pretrained** (smollm2-135m): **not reproduced**" in pretrained
    assert "base KeyTokens not met (0.31 [0.22, 0.39])" in pretrained and pretrained.endswith("detail line.")


def test_relearn_probe_leaves_the_model_untouched_and_reports_both_halves(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    before = [p.detach().clone() for p in model.parameters()]
    out = relearn_probe(model, tok, FORGET, steps=3, lr=1e-2, batch_size=2, prompt_format="plain")
    assert out["n_train"] == 2 and out["n_heldout"] == 2 and out["steps"] == 3
    assert all(0 <= out[k] <= 1 for k in ("heldout_before", "heldout_after", "train_before", "train_after"))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(UsageError):
        relearn_probe(model, tok, FORGET[:1])


def test_recovery_estimates_at_the_operating_point_and_without_one() -> None:
    frame = _frame()
    points = operating_points(depth_curves(frame))
    est = recovery_estimates(frame, points, n_boot=100)  # only ga has an operating point (step 1): q1, q2 forgotten
    assert est["key_beats_control"]["n_pairs"] == 2 and est["key_beats_control"]["value"] == pytest.approx(1.015)
    assert est["positive_control"]["value"] == pytest.approx(2.0)
    assert est["emphasis_recovers"]["value"] == pytest.approx(0.0)
    none = recovery_estimates(frame, points.assign(op_step=-1), n_boot=100)
    assert none["key_beats_control"]["n_questions"] == 0 and math.isnan(none["positive_control"]["value"])


def test_no_forgotten_items_gives_an_empty_estimate_not_an_error() -> None:
    frame = _frame()
    early = frame[frame["step"] == 0].copy()
    later = early.assign(step=1)  # nothing forgotten at step 1; utility rows must not count as forgotten
    eff = paired_effect(pd.concat([early, later]), "key", "control", n_boot=50)
    assert eff["n_pairs"] == 0 and math.isnan(eff["value"])
    assert recovery_share(pd.concat([early, later]), "key", n_boot=50)["n_pairs"] == 0


def test_key_token_fates_separate_shrink_from_sign_flip_and_rank_measures() -> None:
    from unpact.findings.focus import key_change_by_question, key_token_fates

    rows = []
    # q0: key +4 -> +3 (kept), key +2 -> -1 (flipped); q1: key +4 -> +1 (shrunk); non-key words
    spec = {"q0": [("A", True, 4.0, 3.0), ("B", True, 2.0, -1.0), ("c", False, 1.0, 2.0), ("d", False, 0.5, 0.0)],
            "q1": [("E", True, 4.0, 1.0), ("f", False, 1.0, 0.5), ("g", False, 0.2, 3.0)]}
    for method in ("ga", "npo"):
        for item, units in spec.items():
            for unit, key, before, after in units:
                rows.append(dict(item_id=item, method=method, domain="news", split="forget", unit=unit, is_key=key,
                                 is_function_word=False, c_before=before, c_after=after))
    frame = pd.DataFrame(rows)
    fates = key_token_fates(frame, by=("split",), n_boot=100).set_index("measure")
    assert fates.loc["kept", "value"] == pytest.approx(1 / 3)
    assert fates.loc["shrunk", "value"] == pytest.approx(1 / 3)
    assert fates.loc["flipped", "value"] == pytest.approx(1 / 3)
    assert fates.loc["flipped", "n"] == 6 and fates.loc["flipped", "n_questions"] == 2
    from scipy.stats import spearmanr

    rho0 = spearmanr([4, 2, 1, 0.5], [3, -1, 2, 0]).statistic
    rho1 = spearmanr([4, 1, 0.2], [1, 0.5, 3]).statistic
    assert fates.loc["spearman", "value"] == pytest.approx((rho0 + rho1) / 2)
    # q0 top-2 before {A, B}, after {A, c}: 1/2; q1 top-1 before {E}, after {g}: 0
    assert fates.loc["topk_overlap", "value"] == pytest.approx(0.25)
    change = key_change_by_question(frame, n_boot=100)
    assert change["value"] == pytest.approx(np.mean([-1, -3, -3])) and change["n_questions"] == 2


def test_spearman_is_scipys_statistic_with_ties() -> None:
    from scipy.stats import spearmanr

    from unpact.findings.focus import _spearman

    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(3, 15))
        before, after = np.round(rng.normal(size=(2, n)), int(rng.integers(0, 2)))  # rounding makes ties
        if np.ptp(before) > 0 and np.ptp(after) > 0:
            assert _spearman(before, after) == spearmanr(before, after).statistic
    assert math.isnan(_spearman(np.array([1.0, np.nan, 2.0]), np.array([1.0, 2.0, 3.0])))


def test_average_ranks_are_scipys_rankdata() -> None:
    from scipy.stats import rankdata

    from unpact.findings.focus import _average_ranks

    rng = np.random.default_rng(1)
    for _ in range(300):
        x = rng.integers(0, 4, size=int(rng.integers(1, 12))) * float(rng.choice([1.0, 0.1, -2.5]))
        assert _average_ranks(x).tolist() == rankdata(x).tolist()


def test_judged_outcomes_read_each_judge_and_flag_shared_answers() -> None:
    from unpact.findings.destruction import destructive_rates
    from unpact.findings.utility import judged_outcome_frame

    def frame(exact: list[bool], contains: list[bool], rouge: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"id": ["f0", "r0", "r1"], "domain": "news", "split": ["forget", "retain", "retain"],
                             "gold": ["Paris", "Paris", "Rome"], "exact": exact, "contains": contains,
                             "rouge_l_recall": rouge})

    base = frame([True, True, True], [True, True, True], [1.0, 1.0, 1.0])
    # r0 lost its EOS (runs on: exact wrong, contains right); r1 is gone under every judge
    after = frame([False, False, False], [False, True, False], [0.0, 1.0, 0.0])
    judged = judged_outcome_frame(base, {"ga": after}, ["Paris"])
    assert judged[judged["item_id"] == "r0"]["answer_shared"].all()
    assert not judged[judged["item_id"] == "r1"]["answer_shared"].any()
    rates = destructive_rates(judged, by=("method", "judge")).set_index("judge")
    assert rates.loc["exact", "rate"] == 1.0 and rates.loc["contains", "rate"] == 0.5
    assert rates.loc["rouge_l", "rate"] == 0.5


def test_depth_and_relearning_figures_draw() -> None:
    from unpact.plots import plot_depth_effects, plot_relearning

    frame = _frame()
    curves = depth_curves(frame)
    effects = effect_curves(frame, "key", "control", n_boot=50).assign(effect="key - control")
    effects = effects.merge(curves[["method", "domain", "step", "forget_accuracy"]], on=["method", "domain", "step"])
    for x in ("forget_accuracy", "step"):
        fig = plot_depth_effects(effects, x=x)
        assert len(fig.axes) == 1 and len(fig.axes[0].lines) >= 2
    relearn = pd.DataFrame({"method": ["base", "ga"], "domain": "news", "heldout_before": [0.9, 0.1],
                            "heldout_after": [0.9, 0.6]})
    assert len(plot_relearning(relearn).axes[0].patches) == 4


def test_summary_carries_the_positive_control_and_a_not_testable_verdict(tmp_path: Any) -> None:
    from unpact.book.pages import read_summary, rules_markdown
    from unpact.report import write_summary

    head = {"name": "key - control", "value": 0.2, "ci_low": 0.1, "ci_high": 0.3, "n": 12}
    extra = {"positive_control": {"value": 1.5, "ci_low": 1.2, "ci_high": math.nan, "n_questions": 12},
             "key_minus_control_logprob": {"value": 0.2, "ci_low": 0.1, "ci_high": 0.3, "n_questions": 12},
             "finding": "must not overwrite"}
    path = write_summary(tmp_path, "Recovery", NOT_TESTABLE, head, extra=extra)
    summary = read_summary(path)
    assert summary["verdict"] == NOT_TESTABLE and summary["finding"] == "Recovery"
    assert summary["positive_control"]["ci_high"] is None and summary["key_minus_control_logprob"]["n_questions"] == 12
    assert "Operating point" in rules_markdown()
