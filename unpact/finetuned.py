"""Fine-tuned knowledge (the MUSE/TOFU-like regime): a pretrained model fine-tuned on the synthetic world.

The organism (``unpact.organism``) learns everything it knows from the synthetic world. Here a real
pretrained model (``smollm2-135m``, ``gemma3-270m`` or any local causal-LM folder) is fine-tuned on
the same world (news, books, hazard, general; prose, question phrasings and the trained emphasis
styles), so the target model knows the invented facts *and* keeps what pretraining taught it. The
``facts`` benchmark of real-world facts (``unpact.data.facts``, built for the base model) measures
the second part before and after fine-tuning.

Prompt format and EOS (one convention for fine-tuning, greedy decoding and scoring): the question
forms of the corpus are shown in the model's own prompt format (``unpact.prompts``: the chat
template for SmolLM2, ``Question: ... Answer:`` for Gemma-3 base), prompt =
``format_prompt(tok, question, fmt)``, target = ``format_target(answer, fmt)`` followed by the
tokenizer's EOS id (SmolLM2: ``<|im_end|>``, its end of turn; Gemma: ``<eos>``). Prose forms are
plain text, continued by `` value .`` and EOS. The loss is on the target tokens and EOS only::

    L = - (1/|T|) * sum_{t in T} log p(x_t | x_<t),   T = target positions + the EOS position

So greedy decoding, which stops at EOS, gives the bare answer, and the teacher-forced answer score
``LP(x, y)`` (``unpact.scoring``: the target without EOS) scores exactly the trained target tokens.

Optimisation: full fine-tuning (no adapters; the result is a plain Hugging Face folder), AdamW with a
OneCycle schedule (``FinetuneConfig``), gradient-norm clip 1, one fixed seeded example order per
epoch (``unpact.organism.train_model``).

The result is a cached artifact (kind ``organism``, keyed by the init model's content hash, the
world and the fine-tuning configuration), written atomically: weights, tokenizer, the base's licence
files, ``unpact-data/`` with the world's QA sets and the base model's facts files (``facts-*.jsonl``
and ``corpora/``), and the record ``organism.json`` (accuracy per split and emphasis style before
and after, facts accuracy before and after, durations).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from unpact.cache import DONE_MARKER, cached_artifact
from unpact.data.benchmarks import DATA_FOLDER
from unpact.data.schema import load_items, save_items
from unpact.data.synthetic import DOMAINS, SPLITS, World, WorldConfig, build_world
from unpact.emphasis import HELD_OUT_STYLES
from unpact.errors import UsageError
from unpact.io import atomic_write_json
from unpact.organism import (
    RECORD_FILE,
    corpus_texts,
    deterministic,
    evaluate_world,
    profile_configs,
    train_model,
    weights_sha256,
)

FINETUNE_VERSION = 1  # bump when the fine-tuning code changes what a configuration produces


@dataclass(frozen=True)
class FinetuneConfig:
    """The fine-tuning recipe (every field is part of the cache key).

    - ``epochs``/``batch_size``: passes over the corpus and examples per optimiser step.
    - ``lr``/``pct_start``/``weight_decay``: AdamW, OneCycle schedule (warm-up fraction
      ``pct_start``, then cosine decay to ~0). 1e-4 is the usual full fine-tuning rate of a model
      of this size; the synthetic facts are random, so only memorisation helps.
    - ``max_steps``: stop after this many optimiser steps (``None``: all epochs); for quick checks.
    - ``facts_limit``: candidates per split of the base model's ``facts`` benchmark (``None``: all).
    - ``answer_only_loss``: loss on target + EOS only (see the module docstring).
    """

    epochs: int = 3
    batch_size: int = 8
    lr: float = 1e-4
    pct_start: float = 0.1
    weight_decay: float = 0.0
    max_steps: int | None = None
    facts_limit: int | None = None
    answer_only_loss: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or (self.max_steps is not None and self.max_steps < 1):
            raise UsageError("fine-tuning needs epochs >= 1, batch_size >= 1 and max_steps >= 1 (or None)")
        if not self.lr > 0:
            raise UsageError(f"fine-tuning needs lr > 0, got {self.lr}")


# The world size is the budget: a pretrained model memorises random facts far more slowly per
# example than it runs, so the default ``init`` world is small (6 entities per domain, 2 relations).
INIT_PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    # seconds, for unit tests: accuracy is irrelevant
    "micro": {
        "world": {
            "forget_entities": 1,
            "retain_entities": 1,
            "relations": 1,
            "question_phrasings": 1,
            "arithmetic_max": 1,
            "opposites": 1,
            "unanswerable": 1,
        },
        "train": {"epochs": 1, "batch_size": 4, "facts_limit": 12},
    },
    # the default: 2 forget + 4 retain entities x 2 relations per domain (36 facts), a small general
    # probe (10 items): 230 corpus examples, 3 epochs of batch 4 = 174 steps
    "init": {
        "world": {
            "forget_entities": 2,
            "retain_entities": 4,
            "relations": 2,
            "arithmetic_max": 1,
            "opposites": 4,
            "unanswerable": 2,
        },
        "train": {"epochs": 3, "batch_size": 4},
    },
    # 4x the facts of ``init`` (8 + 16 entities per domain, 2 relations); for a GPU or a long CPU run
    "large": {
        "world": {
            "forget_entities": 8,
            "retain_entities": 16,
            "relations": 2,
            "arithmetic_max": 4,
            "opposites": 12,
            "unanswerable": 6,
        },
        "train": {"epochs": 4},
    },
}
DEFAULT_INIT_PROFILE = "init"
LICENCE_FILE = re.compile(r"(NOTICE|LICEN[CS]E|TERMS)", re.IGNORECASE)


def resolve_init_configs(profile: str, seed: int, **overrides: Any) -> tuple[WorldConfig, FinetuneConfig]:
    """The world and fine-tuning configuration of ``profile`` (``INIT_PROFILES``) with ``overrides`` by field name."""
    return profile_configs(INIT_PROFILES, FinetuneConfig, profile, seed, overrides)


def resolve_init_model(init: str | os.PathLike[str]) -> tuple[str, Path]:
    """(label, folder) of the init model: a pretrained name (converted once into the cache) or a local model folder."""
    from unpact.pretrained import REGISTRY, resolve_model

    text = str(init)
    folder = Path(resolve_model(text))
    if not (folder / "config.json").is_file():
        raise UsageError(
            f"--init {text!r} is neither a pretrained model name ({', '.join(sorted(REGISTRY))}) "
            "nor a local Hugging Face model folder (with config.json)"
        )
    label = text if text in REGISTRY and not Path(text).exists() else folder.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label), folder


def folder_sha256(folder: Path) -> str:
    """SHA-256 over the top-level files of a model folder.

    Names sorted; ``unpact-data/`` and the cache marker excluded.
    """
    h = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != DONE_MARKER):
        h.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def finetune_config(init_sha256: str, world_cfg: WorldConfig, cfg: FinetuneConfig) -> dict[str, Any]:
    """The full configuration that names a fine-tuned model in the cache."""
    return {
        "init_sha256": init_sha256,
        "world": world_cfg.to_dict(),
        "finetune": dataclasses.asdict(cfg),
        "version": FINETUNE_VERSION,
    }


def finetune_organism(
    init: str | os.PathLike[str],
    profile: str = DEFAULT_INIT_PROFILE,
    seed: int = 0,
    cache_root: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> Path:
    """Fine-tune (or fetch from the cache) ``init`` on the world of ``profile``/``seed``; returns the folder.

    ``overrides`` set any ``WorldConfig`` or ``FinetuneConfig`` field by name (e.g. ``epochs=2``).
    """
    world_cfg, cfg = resolve_init_configs(profile, seed, **overrides)
    label, init_dir = resolve_init_model(init)
    config = finetune_config(folder_sha256(init_dir), world_cfg, cfg)
    return cached_artifact(
        "organism",
        f"init-{label}-{profile}",
        config,
        lambda tmp: build_finetuned(tmp, init_dir, world_cfg, cfg, progress),
        root=cache_root,
    )


def build_finetuned(
    folder: Path, init_dir: Path, world_cfg: WorldConfig, cfg: FinetuneConfig, progress: bool = True
) -> dict[str, Any]:
    """Fine-tune ``init_dir`` on the world, build (or reuse) the base model's facts, save everything into ``folder``."""
    with deterministic(world_cfg.seed):
        return _build(folder, init_dir, world_cfg, cfg, progress)


