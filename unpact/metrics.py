"""Answer correctness without an external LLM: normalisation, exact match, ROUGE-L, judges.

Direction: every score here is **higher is better** for the model's knowledge of the item (a
successful unlearning lowers it on forget items and keeps it on retain/general items).

- ``exact_match``: SQuAD-style normalised string equality.
- ``rouge_l_recall`` / ``rouge_l_f1``: ROUGE-L (Lin 2004) of the greedy answer against the gold
  answer, from the ``rouge-score`` package (its default tokeniser: lower case, alphanumeric
  tokens, no stemming). With LCS = length of the longest common subsequence of tokens,
      recall = LCS / |gold|,  precision = LCS / |prediction|,  F1 = 2PR / (P + R).
  TOFU reports the **recall**; MUSE reports the **F1**.
- ``contains``: the normalised gold answer occurs as a whole-word span of the normalised
  prediction (lenient for answers that continue after the gold span).
- Answer probability (TOFU/MUSE convention): ``exp(-mean token NLL)`` = ``exp(LP(x, y))`` with LP
  the mean per-token log-probability of the gold answer given the prompt, teacher forced. It is
  computed by ``unpact.scoring.answer_logprobs``; ``answer_probability`` converts it.

Judges: ``JUDGES`` maps a name to ``judge(prediction, gold) -> bool``; ``get_judge(spec)`` takes a
name (with an optional ``threshold`` for ROUGE) or any user callable of that shape.
"""
from __future__ import annotations

import functools
import math
import re
import string
from collections.abc import Callable

from rouge_score import rouge_scorer

from unpact.errors import UsageError

Judge = Callable[[str, str], bool]

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ROUGE_L = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
DEFAULT_ROUGE_THRESHOLD = 0.5


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: lower case, drop punctuation and articles, collapse whitespace."""
    text = _PUNCT.sub(" ", text.lower())
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> bool:
    """1 if the normalised prediction equals the normalised gold answer (higher is better)."""
    return normalize_answer(prediction) == normalize_answer(gold)


def contains(prediction: str, gold: str) -> bool:
    """True if the normalised gold is a whole-word span of the normalised prediction (higher is better).

    An empty gold answer never matches.
    """
    g, p = normalize_answer(gold), normalize_answer(prediction)
    return bool(g) and f" {g} " in f" {p} "


def rouge_l_recall(prediction: str, gold: str) -> float:
    """ROUGE-L recall LCS/|gold| in [0, 1], the TOFU convention (higher is better)."""
    return float(_ROUGE_L.score(gold, prediction)["rougeL"].recall)


def rouge_l_f1(prediction: str, gold: str) -> float:
    """ROUGE-L F1 = 2PR/(P+R) in [0, 1], the MUSE convention (higher is better)."""
    return float(_ROUGE_L.score(gold, prediction)["rougeL"].fmeasure)


def answer_probability(mean_logprob: float) -> float:
    """``exp(LP)`` = exp(-mean token NLL) of the gold answer, in (0, 1] (higher is better)."""
    return math.exp(mean_logprob)


def rouge_l_recall_judge(prediction: str, gold: str, threshold: float = DEFAULT_ROUGE_THRESHOLD) -> bool:
    """Correct if ROUGE-L recall >= ``threshold`` (default 0.5: at least half the gold tokens, in order)."""
    return rouge_l_recall(prediction, gold) >= threshold


JUDGES: dict[str, Judge] = {
    "exact": exact_match,
    "contains": contains,
    "rouge_l_recall": rouge_l_recall_judge,
}


def get_judge(spec: str | Judge, threshold: float | None = None) -> Judge:
    """A judge ``(prediction, gold) -> bool`` from a ``JUDGES`` name or a user callable.

    ``threshold`` applies to ``rouge_l_recall`` only (in [0, 1]); unknown names raise a
    ``UsageError`` listing the valid ones.
    """
    if callable(spec):
        if threshold is not None:
            raise UsageError("threshold applies to the named 'rouge_l_recall' judge, not to a custom callable")
        return spec
    if spec not in JUDGES:
        raise UsageError(f"unknown judge {spec!r}; valid judges: {', '.join(sorted(JUDGES))} (or a callable)")
    if threshold is None:
        return JUDGES[spec]
    if spec != "rouge_l_recall":
        raise UsageError(f"judge {spec!r} takes no threshold; only 'rouge_l_recall' does")
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"ROUGE-L threshold must be in [0, 1], got {threshold}")
    return functools.partial(rouge_l_recall_judge, threshold=threshold)
