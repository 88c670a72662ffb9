"""Finding 1, decomposed: what happens to each base KeyToken, and to the ranking of the question's words.

Input: the per-unit contribution frame of ``unpact.findings.contributions`` (``item_id, method,
domain, split, unit, is_key, c_before, c_after``). The review of issue 11 found that "lost focus"
mixed two different things: a KeyToken whose support *shrinks* and one whose contribution *flips
sign* (the entity now pushes the answer away: +5 -> -15 nats). They are counted apart here.

Per base KeyToken with c_before > 0 (others cannot be judged by a ratio and are left out):
- ``kept``    : c_after >= beta * c_before
- ``shrunk``  : 0 <= c_after < beta * c_before
- ``flipped`` : c_after < 0
(``shrunk`` + ``flipped`` = the focus-disruption rate of ``focus_disruption``.)
Per (run, item) with at least 3 units:
- ``spearman``     : Spearman rank correlation of the units' c_before and c_after (1 = same ranking);
- ``topk_overlap`` : |top-k(before) & top-k(after)| / k, k = the item's number of KeyTokens.
Every measure is a pooled mean with a percentile bootstrap CI resampling ``cluster`` (default the
question, ``item_id``: a question counts once however many methods it appears under), via
``unpact.stats.cluster_mean_summary``; ``key_change_by_question`` gives finding 1's condition (a)
the same way.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from unpact.findings.contributions import CONTRIBUTION_COLUMNS
from unpact.findings.frames import check_group_columns, validate_frame
from unpact.stats import DEFAULT_N_BOOT, cluster_mean_summary

FATES = ("kept", "shrunk", "flipped")
RANK_MEASURES = ("spearman", "topk_overlap")


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x``, tied values sharing the mean of their ranks (``scipy.stats.rankdata``'s default)."""
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # first sorted position of each value
    stops = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x))
    ranks[order] = np.repeat((starts + stops + 1) / 2, stops - starts)  # mean of the ranks starts+1 .. stops
    return ranks


def _spearman(before: np.ndarray, after: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks (``scipy.stats.spearmanr``'s statistic,
    the same arithmetic; NaN when a value is missing). Called once per (run, item): scipy's own
    argument checks cost three times the arithmetic here."""
    if np.isnan(before).any() or np.isnan(after).any():
        return float("nan")
    ranked = np.empty((2, len(before)))
    ranked[0], ranked[1] = _average_ranks(before), _average_ranks(after)
    return float(np.corrcoef(ranked.T, rowvar=False)[1, 0])


def _item_ranks(before: np.ndarray, after: np.ndarray, k: int) -> tuple[float, float]:
    """``spearman`` and ``topk_overlap`` (module docstring) of one (run, item)'s units; NaN for fewer than 3 units
    or no KeyToken."""
    if len(before) < 3 or k == 0:
        return np.nan, np.nan
    rho = _spearman(before, after) if np.ptp(before) > 0 and np.ptp(after) > 0 else np.nan
    top_b = set(np.argsort(-before, kind="stable")[:k])
    top_a = set(np.argsort(-after, kind="stable")[:k])
    return float(rho), len(top_b & top_a) / k


def _per_item_ranks(data: pd.DataFrame, item_keys: list[str]) -> pd.DataFrame:
    """``*item_keys, spearman, topk_overlap`` per (run, item) group of ``data`` (sorted by the keys; units in
    their order in ``data``). Groups are cut from arrays sorted once: no frame per group."""
    codes = data.groupby(item_keys, observed=True, sort=True).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    order = order[codes[order] >= 0]  # rows with a missing key belong to no group
    if not len(order):
        return pd.DataFrame(columns=[*item_keys, *RANK_MEASURES])
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    stops = np.r_[starts[1:], len(order)]
    before, after = data["c_before"].to_numpy(float)[order], data["c_after"].to_numpy(float)[order]
    keys = data["is_key"].to_numpy(bool)[order]
    ranks = [_item_ranks(before[a:b], after[a:b], int(keys[a:b].sum())) for a, b in zip(starts, stops)]
    out = data[item_keys].iloc[order[starts]].reset_index(drop=True)
    return out.assign(spearman=[r[0] for r in ranks], topk_overlap=[r[1] for r in ranks])


def key_token_fates(frame: pd.DataFrame, beta: float = 0.5, by: Sequence[str] = ("method", "domain", "split"),
                    runs: Sequence[str] = ("method", "domain"), cluster: str = "item_id",
                    n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Long frame ``*by, measure, value, ci_low, ci_high, n, n_questions, mde`` for the measures
    ``FATES`` + ``RANK_MEASURES`` (module docstring). ``runs`` name one unlearned model (an item's
    units are ranked within one run)."""
    cols = check_group_columns(frame, "contribution frame", by)
    run_cols = [c for c in dict.fromkeys([*runs, *[c for c in ("arch", "seed") if c in frame.columns]])]
    data = validate_frame(frame, "contribution frame", CONTRIBUTION_COLUMNS, boolean=["is_key"],
                          numeric=["c_before", "c_after"])
    key = data[data["is_key"] & (data["c_before"] > 0)].copy()
    ratio_ok = key["c_after"] >= beta * key["c_before"]
    key["kept"] = ratio_ok.astype(float)
    key["flipped"] = (key["c_after"] < 0).astype(float)
    key["shrunk"] = (~ratio_ok & (key["c_after"] >= 0)).astype(float)
    item_keys = list(dict.fromkeys([*cols, *run_cols, "item_id"]))
    per_item = _per_item_ranks(data, item_keys)
    rows: list[dict[str, Any]] = []
    for source, measures in ((key, FATES), (per_item, RANK_MEASURES)):
        groups = source.groupby(cols, observed=True, sort=True) if cols else [((), source)]
        for k, g in groups:
            keys = dict(zip(cols, k if isinstance(k, tuple) else (k,)))
            clusters = g[cluster].to_numpy()
            for measure in measures:
                values = g[measure].to_numpy(float)
                known = ~np.isnan(values)
                est = cluster_mean_summary(values[known], clusters[known], n_boot=n_boot, seed=seed)
                rows.append({**keys, "measure": measure, "value": est["value"], "ci_low": est["ci_low"],
                             "ci_high": est["ci_high"], "n": est["n"], "n_questions": est["n_clusters"],
                             "mde": est["mde"]})
    return pd.DataFrame(rows)


def key_change_by_question(frame: pd.DataFrame, split: str = "forget", cluster: str = "item_id",
                           n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Mean c_after - c_before of base KeyTokens on ``split`` prompts, pooled over every run, with a CI
    resampling questions (``cluster_mean_summary`` keys plus ``n_questions``)."""
    data = validate_frame(frame, "contribution frame", CONTRIBUTION_COLUMNS, boolean=["is_key"],
                          numeric=["c_before", "c_after"])
    key = data[data["is_key"] & (data["split"] == split)]
    est: dict[str, Any] = dict(cluster_mean_summary((key["c_after"] - key["c_before"]).to_numpy(), key[cluster],
                                                    n_boot=n_boot, seed=seed))
    est["n_questions"] = est["n_clusters"]
    return est
