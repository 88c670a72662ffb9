"""The real-model code path on tiny randomly initialised models of each supported architecture.

Each model is saved as a plain Hugging Face folder (with a tokenizer that carries a chat template)
and loaded back through ``unpact.modeling``; scores are checked against a plain, unbatched forward
pass written here.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import make_tiny_model, make_word_tokenizer
from unpact.data.schema import QAItem
from unpact.errors import UsageError
from unpact.evaluate import evaluate_items
from unpact.modeling import load_model_and_tokenizer
from unpact.prompts import format_prompt, qa_prompt, qa_target
from unpact.scoring import answer_logprobs, greedy_answers

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} . {% endfor %}"
    "{% if add_generation_prompt %}Answer :{% endif %}"
)
# prompts and targets of different lengths, so that batching pads
PROMPTS = [qa_prompt("which city was Mira born in ?"), qa_prompt("what award did the painter Tolan win in Oslo ?")]
TARGETS = [qa_target("Paris"), qa_target("the prize")]


def _make(arch: str, vocab: int) -> Any:
    if arch != "mistral":
        return make_tiny_model(arch, vocab)
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    cfg = MistralConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                        bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return MistralForCausalLM(cfg).eval()


@pytest.fixture(params=["llama", "gpt2", "qwen2", "mistral"])
def model_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    tok = make_word_tokenizer()
    tok.chat_template = CHAT_TEMPLATE
    model = _make(request.param, len(tok))
    out = tmp_path / request.param
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _manual_lp(model: Any, tok: Any, prompt: str, target: str) -> float:
    """Mean log p(target token | everything before it), one unpadded forward pass."""
    p = tok(prompt)["input_ids"]
    t = tok(target, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([p + t])).logits[0].float(), -1)
    return sum(float(logp[len(p) - 1 + k, t[k]]) for k in range(len(t))) / len(t)


def _manual_greedy(model: Any, tok: Any, prompt: str, steps: int) -> str:
    """Greedy decoding by re-running the whole sequence each step (no cache, no padding)."""
    ids = tok(prompt)["input_ids"]
    new: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            nxt = int(model(torch.tensor([ids + new])).logits[0, -1].argmax())
            new.append(nxt)
    if tok.eos_token_id in new:
        new = new[: new.index(tok.eos_token_id)]
    return tok.decode(new, skip_special_tokens=True).split("\n", 1)[0].strip()


def test_load_score_generate_evaluate(model_dir: Path) -> None:
    model, tok = load_model_and_tokenizer(model_dir, dtype="float32", device="cpu")
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert tok.chat_template == CHAT_TEMPLATE
    # the saved tokenizer encodes as the original (transformers 5 would load a Qwen2Tokenizer that encodes nothing)
    original = make_word_tokenizer()
    for text in PROMPTS + TARGETS:
        assert tok(text)["input_ids"] == original(text)["input_ids"]

    lps = answer_logprobs(model, tok, PROMPTS, TARGETS, batch_size=2)
    for lp, p, t in zip(lps, PROMPTS, TARGETS):
        assert lp == pytest.approx(_manual_lp(model, tok, p, t), abs=1e-5)

    assert greedy_answers(model, tok, PROMPTS, max_new_tokens=4) == [_manual_greedy(model, tok, p, 4) for p in PROMPTS]

    items = [
        QAItem(id="q", question="which city was Mira born in ?", answer="Paris"),
        QAItem(id="m", question="what award did Tolan win ?", answer="the prize",
               choices=["Paris", "the prize", "Rome", "a painter"], answer_index=1),
    ]
    frame = evaluate_items(model, tok, items, max_new_tokens=4, prompt_format="plain")
    assert set(frame["prompt_format"]) == {"plain"}
    mc_prompt = qa_prompt(items[1].question)
    option_lps = [_manual_lp(model, tok, mc_prompt, qa_target(c)) for c in items[1].choices or []]
    assert frame.loc[1, "prediction"] == items[1].choices[max(range(4), key=option_lps.__getitem__)]
    assert frame.loc[0, "prediction"] == _manual_greedy(model, tok, qa_prompt(items[0].question), 4)
    for row, it in zip(frame.itertuples(), items):
        assert row.answer_prob == pytest.approx(math.exp(_manual_lp(model, tok, qa_prompt(it.question),
                                                                   qa_target(it.answer))), rel=1e-4)

    # the default format of a tokenizer with a chat template is the chat template; the target has no leading space
    chat = evaluate_items(model, tok, items[:1], max_new_tokens=4)
    chat_prompt_text = format_prompt(tok, items[0].question, "chat")
    assert chat_prompt_text == f"user : {items[0].question} . Answer :"
    assert chat.loc[0, "prompt_format"] == "chat"
    assert chat.loc[0, "prediction"] == _manual_greedy(model, tok, chat_prompt_text, 4)
    assert chat.loc[0, "answer_prob"] == pytest.approx(math.exp(_manual_lp(model, tok, chat_prompt_text, "Paris")),
                                                       rel=1e-4)


def test_chat_template_prompt_scores_like_any_prompt(model_dir: Path) -> None:
    model, tok = load_model_and_tokenizer(model_dir, device="cpu")
    question = "which city was Mira born in ?"
    chat = tok.apply_chat_template([{"role": "Question", "content": question}], tokenize=False,
                                   add_generation_prompt=True)
    assert chat == f"Question : {question} . Answer :"
    # the user's content is a recoverable span of the rendered prompt (what attribution restricts itself to)
    start = chat.index(question)
    assert chat[start : start + len(question)] == question
    [lp] = answer_logprobs(model, tok, [chat], [" Paris"])
    assert lp == pytest.approx(_manual_lp(model, tok, chat, " Paris"), abs=1e-5)


def test_bfloat16_on_cpu_and_device_map_auto(tmp_path: Path) -> None:
    tok = make_word_tokenizer()
    make_tiny_model("llama", len(tok)).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    ref, _ = load_model_and_tokenizer(tmp_path / "m", dtype="float32", device="cpu")
    bf, tok2 = load_model_and_tokenizer(tmp_path / "m", dtype="bfloat16", device="cpu")
    assert {p.dtype for p in bf.parameters()} == {torch.bfloat16}
    lp_bf = answer_logprobs(bf, tok2, PROMPTS, TARGETS)
    lp_32 = answer_logprobs(ref, tok2, PROMPTS, TARGETS)
    assert all(math.isfinite(x) for x in lp_bf)
    assert lp_bf == pytest.approx(lp_32, abs=0.1)  # bf16 keeps ~3 significant digits
    auto, _ = load_model_and_tokenizer(tmp_path / "m", device_map="auto")
    assert answer_logprobs(auto, tok2, PROMPTS, TARGETS) == pytest.approx(lp_32, abs=1e-5)


def test_not_a_causal_lm_is_a_usage_error(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel

    bert = tmp_path / "bert"
    BertModel(BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(bert)
    with pytest.raises(UsageError, match="not a causal LM"):
        load_model_and_tokenizer(bert)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no config.json"):
        load_model_and_tokenizer(empty)
    with pytest.raises(UsageError, match="not found"):
        load_model_and_tokenizer(tmp_path / "missing")
    with pytest.raises(UsageError, match="valid choices: bfloat16, float16, float32"):
        load_model_and_tokenizer(bert, dtype="fp8")
