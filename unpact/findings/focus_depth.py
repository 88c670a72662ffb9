"""Findings 1 and 3 along unlearning depth: the base model's KeyTokens at every attributed check of a run.

Input: the ``attribution`` rows of a trajectory (``unpact.unlearn.probes.AttributionProbe``), one row per
(step, item, word) with ``position, unit, contribution``; step 0 is the base model. ``focus_frame``
turns them into the per-unit contribution frame of ``unpact.findings.contributions`` with a ``step``
column: c_before = C_u at step 0, c_after = C_u at step s, ``is_key`` = the base KeyTokens (the study's
KeyToken rule applied to the step-0 map). ``focus_curves`` then summarises each (run, step) by

- finding 1's decomposed measures (``unpact.findings.focus.key_token_fates``) over the base KeyTokens
  with c_before > 0: the shares ``kept`` (c_after >= beta c_before), ``shrunk`` and ``flipped``
  (c_after < 0), and the ``spearman`` / ``topk_overlap`` of each question's word ranking;
- ``key_change`` and ``nonkey_change``: mean c_after - c_before (nats of mean answer log-probability)
  of the KeyTokens and of the other words (finding 3 reads them on the held-out retain questions:
  an indiscriminate penalty lowers both; a targeted one, the KeyTokens more),

each with a 95% percentile bootstrap CI resampling questions (``unpact.stats.cluster_mean_summary``),
next to the run's forget accuracy and utility at that step (``unpact.findings.depth.depth_curves``),
so the measures are read as curves against forget accuracy (base -> 0), not at one checkpoint.
Step 0 has kept = 1 and Spearman = 1 by construction. Descriptive: no verdict rule reads these curves.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from unpact.attribution.keytokens import KeyRule
from unpact.data.schema import QAItem
from unpact.errors import UsageError
from unpact.findings.depth import depth_curves
from unpact.findings.focus import FATES, RANK_MEASURES, key_token_fates
from unpact.findings.frames import validate_frame
from unpact.findings.tokens import is_function_word
from unpact.stats import DEFAULT_N_BOOT, cluster_mean_summary

ATTRIBUTION_ROWS = ("step", "item_id", "position", "unit", "contribution")
CHANGES = ("key_change", "nonkey_change")
MEASURES = (*FATES, *RANK_MEASURES, *CHANGES)


def focus_frame(rows: pd.DataFrame, items: Sequence[QAItem], key_rule: KeyRule | None = None) -> pd.DataFrame:
    """Per (step, item, unit): ``item_id, domain, split, step, position, unit, is_key, is_function_word,
    c_before, c_after`` (module docstring); ``items`` give each attributed item's domain and split;
    ``key_rule``: the KeyToken rule (default ``KeyRule()``, the top 2 words)."""
    key_rule = key_rule or KeyRule()
    data = validate_frame(rows, "attribution rows", ATTRIBUTION_ROWS, numeric=["contribution"])
    data = data.assign(item_id=data["item_id"].astype(str))
    if data.empty:
        raise UsageError("attribution rows: none (was the run probed with an AttributionProbe?)")
    if not (data["step"] == 0).any():
        raise UsageError("attribution rows: no step 0 (the base model's map every step is compared with)")
    meta = {str(it.id): (it.domain, it.split) for it in items}
    unknown = sorted(set(data["item_id"]) - set(meta))[:3]
    if unknown:
        raise UsageError(f"attribution rows: item ids {unknown} are not among the {len(items)} items")
    base = data[data["step"] == 0].sort_values(["item_id", "position"])
    keys = {item: key_rule.mask(part["contribution"].to_numpy(float))
            for item, part in base.groupby("item_id", sort=False)}
    base = base.assign(is_key=np.concatenate([keys[i] for i in base["item_id"].drop_duplicates()]))
    base = base[["item_id", "position", "unit", "is_key", "contribution"]].rename(columns={"contribution": "c_before"})
    out = data.rename(columns={"contribution": "c_after"}).merge(base, on=["item_id", "position", "unit"],
                                                                  how="inner", validate="many_to_one")
    if len(out) != len(data):
        raise UsageError("attribution rows: a later step attributes other words than step 0 for some item")
    out["domain"] = out["item_id"].map({i: m[0] for i, m in meta.items()})
    out["split"] = out["item_id"].map({i: m[1] for i, m in meta.items()})
    out["is_function_word"] = out["unit"].map({u: is_function_word(str(u)) for u in out["unit"].unique()}).astype(bool)
    columns = ["item_id", "domain", "split", "step", "position", "unit", "is_key", "is_function_word", "c_before",
               "c_after"]
    return out[columns].sort_values(["step", "item_id", "position"]).reset_index(drop=True)


def _mean_changes(units: pd.DataFrame, n_boot: int) -> dict[str, float]:
    """Mean c_after - c_before of the KeyTokens and of the other words, CIs resampling questions."""
    out: dict[str, float] = {}
    for name, part in (("key_change", units[units["is_key"]]), ("nonkey_change", units[~units["is_key"]])):
        est = cluster_mean_summary((part["c_after"] - part["c_before"]).to_numpy(float), part["item_id"],
                                   n_boot=n_boot, seed=0)
        out |= {name: est["value"], f"{name}_ci_low": est["ci_low"], f"{name}_ci_high": est["ci_high"]}
    return out


def focus_curves(focus: pd.DataFrame, probes: pd.DataFrame, split: str = "forget",
                 runs: Sequence[str] = ("method", "domain"), beta: float = 0.5,
                 n_boot: int = DEFAULT_N_BOOT) -> pd.DataFrame:
    """Per (run, step): ``forget_accuracy, utility, n_forgotten, n_questions`` and each of ``MEASURES`` with
    ``<measure>_ci_low``/``_ci_high``, over the ``split`` questions of ``focus`` (``focus_frame`` rows with
    the ``runs`` columns); ``probes``: the same runs' ``forget`` probe rows (``unpact.findings.depth``).
    Several architectures or seeds of a run are pooled (their questions resampled together)."""
    cols = list(runs)
    units = focus[focus["split"] == split]
    if units.empty:
        raise UsageError(f"focus frame: no {split!r} questions (splits here: {sorted(set(focus['split']))})")
    fates = key_token_fates(units, beta=beta, by=(*cols, "step"), runs=(*cols, "step"), n_boot=n_boot)
    wide = fates.pivot_table(index=[*cols, "step"], columns="measure", values=["value", "ci_low", "ci_high"])
    wide.columns = [m if stat == "value" else f"{m}_{stat}" for stat, m in wide.columns]
    n_questions = fates.groupby([*cols, "step"])["n_questions"].max().rename("n_questions").reset_index()
    changes = pd.DataFrame([_mean_changes(g, n_boot) | dict(zip([*cols, "step"], k))
                            for k, g in units.groupby([*cols, "step"], sort=True)])
    depth_cols = [c for c in ("arch", "seed") if c in probes.columns]
    curves = depth_curves(probes, [*cols, *depth_cols]).groupby([*cols, "step"], as_index=False).agg(
        forget_accuracy=("forget_accuracy", "mean"), utility=("utility", "mean"), n_forgotten=("n_forgotten", "sum"))
    table = (curves.merge(wide.reset_index(), on=[*cols, "step"]).merge(changes, on=[*cols, "step"])
             .merge(n_questions, on=[*cols, "step"]))
    shown = [c for m in MEASURES for c in (m, f"{m}_ci_low", f"{m}_ci_high") if c in table.columns]
    return table[[*cols, "step", "forget_accuracy", "utility", "n_forgotten", "n_questions", *shown]].sort_values(
        [*cols, "step"]).reset_index(drop=True)


def long_curves(curves: pd.DataFrame, measures: Sequence[str], runs: Sequence[str] = ("method", "domain")
                ) -> pd.DataFrame:
    """``focus_curves`` output as long rows ``*runs, step, forget_accuracy, effect, value, ci_low, ci_high``
    (one per measure; the input of ``unpact.plots.plot_depth_measures``)."""
    missing = [m for m in measures if m not in curves.columns]
    if missing:
        raise UsageError(f"focus curves: no measure {missing} (measures: {', '.join(MEASURES)})")
    parts: list[Any] = [curves[[*runs, "step", "forget_accuracy"]].assign(
        effect=m, value=curves[m], ci_low=curves[f"{m}_ci_low"], ci_high=curves[f"{m}_ci_high"]) for m in measures]
    return pd.concat(parts, ignore_index=True)


def curves_by_family(focus: pd.DataFrame, probes: pd.DataFrame, split: str,
                     n_boot: int = DEFAULT_N_BOOT) -> pd.DataFrame:
    """``focus_curves`` of each model ``family`` (``unpact.study.collect`` of ``focus_trajectories`` and of
    ``trajectories``), with a ``family`` column; families without ``split`` questions are left out."""
    parts = [focus_curves(part, probes[probes["family"] == family], split, n_boot=n_boot).assign(family=family)
             for family, part in focus.groupby("family", sort=False) if (part["split"] == split).any()]
    if not parts:
        raise UsageError(f"focus frame: no {split!r} questions in any family")
    return pd.concat(parts, ignore_index=True)


def deep_summary(curves: pd.DataFrame, measures: Sequence[str], fraction: float = 0.5,
                 runs: Sequence[str] = ("method", "domain")) -> pd.DataFrame:
    """Per ``family``: the mean of each of ``measures`` over the attributed checks (step >= 1) where the run's
    forget accuracy is at most ``fraction`` x its base model's, and ``n_points`` (run x step points; 0 when no
    check is that deep). ``curves``: ``curves_by_family`` output."""
    cols = list(runs)
    base = curves[curves["step"] == 0].set_index(["family", *cols])["forget_accuracy"].rename("base_accuracy")
    data = curves.join(base, on=["family", *cols])
    deep = data[(data["step"] >= 1) & (data["forget_accuracy"] <= fraction * data["base_accuracy"])]
    rows = []
    for family in dict.fromkeys(curves["family"]):
        part = deep[deep["family"] == family]
        rows.append({"family": family, "n_points": len(part),
                     **{m: float(part[m].mean()) if len(part) else float("nan") for m in measures}})
    return pd.DataFrame(rows)
