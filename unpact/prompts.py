"""How a question is shown to a model: the two prompt formats used everywhere.

``plain`` (the organism's, and any model without a chat template)::

    prompt = "Question: {q}\nAnswer:"      target = " {a}"

``chat`` (instruction-tuned models): the tokenizer's chat template applied to one user turn
holding ``q``, with the generation prompt, so the assistant's answer follows directly::

    prompt = apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True)
    target = "{a}"

``auto`` (the default) picks ``chat`` when the tokenizer has a chat template, else ``plain``
(``resolve_prompt_format``). The format is recorded with every result. In both formats only the
question's own characters are attributed, never the template's tokens (``question_span``,
``chat_prompt``). The target is tokenised alone, without special tokens, and appended after the
prompt's ids; it never includes an end-of-sequence token, in scoring and unlearning alike.
"""
from __future__ import annotations

from typing import Any

from unpact.errors import UsageError, check_choice

PROMPT_PREFIX = "Question: "
PROMPT_SUFFIX = "\nAnswer:"
# The same template as a format string, for ``Attributor.attribute(..., template=QA_TEMPLATE)``:
# only the question inside it is attributed.
QA_TEMPLATE = PROMPT_PREFIX + "{}" + PROMPT_SUFFIX


PROMPT_FORMATS = ("auto", "chat", "plain")


def resolve_prompt_format(tokenizer: Any, prompt_format: str = "auto") -> str:
    """``chat`` or ``plain`` for ``prompt_format`` in ``PROMPT_FORMATS``.

    ``auto`` is ``chat`` when the tokenizer has a chat template, else ``plain``.
    """
    check_choice("prompt format", prompt_format, PROMPT_FORMATS)
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if prompt_format == "auto":
        return "chat" if has_template else "plain"
    if prompt_format == "chat" and not has_template:
        raise UsageError("prompt format 'chat' needs a tokenizer with a chat template; this one has none (use plain)")
    return prompt_format


def format_prompt(tokenizer: Any, question: str, prompt_format: str) -> str:
    """The prompt text for ``question`` in a resolved format (``chat`` or ``plain``)."""
    if prompt_format == "chat":
        return chat_prompt(tokenizer, question)[0]
    return qa_prompt(question)


def format_target(answer: str, prompt_format: str) -> str:
    """The target text for ``answer``: ``" {a}"`` after a plain prompt, ``"{a}"`` after a chat prompt."""
    return answer if prompt_format == "chat" else qa_target(answer)


def attribution_template(prompt_format: str) -> str:
    """The ``template`` argument of ``Attributor.attribute`` for a resolved format (only the question is attributed)."""
    return "chat" if prompt_format == "chat" else QA_TEMPLATE


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
