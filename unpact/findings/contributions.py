"""Findings 1 and 3 (mechanism side): how unlearning changes prompt-token contributions.

Input: a long per-unit frame, one row per (item, method, prompt unit) [plus extra grouping
columns such as ``seed``]:

================  ======  ====================================================================
column            type    meaning
================  ======  ====================================================================
item_id           any     the QA item whose prompt the unit belongs to
method            str     unlearning method
domain            str     benchmark domain
split             str     ``forget`` / ``retain`` / ``general``
unit              str     the prompt unit (token or word)
is_key            bool    the unit is a KeyToken **of the base model** for the gold answer
is_function_word  bool    ``unpact.findings.tokens.is_function_word(unit)``
c_before          float   C(x_i, y) = LP(x, y) - LP(x without unit i, y) on the base model
c_after           float   the same on the unlearned model (same x, same gold y)
================  ======  ====================================================================

Definitions (C > 0: the unit supports the gold answer):
- change = c_after - c_before (negative: the unit lost support); drop = -change.
- Means are pooled over units: mean_change = sum of changes / number of units; their CIs are
  percentile cluster bootstraps that resample **items** (the units of one prompt are correlated).
- Focus disruption (finding 1): among base KeyTokens with c_before > 0, the share with
  c_after < beta * c_before ("stopped being key"); key units with c_before <= 0 cannot be
  judged by this ratio and are excluded and counted (``n_excluded``).
- Indiscriminateness (finding 3), in ``indiscriminateness``:
  * ``non_key_vs_key`` = mean drop of non-key units / mean drop of key units, on forget prompts.
    Near 0: unlearning targets the key tokens; near 1 (or above): every token loses as much.
  * ``<split>_vs_forget`` = mean drop of all units on ``<split>`` prompts / mean drop of all
    units on forget prompts (one index per reference split, e.g. retain and general).
    Near 0: unrelated prompts keep their contributions; near 1: they are penalised as much.
  Signs and zeros: the index is defined only when its denominator (a drop) is > 0; otherwise it
  is NaN ("no drop to compare with"). A negative numerator (those units *gained* support) gives a
  negative index and is kept. Bootstrap replicates whose denominator is <= 0 are discarded and
  their share is reported as ``invalid_share``; if it exceeds 1 - confidence, the denominator is
  not clearly positive and the CI is NaN.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from unpact.errors import UsageError, check_choice
from unpact.findings.frames import check_group_columns, per_group, validate_frame
from unpact.stats import (
    DEFAULT_N_BOOT,
    cluster_bootstrap_mean_ci,
    cluster_totals,
    percentile_interval,
    pooled_mean_replicates,
)

CONTRIBUTION_COLUMNS = (
    "item_id", "method", "domain", "split", "unit", "is_key", "is_function_word", "c_before", "c_after",
)
UNIT_CLASSES = {"key": ("is_key", "key", "non_key"), "function": ("is_function_word", "function", "content")}


def validate_contributions(frame: pd.DataFrame, by: Sequence[str] = ()) -> tuple[pd.DataFrame, list[str]]:
    """The validated per-unit frame (bool flags, float contributions) and the grouping columns."""
    cols = check_group_columns(frame, "contribution frame", by)
    data = validate_frame(
        frame, "contribution frame", CONTRIBUTION_COLUMNS,
        boolean=["is_key", "is_function_word"], numeric=["c_before", "c_after"],
    )
    data["change"] = data["c_after"] - data["c_before"]
    return data, cols


def _mean_with_ci(values: pd.Series, items: pd.Series, confidence: float, n_boot: int, seed: int) -> dict[str, float]:
    low, high = cluster_bootstrap_mean_ci(values, items, confidence, n_boot, seed)
    return {"mean": float(values.mean()) if len(values) else math.nan, "ci_low": low, "ci_high": high}


def contribution_change(
    frame: pd.DataFrame,
    by: Sequence[str] = ("method", "domain", "split"),
    classify: str | None = "key",
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean contribution change per group and unit class, with item-cluster bootstrap CIs.

    ``classify``: ``"key"`` (key / non_key), ``"function"`` (function / content) or ``None``
    (all units). Columns: ``*by, unit_class, n_items, n_units, mean_before, mean_after,
    mean_change, ci_low, ci_high`` (CI of mean_change; negative = contributions fell).
    """
    data, cols = validate_contributions(frame, by)
    if classify is None:
        data["unit_class"] = "all"
    else:
        flag, yes, no = UNIT_CLASSES[check_choice("unit classification", classify, UNIT_CLASSES)]
        data["unit_class"] = np.where(data[flag], yes, no)

    def summarise(group: pd.DataFrame) -> dict[str, Any]:
        stats = _mean_with_ci(group["change"], group["item_id"], confidence, n_boot, seed)
        return {
            "n_items": int(group["item_id"].nunique()), "n_units": int(len(group)),
            "mean_before": float(group["c_before"].mean()), "mean_after": float(group["c_after"].mean()),
            "mean_change": stats["mean"], "ci_low": stats["ci_low"], "ci_high": stats["ci_high"],
        }

    return per_group(data, [*cols, "unit_class"], summarise)


