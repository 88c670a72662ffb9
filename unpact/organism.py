"""The model organism: a small causal LM trained here, from scratch, on the whole synthetic world.

One model learns every domain at once (news, books, hazard, general), as one LLM knows
everything; unlearning later removes the forget entities from it. The organism is saved as a
plain Hugging Face folder (``config.json``, ``model.safetensors``, tokenizer files) that
``AutoModelForCausalLM``/``AutoTokenizer.from_pretrained`` load with no custom code, plus its QA
sets under ``unpact-data/`` and a record ``organism.json`` (world and training configuration,
durations, weight hash, final accuracies).

Training objective (answer-only causal LM loss)::

    L = - (1/|T|) * sum_{t in T} log p(x_t | x_<t)

where ``T`` are the target positions of each example (the answer plus EOS of a QA form, the value
and closing period of a prose sentence; see ``unpact.data.synthetic.corpus_examples``). The
facts are random, so there is nothing to generalise: a loss on the (shared, fixed) question
words would only spend capacity on predicting templates and entity names (the calibration trial
here used the same answer-only loss; ``answer_only_loss=False`` adds the context tokens).

Determinism: seeds for Python, torch and the data order, ``torch.use_deterministic_algorithms``,
one fixed example order per epoch drawn from a seeded generator; same arch, profile, seed and
overrides on the CPU give the same weight hash (``weights_sha256``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

from unpact.cache import cached_artifact
from unpact.data.benchmarks import DATA_FOLDER
from unpact.data.schema import QAItem, save_items
from unpact.data.synthetic import DOMAINS, SPLITS, World, WorldConfig, build_world
from unpact.emphasis import (
    EMPHASIS_STYLES,
    HELD_OUT_STYLES,
    STYLE_TEMPLATE_WORDS,
    emphasize,
)
from unpact.errors import UsageError, check_choice
from unpact.io import atomic_write_json
from unpact.modeling import context_length, model_device
from unpact.prompts import qa_prompt, qa_target
from unpact.scoring import encode_prompt, encode_target

ARCHS = ("llama", "gpt2", "qwen2")
SPECIAL_TOKENS = ("[PAD]", "[BOS]", "[EOS]", "[UNK]")
RECORD_FILE = "organism.json"
ORGANISM_VERSION = 1  # bump when the training code changes what a configuration produces
T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Model size and optimisation recipe (every field is part of the cache key).

    - ``width``/``layers``/``heads``/``ffn_mult``: transformer size. Width 192, 3 layers (~1.8 M
      parameters) memorised the default world (~330 facts, 5 surface forms each) to 1.00 on every
      split and style here; the calibration trial failed at width 128 on a larger world.
    - ``context``: maximum sequence length (the longest emphasised prompt is ~25 words).
    - ``epochs``/``batch_size``: passes over the corpus and examples per optimiser step; 30
      epochs of batch 32 reached a final loss of ~0.002 (the loss was ~0.006 at epoch 19).
    - ``lr``/``pct_start``/``weight_decay``: AdamW with a OneCycle schedule (warm-up fraction
      ``pct_start``, then cosine decay), which reached full memorisation in far fewer epochs than
      a constant rate in the calibration trial.
    - ``answer_only_loss``: loss on target positions only (see the module docstring).
    - ``dropout``: 0 for every architecture (GPT-2's own default is 0.1, Llama's and Qwen2's 0):
      the organism must memorise random facts, and one value keeps the architectures comparable.
    """

    width: int = 192
    layers: int = 3
    heads: int = 4
    ffn_mult: int = 4
    context: int = 64
    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    pct_start: float = 0.15
    weight_decay: float = 0.01
    answer_only_loss: bool = True
    dropout: float = 0.0


PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    # seconds: for unit tests; accuracy is irrelevant
    "micro": {
        "world": {
            "forget_entities": 2,
            "retain_entities": 2,
            "relations": 2,
            "arithmetic_max": 2,
            "opposites": 2,
            "unanswerable": 2,
        },
        "train": {"width": 32, "layers": 2, "heads": 2, "ffn_mult": 2, "epochs": 2, "batch_size": 32},
    },
    # the default organism: meets the accuracy targets in minutes on a 2-core CPU
    "quick": {"world": {}, "train": {}},
    # a larger world (2x entities, 4 relations: ~2.7x the facts) for tighter confidence intervals;
    # a wider, deeper model and more epochs for the extra facts (not yet verified to reach the targets)
    "full": {
        "world": {"forget_entities": 16, "retain_entities": 32, "relations": 4},
        "train": {"width": 256, "layers": 4, "epochs": 40},
    },
}


