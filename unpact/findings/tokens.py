"""Which question words are emphasised, and which prompt units count as function words.

Function words (``FUNCTION_WORDS``) are a small, closed English set: articles, common
prepositions, conjunctions, personal/relative pronouns, auxiliary and modal verbs, negation,
wh-words and the words of the QA template ("question", "answer"). A unit is a function word if,
after stripping surrounding whitespace and the subword word-start markers "Ġ" (byte-level BPE)
and "▁" (SentencePiece), it is empty, consists of punctuation only, or its lower case is in the
set. Everything else is a content word. Finding 3 asks whether unlearning lowers the
contribution of function words too ("indiscriminate penalization").

Control tokens for emphasis (finding 2's control, absent from the paper): ``control_tokens``
draws, without replacement and uniformly, as many question words as there are key words, among
the question's *candidate* words:
- never a key word (case-insensitive, punctuation stripped; a multi-word key phrase excludes
  each of its words);
- never punctuation-only, never a template word;
- by default never a function word either (``exclude_function_words=True``), so that key words
  are compared with other *content* words, the harder control: emphasising "the" would be a
  weak straw man;
- each distinct word (case-insensitive) at most once.
When fewer candidates exist than requested, all candidates are returned (fewer than requested;
callers record ``len(result)`` next to the number of key words). The result keeps question order.
"""
from __future__ import annotations

import string

import numpy as np

TEMPLATE_WORDS = frozenset({"question", "answer"})
FUNCTION_WORDS = frozenset(
    """
    a an the
    of in on at to for from by with about as into onto over under after before between through
    during without within against among along around behind beyond near since until upon via
    and or but nor so yet if then than because while although though whether
    i me my we us our you your he him his she her it its they them their this that these those
    who whom whose which what when where why how
    is are was were be been being am do does did done have has had having
    can could will would shall should may might must
    not no
    """.split()
) | TEMPLATE_WORDS

_WORD_MARKERS = "Ġ▁"
_STRIP = string.punctuation + "“”‘’«»…"


def core_word(unit: str) -> str:
    """The unit without whitespace, subword word-start markers and surrounding punctuation."""
    return unit.strip().lstrip(_WORD_MARKERS).strip().strip(_STRIP)


def is_function_word(unit: str) -> bool:
    """True for punctuation-only/empty units and members of ``FUNCTION_WORDS`` (case-insensitive)."""
    core = core_word(unit)
    return not core or core.lower() in FUNCTION_WORDS


def control_tokens(
    question_words: list[str],
    key_words: list[str],
    rng: np.random.Generator | int,
    exclude_function_words: bool = True,
) -> list[str]:
    """``len(key_words)`` random non-key question words (fewer if not enough), in question order.

    Returned words are ``core_word`` forms, i.e. substrings of the question.
    """
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    excluded = {w.lower() for phrase in key_words for w in (core_word(p) for p in phrase.split()) if w}
    seen: set[str] = set()
    candidates: list[str] = []
    for unit in question_words:
        core = core_word(unit)
        low = core.lower()
        if not core or low in excluded or low in seen or low in TEMPLATE_WORDS:
            continue
        if exclude_function_words and low in FUNCTION_WORDS:
            continue
        seen.add(low)
        candidates.append(core)
    want = min(len(key_words), len(candidates))
    if want == 0:
        return []
    picked = np.sort(generator.choice(len(candidates), size=want, replace=False))
    return [candidates[i] for i in picked]
