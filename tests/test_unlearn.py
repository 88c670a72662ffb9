"""Registry errors, the training loop (stop rules, determinism, NaN), RMU layer discovery, task arithmetic,
LoRA export, the cached folder and the CLI."""
from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import make_tiny_model
from unpact.cli import main
from unpact.data.schema import QAItem, save_items
from unpact.errors import UsageError
from unpact.unlearn import (
    METHODS,
    Budget,
    TrainingDiverged,
    build_params,
    get_method,
    parse_assignments,
    unlearn,
    unlearn_to_dir,
)
from unpact.unlearn.layers import decoder_layers, default_rmu_modules, middle_layer, select_trainable
from unpact.unlearn.methods.ga import GA
from unpact.unlearn.methods.task_vector import TaskVector

FORGET = [QAItem(id=f"f{i}", question=q, answer=a, split="forget") for i, (q, a) in enumerate(
    [("what city was Mira born in ?", "Paris"), ("what job was Tolan father ?", "painter"),
     ("which prize Veska won ?", "award")])]
RETAIN = [QAItem(id=f"r{i}", question=q, answer=a, split="retain") for i, (q, a) in enumerate(
    [("what city was Veska born in ?", "Rome"), ("what job is the writer ?", "writer"),
     ("which city is Lima ?", "Lima")])]
FAST = {"eval_every": 2, "batch_size": 2, "retain_batch_size": 2}



def test_registry_has_the_ten_methods_with_docstrings() -> None:
    assert set(METHODS) == {"ga", "ga_gdr", "ga_klr", "npo", "npo_gdr", "npo_klr", "simnpo", "idk_dpo", "task_vector",
                            "rmu"}
    for cls in METHODS.values():
        assert cls.__doc__ and "``" in cls.__doc__ and cls.summary


def test_unknown_method_lists_valid_ones() -> None:
    with pytest.raises(UsageError, match="valid choices: ga, ga_gdr"):
        get_method("gradient_ascent")


def test_unknown_parameter_lists_parameters_and_types() -> None:
    with pytest.raises(UsageError) as err:
        build_params(get_method("npo").Params, {"betta": 0.2}, "npo")
    assert "betta" in str(err.value) and "beta (float)" in str(err.value) and "lr (float)" in str(err.value)


@pytest.mark.parametrize("name,value", [("lr", "fast"), ("batch_size", 2.5), ("eval_every", True), ("lr", float("nan")),
                                        ("eval_every", 0), ("lr", -1.0)])
def test_wrong_type_is_rejected(name: str, value: Any) -> None:
    with pytest.raises(UsageError, match=name):
        build_params(get_method("ga").Params, {name: value}, "ga")


