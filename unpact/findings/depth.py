"""Findings along the unlearning trajectory: curves against depth, an operating point, paired log-prob effects.

Input: the probe rows of ``unpact.unlearn.probes.ForgetProbe`` for every run, one row per
(run, step, item, condition) with the run's columns (``method``, ``domain``, [``arch``, ``seed``]):

==========  =====  ==================================================================================
column      type   meaning
==========  =====  ==================================================================================
step        int    optimizer steps taken (0 = the base model)
item_id     any    the item; also the *question* cluster of every CI here (one question counts once
                   however many methods or domains it appears under)
condition   str    ``plain`` (the question), emphasis conditions (e.g. ``key``, ``control``), the
                   positive control ``hint`` (``unpact.emphasis.oracle_hint``), or ``utility`` (held-out
                   items no method trains on: only ``correct`` is read)
gold_lp     float  LP(x, gold) in mean nats per answer token (teacher forced)
first_rank  int    rank of the gold answer's first token (1 = top-1)
correct     bool   greedy answer judged correct
==========  =====  ==================================================================================

Definitions (per run):
- forget accuracy(s) = mean of ``correct`` under ``plain`` over the forget items at step s;
  utility(s) = mean of ``correct`` over the ``utility`` items.
- known items = correct under ``plain`` at step 0; *forgotten at s* = known and wrong under
  ``plain`` at s (the items a recovery test may use).
- operating point (pre-declared, MUSE-like; ``OPERATING_RULE``): the first checked step s >= 1
  with forget accuracy(s) <= ``forget_fraction`` x forget accuracy(0) and
  utility(s) >= ``utility_fraction`` x utility(0); a run without such a step, or whose base model
  answers no forget item, has none (reported, and left out of the operating-point estimates).
  The last step is the end-of-budget point.
- paired effect of condition A over B on the forgotten items at chosen steps:
  d_i = gold_lp(A)_i - gold_lp(B)_i per (run, item); reported as the pooled mean of d with a
  percentile bootstrap CI resampling *questions* (``unpact.stats.cluster_mean_summary``), the
  number of questions and the minimum detectable effect. ``key - control`` is finding 2's
  headline; ``hint - plain`` is the positive control (it must be detected).
- recovery share of condition A = share of forgotten (run, item) pairs answered correctly under A,
  with the same question-clustered CI (the binary second line).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from unpact.errors import UsageError
from unpact.findings.frames import check_group_columns, validate_frame
from unpact.stats import DEFAULT_N_BOOT, cluster_mean_summary

DEPTH_COLUMNS = ("step", "item_id", "condition", "gold_lp", "first_rank", "correct")
RUN_COLUMNS = ("method", "domain")
FORGET_FRACTION = 0.5
UTILITY_FRACTION = 0.9
OPERATING_RULE = (f"the first checked step where forget accuracy <= {FORGET_FRACTION} x the base model's and "
                  f"held-out utility accuracy >= {UTILITY_FRACTION} x the base model's")


def _validate(frame: pd.DataFrame, runs: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    cols = check_group_columns(frame, "depth frame", runs)
    data = validate_frame(frame, "depth frame", DEPTH_COLUMNS, boolean=["correct"],
                          unique=[*cols, "step", "condition", "item_id"])
    if "plain" not in set(data["condition"].unique()):
        raise UsageError("depth frame: no 'plain' condition rows (the unemphasised question is the reference)")
    return data, cols


def _forget_status(data: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Per (run, step, item): ``known`` (plain correct at step 0) and ``forgotten`` (known, plain wrong now)."""
    plain = data[data["condition"] == "plain"][[*cols, "step", "item_id", "correct"]]
    first = plain["step"] == plain.groupby(cols, observed=True)["step"].transform("min")
    base = plain[first][[*cols, "item_id", "correct"]].rename(columns={"correct": "known"})
    out = plain.merge(base, on=[*cols, "item_id"], how="left")
    out["known"] = out["known"].fillna(False).astype(bool)
    out["forgotten"] = out["known"] & ~out["correct"].astype(bool)
    return out.drop(columns="correct")


def depth_curves(frame: pd.DataFrame, runs: Sequence[str] = RUN_COLUMNS) -> pd.DataFrame:
    """Per (run, step): ``forget_accuracy, utility, n_forgotten`` and, per condition C other than
    utility, ``lp_<C>`` (mean gold_lp over the known items) and ``recovered_<C>`` (share of the
    forgotten items answered under C)."""
    data, cols = _validate(frame, runs)
    status = _forget_status(data, cols)
    forget = data[data["condition"] != "utility"].merge(status, on=[*cols, "step", "item_id"], how="left")
    keys = [*cols, "step"]
    plain = forget[forget["condition"] == "plain"]
    out = plain.groupby(keys, observed=True).agg(forget_accuracy=("correct", "mean"),
                                                  n_forgotten=("forgotten", "sum")).reset_index()
    utility = data[data["condition"] == "utility"]
    if not utility.empty:
        out = out.merge(utility.groupby(keys, observed=True)["correct"].mean().rename("utility").reset_index(),
                        on=keys, how="left")
    known = forget[forget["known"].astype(bool)]
    lp = known.pivot_table(index=keys, columns="condition", values="gold_lp", aggfunc="mean", observed=True)
    out = out.merge(lp.add_prefix("lp_").reset_index(), on=keys, how="left")
    gone = forget[forget["forgotten"].astype(bool)]
    if not gone.empty:
        rec = gone.pivot_table(index=keys, columns="condition", values="correct", aggfunc="mean", observed=True)
        out = out.merge(rec.add_prefix("recovered_").reset_index(), on=keys, how="left")
    return out.sort_values(keys).reset_index(drop=True)


