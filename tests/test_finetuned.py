"""Fine-tuned knowledge (`unpact organism --init`): a tiny chat model fine-tuned on the micro world, and its errors.

The same path on SmolLM2-135M takes minutes on two CPU cores (loading, the facts benchmark, evaluation
before and after), too long for the suite; book/method.md reports that run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from unpact import finetuned
from unpact.cli import main
from unpact.data.benchmarks import available_benchmarks, benchmark_items
from unpact.data.synthetic import DOMAINS, build_world
from unpact.errors import UsageError
from unpact.organism import corpus_texts, encode_examples, organism_record
from unpact.prompts import format_prompt, format_target
from unpact.scoring import encode_prompt, encode_target

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} <end> {% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def _tiny_chat_model(folder: Path) -> Path:
    """A random tiny Llama whose word-level tokenizer covers the micro world and has a chat template."""
    from conftest import make_tiny_model

    from unpact.emphasis import STYLE_TEMPLATE_WORDS
    from unpact.organism import build_tokenizer

    world = build_world(finetuned.resolve_init_configs("micro", 0)[0])
    texts = [t for ex in corpus_texts(world) for t in (ex["context"], ex["target"])]
    texts += [" ".join(w for words in STYLE_TEMPLATE_WORDS.values() for w in words), "<user> <assistant> <end>"]
    texts += [
        c
        for d in DOMAINS
        for s in ("forget", "retain", "test")
        if (d == "general") == (s == "test")
        for it in world.items(d, s)
        for c in it.choices or []
    ]
    tok = build_tokenizer(texts)
    tok.chat_template = CHAT_TEMPLATE
    model = make_tiny_model("llama", len(tok), context=128)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_init(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_chat_model(tmp_path_factory.mktemp("init") / "tiny-chat")


@pytest.fixture(scope="module")
def tuned(tiny_init: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return finetuned.finetune_organism(
        tiny_init, "micro", cache_root=tmp_path_factory.mktemp("cache"), progress=False, epochs=3, lr=1e-3
    )


def test_chat_examples_end_with_eos_and_train_only_the_answer(tiny_init: Path) -> None:
    from unpact.modeling import load_tokenizer

    tok = load_tokenizer(tiny_init)
    world = build_world(finetuned.resolve_init_configs("micro", 0)[0])
    examples = corpus_texts(world, lambda q: format_prompt(tok, q, "chat"), lambda a: format_target(a, "chat"))
    item = world.items("news", "forget")[0]
    question = next(ex for ex in examples if ex["form"] == "question" and item.question in ex["context"])
    assert question["context"] == format_prompt(tok, item.question, "chat") and question["target"] == item.answer
    ids, labels = encode_examples(tok, [question], answer_only=True)[0]
    prompt, target = encode_prompt(tok, question["context"])[0], encode_target(tok, item.answer)
    assert ids == prompt + target + [tok.eos_token_id]  # what greedy decoding stops at
    assert labels == [-100] * len(prompt) + target + [tok.eos_token_id]
    assert {ex["form"] for ex in examples} == {"prose", "question", "emphasis:instruction", "emphasis:suffix"}


def test_plain_format_for_a_base_model_without_chat_template(tiny_init: Path) -> None:
    """A base model (Gemma-3 style): ``Question: ... Answer:`` prompts, `` value`` targets, then EOS."""
    from unpact.modeling import load_tokenizer
    from unpact.prompts import qa_prompt, resolve_prompt_format

    tok = load_tokenizer(tiny_init)
    tok.chat_template = None
    fmt = resolve_prompt_format(tok, "auto")
    world = build_world(finetuned.resolve_init_configs("micro", 0)[0])
    examples = corpus_texts(world, lambda q: format_prompt(tok, q, fmt), lambda a: format_target(a, fmt))
    assert fmt == "plain" and examples == corpus_texts(world)  # exactly the organism's corpus
    item = world.items("books", "retain")[0]
    ex = next(e for e in examples if e["context"] == qa_prompt(item.question))
    ids, labels = encode_examples(tok, [ex], answer_only=True)[0]
    trained = len(encode_target(tok, f" {item.answer}")) + 1  # the answer and EOS
    assert ids[-1] == tok.eos_token_id and labels[-trained:] == ids[-trained:] and set(labels[:-trained]) == {-100}


def test_finetuned_folder_has_weights_data_and_record(tuned: Path, tiny_init: Path) -> None:
    from transformers import AutoModelForCausalLM

    assert type(AutoModelForCausalLM.from_pretrained(tuned)).__name__ == "LlamaForCausalLM"
    assert available_benchmarks(tuned) == {
        "books": ["forget", "retain"],
        "general": ["test"],
        "hazard": ["forget", "retain"],
        "news": ["forget", "retain"],
    }
    record = organism_record(tuned)
    assert record["regime"] == "finetuned" and record["prompt_format"] == "chat"
    assert record["init"]["sha256"] == finetuned.folder_sha256(tiny_init)
    assert {r["emphasis"] for r in record["accuracies"]} == {"plain", "instruction", "suffix", "mark", "repeat"}
    assert {r["emphasis"] for r in record["accuracies_before"]} == {"plain"}
    assert len(record["epoch_losses"]) == 3 and record["epoch_losses"][-1] < record["epoch_losses"][0]
    # a random model knows no real facts: the facts benchmark cannot be built, and the record says so
    assert record["facts"]["eligibility"] is None and "answers no" in record["facts"]["note"]
    assert not list((tuned / "unpact-data").glob("facts-*"))  # nothing half-built is carried on
    assert "Fine-tuned by unpact" in (tuned / "NOTICE").read_text()


def test_second_call_is_a_cache_hit_and_weights_change(
    tuned: Path, tiny_init: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("rebuilt a cached fine-tuned model")

    monkeypatch.setattr(finetuned, "build_finetuned", fail)
    assert (
        finetuned.finetune_organism(
            tiny_init, "micro", cache_root=tuned.parent.parent, progress=False, epochs=3, lr=1e-3
        )
        == tuned
    )
    from unpact.modeling import load_model_and_tokenizer
    from unpact.organism import weights_sha256

    assert weights_sha256(load_model_and_tokenizer(tiny_init)[0]) != organism_record(tuned)["weights_sha256"]


def test_base_facts_are_copied_and_evaluated_after(
    tiny_init: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base model that knows facts: the files built for it travel with the fine-tuned model, evaluated again."""
    import shutil

    import unpact.evaluate
    from unpact.data.facts import FACTS_SPLITS, build_facts

    base = tmp_path / "base"
    shutil.copytree(tiny_init, base)
    real = unpact.evaluate.evaluate_items

    def knows_everything(*args: Any, **kwargs: Any) -> Any:
        frame = real(*args, **kwargs)
        frame["correct"] = True
        return frame

    with monkeypatch.context() as m:  # pretend the tiny base answers every candidate, for eligibility only
        m.setattr(unpact.evaluate, "evaluate_items", knows_everything)
        eligibility = build_facts(base, limit=12)
    tuned = finetuned.finetune_organism(base, "micro", cache_root=tmp_path / "cache", progress=False, max_steps=1)
    for split in FACTS_SPLITS:
        assert [it.id for it in benchmark_items(tuned, "facts", split)] == [
            it.id for it in benchmark_items(base, "facts", split)
        ]
    assert (tuned / "unpact-data" / "corpora" / "facts-forget.jsonl").is_file()
    record = organism_record(tuned)
    assert record["optimizer_steps"] == 1 and len(record["epoch_losses"]) == 1
    facts = record["facts"]
    assert facts["eligibility"]["counts"] == eligibility["counts"]
    rows = {r["split"]: r for r in facts["accuracies"]}
    assert set(rows) == set(FACTS_SPLITS)
    assert rows["forget"]["n"] == eligibility["counts"]["forget"]["kept"] == 12
    assert all(r["accuracy_before"] == 1.0 and 0.0 <= r["accuracy"] <= 1.0 for r in rows.values())


def test_cli_init_prints_the_folder_last(tuned: Path, tiny_init: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "organism",
        "--init",
        str(tiny_init),
        "--profile",
        "micro",
        "--epochs",
        "3",
        "--lr",
        "1e-3",
        "--cache",
        str(tuned.parent.parent),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == str(tuned)
    assert any("before" in line and "plain" in line for line in out)
    assert any("facts benchmark not built" in line for line in out)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["organism", "--init", "no-such-model"], "gemma3-270m, smollm2-135m"),
        (["organism", "--init", "INIT", "--profile", "quick"], "init, large, micro"),
        (["organism", "--init", "INIT", "--arch", "gpt2"], "--arch is for an organism trained from scratch"),
        (["organism", "--steps", "3"], "--steps is for fine-tuning with --init"),
    ],
)
def test_init_cli_errors_exit_2(
    tiny_init: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    assert main([str(tiny_init) if a == "INIT" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="max_steps"):
        finetuned.resolve_init_configs("init", 0, steps=3)
    with pytest.raises(UsageError, match="lr > 0"):
        finetuned.resolve_init_configs("init", 0, lr=0.0)
