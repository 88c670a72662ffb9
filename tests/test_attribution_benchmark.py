"""The benchmark script runs end to end on a small random model and reports agreement and the floor."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

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