def operating_points(curves: pd.DataFrame, runs: Sequence[str] = RUN_COLUMNS,
                     forget_fraction: float = FORGET_FRACTION, utility_fraction: float = UTILITY_FRACTION
                     ) -> pd.DataFrame:
    """Per run: ``op_step`` (``OPERATING_RULE``; -1 when no step meets it), its forget accuracy and
    utility, the base values, and ``last_step`` (the end-of-budget point)."""
    cols = list(runs)
    rows = []
    for key, run in curves.sort_values("step").groupby(cols, observed=True, sort=True):
        keys = key if isinstance(key, tuple) else (key,)
        base = run.iloc[0]
        base_u = base["utility"] if "utility" in run.columns else float("nan")
        ok = ((run["step"] >= 1) & (base["forget_accuracy"] > 0)
              & (run["forget_accuracy"] <= forget_fraction * base["forget_accuracy"]))
        if "utility" in run.columns and pd.notna(base_u):
            ok &= run["utility"] >= utility_fraction * base_u
        hit = run[ok]
        point = hit.iloc[0] if len(hit) else None
        rows.append({**dict(zip(cols, keys)), "base_forget_accuracy": float(base["forget_accuracy"]),
                     "base_utility": float(base_u),
                     "op_step": int(point["step"]) if point is not None else -1,
                     "op_forget_accuracy": float(point["forget_accuracy"]) if point is not None else float("nan"),
                     "op_utility": float(point["utility"]) if point is not None and "utility" in run else float("nan"),
                     "last_step": int(run["step"].iloc[-1])})
    return pd.DataFrame(rows)


def at_steps(frame: pd.DataFrame, steps: pd.DataFrame, runs: Sequence[str] = RUN_COLUMNS,
             step_column: str = "op_step") -> pd.DataFrame:
    """The rows of ``frame`` at each run's step in ``steps[step_column]`` (plus step 0, for ``known``)."""
    cols = list(runs)
    chosen = steps[steps[step_column] >= 0][[*cols, step_column]].rename(columns={step_column: "chosen"})
    merged = frame.merge(chosen, on=cols, how="inner")
    return merged[(merged["step"] == merged["chosen"]) | (merged["step"] == 0)].drop(columns="chosen")


def paired_effect(frame: pd.DataFrame, treatment: str, reference: str, runs: Sequence[str] = RUN_COLUMNS,
                  only_forgotten: bool = True, confidence: float = 0.95, n_boot: int = DEFAULT_N_BOOT,
                  seed: int = 0) -> dict[str, Any]:
    """Mean gold_lp(treatment) - gold_lp(reference) over the forgotten (run, item) pairs at the last
    step of each run in ``frame`` (select steps with ``at_steps``), clustered by question.

    Returns ``cluster_mean_summary``'s keys with ``n_questions`` (= ``n_clusters``) and ``n_pairs``
    (= ``n``), plus the rank change (median first_rank, reference and treatment).
    """
    data, cols = _validate(frame, runs)
    _check_conditions(data, treatment, reference)
    last = data["step"] == data.groupby(cols, observed=True)["step"].transform("max")
    wide = _paired(data[last], _forget_status(data, cols), cols, treatment, reference, only_forgotten)
    out = _effect_summary(wide, treatment, reference, confidence, n_boot, seed)
    out.update(treatment=treatment, reference=reference,
               rank_reference=float(wide[("first_rank", reference)].median()) if len(wide) else float("nan"),
               rank_treatment=float(wide[("first_rank", treatment)].median()) if len(wide) else float("nan"))
    return out


def _check_conditions(data: pd.DataFrame, *names: str) -> None:
    present = set(data["condition"].unique())
    for name in names:
        if name not in present:
            raise UsageError(f"paired_effect: condition {name!r} not in the frame; present: "
                             f"{', '.join(sorted(map(str, present)))}")


def _paired(rows: pd.DataFrame, status: pd.DataFrame, cols: list[str], treatment: str, reference: str,
            only_forgotten: bool) -> pd.DataFrame:
    """``gold_lp`` and ``first_rank`` (columns ``(measure, condition)``) of ``treatment`` and ``reference`` per
    (run, step, item) of ``rows``, sorted, the items with both log-probs (forgotten ones only when asked)."""
    now = rows[rows["condition"].isin([treatment, reference])].merge(status, on=[*cols, "step", "item_id"],
                                                                      how="inner")
    if only_forgotten:
        now = now[now["forgotten"].astype(bool)]
    wide = now.pivot_table(index=[*cols, "step", "item_id"], columns="condition", values=["gold_lp", "first_rank"],
                           aggfunc="first", observed=True, dropna=False)
    needed = [("gold_lp", treatment), ("gold_lp", reference)]
    return wide.dropna(subset=needed) if len(wide) and all(c in wide.columns for c in needed) else wide.iloc[:0]


