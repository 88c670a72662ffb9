"""Answer correctness: normalisation and exact match (more metrics are added beside these).

Direction: every score here is **higher is better** for the model's knowledge of the item (a
successful unlearning lowers it on forget items and keeps it on retain/general items).
"""
from __future__ import annotations

import re
import string

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: lower case, drop punctuation and articles, collapse whitespace."""
    text = _PUNCT.sub(" ", text.lower())
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> bool:
    """1 if the normalised prediction equals the normalised gold answer (higher is better)."""
    return normalize_answer(prediction) == normalize_answer(gold)
