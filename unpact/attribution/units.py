"""Which prompt tokens are attributed, grouped into units (tokens or words).

Conventions (shared by every attribution method):

* The prompt is encoded with the tokenizer's default special tokens (``unpact.scoring.encode_prompt``);
  special tokens are never attributed.
* Only tokens inside the *attributed span* of the prompt text are attributed. Without a template the
  span is the whole prompt; with a template (``"Question: {}\\nAnswer:"``, or ``"chat"``) it is the
  inserted text, so template tokens stay in place. A token is inside the span when its characters,
  leading/trailing whitespace stripped, lie within the span.
* ``granularity="word"`` groups attributed tokens into words: the fast tokenizer's ``word_ids``
  when it has them (BPE tokens carrying a leading space start a new word), else a new word starts
  when whitespace separates a token from the previous one. Deleting a word deletes all its tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unpact.errors import UsageError, check_choice
from unpact.prompts import chat_prompt
from unpact.scoring import encode_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

GRANULARITIES = ("token", "word")


@dataclass(frozen=True)
class PromptUnits:
    """A prompt's ids and its attributed units.

    ``units[u]`` are the token positions (in ``ids``) deleted together for unit ``u``; ``labels[u]``
    is the unit's text and ``spans[u]`` its character span in ``text``.
    """

    text: str
    ids: list[int]
    units: list[list[int]]
    labels: list[str]
    spans: list[tuple[int, int]]


def apply_template(
    tokenizer: PreTrainedTokenizerBase, content: str, template: str | None
) -> tuple[str, tuple[int, int]]:
    """The prompt text for ``content`` under ``template`` and the character span that is attributed.

    ``None``: the content is the prompt. A format string with exactly one ``{}``: the content is
    inserted there. ``"chat"``: ``unpact.prompts.chat_prompt``.
    """
    if not content or not content.strip():
        raise UsageError("empty prompt: there is nothing to attribute")
    if template is None:
        return content, (0, len(content))
    if template == "chat":
        return chat_prompt(tokenizer, content)
    if template.count("{}") != 1:
        raise UsageError(f"template {template!r} must contain exactly one '{{}}' (or be 'chat' or None)")
    prefix, suffix = template.split("{}")
    return prefix + content + suffix, (len(prefix), len(prefix) + len(content))


def prompt_units(
    tokenizer: PreTrainedTokenizerBase, text: str, span: tuple[int, int], granularity: str = "word"
) -> PromptUnits:
    """Encode ``text`` and group the tokens inside ``span`` into units (see module docstring)."""
    check_choice("granularity", granularity, GRANULARITIES)
    ids, special = encode_prompt(tokenizer, text)
    offsets, word_ids = _offsets_and_words(tokenizer, text, len(ids))
    start, end = span
    inside: list[int] = []
    for pos, (s, e) in enumerate(offsets):
        if special[pos] or e <= s:
            continue
        piece = text[s:e]
        s2 = s + (len(piece) - len(piece.lstrip()))
        e2 = e - (len(piece) - len(piece.rstrip()))
        if e2 > s2 and start <= s2 and e2 <= end:
            inside.append(pos)
    if not inside:
        raise UsageError(f"prompt {text[start:end]!r} has no token that can be attributed")
    units: list[list[int]] = []
    for pos in inside:
        if granularity == "token" or not units or _starts_word(pos, units[-1][-1], offsets, word_ids, text):
            units.append([pos])
        else:
            units[-1].append(pos)
    if len(units) == 1 and len(units[0]) == len(ids):
        raise UsageError(f"prompt {text!r} is a single unit with no other token: "
                         "deleting it leaves nothing to condition on")
    spans = [(offsets[u[0]][0], offsets[u[-1]][1]) for u in units]
    spans = [(s + len(text[s:e]) - len(text[s:e].lstrip()), e) for s, e in spans]
    return PromptUnits(text, ids, units, [text[s:e] for s, e in spans], spans)


def deletion_spans(tokenizer: Any, pu: PromptUnits) -> list[tuple[int, int]]:
    """The character range of each unit whose deletion from ``pu.text`` deletes exactly the unit's tokens.

    A unit's tokens with the whitespace before them, when only whitespace separates them from the
    previous token: BPE tokens carry their leading space (" gold"), so deleting "gold" alone would
    leave a space that re-tokenizes the next token differently; word-level tokenizers ignore it.
    """
    offsets, _ = _offsets_and_words(tokenizer, pu.text, len(pu.ids))
    spans = []
    for unit in pu.units:
        start, end = offsets[unit[0]][0], offsets[unit[-1]][1]
        before = offsets[unit[0] - 1][1] if unit[0] > 0 else 0
        if before < start and not pu.text[before:start].strip():
            start = before
        spans.append((start, end))
    return spans


def _starts_word(
    pos: int, prev: int, offsets: list[tuple[int, int]], word_ids: list[int | None] | None, text: str
) -> bool:
    if pos != prev + 1:
        return True
    if word_ids is not None and word_ids[pos] is not None and word_ids[prev] is not None:
        return word_ids[pos] != word_ids[prev]
    s, _ = offsets[pos]
    return s > offsets[prev][1] or text[s : s + 1].isspace()


def _offsets_and_words(
    tokenizer: PreTrainedTokenizerBase, text: str, n: int
) -> tuple[list[tuple[int, int]], list[int | None] | None]:
    """Character offsets per token (fast tokenizers) and word ids when the tokenizer provides them."""
    try:
        enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    except (NotImplementedError, ValueError) as exc:
        raise UsageError(f"attribution needs a fast tokenizer with offsets: {exc}") from exc
    offsets = [tuple(o) for o in enc["offset_mapping"]][:n]
    try:
        word_ids = list(enc.word_ids())[:n]
    except (ValueError, AttributeError):
        word_ids = None
    return offsets, word_ids
