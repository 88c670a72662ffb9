"""The one QA template used everywhere: training the organism, evaluation, attribution, unlearning.

A question ``q`` with answer ``a`` is shown to the model as::

    prompt = "Question: {q}\nAnswer:"      target = " {a}"

The prompt is what attribution deletes tokens from (the template words themselves are included in
the prompt, so the caller decides whether to attribute them: see ``question_span``). The target is
tokenised alone, without special tokens, and appended after the prompt's ids.
"""
from __future__ import annotations

PROMPT_PREFIX = "Question: "
PROMPT_SUFFIX = "\nAnswer:"


def qa_prompt(question: str) -> str:
    """The prompt text for ``question``."""
    return f"{PROMPT_PREFIX}{question}{PROMPT_SUFFIX}"


def qa_target(answer: str) -> str:
    """The target text for ``answer`` (a leading space so BPE tokenizers see a word start)."""
    return f" {answer}"


def question_span(question: str) -> tuple[int, int]:
    """Character span of the question inside ``qa_prompt(question)``; attribution of the template words is optional."""
    start = len(PROMPT_PREFIX)
    return start, start + len(question)
