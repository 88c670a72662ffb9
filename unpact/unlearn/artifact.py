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
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from unpact.cache import (
    DONE_MARKER,
    artifact_dir,
    artifact_record,
    cached_artifact,
    config_hash,
    folder_hash,
    is_complete,
)
from unpact.data.benchmarks import (
    available_benchmarks,
    benchmark_items,
    benchmark_settings,
    copy_benchmark_data,
    data_folder,
)
from unpact.data.facts import FACTS, ensure_facts
from unpact.data.schema import QAItem, load_items
from unpact.errors import UsageError
from unpact.io import atomic_directory, atomic_write_csv, atomic_write_json, read_jsonl
from unpact.modeling import load_model_and_tokenizer
from unpact.pretrained import resolve_model
from unpact.unlearn.loop import UnlearnResult, unlearn
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
    reuse_unprobed: bool = False,
) -> Path:
    """Unlearn ``benchmark``'s forget split from the model in ``base_model_dir``; return the output folder.

    ``base_model_dir`` may be a name of ``unpact models`` (converted on first use). Forget/retain
    QA come from the folder's ``unpact-data/<benchmark>-{forget,retain}.jsonl`` unless
    ``forget_file``/``retain_file`` (the QA JSONL schema) are given; the ``general`` test set, when
    the folder carries one, is evaluated at the end. A benchmark with unlearning settings
    (``unpact.data.benchmarks.benchmark_settings``, e.g. ``facts``) changes these defaults: its forget
    corpus is trained on instead of the forget questions (methods that cannot train on plain texts,
    such as ``idk_dpo``, keep the questions; the record says which), its ``retain_split`` feeds the
    retain term, and its ``params``/``budget`` are the defaults under the user's own. With ``out``
    the result is written there (reused if it already holds this configuration), else into the cache.
    ``probe``, a callable ``(model, tokenizer, step) -> DataFrame`` (see ``unpact.unlearn.unlearn``), is run
    at every check and its rows written to ``PROBES_FILE``; ``probe_key`` (a string, required with it)
    names what the probe measures and joins the cache key. (Both are typed ``Any`` so that callers may
    pass the data files as ``**dict[str, Path]``.) A probe only reads the model at the checks (greedy,
    no randomness), so without a stop target the weights are those of the same run without a probe:
    a probed run is then also entered in the cache as that unprobed configuration (files hard-linked),
    and with ``reuse_unprobed`` an existing unprobed entry is returned at once instead of training
    again (for callers that need the weights, not the probe rows); it always returns that entry.
    """
    if (probe is None) != (probe_key is None):
        raise UsageError("give probe and probe_key together (probe_key identifies the probe in the cache key)")
    base_model_dir = resolve_model(base_model_dir)
    cls = get_method(method)
    if benchmark == FACTS and not (forget_file or retain_file):
        ensure_facts(base_model_dir, device=device)  # built on first use, as `unpact eval` does
    settings = {} if forget_file or retain_file else benchmark_settings(base_model_dir, benchmark)
    p = build_params(cls.Params, {**settings.get("params", {}), **dict(params or {})}, method)  # errors early
    budget = budget or (Budget(**settings["budget"]) if "budget" in settings else cls.default_budget)
    forget = _items(base_model_dir, benchmark, "forget", forget_file)
    retain = _items(base_model_dir, benchmark, settings.get("retain_split", "retain"), retain_file)
    general_bench, general_split = settings.get("general", ("general", "test"))
    has_general = general_split in available_benchmarks(base_model_dir).get(general_bench, [])
    general = benchmark_items(base_model_dir, general_bench, general_split) if has_general else []
    corpus = settings.get("forget_corpus")
    uses_corpus = forget_texts_file is None and bool(corpus) and cls.accepts_forget_texts
    if uses_corpus:
        forget_texts_file = data_folder(base_model_dir) / str(corpus)
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
        "settings": settings,
    }
    unprobed = dict(config)
    if probe_key is not None:
        config["probe"] = probe_key
    name = f"{benchmark}-{method}"
    shares_weights = probe is not None and stop_at is None and out is None
    entry = artifact_dir("unlearned", name, unprobed, cache_root) if shares_weights else None
    if entry is not None and reuse_unprobed and is_complete(entry):
        return entry

    texts = _texts(forget_texts_file) if forget_texts_file else None

    def train() -> tuple[UnlearnResult, Any]:
        model, tokenizer = load_model_and_tokenizer(base_model_dir, device="cpu")
        result = unlearn(model, tokenizer, forget, retain, method, asdict(p), budget, stop_at, seed,
                         general_items=general, forget_texts=texts, device=device, bf16=bf16, progress=progress,
                         train_on_forget_items=not uses_corpus, probe=probe)
        return result, tokenizer

    def build(tmp: Path, trained: tuple[UnlearnResult, Any] | None = None) -> dict[str, Any]:
        result, tokenizer = trained or train()
        result.model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        copy_benchmark_data(base_model_dir, tmp)
        record = {**result.record, "processes": int(os.environ.get("WORLD_SIZE", "1")), "benchmark": benchmark,
                  "base_model": str(Path(base_model_dir).resolve()),
                  "base_model_hash": config["base_model_hash"]}
        atomic_write_json(tmp / RECORD_FILE, record)
        atomic_write_csv(tmp / LOG_FILE, result.log)
        if result.probes is not None:
            atomic_write_csv(tmp / PROBES_FILE, result.probes)
        return {"record": record}

    target = artifact_dir("unlearned", name, config, cache_root) if out is None else Path(out)
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if world > 1 and not _reusable(target, config):
        # Several processes (accelerate launch): all train together, only rank 0 writes (atomically).
        trained = train()
        if rank == 0:
            _write(target, config, benchmark, method, lambda tmp: build(tmp, trained))
        import torch.distributed as dist

        dist.barrier()  # the other ranks return once the folder exists
        return target
    if out is None:
        folder = cached_artifact("unlearned", name, config, build, root=cache_root)
        if entry is not None:
            cached_artifact("unlearned", name, unprobed, _linked_from(folder), root=cache_root)
            return entry if reuse_unprobed else folder
        return folder
    if _reusable(target, config):
        return target
    _write(target, config, benchmark, method, build)
    return target


