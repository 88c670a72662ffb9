"""Unlearn a model folder on one benchmark and save the result as a plain Hugging Face folder, cached.

The folder holds the model and tokenizer, the base model's QA sets (``unpact-data/``, so every
later analysis finds them), ``unlearning.json`` (method, parameters, budget, steps taken, stop
reason, final accuracies, base model hash, duration) and ``unlearning-log.csv`` (the per-step
log), and with a ``probe`` ``unlearning-probes.csv`` (its rows at every check: the trajectory).
It is keyed by (base model hash, benchmark, data files, method, parameters, budget, stop
target, seed): the same configuration a second time returns the existing folder at once.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from unpact.cache import DONE_MARKER, artifact_record, cached_artifact, config_hash, folder_hash, is_complete
from unpact.data.benchmarks import available_benchmarks, benchmark_items, copy_benchmark_data
from unpact.data.schema import QAItem, load_items
from unpact.errors import UsageError
from unpact.io import atomic_directory, atomic_write_csv, atomic_write_json, read_jsonl
from unpact.modeling import load_model_and_tokenizer
from unpact.unlearn.loop import unlearn
from unpact.unlearn.methods import get_method
from unpact.unlearn.params import Budget, build_params

RECORD_FILE = "unlearning.json"
LOG_FILE = "unlearning-log.csv"
PROBES_FILE = "unlearning-probes.csv"


def file_hash(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def unlearn_to_dir(
    base_model_dir: str | os.PathLike[str],
    benchmark: str,
    method: str = "npo",
    params: Mapping[str, Any] | None = None,
    budget: Budget | None = None,
    stop_at: float | None = None,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    cache_root: str | os.PathLike[str] | None = None,
    forget_file: str | os.PathLike[str] | None = None,
    retain_file: str | os.PathLike[str] | None = None,
    forget_texts_file: str | os.PathLike[str] | None = None,
    device: str | None = None,
    bf16: bool = False,
    progress: bool = True,
    probe: Any = None,
    probe_key: Any = None,
) -> Path:
    """Unlearn ``benchmark``'s forget split from the model in ``base_model_dir``; return the output folder.

    Forget/retain QA come from the folder's ``unpact-data/<benchmark>-{forget,retain}.jsonl``
    unless ``forget_file``/``retain_file`` (the QA JSONL schema) are given; the ``general`` test
    set, when the folder carries one, is evaluated at the end. With ``out`` the result is written
    there (reused if it already holds this configuration), else into the cache. ``probe``, a callable
    ``(model, tokenizer, step) -> DataFrame`` (see ``unpact.unlearn.unlearn``), is run at every check
    and its rows written to ``PROBES_FILE``; ``probe_key`` (a string, required with it) names what
    the probe measures and joins the cache key. (Both are typed ``Any`` so that callers may pass the
    data files as ``**dict[str, Path]``.)
    """
    if (probe is None) != (probe_key is None):
        raise UsageError("give probe and probe_key together (probe_key identifies the probe in the cache key)")
    cls = get_method(method)
    p = build_params(cls.Params, params, method)  # errors before anything is loaded
    budget = budget or cls.default_budget
    forget = _items(base_model_dir, benchmark, "forget", forget_file)
    retain = _items(base_model_dir, benchmark, "retain", retain_file)
    has_general = "general" in available_benchmarks(base_model_dir)
    general = benchmark_items(base_model_dir, "general", "test") if has_general else []
    config = {
        "base_model_hash": folder_hash(base_model_dir),
        "benchmark": benchmark,
        "forget_file_hash": file_hash(forget_file) if forget_file else None,
        "retain_file_hash": file_hash(retain_file) if retain_file else None,
        "forget_texts_hash": file_hash(forget_texts_file) if forget_texts_file else None,
        "method": method,
        "params": asdict(p),
        "budget": budget.to_dict(),
        "stop_at": stop_at,
        "seed": seed,
        "bf16": bf16,
    }
    if probe_key is not None:
        config["probe"] = probe_key

    texts = _texts(forget_texts_file) if forget_texts_file else None

    def build(tmp: Path) -> dict[str, Any]:
        model, tokenizer = load_model_and_tokenizer(base_model_dir, device="cpu")
        result = unlearn(model, tokenizer, forget, retain, method, asdict(p), budget, stop_at, seed,
                         general_items=general, forget_texts=texts, device=device, bf16=bf16, progress=progress,
                         probe=probe)
        result.model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        copy_benchmark_data(base_model_dir, tmp)
        record = {**result.record, "benchmark": benchmark, "base_model": str(Path(base_model_dir).resolve()),
                  "base_model_hash": config["base_model_hash"]}
        atomic_write_json(tmp / RECORD_FILE, record)
        atomic_write_csv(tmp / LOG_FILE, result.log)
        if result.probes is not None:
            atomic_write_csv(tmp / PROBES_FILE, result.probes)
        return {"record": record}

    if out is None:
        return cached_artifact("unlearned", f"{benchmark}-{method}", config, build, root=cache_root)
    target = Path(out)
    if is_complete(target):
        previous = artifact_record(target)
        if config_hash(previous.get("config", {})) == config_hash(config):
            return target
        if previous.get("kind") != "unlearned":
            raise UsageError(f"{str(target)!r} holds another kind of artifact; choose another --out")
    elif target.exists() and any(target.iterdir()):
        raise UsageError(f"{str(target)!r} exists and is not an unlearned model folder; refusing to overwrite it")
    with atomic_directory(target) as tmp:
        extra = build(tmp)
        atomic_write_json(tmp / DONE_MARKER,
                          {"kind": "unlearned", "name": f"{benchmark}-{method}", "config": config, **extra})
    return target


def read_record(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``unlearning.json`` record of an unlearned model folder."""
    return artifact_record(folder)["record"]


def _items(
    base: str | os.PathLike[str], benchmark: str, split: str, file: str | os.PathLike[str] | None
) -> list[QAItem]:
    return load_items(file) if file else benchmark_items(base, benchmark, split)


def _texts(path: str | os.PathLike[str]) -> list[str]:
    """Plain forget texts (e.g. MUSE's verbatim forget corpus) from JSONL rows with a ``text`` field."""
    rows = read_jsonl(path)
    bad = [i + 1 for i, r in enumerate(rows) if not isinstance(r.get("text"), str) or not r["text"].strip()]
    if bad:
        raise UsageError(f"{path}: rows {bad[:5]} have no non-empty 'text' field (expected {{\"text\": ...}} per line)")
    if not rows:
        raise UsageError(f"{path}: no texts")
    return [r["text"] for r in rows]
