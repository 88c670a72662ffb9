"""Prompt attribution: unPact's leave-one-out score and alternatives, KeyTokens, tracking, heat-text.

* ``attributor``: ``Attributor`` (any registered method) and its results.
* ``methods``: the registry of attribution methods, one module each (``loo``, ``captum``, ``ig``,
  ``attention``); adding a method is adding a module there.
* ``loo``: the native batched leave-one-out score (the formula lives there).
* ``units``: which prompt tokens are attributed (templates, chat, special tokens) and word grouping.
* ``keytokens``: KeyToken selection rules (``KeyRule``, the shared default) and gold-keyword precision/recall.
* ``tracking``: before/after comparison of two contribution maps.
* ``heat``: heat-text views (HTML, PNG, terminal).
"""
from __future__ import annotations

from unpact.attribution.attributor import METHODS, AttributionResult, Attributor, PromptAttribution
from unpact.attribution.keytokens import (
    KeyRule,
    gold_keyword_mask,
    key_mask,
    keyword_precision_recall,
    keyword_scores,
)
from unpact.attribution.tracking import tracking_summary, unit_changes

__all__ = [
    "METHODS",
    "AttributionResult",
    "KeyRule",
    "Attributor",
    "PromptAttribution",
    "gold_keyword_mask",
    "key_mask",
    "keyword_precision_recall",
    "keyword_scores",
    "tracking_summary",
    "unit_changes",
]