def _build(folder: Path, init_dir: Path, world_cfg: WorldConfig, cfg: FinetuneConfig, progress: bool) -> dict[str, Any]:
    from unpact.modeling import load_model_and_tokenizer
    from unpact.prompts import format_prompt, format_target, resolve_prompt_format

    model, tokenizer = load_model_and_tokenizer(init_dir)
    fmt = resolve_prompt_format(tokenizer, "auto")
    if tokenizer.eos_token_id is None:
        raise UsageError(f"the tokenizer of {str(init_dir)!r} has no EOS token; fine-tuning needs one to end answers")
    world = build_world(world_cfg)
    examples = corpus_texts(world, lambda q: format_prompt(tokenizer, q, fmt), lambda a: format_target(a, fmt))
    start = time.perf_counter()
    before = evaluate_world(model, tokenizer, world, styles=())
    before_seconds = time.perf_counter() - start
    start = time.perf_counter()
    losses = train_model(
        model, tokenizer, examples, cfg, world_cfg.seed, progress, max_steps=cfg.max_steps, desc="fine-tuning"
    )
    train_seconds = time.perf_counter() - start
    facts, facts_seconds = _base_facts(init_dir, cfg.facts_limit)  # loads the base model from init_dir itself
    start = time.perf_counter()
    accuracies = evaluate_world(model, tokenizer, world)
    if facts.get("eligibility") is not None:
        facts["accuracies"] = _facts_after(model, tokenizer, init_dir, facts["eligibility"])
    eval_seconds = time.perf_counter() - start
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _save_data(folder, init_dir, world, with_facts=facts.get("eligibility") is not None)
    _copy_licence(folder, init_dir)
    record = {
        "regime": "finetuned",
        "init": {"folder": str(init_dir.resolve()), "sha256": folder_sha256(init_dir)},
        "arch": type(model).__name__,
        "prompt_format": fmt,
        "eos_token": tokenizer.eos_token,
        "world": world_cfg.to_dict(),
        "finetune": dataclasses.asdict(cfg),
        "corpus_examples": len(examples),
        "optimizer_steps": _steps(len(examples), cfg),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds, 2),
        "eval_seconds": round(eval_seconds, 2),
        "eval_before_seconds": round(before_seconds, 2),
        "facts_build_seconds": round(facts_seconds, 2),
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()),
        "device": str(next(model.parameters()).device),
        "epoch_losses": [round(x, 6) for x in losses],
        "weights_sha256": weights_sha256(model),
        "accuracies": accuracies,
        "accuracies_before": before,
        "facts": facts,
        "held_out_styles": list(HELD_OUT_STYLES),
    }
    atomic_write_json(folder / RECORD_FILE, record)
    return {"weights_sha256": record["weights_sha256"], "train_seconds": record["train_seconds"]}


