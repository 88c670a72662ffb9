"""Prompt formats (plain / chat / auto) and the judges reported side by side by ``evaluate_items``."""
from __future__ import annotations

import pytest

from tests.conftest import make_tiny_model, make_word_tokenizer
from unpact.data.schema import QAItem
from unpact.errors import UsageError
from unpact.evaluate import default_judge, evaluate_items
from unpact.metrics import contains
from unpact.prompts import attribution_template, format_prompt, format_target, qa_prompt, resolve_prompt_format

TEMPLATE = "{% for m in messages %}{{ m['content'] }} . {% endfor %}{% if add_generation_prompt %}Answer :{% endif %}"


def test_auto_picks_chat_only_with_a_template() -> None:
    tok = make_word_tokenizer()
    assert resolve_prompt_format(tok, "auto") == "plain"
    with pytest.raises(UsageError, match="needs a tokenizer with a chat template"):
        resolve_prompt_format(tok, "chat")
    with pytest.raises(UsageError, match="valid choices: auto, chat, plain"):
        resolve_prompt_format(tok, "chatml")
    tok.chat_template = TEMPLATE
    assert resolve_prompt_format(tok, "auto") == "chat"
    assert resolve_prompt_format(tok, "plain") == "plain"


def test_format_prompt_and_target() -> None:
    tok = make_word_tokenizer()
    tok.chat_template = TEMPLATE
    assert format_prompt(tok, "which city ?", "plain") == qa_prompt("which city ?")
    assert format_prompt(tok, "which city ?", "chat") == "which city ? . Answer :"
    assert format_target("Paris", "plain") == " Paris"
    assert format_target("Paris", "chat") == "Paris"
    assert attribution_template("chat") == "chat"
    assert "{}" in attribution_template("plain")


@pytest.mark.parametrize("sentence,gold,ok", [
    ("The capital of Kenya is Nairobi.", "Nairobi", True),
    ("The chemical symbol for gold is Au.", "Au", True),
    ("The chemical symbol for gold is Aurum.", "Au", False),  # whole words only
    ("Paris", "Paris", True),
    ("", "Paris", False),
])
def test_contains_judge_accepts_sentences_with_the_gold_word(sentence: str, gold: str, ok: bool) -> None:
    assert contains(sentence, gold) is ok


def test_evaluate_reports_every_judge_and_the_format() -> None:
    tok = make_word_tokenizer()
    model = make_tiny_model("llama", len(tok))
    items = [QAItem(id="q", question="which city was Mira born in ?", answer="Paris")]
    frame = evaluate_items(model, tok, items, max_new_tokens=3)
    assert list(frame.columns[:7]) == ["id", "domain", "split", "question", "gold", "prediction", "correct"]
    for column in ("exact", "contains", "rouge_l_recall", "prompt_format"):
        assert column in frame
    assert frame.loc[0, "prompt_format"] == "plain" and default_judge("plain") == "exact"
    assert bool(frame.loc[0, "correct"]) == bool(frame.loc[0, "exact"])
    tok.chat_template = TEMPLATE
    chat = evaluate_items(model, tok, items, max_new_tokens=3)
    assert chat.loc[0, "prompt_format"] == "chat" and default_judge("chat") == "contains"
    assert bool(chat.loc[0, "correct"]) == bool(chat.loc[0, "contains"])
