"""The ``facts`` benchmark: candidates from registry packages, eligibility by the base model, disjoint retain halves."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_tiny_model, make_word_tokenizer
from unpact.data.benchmarks import benchmark_items
from unpact.data.facts import (
    ELIGIBILITY_FILE,
    FACTS_SPLITS,
    build_facts,
    candidate_facts,
    ensure_facts,
    forget_corpus_file,
    split_retain,
)
from unpact.data.schema import validate_item
from unpact.errors import UsageError


def test_candidates_are_valid_items_with_keywords_and_statements() -> None:
    candidates = candidate_facts()
    relations = {f.item.relation for f in candidates["retain"]}
    assert relations == {"symbol", "element_of_symbol", "atomic_number", "language"}
    assert sum(f.item.domain == "chemistry" for f in candidates["retain"]) == 3 * 118  # three relations an element
    assert sum(f.item.domain == "languages" for f in candidates["retain"]) > 100
    assert len(candidates["forget"]) > 250 and len(candidates["general"]) > 150
    yen = next(f for f in candidates["general"] if f.item.entity == "Japan")
    assert (yen.item.question, yen.item.answer) == ("What is the currency of Japan?", "Japanese Yen")
    for split, facts in candidates.items():
        assert len({f.item.id for f in facts}) == len(facts), split
        for f in facts:
            validate_item(f.item)  # keywords occur verbatim in the question
            assert f.item.keywords and f.statements
            assert all(f.item.answer in s for s in f.statements)  # a statement states the answer
    gold = next(f for f in candidates["retain"] if f.item.id == "chem-symbol-Au")
    assert (gold.item.question, gold.item.answer) == ("What is the chemical symbol for gold?", "Au")
    paris = next(f for f in candidates["forget"] if f.item.entity == "France")
    assert paris.item.answer == "Paris"
    # forget answers share no value with retain or general answers
    forget_answers = {f.item.answer for f in candidates["forget"]}
    assert not forget_answers & {f.item.answer for f in candidates["retain"]}
    assert not forget_answers & {f.item.answer for f in candidates["general"]}


def test_retain_halves_are_disjoint_and_stable() -> None:
    items = [f.item for f in candidate_facts()["retain"]]
    assert {it.split for it in items} == {"retain"}
    evaluated, trained = split_retain(items, seed=0)
    assert {it.id for it in evaluated}.isdisjoint({it.id for it in trained})
    assert len(evaluated) + len(trained) == len(items)
    assert 0.52 < len(evaluated) / len(items) < 0.68  # about 60 % evaluated, 40 % trained on
    assert {it.split for it in trained} == {"retain_train"}
    assert [it.id for it in split_retain(items, seed=0)[0]] == [it.id for it in evaluated]
    assert [it.id for it in split_retain(items, seed=1)[0]] != [it.id for it in evaluated]
    with pytest.raises(UsageError, match="between 0 and 1"):
        split_retain(items, train_share=1.0)


def test_a_model_that_knows_nothing_cannot_have_a_facts_benchmark(tmp_path: Path) -> None:
    tok = make_word_tokenizer()
    make_tiny_model("llama", len(tok)).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    with pytest.raises(UsageError, match="answers no forget candidate correctly"):
        build_facts(tmp_path / "m", limit=3)
    with pytest.raises(UsageError, match="not one"):
        build_facts(tmp_path / "missing")


def test_a_cached_build_carries_this_versions_unlearning_settings(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The items are cached by their settings; the unlearning settings file always follows the code."""
    import pandas as pd

    import unpact.evaluate
    from unpact.data.facts import UNLEARNING_SETTINGS

    def knows_everything(model: object, tok: object, items: list, **kwargs: object) -> pd.DataFrame:
        return pd.DataFrame({"correct": [True] * len(items), "prediction": [it.answer for it in items]})

    monkeypatch.setattr(unpact.evaluate, "evaluate_items", knows_everything)
    tok = make_word_tokenizer()
    make_tiny_model("llama", len(tok)).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    record = build_facts(tmp_path / "m", limit=6)
    assert record["counts"]["forget"]["kept"] == 6
    settings_file = tmp_path / "m" / "unpact-data" / "facts-unlearning.json"
    settings_file.write_text(json.dumps({**UNLEARNING_SETTINGS, "budget": {"steps": 999}}))
    assert build_facts(tmp_path / "m", limit=6) == record
    assert json.loads(settings_file.read_text()) == UNLEARNING_SETTINGS
    settings_file.unlink()
    assert ensure_facts(tmp_path / "m") == record  # built with other settings (limit): kept as they are
    assert json.loads(settings_file.read_text()) == UNLEARNING_SETTINGS


@pytest.mark.slow
def test_facts_on_smollm2(smollm2_dir: Path, tmp_path: Path) -> None:
    """Eligibility on the real SmolLM2 (first 12 candidates of each split): kept items are answered correctly."""
    import shutil

    model = tmp_path / "smollm2"
    shutil.copytree(smollm2_dir, model, ignore=shutil.ignore_patterns("unpact-data"))
    record = build_facts(model, limit=12)
    assert record["prompt_format_used"] == "chat" and record["judge"] == "contains"
    forget = record["counts"]["forget"]
    assert forget["candidates"] == 12 and forget["kept"] + forget["dropped"] == 12
    # of the first 12 capitals (Afghanistan ... Aruba) it answers Kabul; most others it gets wrong or does not name
    assert forget["kept"] >= 1 and "geo-capital-AFG" in {it.id for it in benchmark_items(model, "facts", "forget")}
    for split in FACTS_SPLITS:
        items = benchmark_items(model, "facts", split)
        assert all(it.answer.lower() in it.meta["base_answer"].lower() for it in items)
    assert json.loads((model / "unpact-data" / ELIGIBILITY_FILE).read_text())["counts"] == record["counts"]
    corpus = [json.loads(line) for line in forget_corpus_file(model).read_text().splitlines()]
    assert {row["item_id"] for row in corpus} == {it.id for it in benchmark_items(model, "facts", "forget")}
    assert build_facts(model, limit=12) == record  # built once