def resolve_configs(profile: str, seed: int, **overrides: Any) -> tuple[WorldConfig, TrainConfig]:
    """The world and training configuration of ``profile`` with ``overrides`` applied by field name."""
    return profile_configs(PROFILES, TrainConfig, profile, seed, overrides)


def profile_configs(
    profiles: dict[str, dict[str, dict[str, Any]]],
    train_type: type[T],
    profile: str,
    seed: int,
    overrides: dict[str, Any],
) -> tuple[WorldConfig, T]:
    """``profiles[profile]``'s world and ``train_type`` configuration with ``overrides`` applied by field name."""
    check_choice("profile", profile, profiles)
    world_fields = {f.name for f in dataclasses.fields(WorldConfig)}
    train_fields = {f.name for f in dataclasses.fields(train_type)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - world_fields - train_fields)
    if unknown:
        raise UsageError(
            f"unknown organism option(s) {unknown}; valid: {', '.join(sorted(world_fields | train_fields))}"
        )
    world_kw = {**profiles[profile]["world"], **{k: v for k, v in overrides.items() if k in world_fields}, "seed": seed}
    if "trained_styles" in world_kw:
        world_kw["trained_styles"] = tuple(world_kw["trained_styles"])
    train_kw = {**profiles[profile]["train"], **{k: v for k, v in overrides.items() if k in train_fields}}
    return WorldConfig(**world_kw), train_type(**train_kw)


def build_tokenizer(texts: list[str]) -> Any:
    """A word-level fast tokenizer over the words of ``texts`` (whitespace split, [BOS] prepended).

    The vocabulary is the special tokens followed by the sorted distinct words, so it is the same
    for the same texts. Saved with ``save_pretrained`` it loads through ``AutoTokenizer``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in texts for w in t.split()} - set(SPECIAL_TOKENS))
    vocab = {w: i for i, w in enumerate((*SPECIAL_TOKENS, *words))}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.post_processor = processors.TemplateProcessing(single="[BOS] $A", special_tokens=[("[BOS]", vocab["[BOS]"])])
    tk.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token="[BOS]",
        eos_token="[EOS]",
        pad_token="[PAD]",
        unk_token="[UNK]",
        model_max_length=10_000,
    )


def build_model(arch: str, vocab_size: int, cfg: TrainConfig, tokenizer: Any) -> Any:
    """A randomly initialised causal LM of ``arch`` (llama, gpt2, qwen2) with the sizes of ``cfg``."""
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    check_choice("architecture", arch, ARCHS)
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    ffn = cfg.width * cfg.ffn_mult
    if arch == "gpt2":
        return GPT2LMHeadModel(
            GPT2Config(
                vocab_size=vocab_size,
                n_embd=cfg.width,
                n_layer=cfg.layers,
                n_head=cfg.heads,
                n_inner=ffn,
                n_positions=cfg.context,
                resid_pdrop=cfg.dropout,
                embd_pdrop=cfg.dropout,
                attn_pdrop=cfg.dropout,
                **ids,
            )
        )
    common = dict(
        vocab_size=vocab_size,
        hidden_size=cfg.width,
        intermediate_size=ffn,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        max_position_embeddings=cfg.context,
        tie_word_embeddings=True,
        attention_dropout=cfg.dropout,
        **ids,
    )
    if arch == "llama":
        return LlamaForCausalLM(LlamaConfig(**common))
    return Qwen2ForCausalLM(Qwen2Config(num_key_value_heads=cfg.heads, **common))


def corpus_texts(
    world: World, prompt: Callable[[str], str] = qa_prompt, target: Callable[[str], str] = qa_target
) -> list[dict[str, str]]:
    """The union training corpus of all domains (context/target/form/domain rows), in world order.

    ``prompt``/``target`` format the question forms (default: the plain QA format of the organism).
    """
    return [{**ex, "domain": d} for d in DOMAINS for ex in world.corpus(d, prompt, target)]


def encode_examples(
    tokenizer: Any, examples: list[dict[str, str]], answer_only: bool
) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per example: context, target, EOS; labels -100 outside target + EOS if ``answer_only``.

    The context is encoded as scoring encodes a prompt and the target as scoring encodes a target
    (``unpact.scoring.encode_prompt``/``encode_target``: the tokenizer's default special tokens on
    the context, e.g. [BOS]; none on the target), so training, greedy decoding (which stops at
    EOS) and teacher-forced scoring (the target without EOS) see the same token ids.
    """
    out = []
    for ex in examples:
        ctx = encode_prompt(tokenizer, ex["context"])[0]
        tgt = encode_target(tokenizer, ex["target"]) + [tokenizer.eos_token_id]
        ids = list(ctx) + list(tgt)
        labels = ([-100] * len(ctx) if answer_only else [-100] + list(ctx[1:])) + list(tgt)
        out.append((ids, labels))
    return out