def _effect_summary(wide: pd.DataFrame, treatment: str, reference: str, confidence: float, n_boot: int,
                    seed: int) -> dict[str, Any]:
    """``cluster_mean_summary`` of the gold_lp differences of ``_paired`` rows, clustered by question."""
    if len(wide):
        diff = (wide[("gold_lp", treatment)] - wide[("gold_lp", reference)]).to_numpy()
        questions = wide.index.get_level_values("item_id")
    else:
        diff, questions = np.empty(0), pd.Index([])
    out: dict[str, Any] = dict(cluster_mean_summary(diff, questions, confidence, n_boot, seed))
    out.update(n_questions=out["n_clusters"], n_pairs=out["n"])
    return out


def recovery_share(frame: pd.DataFrame, condition: str, runs: Sequence[str] = RUN_COLUMNS,
                   confidence: float = 0.95, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Share of the forgotten (run, item) pairs at each run's last step answered under ``condition``,
    with a question-clustered CI (``cluster_mean_summary`` keys plus ``n_questions``, ``n_pairs``)."""
    data, cols = _validate(frame, runs)
    status = _forget_status(data, cols)
    last = data["step"] == data.groupby(cols, observed=True)["step"].transform("max")
    now = data[last & (data["condition"] == condition)].merge(status, on=[*cols, "step", "item_id"], how="inner")
    now = now[now["forgotten"].astype(bool)]
    out: dict[str, Any] = dict(cluster_mean_summary(now["correct"].astype(float).to_numpy(), now["item_id"],
                                                    confidence, n_boot, seed))
    out.update(n_questions=out["n_clusters"], n_pairs=out["n"], condition=condition)
    return out


def effect_curves(frame: pd.DataFrame, treatment: str, reference: str, runs: Sequence[str] = RUN_COLUMNS,
                  confidence: float = 0.95, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> pd.DataFrame:
    """``paired_effect`` at every checked step of every run: ``*runs, step, value, ci_low, ci_high,
    n_questions`` (steps without forgotten items give NaN), for curves against forget accuracy. One pass
    over the frame; each row equals ``paired_effect`` of that run's steps 0 and ``step``."""
    data, cols = _validate(frame, runs)
    _check_conditions(data, treatment, reference)
    keys = [*cols, "step"]
    later = data[data["step"] > 0]
    wide = _paired(later, _forget_status(data, cols), cols, treatment, reference, only_forgotten=True)
    per_step = dict(iter(wide.groupby(level=keys, observed=True, sort=True))) if len(wide) else {}
    rows = []
    for key in later[keys].drop_duplicates().sort_values(keys).itertuples(index=False, name=None):
        eff = _effect_summary(per_step.get(key, wide.iloc[:0]), treatment, reference, confidence, n_boot, seed)
        rows.append({**dict(zip(cols, key)), "step": int(key[-1]),
                     **{k: eff[k] for k in ("value", "ci_low", "ci_high", "n_questions", "mde")}})
    return pd.DataFrame(rows)


def recovery_estimates(frame: pd.DataFrame, points: pd.DataFrame, runs: Sequence[str] = RUN_COLUMNS,
                       step_column: str = "op_step", n_boot: int = DEFAULT_N_BOOT, seed: int = 0
                       ) -> dict[str, dict[str, Any]]:
    """Finding 2's estimates at each run's ``points[step_column]`` (``operating_points`` output), keyed by
    the names of ``unpact.findings.verdicts.PREREGISTERED["recovery"]``: ``key_beats_control`` (key -
    control gold log-prob), ``emphasis_recovers`` (key recovery share), ``positive_control`` (hint -
    plain), plus ``key_minus_plain`` and ``control_recovers``. Runs without such a step are left out;
    with none left every estimate is NaN with ``n_questions = 0``."""
    chosen = at_steps(frame, points, runs, step_column)
    if chosen.empty or (chosen["step"] > 0).sum() == 0:
        empty = {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n_questions": 0,
                 "n_pairs": 0, "mde": float("nan")}
        return {name: dict(empty) for name in ("key_beats_control", "emphasis_recovers", "positive_control",
                                                 "key_minus_plain", "control_recovers")}
    return {"key_beats_control": paired_effect(chosen, "key", "control", runs, n_boot=n_boot, seed=seed),
            "emphasis_recovers": recovery_share(chosen, "key", runs, n_boot=n_boot, seed=seed),
            "positive_control": paired_effect(chosen, "hint", "plain", runs, n_boot=n_boot, seed=seed),
            "key_minus_plain": paired_effect(chosen, "key", "plain", runs, n_boot=n_boot, seed=seed),
            "control_recovers": recovery_share(chosen, "control", runs, n_boot=n_boot, seed=seed)}