def test_wrong_type_fails_before_training(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(UsageError, match="steering_coef"):
        unlearn(model, tok, FORGET, RETAIN, "rmu", {"steering_coef": "big"})
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_parse_assignments_types() -> None:
    got = parse_assignments(get_method("idk_dpo").Params, ["beta=0.2", "idk_answers=no idea|unknown", "lora_r=8"],
                            "idk_dpo")
    assert got == {"beta": 0.2, "idk_answers": ("no idea", "unknown"), "lora_r": 8}
    assert parse_assignments(get_method("rmu").Params, ["layer=none"], "rmu") == {"layer": None}
    with pytest.raises(UsageError, match="must be int"):
        parse_assignments(get_method("rmu").Params, ["layer=middle"], "rmu")
    with pytest.raises(UsageError, match="valid parameters"):
        parse_assignments(get_method("rmu").Params, ["nope=1"], "rmu")


@pytest.mark.parametrize(("method", "old", "new"), [("ga_gdr", "alpha", "retain_weight"),
                                                     ("npo_klr", "gamma", "forget_weight"),
                                                     ("task_vector", "alpha", "scale")])
def test_old_parameter_names_are_rejected_naming_the_new_one(method: str, old: str, new: str) -> None:
    with pytest.raises(UsageError, match=f"{old} is now .*{new}"):
        build_params(get_method(method).Params, {old: 1.0}, method)
    assert getattr(build_params(get_method(method).Params, {new: 0.5}, method), new) == 0.5


@pytest.mark.parametrize("arch,expected", [
    ("llama", "model.layers.{}.mlp.down_proj"), ("gpt2", "transformer.h.{}.mlp.c_proj"),
    ("qwen2", "model.layers.{}.mlp.down_proj")])
def test_rmu_finds_middle_layer_and_mlp_outputs(arch: str, expected: str) -> None:
    model = make_tiny_model(arch, 50)
    name, blocks = decoder_layers(model)
    assert len(blocks) == 4 and middle_layer(model) == 2
    modules = default_rmu_modules(model, 2)
    assert modules == [expected.format(i) for i in (0, 1, 2)]
    m = get_method("rmu")(build_params(get_method("rmu").Params, {}, "rmu"))
    regex = m.setup(model, copy.deepcopy(model), None, torch.Generator().manual_seed(0))
    trainable = select_trainable(model, regex)
    assert {n.rsplit(".", 1)[0] for n in trainable} == set(modules)
    # the hook sees the block's output: hidden_states[L + 1]
    ids = torch.tensor([[1, 5, 6, 7]])
    hs = model(input_ids=ids, output_hidden_states=True).hidden_states
    assert torch.allclose(m.acts["model"], hs[3])
    m.teardown()


def test_task_vector_arithmetic(tiny_llama: tuple[Any, Any]) -> None:
    ref, _ = tiny_llama
    model = copy.deepcopy(ref)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    TaskVector(build_params(TaskVector.Params, {"scale": 2.0}, "task_vector")).finalize(model, ref)
    for (name, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        assert torch.allclose(p, q - 2.0 * 0.1, atol=1e-6), name


def _weights(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_same_seed_same_weights(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    runs = [unlearn(copy.deepcopy(model), tok, FORGET, RETAIN, "npo_gdr", FAST, Budget(steps=3), seed=s, progress=False)
            for s in (0, 0, 1)]
    a, b, c = (_weights(r.model) for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert runs[0].log.equals(runs[1].log)


def test_log_and_record(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    res = unlearn(model, tok, FORGET, RETAIN, "ga_klr", FAST, Budget(epochs=2), progress=False,
                  general_items=RETAIN[:1])
    # 3 forget items in batches of 2 -> 2 steps per epoch -> 4 steps
    assert res.record["steps"] == 4 and res.record["stop_reason"] == "budget"
    assert list(res.log["step"]) == [0, 1, 2, 3, 4]
    assert res.log["forget_accuracy"].notna().tolist() == [True, False, True, False, True]
    assert res.log["retain_loss"].iloc[1:].notna().all()
    assert set(res.record["metrics"]) == {"forget_accuracy", "retain_accuracy", "general_accuracy"}


def test_stop_target_is_recorded(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama  # random weights: forget accuracy is 0, so the target is met at the first check
    res = unlearn(model, tok, FORGET, RETAIN, "ga", FAST, Budget(steps=10), stop_at=0.5, progress=False)
    assert res.record["stop_reason"] == "target" and res.record["steps"] == 2 and res.record["stop_at"] == 0.5


def _model_dir(saved: Path) -> Path:
    data = saved / "unpact-data"
    data.mkdir()
    save_items(data / "toy-forget.jsonl", FORGET)
    save_items(data / "toy-retain.jsonl", RETAIN)
    return saved


def test_nan_loss_stops_and_writes_nothing(
    saved_tiny_model: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _model_dir(saved_tiny_model)
    monkeypatch.setattr(GA, "forget_term",
                        lambda self, model, ref, batch: model.get_input_embeddings().weight.sum() * float("nan"))
    out = tmp_path / "out"
    with pytest.raises(TrainingDiverged, match=r"'ga'.*step 1"):
        unlearn_to_dir(base, "toy", "ga", FAST, Budget(steps=3), out=out, progress=False)
    assert not out.exists()
    with pytest.raises(TrainingDiverged):
        unlearn_to_dir(base, "toy", "ga", FAST, Budget(steps=3), progress=False)
    kind_dir = cache_dir / "unlearned"
    assert not kind_dir.exists() or not any(kind_dir.iterdir())


def test_folder_record_and_cache_hit(saved_tiny_model: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM

    base = _model_dir(saved_tiny_model)
    folder = unlearn_to_dir(base, "toy", "npo", FAST, Budget(steps=2), progress=False)
    record = json.loads((folder / "unlearning.json").read_text())
    assert record["method"] == "npo" and record["steps"] == 2 and record["params"]["beta"] == 0.1
    assert len(record["base_model_hash"]) == 64 and (folder / "unpact-data" / "toy-forget.jsonl").is_file()
    assert (folder / "unlearning-log.csv").is_file()
    AutoModelForCausalLM.from_pretrained(folder)
    monkeypatch.setattr("unpact.unlearn.artifact.unlearn",
                        lambda *a, **k: pytest.fail("retrained a cached configuration"))
    assert unlearn_to_dir(base, "toy", "npo", FAST, Budget(steps=2), progress=False) == folder


def test_lora_exports_a_plain_folder(tiny_llama: tuple[Any, Any], tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    model, tok = tiny_llama
    before = _weights(model)
    res = unlearn(model, tok, FORGET, RETAIN, "ga", {**FAST, "lora_r": 4, "lr": 1e-2}, Budget(steps=2), progress=False)
    assert type(res.model).__name__ == "LlamaForCausalLM"
    res.model.save_pretrained(tmp_path / "m")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    after = _weights(loaded)
    assert set(after) <= set(before) | {"lm_head.weight"}
    assert any(not torch.equal(before[k], after[k]) for k in before if k in after)


def test_cli_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unlearn", "--list"]) == 0
    out = capsys.readouterr().out
    for name in METHODS:
        assert f"{name}:" in out
    assert "steering_coef (float)" in out and "beta (float) = 0.1" in out


@pytest.mark.parametrize("argv,needle", [
    (["--method", "nope"], "valid choices"),
    (["--method", "npo", "--set", "betta=1"], "valid parameters"),
    (["--method", "npo", "--set", "beta=high"], "must be float"),
])
def test_cli_errors_exit_2(
    saved_tiny_model: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code = main(["unlearn", "--model", str(saved_tiny_model), "--benchmark", "toy", *argv])
    assert code == 2 and needle in capsys.readouterr().err


def test_cli_runs(saved_tiny_model: Path, cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _model_dir(saved_tiny_model)
    code = main(["unlearn", "--model", str(base), "--benchmark", "toy", "--method", "simnpo", "--steps", "2",
                 "--set", "eval_every=2", "--out", str(tmp_path / "u")])
    assert code == 0 and (tmp_path / "u" / "unlearning.json").is_file()
    assert "2 steps (stop: budget)" in capsys.readouterr().out
    assert not math.isnan(json.loads((tmp_path / "u" / "unlearning.json").read_text())["metrics"]["forget_accuracy"])


def test_forget_texts_join_the_forget_examples(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    res = unlearn(model, tok, FORGET, RETAIN, "ga", FAST, Budget(steps=1), forget_texts=["Mira was born in Paris ."],
                  progress=False)
    assert res.record["n_forget_texts"] == 1 and res.record["n_forget"] == 3
    with pytest.raises(UsageError, match="plain forget texts"):
        unlearn(model, tok, FORGET, RETAIN, "idk_dpo", FAST, Budget(steps=1), forget_texts=["Mira ."], progress=False)


def test_cli_own_jsonl_files(saved_tiny_model: Path, cache_dir: Path, tmp_path: Path) -> None:
    save_items(tmp_path / "f.jsonl", FORGET)
    save_items(tmp_path / "r.jsonl", RETAIN)
    code = main(["unlearn", "--model", str(saved_tiny_model), "--forget", str(tmp_path / "f.jsonl"), "--retain",
                 str(tmp_path / "r.jsonl"), "--method", "ga", "--steps", "1", "--out", str(tmp_path / "u")])
    record = json.loads((tmp_path / "u" / "unlearning.json").read_text())
    assert code == 0 and record["n_forget"] == 3 and record["n_retain"] == 3


def test_cli_forget_texts(saved_tiny_model: Path, cache_dir: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """Plain forget texts (MUSE's verbatim corpus) join the forget QA; rows without text are a clear error."""
    save_items(tmp_path / "f.jsonl", FORGET)
    save_items(tmp_path / "r.jsonl", RETAIN)
    (tmp_path / "t.jsonl").write_text('{"text": "Mira was born in Paris ."}\n{"text": "Tolan won the award ."}\n')
    argv = ["unlearn", "--model", str(saved_tiny_model), "--forget", str(tmp_path / "f.jsonl"), "--retain",
            str(tmp_path / "r.jsonl"), "--method", "ga", "--steps", "1"]
    assert main([*argv, "--forget-texts", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "u")]) == 0
    assert json.loads((tmp_path / "u" / "unlearning.json").read_text())["n_forget_texts"] == 2
    (tmp_path / "bad.jsonl").write_text('{"question": "no text here"}\n')
    assert main([*argv, "--forget-texts", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "v")]) == 2
    assert "'text' field" in capsys.readouterr().err


def test_out_folder_is_reused_and_foreign_folders_are_kept(
    saved_tiny_model: Path, cache_dir: Path, tmp_path: Path
) -> None:
    base = _model_dir(saved_tiny_model)
    out = unlearn_to_dir(base, "toy", "ga", FAST, Budget(steps=1), out=tmp_path / "u", progress=False)
    stamp = (out / "unlearning.json").stat().st_mtime_ns
    assert unlearn_to_dir(base, "toy", "ga", FAST, Budget(steps=1), out=out, progress=False) == out
    assert (out / "unlearning.json").stat().st_mtime_ns == stamp
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="refusing to overwrite"):
        unlearn_to_dir(base, "toy", "ga", FAST, Budget(steps=1), out=foreign, progress=False)
    assert (foreign / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("method", ["npo_klr", "rmu"])
def test_loop_runs_on_every_architecture(tiny_model: tuple[Any, Any], method: str) -> None:
    model, tok = tiny_model
    before = _weights(model)
    res = unlearn(model, tok, FORGET, RETAIN, method, FAST, Budget(steps=2), progress=False)
    after = _weights(res.model)
    assert res.record["steps"] == 2 and any(not torch.equal(before[k], after[k]) for k in before)


def test_benchmark_settings_train_on_the_corpus_and_the_retain_train_split(
    saved_tiny_model: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A benchmark's unlearning settings (the facts convention): corpus instead of the forget questions,
    ``retain_train`` for the retain term, its own general set, parameter and budget defaults under the user's."""
    base = _model_dir(saved_tiny_model)
    data = base / "unpact-data"
    save_items(data / "toy-retain_train.jsonl", [replace(it, id=f"t{i}", split="retain_train")
                                                for i, it in enumerate(RETAIN[:2])])
    save_items(data / "toy-general.jsonl", RETAIN[2:])
    (data / "corpora").mkdir()
    (data / "corpora" / "toy-forget.jsonl").write_text('{"text": "Mira was born in Paris ."}\n')
    settings = {"forget_corpus": "corpora/toy-forget.jsonl", "retain_split": "retain_train",
                "general": ["toy", "general"], "params": {"lr": 1e-4, "eval_every": 2}, "budget": {"steps": 2}}
    (data / "toy-unlearning.json").write_text(json.dumps(settings))
    seen: dict[str, Any] = {}

    def fake_unlearn(model: Any, tok: Any, forget: Any, retain: Any, method: str, params: Any, budget: Any,
                     *args: Any, **kwargs: Any) -> Any:
        seen.update(forget=forget, retain=retain, params=params, budget=budget, **kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr("unpact.unlearn.artifact.unlearn", fake_unlearn)
    with pytest.raises(RuntimeError, match="stop here"):
        unlearn_to_dir(base, "toy", "npo", {"batch_size": 2}, progress=False)
    assert [it.id for it in seen["forget"]] == [it.id for it in FORGET]  # evaluated, not trained on
    assert [it.id for it in seen["retain"]] == ["t0", "t1"]
    assert [it.id for it in seen["general_items"]] == ["r2"]
    assert seen["forget_texts"] == ["Mira was born in Paris ."] and seen["train_on_forget_items"] is False
    assert seen["params"]["lr"] == 1e-4 and seen["params"]["batch_size"] == 2 and seen["budget"] == Budget(steps=2)
    with pytest.raises(RuntimeError):  # a method that cannot train on texts keeps the questions
        unlearn_to_dir(base, "toy", "idk_dpo", {"idk_answers": ("Paris",)}, progress=False)
    assert seen["forget_texts"] is None and seen["train_on_forget_items"] is True
    (data / "toy-unlearning.json").write_text('{"forget_corpus": "x", "colour": "red"}')
    with pytest.raises(UsageError, match="unknown keys \\['colour'\\]"):
        unlearn_to_dir(base, "toy", "npo", progress=False)


def test_corpus_only_training_needs_texts(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    with pytest.raises(UsageError, match="needs forget_texts"):
        unlearn(model, tok, FORGET, RETAIN, "ga", FAST, Budget(steps=1), train_on_forget_items=False, progress=False)
    res = unlearn(model, tok, FORGET, RETAIN, "ga", FAST, Budget(steps=1), forget_texts=["Mira was born in Paris ."],
                  train_on_forget_items=False, progress=False)
    assert res.record["trained_on_forget_items"] is False and res.record["n_forget_texts"] == 1
    assert res.record["prompt_format"] == "plain"
