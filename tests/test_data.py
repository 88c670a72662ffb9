"""The synthetic world: schema of every split, gold keywords, fairness between splits, determinism, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from unpact.cli import main
from unpact.data.schema import load_items, save_items
from unpact.data.synthetic import DOMAINS, FACT_DOMAINS, SPLITS, WorldConfig, build_world
from unpact.errors import UsageError
from unpact.prompts import qa_prompt

SMALL = WorldConfig(forget_entities=3, retain_entities=5, relations=3)


def test_every_split_is_valid_with_verbatim_keywords(tmp_path: Path) -> None:
    world = build_world(SMALL)
    for domain in DOMAINS:
        for split in SPLITS[domain]:
            items = world.items(domain, split)
            path = tmp_path / f"{domain}-{split}.jsonl"
            save_items(path, items)
            loaded = load_items(path)  # validates the schema, unique ids, keywords verbatim
            assert [it.to_dict() for it in loaded] == [it.to_dict() for it in items]
            for it in items:
                assert it.keywords and all(k in it.question.split() for k in it.keywords)
                if domain in FACT_DOMAINS:
                    assert it.keywords == [it.entity, it.relation]
                assert (it.choices is not None) == (domain == "hazard")
    assert len(world.items("news", "forget")) == 3 * 3
    assert len(world.items("news", "retain")) == 5 * 3
    assert len(world.items("general", "test")) == 10 * 10 + SMALL.opposites + SMALL.unanswerable
    assert sum(it.answer == "I do not know" for it in world.items("general", "test")) == SMALL.unanswerable


def test_multiple_choice_items_have_distinct_options_with_the_answer() -> None:
    for it in build_world(SMALL).items("hazard", "forget"):
        assert len(it.choices) == 4 and len(set(it.choices)) == 4
        assert it.choices[it.answer_index] == it.answer


def test_arithmetic_answers_are_sums() -> None:
    for it in build_world(SMALL).items("general", "test"):
        if it.relation == "plus":
            a, _, b = it.entity.split()
            assert int(it.answer) == int(a) + int(b)


def test_entities_are_unique_and_splits_disjoint() -> None:
    world = build_world(SMALL)
    for domain in FACT_DOMAINS:
        forget = {it.entity for it in world.items(domain, "forget")}
        retain = {it.entity for it in world.items(domain, "retain")}
        assert not forget & retain
    entities = [f.entity for f in world.facts if f.domain in FACT_DOMAINS]
    assert len(set(entities)) == len(entities) // SMALL.relations


def test_forget_and_retain_facts_get_the_same_corpus_treatment() -> None:
    world = build_world(SMALL)
    for domain in FACT_DOMAINS:
        examples = world.corpus(domain)
        profile: dict[str, set[tuple[str, ...]]] = {}
        for it in world.items(domain, "forget") + world.items(domain, "retain"):
            mine = [ex for ex in examples if it.entity in ex["context"].split() and it.answer == ex["target"].split()[0]
                    and (it.relation in ex["context"].split() or ex["form"] == "prose")]
            profile.setdefault(it.split, set()).add(tuple(sorted(ex["form"] for ex in mine)))
            assert any(ex["context"] == qa_prompt(it.question) for ex in mine)  # the evaluated question is trained
        assert profile["forget"] == profile["retain"]  # identical forms for both splits


def test_same_seed_same_bytes_other_seed_other_world(tmp_path: Path) -> None:
    outs = []
    for i, seed in enumerate((3, 3, 4)):
        out = tmp_path / f"{i}.jsonl"
        assert main(["data", "--benchmark", "books", "--split", "forget", "--seed", str(seed), "--profile", "micro",
                     "--out", str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] != outs[2]
    corpus = tmp_path / "corpus.jsonl"
    assert main(["data", "--benchmark", "news", "--split", "corpus", "--profile", "micro", "--out", str(corpus)]) == 0
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    assert {r["form"] for r in rows} == {"prose", "question", "emphasis:instruction", "emphasis:suffix"}


@pytest.mark.parametrize("argv, needle", [
    (["--benchmark", "muse", "--split", "forget"], "books, general, hazard, muse-books, muse-news, news, tofu"),
    (["--benchmark", "general", "--split", "forget"], "corpus, test"),
    (["--benchmark", "news", "--split", "forget", "--profile", "huge"], "full, micro, quick"),
])
def test_cli_errors_exit_2_and_list_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                           needle: str) -> None:
    assert main(["data", *argv, "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_bad_world_config_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        WorldConfig(forget_entities=0)
    with pytest.raises(UsageError, match="emphasis style"):
        WorldConfig(trained_styles=("bold",))
