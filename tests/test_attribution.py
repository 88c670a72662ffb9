"""Leave-one-out attribution: exactness against brute force, batching invariance, units, templates, errors."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from unpact import Attributor
from unpact.attribution.loo import pack_batches, pack_sorted
from unpact.attribution.units import apply_template, prompt_units
from unpact.errors import UsageError
from unpact.prompts import chat_prompt

QA = "Question: {}\nAnswer:"
PROMPTS = ["what city was Mira born in ?", "the father of Tolan won which award ?"]
TARGETS = [" Paris", " the prize"]


def brute_lp(model: Any, ids: list[int], target: list[int]) -> float:
    """LP by one unpadded forward pass of prompt + target (independent of the batched code)."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids + target])).logits[0].double()
    logp = torch.log_softmax(logits, -1)
    return float(np.mean([float(logp[len(ids) - 1 + k, t]) for k, t in enumerate(target)]))


def test_loo_equals_brute_force_deletion(tiny_model: tuple[Any, Any]) -> None:
    model, tok = tiny_model
    result = Attributor(model, tok, granularity="token", max_batch_tokens=40).attribute(PROMPTS, TARGETS)
    for prompt, target, item in zip(PROMPTS, TARGETS, result.items):
        ids = tok(prompt)["input_ids"]  # [BOS] + one id per word
        t = tok(target, add_special_tokens=False)["input_ids"]
        full = brute_lp(model, ids, t)
        expected = [full - brute_lp(model, ids[:i] + ids[i + 1 :], t) for i in range(1, len(ids))]
        assert item.units == prompt.split()
        assert item.lp == pytest.approx(full, abs=1e-5)
        np.testing.assert_allclose(item.contributions, expected, atol=1e-5)


