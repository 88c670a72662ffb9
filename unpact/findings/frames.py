"""Schema checks and grouping shared by the findings' DataFrame functions."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from unpact.errors import UsageError


def validate_frame(
    frame: pd.DataFrame,
    what: str,
    required: Sequence[str],
    boolean: Sequence[str] = (),
    numeric: Sequence[str] = (),
    unique: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Check columns, types and key uniqueness; return a copy with ``boolean`` columns as bool.

    Raises ``UsageError`` naming the frame, the problem and the expected schema.
    """
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{what}: missing column(s) {', '.join(missing)}; required columns: {', '.join(required)}"
        )
    out = frame.copy()
    for col in boolean:
        values = out[col]
        if values.isna().any():
            raise UsageError(f"{what}: column {col!r} has missing values; it must be boolean (True/False or 1/0)")
        if values.dtype != bool:
            if not values.isin([0, 1, True, False]).all():
                bad = values[~values.isin([0, 1, True, False])].iloc[0]
                raise UsageError(f"{what}: column {col!r} must be boolean (True/False or 1/0), found {bad!r}")
            out[col] = values.astype(bool)
    for col in numeric:
        values = pd.to_numeric(out[col], errors="coerce")
        if values.isna().any():
            raise UsageError(f"{what}: column {col!r} must be numeric without missing values")
        out[col] = values.astype(float)
    if unique is not None:
        dup = out.duplicated(list(unique), keep=False)
        if dup.any():
            example = out.loc[dup, list(unique)].iloc[0].to_dict()
            raise UsageError(f"{what}: rows are not unique by ({', '.join(unique)}); duplicated e.g. {example}")
    return out


def check_group_columns(frame: pd.DataFrame, what: str, by: Iterable[str]) -> list[str]:
    """The grouping columns as a list, each present in ``frame``."""
    cols = list(by)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise UsageError(f"{what}: cannot group by missing column(s) {', '.join(missing)}")
    return cols


def per_group(
    frame: pd.DataFrame, by: list[str], summarise: Callable[[pd.DataFrame], dict[str, Any]]
) -> pd.DataFrame:
    """One row per group of ``by`` (observed groups only, sorted) with the dict ``summarise`` returns."""
    rows = []
    if not by:
        return pd.DataFrame([summarise(frame)])
    for key, group in frame.groupby(by, sort=True, observed=True, dropna=False):
        keys = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, keys)), **summarise(group)})
    return pd.DataFrame(rows)


def pool(frame: pd.DataFrame, over: Sequence[str] = ("method", "domain")) -> pd.DataFrame:
    """Pool a findings frame over ``over`` (labelled ``all``), keeping each (method, domain, item) a distinct item."""
    key = frame["item_id"].astype(str)
    for col in over:
        key = frame[col].astype(str) + "/" + key
    return frame.assign(item_id=key, **{col: "all" for col in over})
