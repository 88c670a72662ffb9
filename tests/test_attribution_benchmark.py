"""The benchmark script runs end to end on a small random model and reports agreement and the floor."""
from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "attribution.py"


def test_benchmark_random_model_agrees_and_prints_floor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--random-model", "--n", "2", "--captum-n", "1", "--prompt-len", "6",
                                      "--peak-tflops", "1", "--compare-cache"])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    diff = float(out.split("max |native - captum| = ")[1].split()[0])
    assert diff < 1e-4
    assert "speed ratio:" in out and "physical floor:" in out and "prefix cache: off" in out


def test_pretrained_suites_agree_with_captum_and_count_tokens(
    tmp_path: Path, tiny_llama: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pretrained-model table (news questions through a chat template, prose without) on a tiny saved Llama."""
    model, tok = tiny_llama
    tok.chat_template = "{% for m in messages %}[BOS] Question : {{ m['content'] }} ? {% endfor %}Answer :"
    folder = tmp_path / "tiny"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    out = tmp_path / "table.json"
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--model", str(folder), "--suites", "news,tokens-12", "--n", "2",
                                      "--peak-tflops", "1", "--json", str(out)])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    rows = json.loads(out.read_text())["rows"]
    assert [r["suite"] for r in rows] == ["news", "tokens-12"]
    for row in rows:
        assert row["max_abs_difference"] < 1e-4
        assert row["native_tokens_per_prompt"] < row["captum_tokens_per_prompt"]
        assert row["native_vs_captum"] > 0 and row["prompts"] >= 1
