"""Where a model's benchmark QA sets live: ``<model dir>/unpact-data/<benchmark>-<split>.jsonl``.

An organism folder carries the QA sets of the world it was trained on, and every unlearned copy
carries them on, so ``--model DIR --benchmark news --split forget`` needs nothing else. Users
with their own model pass QA files (``--data FILE.jsonl``) instead.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from unpact.data.schema import QAItem, load_items
from unpact.errors import UsageError

DATA_FOLDER = "unpact-data"


def benchmark_file(model_dir: str | os.PathLike[str], benchmark: str, split: str) -> Path:
    """Path of the QA file for ``benchmark``/``split`` inside a model folder (may not exist)."""
    return Path(model_dir) / DATA_FOLDER / f"{benchmark}-{split}.jsonl"


def available_benchmarks(model_dir: str | os.PathLike[str]) -> dict[str, list[str]]:
    """``{benchmark: [splits]}`` that a model folder carries."""
    found: dict[str, list[str]] = {}
    for f in sorted((Path(model_dir) / DATA_FOLDER).glob("*.jsonl")):
        bench, _, split = f.stem.rpartition("-")
        found.setdefault(bench, []).append(split)
    return found


def benchmark_items(model_dir: str | os.PathLike[str], benchmark: str, split: str) -> list[QAItem]:
    """Load the QA items of ``benchmark``/``split`` carried by a model folder, or explain what exists."""
    path = benchmark_file(model_dir, benchmark, split)
    if not path.is_file():
        have = available_benchmarks(model_dir)
        if not have:
            raise UsageError(
                f"{str(model_dir)!r} carries no benchmark data ({DATA_FOLDER}/ is missing); "
                "pass your own QA file with --data FILE.jsonl"
            )
        choices = ", ".join(f"{b}: {'/'.join(s)}" for b, s in have.items())
        raise UsageError(f"no benchmark {benchmark!r} split {split!r} in {str(model_dir)!r}; available: {choices}")
    return load_items(path)


def copy_benchmark_data(src_model_dir: str | os.PathLike[str], dst_model_dir: str | os.PathLike[str]) -> None:
    """Carry the QA sets of a base model on to a derived (e.g. unlearned) model folder."""
    src = Path(src_model_dir) / DATA_FOLDER
    if src.is_dir():
        shutil.copytree(src, Path(dst_model_dir) / DATA_FOLDER, dirs_exist_ok=True)
