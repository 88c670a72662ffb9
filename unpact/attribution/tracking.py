"""Contribution tracking: the same (prompt, answer) attributed by two models (before / after unlearning).

Prompts are matched by id. Per prompt, with C (before) and C' (after) over the same units and K = KeyTokens of C
(``unpact.attribution.keytokens.key_mask``):

* change_u               = C'_u - C_u
* key_kept               = |K & K'| / |K|              share of the original KeyTokens still key after
* mean_change_key        = mean_{u in K} change_u      (the paper's "keyword focus disrupted": < 0)
* mean_change_nonkey     = mean_{u not in K} change_u  (indiscriminate penalisation: also < 0)
* spearman               = Spearman rank correlation of C and C' (NaN when either map is constant)

Also, when items carry gold ``keywords``: precision/recall of K against them (``gold_keyword_mask``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from unpact.attribution.attributor import AttributionResult, PromptAttribution
from unpact.attribution.keytokens import gold_keyword_mask, key_mask, keyword_precision_recall
from unpact.errors import UsageError


def _pairs(before: AttributionResult, after: AttributionResult) -> list[tuple[PromptAttribution, PromptAttribution]]:
    """``(before, after)`` of each prompt id, in the order of ``before``."""
    later = after.by_id()
    if set(later) != {b.id for b in before.items}:
        missing = sorted({b.id for b in before.items} - set(later))[:3]
        extra = sorted(set(later) - {b.id for b in before.items})[:3]
        raise UsageError(f"before and after must attribute the same prompt ids (missing after e.g. {missing}, "
                         f"extra e.g. {extra})")
    for b in before.items:
        a = later[b.id]
        if b.units != a.units or b.target != a.target:
            raise UsageError(f"prompt {b.id!r}: before and after must attribute the same units and target")
    return [(b, later[b.id]) for b in before.items]


def unit_changes(before: AttributionResult, after: AttributionResult, **key_args: Any) -> pd.DataFrame:
    """One row per (prompt, unit): before, after, change, key_before, key_after (``prompt_id`` is the
    position in ``before``, ``item_id`` the prompt's id)."""
    rows = []
    for pid, (b, a) in enumerate(_pairs(before, after)):
        kb, ka = key_mask(b.contributions, **key_args), key_mask(a.contributions, **key_args)
        for pos, unit in enumerate(b.units):
            cb, ca = float(b.contributions[pos]), float(a.contributions[pos])
            rows.append(dict(prompt_id=pid, item_id=b.id, position=pos, unit=unit, before=cb, after=ca, change=ca - cb,
                             key_before=bool(kb[pos]), key_after=bool(ka[pos])))
    columns = ["prompt_id", "item_id", "position", "unit", "before", "after", "change", "key_before", "key_after"]
    return pd.DataFrame(rows, columns=columns)


def tracking_summary(
    before: AttributionResult,
    after: AttributionResult,
    keywords: Sequence[Sequence[str] | None] | None = None,
    **key_args: Any,
) -> pd.DataFrame:
    """One row per prompt with the statistics of the module docstring (``key_args`` go to ``key_mask``)."""
    from scipy.stats import spearmanr

    rows = []
    for pid, (b, a) in enumerate(_pairs(before, after)):
        cb, ca = np.asarray(b.contributions, float), np.asarray(a.contributions, float)
        kb, ka = key_mask(cb, **key_args), key_mask(ca, **key_args)
        change = ca - cb
        constant = np.ptp(cb) == 0 or np.ptp(ca) == 0
        row = dict(
            prompt_id=pid,
            item_id=b.id,
            n_units=len(cb),
            n_key=int(kb.sum()),
            lp_before=b.lp,
            lp_after=a.lp,
            key_kept=float((kb & ka).sum() / kb.sum()) if kb.sum() else float("nan"),
            mean_change_key=float(change[kb].mean()) if kb.any() else float("nan"),
            mean_change_nonkey=float(change[~kb].mean()) if (~kb).any() else float("nan"),
            spearman=float("nan") if constant or len(cb) < 2 else float(spearmanr(cb, ca)[0]),
        )
        kws = keywords[pid] if keywords is not None else None
        if kws is not None:
            gold = gold_keyword_mask(b.units, kws)
            row["keyword_precision"], row["keyword_recall"] = keyword_precision_recall(kb, gold)
        rows.append(row)
    return pd.DataFrame(rows)