def _batches(
    encoded: list[tuple[list[int], list[int]]], order: list[int], size: int, pad: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    for start in range(0, len(order), size):
        rows = [encoded[i] for i in order[start : start + size]]
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (i, lab) in enumerate(rows):
            ids[r, : len(i)] = torch.tensor(i)
            labels[r, : len(lab)] = torch.tensor(lab)
            mask[r, : len(i)] = 1
        yield ids, mask, labels


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed Python and torch and use deterministic kernels inside the block (restored afterwards)."""
    previous = torch.are_deterministic_algorithms_enabled()
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


class OptimConfig(Protocol):
    """The optimisation fields ``train_model`` reads (``TrainConfig`` and ``FinetuneConfig`` have them)."""

    @property
    def epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def pct_start(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def answer_only_loss(self) -> bool: ...


def train_model(
    model: Any,
    tokenizer: Any,
    examples: list[dict[str, str]],
    cfg: OptimConfig,
    seed: int,
    progress: bool = True,
    max_steps: int | None = None,
    desc: str = "training organism",
) -> list[float]:
    """Train ``model`` in place on ``examples``; returns the mean loss of each epoch (begun).

    AdamW, OneCycle schedule over all steps, gradient-norm clip 1. ``max_steps`` stops after that
    many optimiser steps (the schedule then spans ``max_steps``), for quick checks.
    """
    from tqdm.auto import tqdm

    encoded = encode_examples(tokenizer, examples, cfg.answer_only_loss)
    longest = max(len(ids) for ids, _ in encoded)
    limit = context_length(model)
    if limit is not None and longest > limit:
        raise UsageError(f"a training example has {longest} tokens, more than the context of {limit}")
    steps_per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch if max_steps is None else min(max_steps, cfg.epochs * steps_per_epoch)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total_steps, pct_start=cfg.pct_start)
    gen = torch.Generator().manual_seed(seed)
    device = model_device(model)
    model.train()
    losses: list[float] = []
    bar = tqdm(total=total_steps, desc=desc, unit="step", disable=not progress)
    step = 0
    while step < total_steps:
        order = torch.randperm(len(encoded), generator=gen).tolist()
        total, count = 0.0, 0
        for ids, mask, labels in _batches(encoded, order, cfg.batch_size, tokenizer.pad_token_id):
            loss = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item() * len(ids)
            count += len(ids)
            step += 1
            bar.update(1)
            if step == total_steps:
                break
        losses.append(total / count)
        bar.set_postfix(epoch=len(losses), loss=f"{losses[-1]:.4f}")
    bar.close()
    model.eval()
    return losses


def weights_sha256(model: Any) -> str:
    """SHA-256 over the model's parameters and buffers (names sorted, raw float bytes)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def evaluate_world(
    model: Any, tokenizer: Any, world: World, styles: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """Accuracy (with n and Wilson CI) of every QA split, plain and under each emphasis style.

    Short-answer items: greedy answer judged by the prompt format's default judge (the organism: exact match);
    hazard: multiple choice by option likelihood.
    """
    from unpact.evaluate import accuracy_summary, evaluate_items

    trained = set(world.config.trained_styles)
    rows = []
    for domain in DOMAINS:
        for split in SPLITS[domain]:
            items = world.items(domain, split)
            for style in ("plain", *(styles if styles is not None else tuple(EMPHASIS_STYLES))):
                questions = (
                    None if style == "plain" else [emphasize(it.question, it.keywords or [], style) for it in items]
                )
                # as `unpact eval` (its answer probabilities are not needed here: the same verdicts, two passes fewer)
                frame = evaluate_items(model, tokenizer, items, questions=questions, with_probabilities=False)
                kind = "plain" if style == "plain" else ("trained" if style in trained else "held-out")
                rows.append(
                    {
                        "benchmark": domain,
                        "split": split,
                        "emphasis": style,
                        "style_kind": kind,
                        **accuracy_summary(frame),
                    }
                )
    return rows


def build_organism(
    folder: Path, arch: str, world_cfg: WorldConfig, train_cfg: TrainConfig, progress: bool = True
) -> dict[str, Any]:
    """Train (on the CPU) and save one organism into ``folder``; returns the facts stored in its record."""
    with deterministic(world_cfg.seed):
        return _build_organism(folder, arch, world_cfg, train_cfg, progress)


def _build_organism(
    folder: Path, arch: str, world_cfg: WorldConfig, train_cfg: TrainConfig, progress: bool
) -> dict[str, Any]:
    world = build_world(world_cfg)
    examples = corpus_texts(world)
    vocab_texts = [t for ex in examples for t in (ex["context"], ex["target"])]
    vocab_texts += [" ".join(sorted(w for words in STYLE_TEMPLATE_WORDS.values() for w in words))]
    vocab_texts += [
        q for d in DOMAINS for s in SPLITS[d] for it in world.items(d, s) for q in [it.question, *(it.choices or [])]
    ]
    tokenizer = build_tokenizer(vocab_texts)
    model = build_model(arch, len(tokenizer), train_cfg, tokenizer)
    start = time.perf_counter()
    losses = train_model(model, tokenizer, examples, train_cfg, world_cfg.seed, progress)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    accuracies = evaluate_world(model, tokenizer, world)
    eval_seconds = time.perf_counter() - start
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    for domain in DOMAINS:
        for split in SPLITS[domain]:
            save_items(folder / DATA_FOLDER / f"{domain}-{split}.jsonl", world.items(domain, split))
    record = {
        "arch": arch,
        "world": world_cfg.to_dict(),
        "train": dataclasses.asdict(train_cfg),
        "corpus_examples": len(examples),
        "vocab_size": len(tokenizer),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds, 2),
        "eval_seconds": round(eval_seconds, 2),
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()),
        "epoch_losses": [round(x, 6) for x in losses],
        "weights_sha256": weights_sha256(model),
        "accuracies": accuracies,
        "held_out_styles": list(HELD_OUT_STYLES),
    }
    atomic_write_json(folder / RECORD_FILE, record)
    return {"weights_sha256": record["weights_sha256"], "train_seconds": record["train_seconds"]}


