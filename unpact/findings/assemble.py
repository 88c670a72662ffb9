"""Assemble the findings' input frames from evaluation and attribution outputs.

- ``outcome_frame``: per-item frames of ``unpact.evaluate.evaluate_items`` (columns ``id, domain,
  split, correct``) for the base model and for each unlearned model -> the destructive-rate
  input (``item_id, method, domain, split, base_correct, unlearned_correct``).
- ``recovery_frame``: the same plus one evaluation of the unlearned model per (emphasis style,
  token source) -> the recovery input of ``unpact.findings.recovery`` (answer probabilities and,
  when the emphasised frames carry it, ``first_token_top1`` come along).
- ``contribution_frame``: the per-unit frame of ``unpact.attribution.tracking.unit_changes``
  (``item_id, unit, before, after, key_before``) plus the attributed items ->
  the per-unit input of ``unpact.findings.contributions`` (``is_function_word`` computed here).
Items are matched by id; every frame must hold the same ids (a clear error otherwise).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from unpact.errors import UsageError
from unpact.findings.frames import validate_frame
from unpact.findings.tokens import is_function_word

_EVAL_COLUMNS = ("id", "domain", "split", "correct")


def _indexed(frame: pd.DataFrame, what: str, ids: pd.Index | None) -> pd.DataFrame:
    data = validate_frame(frame, what, _EVAL_COLUMNS, boolean=["correct"], unique=["id"]).set_index("id")
    if ids is not None and not data.index.sort_values().equals(ids.sort_values()):
        extra = data.index.difference(ids).tolist()[:3]
        missing = ids.difference(data.index).tolist()[:3]
        raise UsageError(f"{what}: item ids differ from the base evaluation "
                         f"(extra e.g. {extra}, missing e.g. {missing})")
    return data


def outcome_frame(base: pd.DataFrame, unlearned: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``item_id, method, domain, split, base_correct, unlearned_correct``: one row per item and method."""
    b = _indexed(base, "base evaluation", None)
    parts = []
    for method, frame in unlearned.items():
        u = _indexed(frame, f"{method} evaluation", b.index).reindex(b.index)
        parts.append(pd.DataFrame({
            "item_id": b.index, "method": method, "domain": b["domain"].to_numpy(), "split": b["split"].to_numpy(),
            "base_correct": b["correct"].to_numpy(), "unlearned_correct": u["correct"].to_numpy(),
        }))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["item_id", "method", "domain", "split", "base_correct", "unlearned_correct"])


def recovery_frame(
    base: pd.DataFrame,
    unlearned: pd.DataFrame,
    emphasized: Mapping[tuple[str, str], pd.DataFrame],
    method: str,
) -> pd.DataFrame:
    """The recovery input for one method; ``emphasized`` maps (style, source) to an evaluation frame.

    Answer probabilities are copied when the frames have ``answer_prob``.
    """
    outcome = outcome_frame(base, {method: unlearned}).set_index("item_id")
    u = unlearned.set_index("id")
    parts = []
    for (style, source), frame in emphasized.items():
        e = _indexed(frame, f"emphasised evaluation ({style}, {source})", outcome.index).reindex(outcome.index)
        part = outcome.assign(style=style, source=source, emphasized_correct=e["correct"].to_numpy())
        if "answer_prob" in e.columns and "answer_prob" in u.columns:
            part["answer_prob_unlearned"] = u["answer_prob"].reindex(outcome.index).to_numpy()
            part["answer_prob_emphasized"] = e["answer_prob"].to_numpy()
        if "first_token_top1" in e.columns:
            part["first_token_top1"] = e["first_token_top1"].to_numpy()
        parts.append(part.reset_index())
    if not parts:
        raise UsageError("recovery_frame: no emphasised evaluations given")
    return pd.concat(parts, ignore_index=True)


def contribution_frame(changes: pd.DataFrame, items: Sequence[Any], method: str) -> pd.DataFrame:
    """The per-unit contribution input for one method from ``unit_changes`` output.

    Each row's ``item_id`` names its attributed item in ``items`` (anything with ``id``, ``domain``,
    ``split``, e.g. ``QAItem``); ``key_before`` (base KeyTokens) becomes ``is_key``.
    """
    data = validate_frame(changes, "unit changes", ("item_id", "unit", "before", "after", "key_before"),
                          boolean=["key_before"], numeric=["before", "after"])
    meta = pd.DataFrame([{"item_id": str(it.id), "domain": it.domain, "split": it.split} for it in items],
                        columns=["item_id", "domain", "split"]).set_index("item_id")
    ids = data["item_id"].astype(str)
    unknown = sorted(set(ids) - set(meta.index))[:3]
    if unknown:
        raise UsageError(f"unit changes: item ids {unknown} are not among the {len(items)} items")
    out = meta.loc[ids.to_numpy()].reset_index()
    out["method"] = method
    out["unit"] = data["unit"].to_numpy()
    out["is_key"] = data["key_before"].to_numpy()
    out["is_function_word"] = [is_function_word(str(u)) for u in data["unit"]]
    out["c_before"] = data["before"].to_numpy()
    out["c_after"] = data["after"].to_numpy()
    return out
