"""FocusOnKey: prompt transforms that emphasise a question's key words without adding answer text.

The paper's recovery test (unPact, "FocusOnKey") re-shows a forgotten question with its key
tokens emphasised; the weights stay untouched. Every style here only *re-uses* words of the
question, plus a few fixed template words of the style (``STYLE_TEMPLATE_WORDS``); it never
adds answer text. ``check_no_added_text`` asserts exactly that.

Styles (words are whitespace-separated, as the organism's word-level tokenizer sees them):

=============== ========================================== ==========================
style           form (keywords K1, K2)                      template words
=============== ========================================== ==========================
``instruction`` ``Focus on K1 and K2 : {q}``                ``Focus on and , :``
``suffix``      ``{q} ( K1 , K2 )``                         ``( , )``
``mark``        each keyword wrapped in place: ``( K1 )``   ``( )``
``repeat``      each keyword doubled in place: ``K1 K1``    (none)
=============== ========================================== ==========================

``TRAINED_STYLES`` appear in the organism's training corpus (for entities of every split alike,
so a base model understands emphasised questions the way pretraining would teach it);
``HELD_OUT_STYLES`` never do, and use only words that occur elsewhere in the corpus (the
parentheses come from ``suffix``), so nothing maps to the unknown token.

An empty keyword list returns the question unchanged (there is nothing to emphasise); keywords
that do not occur in the question raise ``UsageError``.

**Positive control, not an emphasis style:** ``oracle_hint`` appends the gold answer's first word
in the ``suffix`` form, ``{q} ( A1 )``. It *adds answer text* on purpose, so it is not in
``EMPHASIS_STYLES`` and ``check_no_added_text`` rejects it: it exists to show that the pipeline
detects recovery when recovery is there (the gold answer's log-prob must rise under it). A test of
emphasis that cannot see the oracle's effect proves nothing about emphasis.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from unpact.errors import UsageError, check_choice


def _join_list(words: Sequence[str]) -> str:
    """``K1``, ``K1 and K2``, ``K1 , K2 and K3``: the instruction's keyword list."""
    if len(words) == 1:
        return words[0]
    return " , ".join(words[:-1]) + " and " + words[-1]


def _instruction(question: str, keywords: Sequence[str]) -> str:
    return f"Focus on {_join_list(keywords)} : {question}"


def _suffix(question: str, keywords: Sequence[str]) -> str:
    return f"{question} ( {' , '.join(keywords)} )"


def _in_place(question: str, keywords: Sequence[str], wrap: Callable[[str], str]) -> str:
    """Replace every occurrence of each keyword by ``wrap(keyword)``.

    Whole-word occurrences are used when there are any (word-level tokenizers); otherwise every
    substring occurrence (a sub-word key token of a BPE model).
    """
    text = question
    for kw in sorted(keywords, key=len, reverse=True):
        whole = re.compile(rf"(?<!\S){re.escape(kw)}(?!\S)")
        pattern = whole if whole.search(text) else re.compile(re.escape(kw))
        text = pattern.sub(lambda m: wrap(m.group(0)), text)
    return text


def _mark(question: str, keywords: Sequence[str]) -> str:
    return _in_place(question, keywords, lambda k: f"( {k} )")


def _repeat(question: str, keywords: Sequence[str]) -> str:
    return _in_place(question, keywords, lambda k: f"{k} {k}")


EMPHASIS_STYLES: dict[str, Callable[[str, Sequence[str]], str]] = {
    "instruction": _instruction,
    "suffix": _suffix,
    "mark": _mark,
    "repeat": _repeat,
}
STYLE_TEMPLATE_WORDS: dict[str, frozenset[str]] = {
    "instruction": frozenset({"Focus", "on", "and", ",", ":"}),
    "suffix": frozenset({"(", ",", ")"}),
    "mark": frozenset({"(", ")"}),
    "repeat": frozenset(),
}
TRAINED_STYLES: tuple[str, ...] = ("instruction", "suffix")
HELD_OUT_STYLES: tuple[str, ...] = ("mark", "repeat")


def check_style(style: str) -> str:
    """``style`` if known, else ``UsageError`` listing the valid styles."""
    return check_choice("emphasis style", style, EMPHASIS_STYLES)


def emphasize(question: str, keywords: Sequence[str], style: str) -> str:
    """The question with ``keywords`` emphasised in ``style`` (see module docstring).

    Duplicate keywords are used once, in first-seen order. An empty list returns ``question``
    unchanged. A keyword absent from the question raises ``UsageError``.
    """
    check_style(style)
    unique = [k for k in dict.fromkeys(k.strip() for k in keywords) if k]
    absent = [k for k in unique if k not in question]
    if absent:
        raise UsageError(f"keywords {absent} do not occur in the question {question!r}")
    if not unique:
        return question
    return EMPHASIS_STYLES[style](question, unique)


def added_words(question: str, emphasised: str, style: str) -> list[str]:
    """Words of ``emphasised`` that are neither words of ``question`` nor template words of ``style``.

    Keywords that are sub-word pieces (BPE key tokens) count as the question's own text.
    """
    check_style(style)
    own = set(question.split()) | STYLE_TEMPLATE_WORDS[style]
    return [w for w in emphasised.split() if w not in own and w not in question]


def check_no_added_text(question: str, emphasised: str, style: str) -> None:
    """Raise ``AssertionError`` when emphasis added any word beyond the question's and the template's."""
    extra = added_words(question, emphasised, style)
    if extra:
        raise AssertionError(f"emphasis style {style!r} added words {extra} to {question!r}")


ORACLE_STYLES: tuple[str, ...] = ("hint",)
"""Positive-control prompt transforms that add answer text (never emphasis styles; see ``oracle_hint``)."""


def oracle_hint(question: str, answer: str) -> str:
    """POSITIVE CONTROL: ``{q} ( A1 )`` with A1 the first whitespace word of the gold ``answer``.

    It adds answer text (``check_no_added_text`` raises on it); an empty answer raises ``UsageError``.
    """
    words = answer.split()
    if not words:
        raise UsageError("oracle_hint needs a non-empty answer")
    return f"{question} ( {words[0]} )"
