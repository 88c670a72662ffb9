"""FocusOnKey transforms: the exact forms, no added text, and bad input."""
from __future__ import annotations

import pytest

from unpact.data.synthetic import DOMAINS, SPLITS, WorldConfig, build_world
from unpact.emphasis import (
    EMPHASIS_STYLES,
    HELD_OUT_STYLES,
    TRAINED_STYLES,
    added_words,
    check_no_added_text,
    emphasize,
)
from unpact.errors import UsageError

Q = "Which faction does Velor serve ?"


def test_each_style_has_its_documented_form() -> None:
    assert emphasize(Q, ["Velor", "faction"], "instruction") == "Focus on Velor and faction : " + Q
    assert emphasize(Q, ["Velor", "faction"], "suffix") == Q + " ( Velor , faction )"
    assert emphasize(Q, ["Velor", "faction"], "mark") == "Which ( faction ) does ( Velor ) serve ?"
    assert emphasize(Q, ["Velor", "faction"], "repeat") == "Which faction faction does Velor Velor serve ?"
    assert emphasize(Q, ["Velor", "does", "faction"], "instruction").startswith("Focus on Velor , does and faction : ")


def test_styles_are_split_into_trained_and_held_out() -> None:
    assert len(EMPHASIS_STYLES) >= 4
    assert set(TRAINED_STYLES) | set(HELD_OUT_STYLES) == set(EMPHASIS_STYLES)
    assert not set(TRAINED_STYLES) & set(HELD_OUT_STYLES)


def test_empty_keywords_leave_the_question_unchanged() -> None:
    for style in EMPHASIS_STYLES:
        assert emphasize(Q, [], style) == Q


def test_bad_input_is_a_usage_error_naming_choices() -> None:
    with pytest.raises(UsageError, match="instruction"):
        emphasize(Q, ["Velor"], "bold")
    with pytest.raises(UsageError, match="do not occur"):
        emphasize(Q, ["Oslo"], "suffix")


def test_added_words_detects_answer_text() -> None:
    assert added_words(Q, Q + " ( Velor , Wardens )", "suffix") == ["Wardens"]
    with pytest.raises(AssertionError):
        check_no_added_text(Q, "Focus on Wardens : " + Q, "instruction")


def test_no_style_adds_text_on_any_item_and_held_out_words_are_known() -> None:
    world = build_world(WorldConfig(forget_entities=3, retain_entities=3))
    corpus_words = {w for d in DOMAINS for ex in world.corpus(d) for w in (ex["context"] + ex["target"]).split()}
    for domain in DOMAINS:
        for split in SPLITS[domain]:
            for item in world.items(domain, split):
                for style in EMPHASIS_STYLES:
                    emphasised = emphasize(item.question, item.keywords or [], style)
                    check_no_added_text(item.question, emphasised, style)
                    assert emphasised != item.question
                    if style in HELD_OUT_STYLES:  # held-out forms use no word the corpus lacks (no UNK)
                        assert set(emphasised.split()) <= corpus_words
