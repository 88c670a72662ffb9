"""The Study on a model that is prompted through its chat template, with a facts-style benchmark:
unlearning settings, the base model's own answer as the attribution target, labels and families."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_tiny_model, make_word_tokenizer
from unpact.data.schema import QAItem, save_items
from unpact.study import Study, StudyConfig, attribution_target, collect, notebook_studies

TEMPLATE = "{% for m in messages %}{{ m['content'] }} . {% endfor %}{% if add_generation_prompt %}Answer :{% endif %}"


def _item(i: int, q: str, a: str, split: str, kw: list[str]) -> QAItem:
    return QAItem(id=f"{split}{i}", question=q, answer=a, split=split, keywords=kw,
                  meta={"base_answer": f"the {a}"})


@pytest.fixture
def chat_model(tmp_path: Path) -> Path:
    tok = make_word_tokenizer()
    tok.chat_template = TEMPLATE
    folder = tmp_path / "chatty"
    make_tiny_model("llama", len(tok)).save_pretrained(folder)
    tok.save_pretrained(folder)
    data = folder / "unpact-data"
    save_items(data / "toy-forget.jsonl", [
        _item(0, "what city was Mira born in ?", "Paris", "forget", ["Mira", "city"]),
        _item(1, "which prize Veska won ?", "award", "forget", ["Veska", "prize"])])
    save_items(data / "toy-retain.jsonl", [_item(0, "what city was Tolan born in ?", "Rome", "retain", ["Tolan"])])
    save_items(data / "toy-retain_train.jsonl", [_item(1, "which city is Lima ?", "Lima", "retain_train", ["Lima"])])
    save_items(data / "toy-general.jsonl", [_item(0, "what job is the writer ?", "writer", "general", ["job"])])
    (data / "corpora").mkdir()
    (data / "corpora" / "toy-forget.jsonl").write_text('{"text": "Mira was born in Paris ."}\n')
    (data / "toy-unlearning.json").write_text(json.dumps(
        {"forget_corpus": "corpora/toy-forget.jsonl", "retain_split": "retain_train", "general": ["toy", "general"],
         "params": {"eval_every": 1, "batch_size": 2, "retain_batch_size": 2}, "budget": {"steps": 2}}))
    return folder


def test_attribution_target_prefers_the_base_models_own_answer() -> None:
    item = QAItem(id="a", question="q ?", answer="Paris", meta={"base_answer": "The city is Paris."})
    assert attribution_target(item, "chat") == "The city is Paris."
    assert attribution_target(QAItem(id="b", question="q ?", answer="Paris"), "plain") == " Paris"


@pytest.mark.slow
def test_chat_model_study_runs_the_grid(chat_model: Path, cache_dir: Path) -> None:
    [study] = notebook_studies({"pretrained_models": [str(chat_model)], "pretrained_domains": ["toy"],
                                "pretrained_methods": ["ga"], "archs": [], "seeds": [0], "base_model": ""},
                               cache_root=str(cache_dir))
    assert isinstance(study, Study) and study.family == "pretrained" and study.label == "chatty"
    assert study.prompt_format == "chat" and study.general_set("toy") == ("toy", "general")
    assert [it.split for it in study.items("toy")] == ["forget", "forget", "retain", "general"]
    outcomes = collect([study], "outcomes")
    assert set(outcomes["family"]) == {"pretrained"} and set(outcomes["arch"]) == {"chatty"}
    record = json.loads((study.unlearned_dir("ga", "toy") / "unlearning.json").read_text())
    assert record["trained_on_forget_items"] is False and record["n_forget_texts"] == 1
    assert record["steps"] == 2 and record["prompt_format"] == "chat"
    evaluation = study.evaluation(study.base_dir, "toy")
    assert set(evaluation["prompt_format"]) == {"chat"}
    attribution = study.attribution(study.base_dir, "toy").by_id()
    assert attribution["forget0"].target == "the Paris"  # the recorded base answer, not the gold value
    assert collect([study], "recovery")["arch"].eq("chatty").all()
    assert Study(StudyConfig(base_model=str(chat_model), domains=("toy",), max_items=1),
                 cache=study.cache).items("toy")[-1].split == "general"
