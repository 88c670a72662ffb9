"""Spread of a headline number across seeds (whole pipeline re-run: organism, unlearning).

``seed_spread`` takes any per-seed summary (e.g. ``recovery_rates(..., by=(..., "seed"))``) and
gives, per group, the mean over seeds, the sample standard deviation (ddof=1; NaN for one
seed), the minimum, the maximum and the number of seeds. The within-seed CIs stay in the
per-seed summary; this table shows how much the number moves when the pipeline is re-run.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from unpact.findings.frames import check_group_columns


def seed_spread(summary: pd.DataFrame, value: str = "rate", by: Sequence[str] = ("method", "domain"),
                seed_column: str = "seed") -> pd.DataFrame:
    """``*by, mean, std, min, max, n_seeds`` of ``value`` over ``seed_column``."""
    cols = check_group_columns(summary, "seed summary", [*by, seed_column, value])[: len(by)]
    grouped = summary.groupby(cols, observed=True, sort=True)
    out = grouped[value].agg(["mean", "std", "min", "max"])
    out["n_seeds"] = grouped[seed_column].nunique()
    return out.reset_index()
