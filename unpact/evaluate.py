"""Evaluate a model on QA items: greedy short answers or multiple choice by option likelihood.

- Short-answer QA: the greedy answer after ``qa_prompt(question)``, judged by ``judge``
  (default: normalised exact match). Higher accuracy = more knowledge.
- Multiple choice (WMDP-style): the option with the highest LP(x, " option") (mean token
  log-probability, so options of different lengths compare fairly) is the prediction.
Each item also gets its answer probability ``exp(LP(x, gold))`` (TOFU/MUSE convention).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from unpact.data.schema import QAItem
from unpact.metrics import Judge, get_judge
from unpact.prompts import qa_prompt, qa_target
from unpact.scoring import answer_logprobs, first_token_top1, greedy_answers
from unpact.stats import wilson_interval


def evaluate_items(
    model: Any,
    tokenizer: Any,
    items: Sequence[QAItem],
    questions: Sequence[str] | None = None,
    judge: str | Judge = "exact",
    max_new_tokens: int = 8,
    batch_size: int = 64,
    with_probabilities: bool = True,
) -> pd.DataFrame:
    """One row per item: ``id, domain, split, question, gold, prediction, correct, answer_prob, first_token_top1``.

    ``answer_prob`` = exp(LP(x, gold)); ``first_token_top1``: the gold answer's first token is the
    model's top-1 next token (higher is better for both).

    ``judge``: a name in ``unpact.metrics.JUDGES`` (default ``exact``: normalised exact match) or a
    callable ``(prediction, gold) -> bool`` (plug in your own, e.g. an LLM judge).
    ``with_probabilities=False`` skips ``answer_prob`` and ``first_token_top1`` (two forward passes),
    for callers that only need correctness, e.g. the checks during unlearning.
    ``questions`` replaces the question texts (e.g. emphasised forms) while gold answers stay.
    """
    judge_fn = get_judge(judge)
    shown = list(questions) if questions is not None else [it.question for it in items]
    if len(shown) != len(items):
        raise ValueError(f"{len(items)} items but {len(shown)} questions")
    prompts = [qa_prompt(q) for q in shown]
    gold_targets = [qa_target(it.answer) for it in items]
    gold_lp: list[float] = [math.nan] * len(items)
    top1: list[bool | None] = [None] * len(items)
    if with_probabilities:
        gold_lp = answer_logprobs(model, tokenizer, prompts, gold_targets, batch_size)
        top1 = list(first_token_top1(model, tokenizer, prompts, gold_targets, batch_size))
    predictions: list[str] = [""] * len(items)
    open_idx = [i for i, it in enumerate(items) if not it.is_multiple_choice]
    if open_idx:
        answers = greedy_answers(model, tokenizer, [prompts[i] for i in open_idx], max_new_tokens, batch_size)
        for i, a in zip(open_idx, answers):
            predictions[i] = a
    mc_idx = [i for i, it in enumerate(items) if it.is_multiple_choice]
    if mc_idx:
        pairs = [(i, c) for i in mc_idx for c in items[i].choices or []]
        lps = answer_logprobs(model, tokenizer, [prompts[i] for i, _ in pairs], [qa_target(c) for _, c in pairs],
                              batch_size)
        best: dict[int, tuple[float, str]] = {}
        for (i, choice), lp in zip(pairs, lps):
            if i not in best or lp > best[i][0]:
                best[i] = (lp, choice)
        for i in mc_idx:
            predictions[i] = best[i][1]
    rows = []
    for it, q, pred, lp, first in zip(items, shown, predictions, gold_lp, top1):
        correct = pred == it.answer if it.is_multiple_choice else bool(judge_fn(pred, it.answer))
        row = dict(id=it.id, domain=it.domain, split=it.split, question=q, gold=it.answer, prediction=pred,
                   correct=correct)
        if with_probabilities:
            row.update(answer_prob=math.exp(lp), first_token_top1=first)
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_summary(frame: pd.DataFrame, confidence: float = 0.95) -> dict[str, float | int]:
    """Accuracy of a per-item frame with its Wilson ``confidence`` interval (higher is better)."""
    n = int(len(frame))
    k = int(frame["correct"].sum()) if n else 0
    low, high = wilson_interval(k, n, confidence)
    return {"accuracy": k / n if n else math.nan, "n": n, "ci_low": low, "ci_high": high, "confidence": confidence}