def _linked_from(folder: Path) -> Callable[[Path], dict[str, Any]]:
    """A ``cached_artifact`` build that fills the new entry with ``folder``'s files, hard-linked where the file
    system allows (else copied); its marker keeps ``folder``'s facts and names it (``entered_from``)."""
    import shutil

    def build(tmp: Path) -> dict[str, Any]:
        for path in folder.rglob("*"):
            if path.is_file() and path.name != DONE_MARKER:
                dest = tmp / path.relative_to(folder)
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, dest)
                except OSError:
                    shutil.copy2(path, dest)
        facts = {k: v for k, v in artifact_record(folder).items() if k not in ("kind", "name", "config")}
        return {**facts, "entered_from": folder.name}

    return build


def _reusable(target: Path, config: Mapping[str, Any]) -> bool:
    """``target`` already holds this configuration; ``UsageError`` if it holds something else."""
    if is_complete(target):
        previous = artifact_record(target)
        if config_hash(previous.get("config", {})) == config_hash(config):
            return True
        if previous.get("kind") != "unlearned":
            raise UsageError(f"{str(target)!r} holds another kind of artifact; choose another --out")
    elif target.exists() and any(target.iterdir()):
        raise UsageError(f"{str(target)!r} exists and is not an unlearned model folder; refusing to overwrite it")
    return False


def _write(target: Path, config: Mapping[str, Any], benchmark: str, method: str,
           build: Callable[[Path], dict[str, Any]]) -> None:
    """Build into a temporary folder and rename it to ``target`` with its marker record."""
    with atomic_directory(target) as tmp:
        extra = build(tmp)
        atomic_write_json(tmp / DONE_MARKER,
                          {"kind": "unlearned", "name": f"{benchmark}-{method}", "config": dict(config), **extra})


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