def _steps(n_examples: int, cfg: FinetuneConfig) -> int:
    per_epoch = -(-n_examples // cfg.batch_size)
    return per_epoch * cfg.epochs if cfg.max_steps is None else min(cfg.max_steps, per_epoch * cfg.epochs)


def _base_facts(init_dir: Path, limit: int | None) -> tuple[dict[str, Any], float]:
    """Build (or reuse) the base model's facts files; a base model that knows no facts gets a recorded note instead."""
    from unpact.data.facts import build_facts

    start = time.perf_counter()
    try:
        eligibility = build_facts(init_dir, limit=limit)
    except UsageError as exc:
        return {"eligibility": None, "note": f"facts benchmark not built for the base model: {exc}"}, 0.0
    return {"eligibility": eligibility}, time.perf_counter() - start


def _facts_after(model: Any, tokenizer: Any, init_dir: Path, eligibility: dict[str, Any]) -> list[dict[str, Any]]:
    """Accuracy of the fine-tuned model on the base model's eligible facts items, per split.

    ``accuracy_before`` is 1 on every split by construction (only items the base model answers
    correctly, with the same prompt format and judge, are kept); ``base_rate`` is the base model's
    accuracy over all candidates of the split (kept / candidates).
    """
    from unpact.data.facts import FACTS, FACTS_SPLITS, facts_dir
    from unpact.evaluate import accuracy_summary, evaluate_items

    rows = []
    for split in FACTS_SPLITS:
        items = load_items(facts_dir(init_dir) / f"{FACTS}-{split}.jsonl")
        frame = evaluate_items(model, tokenizer, items, batch_size=32, with_probabilities=False)
        counts = eligibility["counts"]["retain" if split == "retain_train" else split]
        rows.append(
            {
                "benchmark": FACTS,
                "split": split,
                "emphasis": "plain",
                "accuracy_before": 1.0,
                "base_rate": counts["kept"] / counts["candidates"] if counts["candidates"] else float("nan"),
                **accuracy_summary(frame),
            }
        )
    return rows


def _save_data(folder: Path, init_dir: Path, world: World, with_facts: bool) -> None:
    """The world's QA sets and, ``with_facts``, the base model's facts files (``facts-*``, ``corpora/``), in
    ``unpact-data``.

    Without a finished facts build (``with_facts`` false) no facts file is copied: a failed build can
    leave some splits' files behind in the base folder.
    """
    data = folder / DATA_FOLDER
    for domain in DOMAINS:
        for split in SPLITS[domain]:
            save_items(data / f"{domain}-{split}.jsonl", world.items(domain, split))
    base = init_dir / DATA_FOLDER
    if not with_facts or not base.is_dir():
        return
    for path in base.glob("facts-*"):
        if path.is_file():
            shutil.copy2(path, data / path.name)
    if (base / "corpora").is_dir():
        shutil.copytree(base / "corpora", data / "corpora", dirs_exist_ok=True)


def _copy_licence(folder: Path, init_dir: Path) -> None:
    """Carry the base model's licence files on, and say in ``NOTICE`` that the weights were fine-tuned here."""
    for path in init_dir.iterdir():
        if path.is_file() and LICENCE_FILE.search(path.name) and not (folder / path.name).exists():
            shutil.copy2(path, folder / path.name)
    notice = folder / "NOTICE"
    text = notice.read_text(encoding="utf-8") if notice.is_file() else ""
    notice.write_text(
        text + f"Fine-tuned by unpact (full fine-tuning on its synthetic world) from {init_dir.name}.\n",
        encoding="utf-8",
    )
