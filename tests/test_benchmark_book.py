"""benchmarks/book.py: the per-stage breakdown sums what the run recorded (organisms, unlearning, study tables)."""
from __future__ import annotations

import json
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unpact.cache import DONE_MARKER
from unpact.study import StudyCache

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "book.py"


def test_stage_rows_sum_the_runs_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = runpy.run_path(str(SCRIPT))
    cache = tmp_path / "cache"
    (cache / "organism" / "o").mkdir(parents=True)
    (cache / "organism" / "o" / "organism.json").write_text(json.dumps({"train_seconds": 2.0, "eval_seconds": 1.0}))
    for run, marker in (("u", {"config": {}}), ("u-entered", {"config": {}, "entered_from": "u"})):
        (cache / "unlearned" / run).mkdir(parents=True)  # one run, entered a second time: counted once
        (cache / "unlearned" / run / "unlearning.json").write_text(json.dumps({"duration_s": 4.0}))
        (cache / "unlearned" / run / DONE_MARKER).write_text(json.dumps(marker))
    study_cache = StudyCache(str(cache))
    for kind, pause in (("attribution", 0.05), ("emphasis", 0.02), ("attribution", 0.0)):
        study_cache.result(kind, {"model": kind, "pause": pause}, lambda p=pause: time.sleep(p) or p, table=True)
    root = tmp_path / "repo"
    (root / "book" / "executed").mkdir(parents=True)
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (root / "book" / "executed" / "00.stamp.json").write_text(
        json.dumps({"notebook": "00_organism", "seconds": 20.0, "finished": finished}))
    book["stage_rows"].__globals__["ROOT"] = root
    rows = {r["stage"]: r for r in book["stage_rows"](cache, 30.0, 5.0, "", started=time.time() - 60)}
    seconds = book["table_seconds"](cache)
    assert seconds["attribution"] >= 0.05 and 0.02 <= seconds["emphasis"] < seconds["attribution"]
    assert rows["organism (training and evaluation)"]["seconds"] == 3.0
    assert rows["unlearning (all methods)"]["seconds"] == 4.0
    assert rows[book["TABLE_STAGES"]["attribution"]]["seconds"] == round(seconds["attribution"], 1)
    assert rows[book["TABLE_STAGES"]["relearning"]]["seconds"] == 0.0
    remainder = next(r for name, r in rows.items() if name.startswith("notebooks' remainder"))
    assert remainder["seconds"] == round(20.0 - 3.0 - 4.0 - sum(seconds.values()), 1)
    assert rows["whole run (wall, unpact run)"]["seconds"] == 30.0
    assert rows["notebook 00_organism"]["seconds"] == 20.0
    assert any(name.startswith("book (") and r["seconds"] == 5.0 for name, r in rows.items())


def test_keep_cache_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "leftover").write_text("x")
    result = subprocess.run([sys.executable, str(SCRIPT), "--profile", "micro", "--keep-cache", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "is not empty" in result.stderr and str(tmp_path) in result.stderr


def test_resume_needs_keep_cache() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--profile", "micro", "--resume"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--resume needs --keep-cache" in result.stderr


def test_an_interrupted_cold_run_resumes_and_sums_its_attempts(tmp_path: Path) -> None:
    book = runpy.run_path(str(SCRIPT))
    resumable = book["resumable_cold_run"]
    resumable.__globals__["HEARTBEAT_S"] = 0.01
    calls: list[bool] = []

    def interrupted(profile: str, cache: Path, force: bool = True) -> float:
        calls.append(force)
        time.sleep(0.1)
        raise KeyboardInterrupt

    def completes(profile: str, cache: Path, force: bool = True) -> float:
        calls.append(force)
        time.sleep(0.1)
        return 0.1

    resumable.__globals__["timed_run"] = interrupted
    with pytest.raises(KeyboardInterrupt):
        resumable("micro", tmp_path)
    ledger = json.loads((tmp_path / book["LEDGER"]).read_text())
    assert ledger["finished"] is False and len(ledger["attempts"]) == 1 and ledger["attempts"][0] >= 0.1
    resumable.__globals__["timed_run"] = completes
    total, ledger = resumable("micro", tmp_path)
    assert calls == [True, False]  # the first attempt re-executes every notebook, a resumed one keeps finished ones
    assert ledger["finished"] is True and len(ledger["attempts"]) == 2
    assert total == sum(ledger["attempts"]) >= 0.2
    assert resumable("micro", tmp_path)[0] == total and calls == [True, False]  # finished: not run again
    with pytest.raises(SystemExit, match="cannot be resumed for profile 'quick'"):
        resumable("quick", tmp_path)


def test_a_suspended_attempt_counts_at_most_two_heartbeats(tmp_path: Path) -> None:
    book = runpy.run_path(str(SCRIPT))
    resumable = book["resumable_cold_run"]
    resumable.__globals__["HEARTBEAT_S"] = 0.05
    clock = iter([0.0, 1000.0])  # the attempt's start, then its end after a long suspension with no heartbeat

    def suspended(profile: str, cache: Path, force: bool = True) -> float:
        return 0.0

    resumable.__globals__["timed_run"] = suspended
    resumable.__globals__["time"] = type("Clock", (), {"monotonic": staticmethod(lambda: next(clock)),
                                                       "time": staticmethod(time.time)})
    total, _ = resumable("micro", tmp_path)
    assert total == 0.1


def test_a_failed_build_is_noted_by_its_warnings() -> None:
    build_problems = runpy.run_path(str(SCRIPT))["build_problems"]
    log = ("jupyter-book build failed (exit 1):\n"
           "\x1b[91mWARNING: stale result: unlearning.json is older than the code that made it (x); "
           "rerun: y\x1b[39;49;00m\n"
           "book/a.md:3: WARNING: undefined label: 'foo'\n")
    assert build_problems(log) == ("the build failed: stale at build time: unlearning.json; "
                                   "1 other warning(s), the first: undefined label: 'foo'")
    assert build_problems("jupyter-book build failed (exit 1):\nTraceback") == (
        "the build failed: jupyter-book build failed (exit 1):")
