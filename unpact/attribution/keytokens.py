"""KeyTokens: the prompt units whose contribution to the answer is large (unPact, reconstructed).

The paper selects KeyTokens with thresholds it never ablates; here all three are parameters::

    key(u)  <=>  C_u > 0
                 and (top_k is None            or u is among the top_k units by C)
                 and (alpha is None            or C_u >= alpha * max_j C_j)
                 and (min_contribution is None or C_u >= min_contribution)

Criteria combine by AND. A unit with ``C <= 0`` (it does not support the answer) is never key.
Ties in top-k are broken by position (earlier first). At least one criterion must be given.
``KeyRule()`` (top 2, no threshold) is the one default of the book, ``Study`` and ``unpact attribute``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from unpact.errors import UsageError
from unpact.metrics import normalize_answer


def key_mask(
    contributions: Sequence[float] | np.ndarray,
    top_k: int | None = None,
    alpha: float | None = 0.5,
    min_contribution: float | None = None,
) -> np.ndarray:
    """Boolean mask of KeyTokens in a contribution map (rule in the module docstring)."""
    c = np.asarray(contributions, dtype=float)
    if top_k is None and alpha is None and min_contribution is None:
        raise UsageError("give at least one KeyToken criterion: top_k, alpha or min_contribution")
    if top_k is not None and top_k < 1:
        raise UsageError(f"top_k must be at least 1, got {top_k}")
    if alpha is not None and not 0 <= alpha <= 1:
        raise UsageError(f"alpha must be in [0, 1], got {alpha}")
    mask = c > 0
    if top_k is not None:
        order = np.argsort(-c, kind="stable")
        top = np.zeros_like(mask)
        top[order[:top_k]] = True
        mask &= top
    if alpha is not None and c.size:
        mask &= c >= alpha * c.max()
    if min_contribution is not None:
        mask &= c >= min_contribution
    return mask


@dataclass(frozen=True)
class KeyRule:
    """A KeyToken rule (``key_mask``'s three criteria); the default, the top 2 units, is used everywhere."""

    top_k: int | None = 2
    alpha: float | None = None
    min_contribution: float | None = None

    def mask(self, contributions: Sequence[float] | np.ndarray) -> np.ndarray:
        return key_mask(contributions, top_k=self.top_k, alpha=self.alpha, min_contribution=self.min_contribution)

    def as_kwargs(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "alpha": self.alpha, "min_contribution": self.min_contribution}

    def describe(self) -> str:
        """The rule in words, e.g. ``top 2 by C, C > 0``."""
        parts = [f"top {self.top_k} by C"] if self.top_k is not None else []
        parts += [f"C >= {self.alpha} * max C"] if self.alpha is not None else []
        parts += [f"C >= {self.min_contribution}"] if self.min_contribution is not None else []
        return ", ".join([*parts, "C > 0"])


def gold_keyword_mask(units: Sequence[str], keywords: Sequence[str]) -> np.ndarray:
    """Which units are gold keywords, matched word by word.

    Each keyword (possibly several words, e.g. "Mira Tolan") is normalised with
    ``unpact.metrics.normalize_answer`` (lower case, no punctuation, no articles) and split into
    words; a unit is a gold keyword when its own normalised text is one of those words. So every
    word of a multi-word keyword counts, and use word granularity: a subword token rarely equals a word.
    """
    gold = {w for k in keywords for w in normalize_answer(k).split()}
    return np.array([bool(normalize_answer(u)) and normalize_answer(u) in gold for u in units], dtype=bool)


def keyword_precision_recall(key: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """Precision |key & gold| / |key| and recall |key & gold| / |gold| (NaN when a denominator is 0)."""
    hits = float(np.sum(key & gold))
    precision = hits / key.sum() if key.sum() else float("nan")
    recall = hits / gold.sum() if gold.sum() else float("nan")
    return precision, recall


def keyword_scores(
    result: Any, keywords: Mapping[str, Sequence[str] | None] | Sequence[Sequence[str] | None], **key_args: Any
) -> pd.DataFrame:
    """Per prompt of an ``AttributionResult``: KeyTokens vs gold keywords (n_key, n_gold, hits, precision, recall).

    ``keywords`` maps prompt ids to keyword lists (or is a list in prompt order). Prompts whose
    keywords are ``None`` are skipped. ``key_args`` go to ``key_mask``. Pool with
    ``hits.sum() / n_key.sum()`` (precision) and ``hits.sum() / n_gold.sum()`` (recall).
    """
    if isinstance(keywords, Mapping):
        missing = [item.id for item in result.items if item.id not in keywords][:3]
        if missing:
            raise UsageError(f"no keyword list for prompt ids {missing}")
        keywords = [keywords[item.id] for item in result.items]
    if len(keywords) != len(result.items):
        raise UsageError(f"{len(result.items)} prompts but {len(keywords)} keyword lists")
    rows = []
    for pid, (item, kws) in enumerate(zip(result.items, keywords)):
        if kws is None:
            continue
        key, gold = key_mask(item.contributions, **key_args), gold_keyword_mask(item.units, kws)
        precision, recall = keyword_precision_recall(key, gold)
        rows.append(dict(prompt_id=pid, item_id=item.id, n_key=int(key.sum()), n_gold=int(gold.sum()),
                         hits=int((key & gold).sum()),
                         precision=precision, recall=recall))
    return pd.DataFrame(rows, columns=["prompt_id", "item_id", "n_key", "n_gold", "hits", "precision", "recall"])
