"""The one QA template used everywhere: training the organism, evaluation, attribution, unlearning.

A question ``q`` with answer ``a`` is shown to the model as::

    prompt = "Question: {q}\nAnswer:"      target = " {a}"

The prompt is what attribution deletes tokens from (the template words themselves are included in
the prompt, so the caller decides whether to attribute them: see ``question_span``). The target is
tokenised alone, without special tokens, and appended after the prompt's ids.
"""
from __future__ import annotations

from typing import Any

PROMPT_PREFIX = "Question: "
PROMPT_SUFFIX = "\nAnswer:"
# The same template as a format string, for ``Attributor.attribute(..., template=QA_TEMPLATE)``:
# only the question inside it is attributed.
QA_TEMPLATE = PROMPT_PREFIX + "{}" + PROMPT_SUFFIX


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


def chat_prompt(tokenizer: Any, user_text: str) -> tuple[str, tuple[int, int]]:
    """The tokenizer's chat template applied to one user turn, and the character span of ``user_text`` in it.

    The template is rendered with ``add_generation_prompt=True`` so the answer follows directly.
    When the rendered text starts with the BOS token's text, that prefix is dropped: the prompt is
    encoded with the tokenizer's default special tokens, which add BOS back (never twice).
    Raises ``UsageError`` when the tokenizer has no chat template or the text is not found in it.
    """
    from unpact.errors import UsageError

    if not getattr(tokenizer, "chat_template", None):
        raise UsageError("template 'chat' needs a tokenizer with a chat template; this one has none")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
    )
    bos = getattr(tokenizer, "bos_token", None)
    adds_bos = tokenizer("x", add_special_tokens=True)["input_ids"][:1] == [tokenizer.bos_token_id]
    if bos and text.startswith(bos) and adds_bos:
        text = text[len(bos) :]
    start = text.find(user_text)
    if start < 0:
        raise UsageError("the chat template does not contain the user's text verbatim; cannot locate it")
    return text, (start, start + len(user_text))