def test_batch_size_does_not_change_scores(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    small = Attributor(model, tok, max_batch_tokens=1).attribute(PROMPTS, TARGETS, template=QA)
    large = Attributor(model, tok, max_batch_tokens=100_000).attribute(PROMPTS, TARGETS, template=QA)
    alone = [Attributor(model, tok).attribute([p], [t], template=QA)[0] for p, t in zip(PROMPTS, TARGETS)]
    for a, b, c in zip(small.items, large.items, alone):
        np.testing.assert_allclose(a.contributions, b.contributions, atol=1e-5)
        np.testing.assert_allclose(a.contributions, c.contributions, atol=1e-5)
        assert a.lp == pytest.approx(c.lp, abs=1e-5)


def test_pack_batches_respects_budget() -> None:
    lengths = [5, 7, 3, 9, 2]
    batches = pack_batches(lengths, 15)
    assert sorted(i for b in batches for i in b) == list(range(5))
    for b in batches:
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 15


def test_template_words_are_never_attributed(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    attributor = Attributor(model, tok, granularity="token")
    item = attributor.attribute(["Mira was born in ?"], [" Oslo"], template="the {} city")[0]
    assert item.units == ["Mira", "was", "born", "in", "?"]
    assert item.prompt == "the Mira was born in ? city"
    assert all(item.prompt[s:e] == u for (s, e), u in zip(item.spans, item.units))


def test_word_granularity_deletes_all_tokens_of_a_word(tiny_llama: tuple[Any, Any]) -> None:
    """On a word tokenizer a word is one token, so word and token scores coincide; with a split word they group."""
    model, tok = tiny_llama
    words = Attributor(model, tok, granularity="word").attribute(PROMPTS, TARGETS)
    tokens = Attributor(model, tok, granularity="token").attribute(PROMPTS, TARGETS)
    for w, t in zip(words.items, tokens.items):
        assert w.units == t.units
        np.testing.assert_allclose(w.contributions, t.contributions, atol=1e-6)


def bpe_tokenizer() -> Any:
    """A tiny byte-level BPE tokenizer: leading-space tokens ("Ġborn"), "Mira" is one merged token, "Tolan" letters."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<|endoftext|>": 0}
    alphabet = sorted(set("ĠMirabornTlanwhtcy?"))
    vocab.update({c: i + 1 for i, c in enumerate(alphabet)})
    merges = [("M", "i"), ("Mi", "r"), ("Mir", "a"), ("Ġ", "b"), ("Ġb", "o"), ("Ġbo", "r"), ("Ġbor", "n")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tk = Tokenizer(models.BPE(vocab, merges))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def test_bpe_words_group_subword_tokens() -> None:
    """Leading-space tokens start words, pieces of one word stay together."""
    tok = bpe_tokenizer()
    text = "Mira born Tolan?"
    words = prompt_units(tok, text, (0, len(text)), "word")
    pieces = prompt_units(tok, text, (0, len(text)), "token")
    assert len(pieces.units) > len(words.units)
    assert words.labels[:3] == ["Mira", "born", "Tolan"]
    assert "".join(words.labels).replace(" ", "") == text.replace(" ", "")
    assert sorted(p for u in words.units for p in u) == sorted(p for u in pieces.units for p in u)


def test_word_loo_deletes_every_piece_and_sums_for_attention() -> None:
    """Word-level loo = brute-force deletion of all the word's tokens; attention word score = sum of its tokens."""
    from conftest import make_tiny_model

    tok = bpe_tokenizer()
    model = make_tiny_model("gpt2", len(tok))
    text, target = "Mira born Tolan", " born"
    item = Attributor(model, tok, granularity="word").attribute([text], [target])[0]
    ids = tok(text)["input_ids"]  # no BOS: the first word is deletable as long as others remain
    t = tok(target, add_special_tokens=False)["input_ids"]
    units = prompt_units(tok, text, (0, len(text)), "word").units
    tolan = units[2]
    assert len(tolan) == 5
    full = brute_lp(model, ids, t)
    expected = full - brute_lp(model, [x for i, x in enumerate(ids) if i not in tolan], t)
    assert item.units[2] == "Tolan" and item.contributions[2] == pytest.approx(expected, abs=1e-5)
    words = Attributor(model, tok, method="attention", granularity="word").attribute([text], [target])[0]
    tokens = Attributor(model, tok, method="attention", granularity="token").attribute([text], [target])[0]
    assert words.contributions[2] == pytest.approx(tokens.contributions[2:7].sum(), abs=1e-6)


def test_chat_template_attributes_only_user_text(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    tok.chat_template = "{% for m in messages %}[BOS] Question : {{ m['content'] }} ? {% endfor %}Answer :"
    text, (s, e) = chat_prompt(tok, "Mira born in")
    assert text[s:e] == "Mira born in" and not text.startswith("[BOS]")
    assert tok(text)["input_ids"].count(tok.bos_token_id) == 1
    item = Attributor(model, tok, granularity="token").attribute(["Mira born in"], [" Paris"], template="chat")[0]
    assert item.units == ["Mira", "born", "in"]


def test_chat_template_missing_is_an_error(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    with pytest.raises(UsageError, match="chat template"):
        Attributor(model, tok).attribute(["Mira"], [" Paris"], template="chat")


def test_greedy_target_is_the_models_answer(tiny_llama: tuple[Any, Any]) -> None:
    from unpact.scoring import greedy_answers

    model, tok = tiny_llama
    item = Attributor(model, tok).attribute(PROMPTS[:1], "greedy", template=QA)[0]
    assert item.target == " " + greedy_answers(model, tok, [QA.format(PROMPTS[0])])[0]


@pytest.mark.parametrize(
    ("prompts", "targets", "template", "match"),
    [
        ([""], [" Paris"], None, "empty prompt"),
        (["   "], [" Paris"], QA, "empty prompt"),
        (["Mira"], [""], None, "empty target"),
        (["Mira"], [" Paris"], "no placeholder", "exactly one"),
        (["Mira"], [" Paris", " Rome"], None, "1 prompts but 2 targets"),
        (["Mira " * 70], [" Paris"], None, "exceeds the model's context"),
    ],
)
def test_bad_input_is_a_value_error(tiny_llama: tuple[Any, Any], prompts: list[str], targets: list[str],
                                    template: str | None, match: str) -> None:
    model, tok = tiny_llama
    with pytest.raises(ValueError, match=match):
        Attributor(model, tok).attribute(prompts, targets, template=template)


def test_target_tokenizing_to_nothing_is_an_error(tiny_llama: tuple[Any, Any]) -> None:
    """A tokenizer that maps the target text to no ids (as some do for stray characters)."""
    model, tok = tiny_llama

    class Empty:
        def __getattr__(self, name: str) -> Any:
            return getattr(tok, name)

        def __call__(self, text: str, **kw: Any) -> Any:
            return {"input_ids": []} if kw.get("add_special_tokens") is False else tok(text, **kw)

    with pytest.raises(ValueError, match="tokenizes to nothing"):
        Attributor(model, Empty()).attribute(["Mira"], [" Paris"])


def test_bad_options_name_the_choices(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    with pytest.raises(UsageError, match="loo"):
        Attributor(model, tok, method="shap")
    with pytest.raises(UsageError, match="word"):
        Attributor(model, tok, granularity="sentence")


def test_frame_is_tidy(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    frame = Attributor(model, tok).attribute(PROMPTS, TARGETS, template=QA).to_frame()
    assert list(frame.columns) == ["prompt_id", "item_id", "position", "unit", "contribution", "lp", "method",
                                   "granularity"]
    assert len(frame) == sum(len(p.split()) for p in PROMPTS)
    assert apply_template(tok, "x", QA)[1] == (len("Question: "), len("Question: x"))


def test_prefix_cache_gives_the_same_scores(tiny_model: tuple[Any, Any]) -> None:
    """Reusing prefix keys/values (also when the prompt's last unit is deleted) changes nothing."""
    model, tok = tiny_model
    prompts = PROMPTS + ["Mira"]
    targets = TARGETS + [" Rome Oslo"]
    for budget in (1, 10_000):
        plain = Attributor(model, tok, max_batch_tokens=budget, prefix_cache=False)
        cached = Attributor(model, tok, max_batch_tokens=budget, prefix_cache=True)
        for a, b in zip(plain.attribute(prompts, targets).items, cached.attribute(prompts, targets).items):
            np.testing.assert_allclose(a.contributions, b.contributions, atol=1e-5)
            assert a.lp == pytest.approx(b.lp, abs=1e-5)


@pytest.mark.parametrize("budget", [1, 10_000])
def test_shared_template_prefix_reuse_equals_brute_force(tiny_model: tuple[Any, Any], budget: int) -> None:
    """The template prefix all prompts share runs once; one- and several-token targets; last unit deleted."""
    model, tok = tiny_model
    prompts, targets = [*PROMPTS, "Mira"], [" Paris", " the prize of Rome", " Oslo"]
    result = Attributor(model, tok, granularity="token", max_batch_tokens=budget).attribute(prompts, targets,
                                                                                             template=QA)
    for prompt, target, item in zip(prompts, targets, result.items):
        text, span = apply_template(tok, prompt, QA)
        pu = prompt_units(tok, text, span, "token")
        ids, t = list(pu.ids), tok(target, add_special_tokens=False)["input_ids"]
        full = brute_lp(model, ids, t)
        expected = [full - brute_lp(model, [x for j, x in enumerate(ids) if j not in unit], t) for unit in pu.units]
        assert item.lp == pytest.approx(full, abs=1e-5)
        np.testing.assert_allclose(item.contributions, expected, atol=1e-5)


def test_pack_sorted_is_the_cheapest_cut() -> None:
    """Batches of ascending lengths: the DP's cut costs no more than any cut within the budget (brute force)."""
    import itertools

    def cost(batches: list[list[int]], lengths: list[int], call: int) -> int:
        return sum(call + len(b) * lengths[b[-1]] for b in batches)

    rng = np.random.default_rng(0)
    for call in (0, 5, 40):
        lengths = sorted(rng.integers(1, 30, size=8).tolist())
        best = pack_sorted(lengths, 80, call)
        assert [i for b in best for i in b] == list(range(8))
        assert all(len(b) == 1 or len(b) * lengths[b[-1]] <= 80 for b in best)
        for cuts in itertools.product([False, True], repeat=7):
            batches, current = [], [0]
            for i, new in enumerate(cuts, start=1):
                if new:
                    batches.append(current)
                    current = []
                current.append(i)
            batches.append(current)
            if all(len(b) == 1 or len(b) * lengths[b[-1]] <= 80 for b in batches):
                assert cost(best, lengths, call) <= cost(batches, lengths, call)
    assert pack_sorted([1, 2, 3], 100, 0) == [[0], [1], [2]]
    assert pack_sorted([1, 2, 3], 100, 100) == [[0, 1, 2]]


def test_single_unit_prompt_without_other_tokens_is_an_error(tiny_llama: tuple[Any, Any]) -> None:
    """Without BOS, deleting a one-word prompt would leave no context at all."""
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    _, tok = tiny_llama
    backend = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    backend.post_processor = processors.TemplateProcessing(single="$A")
    no_bos = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="[EOS]", pad_token="[PAD]", unk_token="[UNK]")
    with pytest.raises(UsageError, match="nothing to condition on"):
        prompt_units(no_bos, "Mira", (0, 4), "word")