def focus_disruption(
    frame: pd.DataFrame,
    beta: float = 0.5,
    by: Sequence[str] = ("method", "domain", "split"),
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Share of base KeyTokens that stop being key (c_after < beta * c_before), per group.

    Columns: ``*by, beta, n_items, n, k, rate, ci_low, ci_high, n_excluded`` (n = key units with
    c_before > 0, k = disrupted ones; CI: item-cluster bootstrap). Higher = focus more disrupted.
    """
    if not 0.0 <= beta <= 1.0:
        raise UsageError(f"beta must be in [0, 1], got {beta}")
    data, cols = validate_contributions(frame, by)
    data = data[data["is_key"]]
    if data.empty:
        raise UsageError("contribution frame: no unit has is_key=True; focus disruption needs base KeyTokens")

    def summarise(group: pd.DataFrame) -> dict[str, Any]:
        judged = group[group["c_before"] > 0]
        disrupted = (judged["c_after"] < beta * judged["c_before"]).astype(float)
        stats = _mean_with_ci(disrupted, judged["item_id"], confidence, n_boot, seed)
        return {
            "beta": beta, "n_items": int(judged["item_id"].nunique()), "n": int(len(judged)),
            "k": int(disrupted.sum()), "rate": stats["mean"], "ci_low": stats["ci_low"],
            "ci_high": stats["ci_high"], "n_excluded": int(len(group) - len(judged)),
        }

    return per_group(data, cols, summarise)


def _ratio_row(
    name: str,
    num: tuple[np.ndarray, np.ndarray, np.ndarray],
    den: tuple[np.ndarray, np.ndarray, np.ndarray],
    confidence: float,
) -> dict[str, Any]:
    """Ratio of mean drops with its bootstrap CI; each side is (sums, counts, replicate_means)."""
    num_mean = num[0].sum() / num[1].sum() if num[1].sum() else math.nan
    den_mean = den[0].sum() / den[1].sum() if den[1].sum() else math.nan
    value = num_mean / den_mean if den_mean > 0 else math.nan
    num_rep, den_rep = num[2], den[2]
    valid = (den_rep > 0) & np.isfinite(num_rep)
    invalid_share = float(1 - valid.mean())
    low = high = math.nan
    if valid.any() and invalid_share <= 1 - confidence:
        low, high = percentile_interval(num_rep[valid] / den_rep[valid], confidence)
    return {"index": name, "numerator_drop": float(num_mean), "denominator_drop": float(den_mean),
            "value": value, "ci_low": low, "ci_high": high, "invalid_share": invalid_share}


def indiscriminateness(
    frame: pd.DataFrame,
    by: Sequence[str] = ("method", "domain"),
    forget_split: str = "forget",
    reference_splits: Sequence[str] = ("retain", "general"),
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Indiscriminateness indices per group (definitions and zero/sign rules in the module docstring).

    Long output: ``*by, index, numerator_drop, denominator_drop, value, ci_low, ci_high,
    invalid_share``, with index in ``non_key_vs_key`` and ``<split>_vs_forget`` for each
    reference split present. Drops are in nats of mean log-probability (LP units).
    """
    data, cols = validate_contributions(frame, [c for c in by if c != "split"])
    data["drop"] = -data["change"]
    if forget_split not in set(data["split"]):
        raise UsageError(f"contribution frame: no {forget_split!r} rows; splits present: "
                         f"{', '.join(sorted(map(str, data['split'].unique())))}")

    def summarise_rows(group: pd.DataFrame) -> list[dict[str, Any]]:
        rng = np.random.default_rng(seed)
        forget = group[group["split"] == forget_split]
        f_items = pd.Index(forget["item_id"].unique())
        f_draws = (rng.integers(0, len(f_items), size=(n_boot, len(f_items))) if len(f_items)
                   else np.zeros((n_boot, 0), int))
        sides = {}
        everything = pd.Series(True, index=forget.index)
        for label, mask in (("key", forget["is_key"]), ("non_key", ~forget["is_key"]), ("all", everything)):
            part = forget[mask]
            s, m, _ = cluster_totals(part["drop"], part["item_id"], f_items)
            sides[label] = (s, m, pooled_mean_replicates(s, m, f_draws))
        rows = [_ratio_row("non_key_vs_key", sides["non_key"], sides["key"], confidence)]
        for split in reference_splits:
            ref = group[group["split"] == split]
            if ref.empty:
                continue
            r_items = pd.Index(ref["item_id"].unique())
            s, m, _ = cluster_totals(ref["drop"], ref["item_id"], r_items)
            r_draws = rng.integers(0, len(r_items), size=(n_boot, len(r_items)))
            rows.append(_ratio_row(f"{split}_vs_forget", (s, m, pooled_mean_replicates(s, m, r_draws)),
                                   sides["all"], confidence))
        return rows

    out: list[dict[str, Any]] = []
    groups = data.groupby(cols, sort=True, observed=True) if cols else [((), data)]
    for key, group in groups:
        keys = key if isinstance(key, tuple) else (key,)
        out.extend({**dict(zip(cols, keys)), **row} for row in summarise_rows(group))
    return pd.DataFrame(out)
