"""Where a model's benchmark QA sets live: ``<model dir>/unpact-data/<benchmark>-<split>.jsonl``.

An organism folder carries the QA sets of the world it was trained on, and every unlearned copy
carries them on, so ``--model DIR --benchmark news --split forget`` needs nothing else. Users
with their own model pass QA files (``--data FILE.jsonl``) instead.

A benchmark may also carry its **unlearning settings**, ``<benchmark>-unlearning.json`` in the same
folder (the ``facts`` benchmark writes one), read by ``unpact.unlearn.unlearn_to_dir``::

    {"forget_corpus": "corpora/facts-forget.jsonl",  # trained on instead of the forget questions
     "retain_split": "retain_train",                  # the retain term's items (not the evaluated ones)
     "general": ["facts", "general"],                 # evaluated at the end of unlearning
     "params": {"lr": 2.5e-05, ...},                  # defaults for this benchmark's models (user values win)
     "budget": {"steps": 20},                         # default budget (a user's budget wins)
     "why": "one sentence per choice"}

Without the file: the forget and retain questions are trained on, ``general``/``test`` is evaluated.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from unpact.data.schema import QAItem, load_items
from unpact.errors import UsageError

DATA_FOLDER = "unpact-data"
SETTINGS_SUFFIX = "unlearning.json"
SETTINGS_KEYS = ("forget_corpus", "retain_split", "general", "params", "budget", "why")


def data_folder(model_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder of QA files: ``data_dir`` when given (a user's own sets), else ``<model_dir>/unpact-data``."""
    return Path(data_dir) if data_dir else Path(model_dir) / DATA_FOLDER


def benchmark_file(model_dir: str | os.PathLike[str], benchmark: str, split: str,
                   data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the QA file for ``benchmark``/``split`` (may not exist)."""
    return data_folder(model_dir, data_dir) / f"{benchmark}-{split}.jsonl"


def available_benchmarks(
    model_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None
) -> dict[str, list[str]]:
    """``{benchmark: [splits]}`` found in the QA folder."""
    found: dict[str, list[str]] = {}
    for f in sorted(data_folder(model_dir, data_dir).glob("*.jsonl")):
        bench, _, split = f.stem.rpartition("-")
        found.setdefault(bench, []).append(split)
    return found


def benchmark_items(model_dir: str | os.PathLike[str], benchmark: str, split: str,
                    data_dir: str | os.PathLike[str] | None = None) -> list[QAItem]:
    """Load the QA items of ``benchmark``/``split`` (from ``data_dir`` or the model folder), or explain what exists."""
    path = benchmark_file(model_dir, benchmark, split, data_dir)
    if not path.is_file():
        where = str(data_folder(model_dir, data_dir))
        have = available_benchmarks(model_dir, data_dir)
        if not have:
            raise UsageError(
                f"no QA files in {where!r}: a model folder carries them in {DATA_FOLDER}/ (organisms do); "
                "otherwise pass a folder of <benchmark>-<split>.jsonl files (data_dir) or --data FILE.jsonl"
            )
        choices = ", ".join(f"{b}: {'/'.join(s)}" for b, s in have.items())
        raise UsageError(f"no benchmark {benchmark!r} split {split!r} in {where!r}; available: {choices}")
    return load_items(path)


def benchmark_settings(model_dir: str | os.PathLike[str], benchmark: str,
                       data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The unlearning settings of ``benchmark`` (see the module docstring), ``{}`` when it has none."""
    path = data_folder(model_dir, data_dir) / f"{benchmark}-{SETTINGS_SUFFIX}"
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from exc
    unknown = sorted(set(settings) - set(SETTINGS_KEYS))
    if not isinstance(settings, dict) or unknown:
        raise UsageError(f"{path}: unknown keys {unknown}; valid keys: {', '.join(SETTINGS_KEYS)}")
    return dict(settings)


def copy_benchmark_data(src_model_dir: str | os.PathLike[str], dst_model_dir: str | os.PathLike[str]) -> None:
    """Carry the QA sets of a base model on to a derived (e.g. unlearned) model folder."""
    src = Path(src_model_dir) / DATA_FOLDER
    if src.is_dir():
        shutil.copytree(src, Path(dst_model_dir) / DATA_FOLDER, dirs_exist_ok=True)
