"""Robustness of findings 1 and 2 to the analysis choices, and KeyTokens against gold keywords.

- ``keyword_quality``: pooled precision ``sum hits / sum n_key`` and recall ``sum hits / sum n_gold``
  of KeyTokens against gold keywords, from per-item ``keyword_scores`` rows (a denominator of 0
  counts as 1, giving 0).
- ``setting_summary``: for one analysis setting (a KeyToken rule, an attribution method, a judge,
  ...), the headline numbers of findings 1 and 2 on pooled frames: the share of base KeyTokens
  disrupted on forget questions (``focus_disruption``), the recovery rate of base-KeyToken emphasis
  and of the control (``recovery_rates``, ``key_vs_control``), and KeyToken precision/recall on the
  forget questions.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from unpact.findings.contributions import focus_disruption
from unpact.findings.frames import validate_frame
from unpact.findings.recovery import key_vs_control, recovery_rates

KEYWORD_SCORE_COLUMNS = ("split", "n_key", "n_gold", "hits")


def keyword_quality(scores: pd.DataFrame, by: Sequence[str] = ("arch", "seed", "domain", "split")) -> pd.DataFrame:
    """``by`` columns, ``precision``, ``recall`` and ``n_items`` per group of per-item keyword scores."""
    data = validate_frame(scores, "keyword scores", (*KEYWORD_SCORE_COLUMNS, *by), numeric=["n_key", "n_gold", "hits"])
    rows = []
    for keys, g in data.groupby(list(by)):
        keys = keys if isinstance(keys, tuple) else (keys,)
        rows.append(dict(zip(by, keys), precision=g["hits"].sum() / max(g["n_key"].sum(), 1),
                         recall=g["hits"].sum() / max(g["n_gold"].sum(), 1), n_items=len(g)))
    return pd.DataFrame(rows, columns=[*by, "precision", "recall", "n_items"])


def setting_summary(contributions: pd.DataFrame, recovery: pd.DataFrame, scores: pd.DataFrame, beta: float,
                    n_boot: int) -> dict[str, Any]:
    """The headline numbers of one setting (module docstring) from pooled contribution and recovery
    frames and per-item keyword scores (columns ``split, n_key, n_gold, hits``)."""
    forget = contributions[contributions["split"] == "forget"]
    disrupted = focus_disruption(forget, beta=beta, by=("split",), n_boot=n_boot).iloc[0]
    rate = recovery_rates(recovery, n_boot=n_boot).set_index("source").loc["base_key"]
    paired = key_vs_control(recovery, n_boot=n_boot).iloc[0]
    quality = keyword_quality(scores[scores["split"] == "forget"], by=("split",))
    precision, recall = (quality["precision"].iloc[0], quality["recall"].iloc[0]) if len(quality) else (0.0, 0.0)
    return dict(mean_key_count=float(forget.groupby("item_id")["is_key"].sum().mean()),
                disruption=disrupted["rate"], disruption_ci_low=disrupted["ci_low"],
                disruption_ci_high=disrupted["ci_high"],
                recovery=rate["rate"], recovery_ci_low=rate["ci_low"], recovery_ci_high=rate["ci_high"],
                n_forgotten=int(rate["n"]), control_recovery=paired["control_rate"], mcnemar_p=paired["p_value"],
                keyword_precision=precision, keyword_recall=recall)
