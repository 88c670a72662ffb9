"""Evaluate a model on QA items: greedy short answers or multiple choice by option likelihood.

- Short-answer QA: the greedy answer after the question in the model's prompt format
  (``unpact.prompts``: ``chat`` through the tokenizer's chat template, else ``plain``), judged by
  ``judge``. The default judge follows the format (``default_judge``): normalised exact match for
  ``plain`` (the organism answers with the bare value), ``contains`` for ``chat`` (an instruct
  model answers in a sentence: correct when the gold value is a whole-word span of the first line).
  Exact match, ``contains`` and ROUGE-L recall are always reported side by side. Higher accuracy =
  more knowledge.
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
from unpact.metrics import Judge, contains, exact_match, get_judge, rouge_l_recall
from unpact.prompts import format_prompt, format_target, resolve_prompt_format
from unpact.scoring import answer_logprobs, first_token_top1, greedy_answers
from unpact.stats import wilson_interval

DEFAULT_JUDGES = {"plain": "exact", "chat": "contains"}
# Greedy answer length: a bare value after a plain prompt, a short sentence after a chat prompt.
DEFAULT_MAX_NEW_TOKENS = {"plain": 8, "chat": 24}


def default_judge(prompt_format: str) -> str:
    """The judge used when none is given, for a resolved prompt format (see the module docstring)."""
    return DEFAULT_JUDGES[prompt_format]


def evaluate_items(
    model: Any,
    tokenizer: Any,
    items: Sequence[QAItem],
    questions: Sequence[str] | None = None,
    judge: str | Judge | None = None,
    max_new_tokens: int | None = None,
    batch_size: int = 64,
    with_probabilities: bool = True,
    prompt_format: str = "auto",
) -> pd.DataFrame:
    """One row per item: ``id, domain, split, question, gold, prediction, correct, exact, contains,
    rouge_l_recall, prompt_format, answer_prob, first_token_top1``.

    ``answer_prob`` = exp(LP(x, gold)); ``first_token_top1``: the gold answer's first token is the
    model's top-1 next token (higher is better for both).

    ``judge``: a name in ``unpact.metrics.JUDGES`` or a callable ``(prediction, gold) -> bool``
    (plug in your own, e.g. an LLM judge); ``None`` uses ``default_judge`` of the prompt format.
    ``correct`` is that judge's verdict; ``exact``, ``contains`` and ``rouge_l_recall`` are reported
    beside it for every short-answer item (multiple choice: all equal ``correct``).
    ``prompt_format``: ``auto``, ``chat`` or ``plain`` (``unpact.prompts.resolve_prompt_format``);
    ``max_new_tokens=None`` uses ``DEFAULT_MAX_NEW_TOKENS`` of the format.
    ``with_probabilities=False`` skips ``answer_prob`` and ``first_token_top1`` (two forward passes),
    for callers that only need correctness, e.g. the checks during unlearning.
    ``questions`` replaces the question texts (e.g. emphasised forms) while gold answers stay.
    """
    fmt = resolve_prompt_format(tokenizer, prompt_format)
    judge_fn = get_judge(judge if judge is not None else default_judge(fmt))
    new_tokens = max_new_tokens if max_new_tokens is not None else DEFAULT_MAX_NEW_TOKENS[fmt]
    shown = list(questions) if questions is not None else [it.question for it in items]
    if len(shown) != len(items):
        raise ValueError(f"{len(items)} items but {len(shown)} questions")
    prompts = [format_prompt(tokenizer, q, fmt) for q in shown]
    gold_targets = [format_target(it.answer, fmt) for it in items]
    gold_lp: list[float] = [math.nan] * len(items)
    top1: list[bool | None] = [None] * len(items)
    if with_probabilities:
        gold_lp = answer_logprobs(model, tokenizer, prompts, gold_targets, batch_size)
        top1 = list(first_token_top1(model, tokenizer, prompts, gold_targets, batch_size))
    predictions: list[str] = [""] * len(items)
    open_idx = [i for i, it in enumerate(items) if not it.is_multiple_choice]
    if open_idx:
        answers = greedy_answers(model, tokenizer, [prompts[i] for i in open_idx], new_tokens, batch_size)
        for i, a in zip(open_idx, answers):
            predictions[i] = a
    mc_idx = [i for i, it in enumerate(items) if it.is_multiple_choice]
    if mc_idx:
        pairs = [(i, c) for i in mc_idx for c in items[i].choices or []]
        options = [format_target(c, fmt) for _, c in pairs]
        lps = answer_logprobs(model, tokenizer, [prompts[i] for i, _ in pairs], options, batch_size)
        best: dict[int, tuple[float, str]] = {}
        for (i, choice), lp in zip(pairs, lps):
            if i not in best or lp > best[i][0]:
                best[i] = (lp, choice)
        for i in mc_idx:
            predictions[i] = best[i][1]
    rows = []
    for it, q, pred, lp, first in zip(items, shown, predictions, gold_lp, top1):
        if it.is_multiple_choice:
            correct = pred == it.answer
            scores = {"exact": correct, "contains": correct, "rouge_l_recall": float(correct)}
        else:
            correct = bool(judge_fn(pred, it.answer))
            scores = {"exact": exact_match(pred, it.answer), "contains": contains(pred, it.answer),
                      "rouge_l_recall": rouge_l_recall(pred, it.answer)}
        row = dict(id=it.id, domain=it.domain, split=it.split, question=q, gold=it.answer, prediction=pred,
                   correct=correct, **scores, prompt_format=fmt)
        if with_probabilities:
            row.update(answer_prob=math.exp(lp), first_token_top1=first)
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_summary(frame: pd.DataFrame, confidence: float = 0.95) -> dict[str, float | int]:
    """Accuracy of a per-item frame with its Wilson ``confidence`` interval (higher is better)."""
    n = len(frame)
    k = int(frame["correct"].sum()) if n else 0
    low, high = wilson_interval(k, n, confidence)
    return {"accuracy": k / n if n else math.nan, "n": n, "ci_low": low, "ci_high": high, "confidence": confidence}
