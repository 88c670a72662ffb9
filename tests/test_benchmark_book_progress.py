"""benchmarks/book_progress.py: what an unfinished resumable cold run measured, read from its kept cache."""
from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from unpact.cache import DONE_MARKER
from unpact.errors import UsageError

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "book_progress.py"


def _ledger(progress: dict[str, Any], cache: Path, attempts: list[float], profile: str = "pretrained") -> None:
    digest = progress["code_digest"](progress["ROOT"], progress["CODE"])
    (cache / progress["LEDGER"]).write_text(json.dumps(
        {"profile": profile, "digest": digest, "started_epoch": 0.0, "attempts": attempts, "finished": False}))


def _run(cache: Path, name: str, base: Path, benchmark: str, seconds: float, entered: bool = False) -> None:
    folder = cache / "unlearned" / name  # the marker holds the run's record, as unpact.unlearn.artifact writes it
    folder.mkdir(parents=True)
    record = {"base_model": str(base), "benchmark": benchmark, "duration_s": seconds}
    (folder / DONE_MARKER).write_text(json.dumps(
        {"config": {}, "record": record, **({"entered_from": "x"} if entered else {})}))


def test_progress_counts_the_profiles_runs_and_bounds_the_whole_run(tmp_path: Path) -> None:
    progress = runpy.run_path(str(SCRIPT))
    cache = tmp_path / "cache"
    cache.mkdir()
    _ledger(progress, cache, [1000.0, 500.0])
    smol = cache / "pretrained" / "smollm2-135m-0123456789abcdef"
    tuned = cache / "organism" / "finetuned-smollm2-135m-fedcba9876543210"
    tuned.mkdir(parents=True)
    (tuned / "organism.json").write_text(json.dumps(
        {"regime": "finetuned", "init": {"folder": str(smol)}, "eval_before_seconds": 1.0, "train_seconds": 20.0,
         "facts_build_seconds": 3.0, "eval_seconds": 2.0}))
    (tuned / DONE_MARKER).write_text("{}")
    for i, seconds in enumerate((100.0, 300.0)):
        _run(cache, f"a{i}", smol, "facts", seconds)
    _run(cache, "a0-again", smol, "facts", 100.0, entered=True)  # one run entered twice: counted once
    _run(cache, "b0", tuned, "news", 50.0)
    rows = {r["part"]: r for r in progress["progress_rows"](cache, "pretrained")[0]}
    methods = 10  # unpact/profiles/pretrained.yaml: all ten methods for each model and regime
    smol_facts = rows["unlearning runs: smollm2-135m on facts"]
    assert (smol_facts["needed"], smol_facts["finished"], smol_facts["seconds"]) == (methods, 2, 400.0)
    assert smol_facts["fastest_run"] == 100.0
    tuned_news = rows["unlearning runs: finetuned:smollm2-135m on news"]
    assert (tuned_news["finished"], tuned_news["fastest_run"]) == (1, 50.0)
    gemma = rows["unlearning runs: gemma3-270m on facts"]
    assert (gemma["needed"], gemma["finished"], gemma["fastest_run"]) == (methods, 0, None)
    assert rows["fine-tuning: finetuned:smollm2-135m"]["seconds"] == 26.0
    assert rows["fine-tuning: finetuned:gemma3-270m"]["finished"] == 0
    assert rows["whole run so far (wall, 2 attempts, not finished)"]["seconds"] == 1500.0
    estimate = next(r for part, r in rows.items() if part.startswith("whole run, estimated at least"))
    assert estimate["seconds"] == 1500.0 + (methods - 2) * 100.0 + (methods - 1) * 50.0


def test_progress_refuses_a_ledger_of_other_code_and_runs_the_profile_does_not_make(tmp_path: Path) -> None:
    progress = runpy.run_path(str(SCRIPT))
    _ledger(progress, tmp_path, [10.0], profile="quick")
    with pytest.raises(UsageError, match="profile 'quick'"):
        progress["progress_rows"](tmp_path, "pretrained")
    _ledger(progress, tmp_path, [10.0])
    _run(tmp_path, "x", tmp_path / "pretrained" / "other-model-0123456789abcdef", "facts", 5.0)
    with pytest.raises(UsageError, match="other-model"):
        progress["progress_rows"](tmp_path, "pretrained")


def test_progress_without_a_ledger_names_the_command_that_makes_one(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--cache", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "not found" in result.stderr and "--keep-cache DIR --resume" in result.stderr
