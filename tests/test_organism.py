"""The organism: loads as a plain HF folder, deterministic, cached, atomic; CLI commands and their errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import unpact.organism as organism
from unpact.cli import main
from unpact.data.benchmarks import available_benchmarks
from unpact.errors import UsageError


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return organism.train_organism("llama", "micro", 0, cache_root=tmp_path_factory.mktemp("cache"), progress=False)


def test_micro_organism_is_a_plain_hf_folder_with_its_data(micro: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(micro)
    tok = AutoTokenizer.from_pretrained(micro)
    assert type(model).__name__ == "LlamaForCausalLM"
    ids = tok("Question: What is 1 plus 2 ?\nAnswer:")["input_ids"]
    assert ids[0] == tok.bos_token_id and tok.unk_token_id not in ids
    assert available_benchmarks(micro) == {"books": ["forget", "retain"], "general": ["test"],
                                           "hazard": ["forget", "retain"], "news": ["forget", "retain"]}
    record = organism.organism_record(micro)
    assert {"world", "train", "train_seconds", "accuracies", "weights_sha256"} <= set(record)
    styles = {r["emphasis"] for r in record["accuracies"]}
    assert styles == {"plain", "instruction", "suffix", "mark", "repeat"}


@pytest.mark.parametrize("arch", ["llama", pytest.param("gpt2", marks=pytest.mark.slow),
                                  pytest.param("qwen2", marks=pytest.mark.slow)])
def test_same_seed_gives_identical_weights(tmp_path: Path, micro: Path, arch: str) -> None:
    hashes = []
    for i in range(2):
        folder = organism.train_organism(arch, "micro", 1, cache_root=tmp_path / str(i), progress=False)
        hashes.append(organism.organism_record(folder)["weights_sha256"])
    assert hashes[0] == hashes[1]
    if arch == "llama":  # another seed (the module's seed-0 organism) gives other weights
        assert organism.organism_record(micro)["weights_sha256"] != hashes[0]


def test_second_call_is_a_cache_hit(micro: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("rebuilt a cached organism")

    monkeypatch.setattr(organism, "build_organism", fail)
    again = organism.train_organism("llama", "micro", 0, cache_root=micro.parent.parent, progress=False)
    assert again == micro


def test_interrupted_training_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(organism, "train_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        organism.train_organism("gpt2", "micro", 0, cache_root=tmp_path, progress=False)
    assert list((tmp_path / "organism").iterdir()) == []


def test_unknown_override_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="epochs"):
        organism.resolve_configs("micro", 0, epoch=3)


def test_organism_cli_copies_and_prints_table(micro: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "copy"
    assert main(["organism", "--profile", "micro", "--cache", str(micro.parent.parent), "--out", str(out)]) == 0
    assert (out / "config.json").is_file() and (out / "unpact-data" / "news-forget.jsonl").is_file()
    assert "hazard" in capsys.readouterr().out


def test_eval_cli_json_matches_the_record(micro: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", str(micro), "--benchmark", "news", "--split", "retain", "--emphasis", "suffix",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    row = next(r for r in organism.organism_record(micro)["accuracies"]
               if (r["benchmark"], r["split"], r["emphasis"]) == ("news", "retain", "suffix"))
    assert result["n"] == row["n"] and result["accuracy"] == pytest.approx(row["accuracy"])
    assert result["ci_low"] <= result["accuracy"] <= result["ci_high"]


@pytest.mark.parametrize("argv, needle", [
    (["organism", "--arch", "bert"], "gpt2, llama, qwen2"),
    (["organism", "--profile", "huge"], "full, micro, quick"),
    (["eval", "--model", "MODEL", "--benchmark", "news", "--split", "forget", "--emphasis", "bold"],
     "instruction, mark"),
    (["eval", "--model", "MODEL", "--benchmark", "news", "--split", "nope"], "news: forget/retain"),
    (["eval", "--model", "MODEL", "--benchmark", "muse", "--split", "forget"], "general: test"),
])
def test_cli_errors_exit_2_naming_choices(micro: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                          needle: str) -> None:
    assert main([str(micro) if a == "MODEL" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_eval_rejects_a_folder_that_is_not_a_causal_lm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"id": "1", "question": "What is 1 plus 2 ?", "answer": "3"}) + "\n")
    (tmp_path / "notamodel").mkdir()
    assert main(["eval", "--model", str(tmp_path / "notamodel"), "--data", str(data)]) == 2
    assert "not a Hugging Face model folder" in capsys.readouterr().err


def test_unwritable_cache_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["organism", "--profile", "micro", "--cache", str(blocker / "cache")]) == 2
    assert "cache folder" in capsys.readouterr().err


def test_unwritable_out_is_a_clear_error_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["organism", "--profile", "micro", "--cache", str(tmp_path / "c"), "--out", str(blocker / "m")]) == 2
    assert "output folder" in capsys.readouterr().err
    assert not (tmp_path / "c" / "organism").exists()