def organism_config(arch: str, world_cfg: WorldConfig, train_cfg: TrainConfig) -> dict[str, Any]:
    """The full configuration that names an organism in the cache."""
    return {
        "arch": arch,
        "world": world_cfg.to_dict(),
        "train": dataclasses.asdict(train_cfg),
        "version": ORGANISM_VERSION,
    }


def train_organism(
    arch: str = "llama",
    profile: str = "quick",
    seed: int = 0,
    cache_root: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> Path:
    """Train (or fetch from the cache) the organism of ``arch``/``profile``/``seed``; returns its folder.

    ``overrides`` set any ``WorldConfig`` or ``TrainConfig`` field by name (e.g. ``epochs=10``).
    The folder is content-addressed by the full configuration, so a second call returns at once,
    and it is written atomically, so an interrupted run leaves nothing and the next one restarts.
    """
    check_choice("architecture", arch, ARCHS)
    world_cfg, train_cfg = resolve_configs(profile, seed, **overrides)
    config = organism_config(arch, world_cfg, train_cfg)
    return cached_artifact(
        "organism",
        f"{arch}-{profile}",
        config,
        lambda tmp: build_organism(tmp, arch, world_cfg, train_cfg, progress),
        root=cache_root,
    )


def organism_record(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The record (configs, durations, accuracies) saved with an organism."""
    path = Path(folder) / RECORD_FILE
    if not path.is_file():
        raise UsageError(f"{str(folder)!r} is not an unpact organism (no {RECORD_FILE})")
    return json.loads(path.read_text(encoding="utf-8"))


def phrasing_items(folder: str | os.PathLike[str], domain: str, split: str, phrasing: int) -> list[QAItem]:
    """The items of ``domain``/``split`` of the organism in ``folder`` asked in question phrasing ``phrasing``
    (0 = the canonical question of its QA sets; the others are the corpus paraphrases), rebuilt from the
    world configuration in its record; same ids, answers and keywords."""
    stored = organism_record(folder)["world"]
    world = build_world(WorldConfig(**{**stored, "trained_styles": tuple(stored["trained_styles"])}))
    if not 0 <= phrasing < world.config.question_phrasings:
        raise UsageError(f"phrasing must be in [0, {world.config.question_phrasings - 1}] for this organism, "
                         f"got {phrasing}")
    facts = [f for f in world.facts if f.domain == domain and f.split == split]
    return [dataclasses.replace(it, question=f.questions[phrasing]) for it, f in zip(world.items(domain, split), facts)]
