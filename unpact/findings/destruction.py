"""Finding 3 (utility side): destructive rate of unlearning on retain and general items.

Input: a long per-item frame, one row per (item, method[, extra grouping column such as seed]):
``item_id``, ``method``, ``domain``, ``split`` (``forget``/``retain``/``general``),
``base_correct`` (bool, base model), ``unlearned_correct`` (bool, after unlearning).

destructive rate = |{i in S : base_correct_i and not unlearned_correct_i}| / |{i in S : base_correct_i}|
over the items S of the ``splits`` considered (default retain and general): the share of
knowledge the model had, outside the forget set, that unlearning destroyed. **Lower is better.**
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from unpact.errors import UsageError
from unpact.findings.frames import check_group_columns, per_group, validate_frame
from unpact.stats import DEFAULT_N_BOOT, summarize_binary

DESTRUCTIVE_COLUMNS = ("item_id", "method", "domain", "split", "base_correct", "unlearned_correct")
UTILITY_SPLITS = ("retain", "general")


def destructive_rates(
    frame: pd.DataFrame,
    by: Sequence[str] = ("method", "domain"),
    splits: Sequence[str] = UTILITY_SPLITS,
    ci_method: str = "wilson",
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Destructive rate per group of ``by`` over the ``splits`` items: ``*by, n_items, n, k, rate, ci_low, ci_high``.

    n = items correct on the base model, k = those wrong after unlearning.
    """
    cols = check_group_columns(frame, "destructive frame", by)
    key = list(dict.fromkeys([*cols, "split", "item_id"]))
    data = validate_frame(
        frame, "destructive frame", DESTRUCTIVE_COLUMNS,
        boolean=["base_correct", "unlearned_correct"], unique=key,
    )
    data = data[data["split"].isin(list(splits))]
    if data.empty:
        raise UsageError(
            f"destructive frame: no rows with split in {', '.join(splits)}; splits present: "
            f"{', '.join(sorted(map(str, frame['split'].unique())))}"
        )

    def summarise(group: pd.DataFrame) -> dict[str, Any]:
        known = group[group["base_correct"]]
        row: dict[str, Any] = {"n_items": int(len(group))}
        row.update(summarize_binary(~known["unlearned_correct"], ci_method, confidence, n_boot, seed))
        return row

    return per_group(data, cols, summarise)
