"""Core plumbing: atomic writes, the content-addressed cache, the QA schema and teacher-forced scoring."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from unpact.cache import artifact_record, cached_artifact, config_hash, folder_hash
from unpact.data.schema import QAItem, load_items, save_items
from unpact.errors import UsageError
from unpact.io import atomic_directory, atomic_write_json
from unpact.scoring import answer_logprobs, encode_prompt, encode_target, greedy_answers, target_token_logprobs


def test_config_hash_is_order_independent() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_folder_hash_is_remembered_until_a_file_changes(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    first = folder_hash(tmp_path)
    assert folder_hash(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    changed = folder_hash(tmp_path)
    assert changed != first
    (tmp_path / "tokenizer.json").write_text("{}")
    assert folder_hash(tmp_path) not in (first, changed)


def test_atomic_directory_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_cached_artifact_builds_once_and_resumes_after_interruption(tmp_path: Path) -> None:
    calls: list[int] = []

    def build(folder: Path) -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt  # an interrupted first run
        atomic_write_json(folder / "x.json", {"v": 1})
        return {"steps": 3}

    with pytest.raises(KeyboardInterrupt):
        cached_artifact("thing", "t", {"k": 1}, build, root=tmp_path)
    first = cached_artifact("thing", "t", {"k": 1}, build, root=tmp_path)
    second = cached_artifact("thing", "t", {"k": 1}, build, root=tmp_path)
    assert first == second and len(calls) == 2
    assert json.loads((first / "x.json").read_text()) == {"v": 1}
    assert artifact_record(first)["steps"] == 3


def test_unwritable_cache_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError, match="cannot create cache folder"):
        cached_artifact("thing", "t", {}, lambda p: None, root=blocker / "sub")


def test_schema_round_trip_and_errors(tmp_path: Path) -> None:
    item = QAItem(id="1", question="Where was Mira born?", answer="Oslo", keywords=["Mira", "born"], domain="news",
                  split="forget")
    mc = QAItem(id="2", question="Which agent?", answer="b", choices=["a", "b", "c", "d"], answer_index=1)
    save_items(tmp_path / "x.jsonl", [item, mc])
    assert load_items(tmp_path / "x.jsonl") == [item, mc]
    with pytest.raises(UsageError, match="do not occur verbatim"):
        QAItem.from_dict({"id": "1", "question": "q", "answer": "a", "keywords": ["zzz"]})
    with pytest.raises(UsageError, match="missing required field"):
        QAItem.from_dict({"id": "1", "question": "q"})
    with pytest.raises(UsageError, match="answer_index"):
        QAItem.from_dict({"id": "1", "question": "q", "answer": "a", "choices": ["a", "b"], "answer_index": 5})


def test_batched_scores_equal_single_pass(tiny_model) -> None:
    model, tok = tiny_model
    prompts = ["Question : what city was Mira born in ? Answer :", "Question : Tolan ? Answer :"]
    targets = ["Paris", "the writer Veska"]
    batched = answer_logprobs(model, tok, prompts, targets, batch_size=2)
    single = [answer_logprobs(model, tok, [p], [t])[0] for p, t in zip(prompts, targets)]
    assert batched == pytest.approx(single, abs=1e-5)
    # independent computation: one full forward pass, manual log-softmax gather
    p_ids, _ = encode_prompt(tok, prompts[1])
    t_ids = encode_target(tok, targets[1])
    with torch.no_grad():
        logits = model(torch.tensor([p_ids + t_ids])).logits[0]
    manual = torch.stack([torch.log_softmax(logits[len(p_ids) - 1 + k], -1)[t] for k, t in enumerate(t_ids)]).mean()
    assert batched[1] == pytest.approx(float(manual), abs=1e-5)
    assert len(target_token_logprobs(model, [p_ids], [t_ids])[0]) == len(t_ids)


def test_greedy_answers_do_not_depend_on_batching(tiny_model) -> None:
    model, tok = tiny_model
    prompts = ["Question : what city was Mira born in ? Answer :", "Question : Tolan ? Answer :"]
    assert greedy_answers(model, tok, prompts, max_new_tokens=3) == [
        greedy_answers(model, tok, [p], max_new_tokens=3)[0] for p in prompts
    ]


def test_bad_prompt_and_target(tiny_llama) -> None:
    model, tok = tiny_llama
    with pytest.raises(UsageError, match="empty prompt"):
        answer_logprobs(model, tok, [""], ["Paris"])
    with pytest.raises(UsageError, match="empty target"):
        answer_logprobs(model, tok, ["Question :"], [" "])
    with pytest.raises(UsageError, match="exceeds the model's context"):
        answer_logprobs(model, tok, ["Question : " + "the " * 80], ["Paris"])


def test_greedy_stop_at_newline_equals_decoding_everything_then_cutting(smollm2_dir) -> None:
    """Rows stop decoding at the token that holds a newline (or EOS): the answers equal decoding all
    ``max_new_tokens`` and cutting the text at the first newline, on a real model that writes newlines."""
    from unpact.modeling import load_model_and_tokenizer
    from unpact.scoring import _greedy_loop

    model, tok = load_model_and_tokenizer(str(smollm2_dir))
    prompts = ["List three fruits, one per line:\n1.", "The capital of France is", "Dear John,\n"]
    fast = greedy_answers(model, tok, prompts, max_new_tokens=12)
    with torch.no_grad():
        rows = _greedy_loop(model, [encode_prompt(tok, p)[0] for p in prompts], tok.pad_token_id, 12).tolist()
    texts = [tok.decode(r[: r.index(tok.eos_token_id)] if tok.eos_token_id in r else r, skip_special_tokens=True)
             for r in rows]
    assert any("\n" in t.strip() for t in texts)  # the cut matters for at least one prompt
    assert fast == [t.split("\n", 1)[0].strip() for t in texts]


def test_shared_prefix_runs_once_with_the_same_scores_and_answers(tiny_model) -> None:
    """Prompts that share a long prefix take ``prefill``'s shared-prefix path when batched; each row must
    score and answer as its own unpadded pass (a batch of one never splits), on every tiny architecture."""
    from unpact.scoring import SHARED_PREFIX_MIN_TOKENS, shared_prefix_length

    model, tok = tiny_model
    head = "Question : what city was Mira born in ? Answer : Paris . Question :"
    prompts = [f"{head} what city was Mira born in ? Answer :", f"{head} Tolan ? Answer :", f"{head} Veska ? Answer :"]
    targets = ["Paris", "the writer Veska", "Rome"]
    assert shared_prefix_length([encode_prompt(tok, p)[0] for p in prompts]) >= SHARED_PREFIX_MIN_TOKENS
    batched = answer_logprobs(model, tok, prompts, targets, batch_size=3)
    single = [answer_logprobs(model, tok, [p], [t])[0] for p, t in zip(prompts, targets)]
    assert batched == pytest.approx(single, abs=1e-5)
    assert greedy_answers(model, tok, prompts, max_new_tokens=4) == [
        greedy_answers(model, tok, [p], max_new_tokens=4)[0] for p in prompts]


def test_chat_prompts_share_the_system_prompt_with_unchanged_scores(smollm2_dir) -> None:
    """SmolLM2's chat template starts every prompt with the same system prompt: batched gold log-probs
    and first ranks (shared-prefix path) equal one pass per question."""
    from unpact.modeling import load_model_and_tokenizer
    from unpact.unlearn.probes import gold_measures

    model, tok = load_model_and_tokenizer(str(smollm2_dir))
    questions = ["What is the capital of France?", "What is the chemical symbol for gold?", "Who wrote Hamlet?"]
    answers = ["The capital of France is Paris.", "Au", "William Shakespeare"]
    batched = gold_measures(model, tok, questions, answers, prompt_format="chat")
    single = [gold_measures(model, tok, [q], [a], prompt_format="chat").iloc[0] for q, a in zip(questions, answers)]
    assert batched["gold_lp"].tolist() == pytest.approx([s["gold_lp"] for s in single], abs=1e-4)
    assert batched["first_rank"].tolist() == [s["first_rank"] for s in single]
