"""The one training loop every unlearning method runs through.

Each step draws one forget batch and one retain batch (each from its own seeded, per-epoch
shuffle), computes the method's loss, and takes a clipped AdamW step (constant learning rate).
Device placement, mixed precision, backward and clipping go through ``accelerate.Accelerator``, so
the same code runs in one CPU process, in several (``accelerate launch --multi_gpu --num_processes 2
-m unpact.cli unlearn --device cpu ...``: data parallel over gloo; every process draws the same global
batch and trains on its shard, so the trajectory is the single-process one to float rounding) and
under ``accelerate launch --config_file configs/accelerate/fsdp.yaml`` on GPUs. Every ``eval_every`` steps
(and at step 0, at every step up to ``check_every_step_until`` and at the last step) the forget and
retain accuracy (``unpact.evaluate.evaluate_items``: greedy exact match, multiple choice by option
likelihood) of the first ``eval_items`` items is logged; the stop target
(``stop_at``) is checked there. A loss that is NaN or infinite stops the run with
``TrainingDiverged`` naming the method and step. A ``probe`` (e.g.
``unpact.unlearn.probes.ForgetProbe``) is called at the same checks, on the model as it would be
returned then; its rows (with the step) make ``UnlearnResult.probes``: the trajectory of the run,
so a finding can be read as a curve against unlearning depth rather than at the end of the budget.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from unpact.data.schema import QAItem
from unpact.errors import UsageError
from unpact.evaluate import accuracy_summary, evaluate_items
from unpact.prompts import resolve_prompt_format
from unpact.scoring import pad_id
from unpact.unlearn.batches import BatchStream, encode_item, encode_text, shard
from unpact.unlearn.layers import select_trainable
from unpact.unlearn.methods import Method, get_method
from unpact.unlearn.params import Budget, CommonParams, build_params

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; nothing was written."""


@dataclass
class UnlearnResult:
    """The unlearned model (a plain, merged ``*ForCausalLM``), the per-step log, the run's record, and the
    rows the ``probe`` returned at every check (``None`` without a probe)."""

    model: PreTrainedModel
    log: pd.DataFrame
    record: dict[str, Any]
    probes: pd.DataFrame | None = None


@dataclass(frozen=True)
class LogRow:
    """One row of the per-step log (step 0: before training; NaN where nothing was measured)."""

    step: int
    epoch: int
    loss: float = math.nan
    forget_loss: float = math.nan
    retain_loss: float = math.nan
    grad_norm: float = math.nan
    forget_accuracy: float = math.nan
    retain_accuracy: float = math.nan


def unlearn(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    forget_items: Sequence[QAItem],
    retain_items: Sequence[QAItem],
    method: str = "npo",
    params: Mapping[str, Any] | None = None,
    budget: Budget | None = None,
    stop_at: float | None = None,
    seed: int = 0,
    general_items: Sequence[QAItem] | None = None,
    forget_texts: Sequence[str] | None = None,
    device: str | None = None,
    bf16: bool = False,
    progress: bool = True,
    train_on_forget_items: bool = True,
    probe: Callable[[Any, Any, int], pd.DataFrame] | None = None,
) -> UnlearnResult:
    """Unlearn ``forget_items`` from ``model`` (trained in place) with the registered ``method``.

    ``params`` overrides the method's defaults (``unpact unlearn --list``); ``budget`` defaults to
    the method's ``default_budget``; ``stop_at`` stops early once forget accuracy <= it (checked
    every ``eval_every`` steps on the first ``eval_items`` forget items). ``general_items`` are
    evaluated at the end (and join the retain batches if ``retain_with_general``);
    ``forget_texts`` are plain texts (e.g. corpus sentences about forget entities) added to the
    forget examples with the loss on all their tokens. ``train_on_forget_items=False`` trains on the
    ``forget_texts`` only (MUSE/WMDP-style: unlearn a corpus, evaluate the questions, which are then
    used only to measure accuracy and the stop target). ``device=None`` uses the CPU unless a GPU
    is present; ``bf16`` trains in bfloat16 mixed precision. ``probe(model, tokenizer, step)`` is
    called at every check (step 0, every ``eval_every`` steps, every step up to ``check_every_step_until``,
    the last step) on the model as it would be returned then; its frames, concatenated, are
    ``UnlearnResult.probes``.
    """
    cls = get_method(method)
    p = build_params(cls.Params, params, method)
    _check_inputs(forget_items, retain_items, stop_at, forget_texts, cls)
    if not train_on_forget_items and not forget_texts:
        raise UsageError("train_on_forget_items=False needs forget_texts to train on")
    started = time.perf_counter()
    run = _Run.setup(model, tokenizer, cls(p), p, forget_items, retain_items, general_items, forget_texts, seed,
                     budget or cls.default_budget, device, bf16, train_on_forget_items)
    run.probe = probe
    try:
        rows, stop_reason = run.train(stop_at, progress)
        final = _export(run.accelerator.unwrap_model(run.train_model), run.method, run.ref, p.lora_r > 0)
    finally:
        run.method.teardown()
    final.eval()
    for q in final.parameters():
        q.requires_grad_(False)
    metrics = {"forget_accuracy": _accuracy(final, tokenizer, forget_items),
               "retain_accuracy": _accuracy(final, tokenizer, retain_items)}
    if general_items:
        metrics["general_accuracy"] = _accuracy(final, tokenizer, general_items)
    record = {
        "method": method,
        "params": asdict(p),
        "budget": run.budget.to_dict(),
        "budget_steps": run.total,
        "stop_at": stop_at,
        "eval_every": p.eval_every,
        "steps": rows[-1].step,
        "stop_reason": stop_reason,
        "seed": seed,
        "n_forget": len(forget_items),
        "n_forget_texts": len(forget_texts or []),
        "trained_on_forget_items": train_on_forget_items,
        "prompt_format": resolve_prompt_format(tokenizer),
        "n_retain": run.n_retain,
        "metrics": metrics,
        "duration_s": round(time.perf_counter() - started, 3),
    }
    probes = pd.concat(run.probe_rows, ignore_index=True) if run.probe_rows else None
    return UnlearnResult(final, pd.DataFrame([asdict(r) for r in rows]), record, probes)


@dataclass
class _Run:
    """One training run's state: built by ``setup``, advanced by ``step``, checked by ``evaluate``."""

    method: Method[Any]
    params: CommonParams
    tokenizer: PreTrainedTokenizerBase
    train_model: Any  # the model as prepared by accelerate (possibly LoRA-wrapped)
    ref: PreTrainedModel | None
    optimizer: torch.optim.Optimizer
    accelerator: Accelerator
    forget_stream: BatchStream
    retain_stream: BatchStream
    eval_forget: list[QAItem]
    eval_retain: list[QAItem]
    budget: Budget
    total: int
    n_retain: int
    probe: Callable[[Any, Any, int], pd.DataFrame] | None = None
    probe_rows: list[pd.DataFrame] = field(default_factory=list)

    @classmethod
    def setup(cls, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, method: Method[Any], p: CommonParams,
              forget_items: Sequence[QAItem], retain_items: Sequence[QAItem],
              general_items: Sequence[QAItem] | None, forget_texts: Sequence[str] | None, seed: int,
              budget: Budget, device: str | None, bf16: bool, train_on_forget_items: bool = True) -> _Run:
        """Seed, encode the examples, build the batch streams, the reference copy, the optimizer and accelerate."""
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        ref = _frozen_copy(model) if method.needs_reference else None
        model.train()
        retain_pool = list(retain_items) + (list(general_items or []) if p.retain_with_general else [])
        forget_ex = [encode_item(model, tokenizer, it) for it in forget_items] if train_on_forget_items else []
        forget_ex += [encode_text(model, tokenizer, t) for t in forget_texts or []]
        retain_ex = [encode_item(model, tokenizer, it) for it in retain_pool]
        pad = pad_id(tokenizer)
        forget_stream = BatchStream(forget_ex, p.batch_size, pad, generator)
        retain_stream = BatchStream(retain_ex, p.retain_batch_size, pad, generator)
        total = budget.total_steps(forget_stream.steps_per_epoch)
        accelerator = _accelerator(device, bf16)
        try:
            regex = method.setup(model, ref, tokenizer, generator)
            train_model = _trainable_model(model, regex, p.lora_r, p.lora_alpha)
            optimizer = torch.optim.AdamW(
                [q for q in train_model.parameters() if q.requires_grad], lr=p.lr, weight_decay=p.weight_decay
            )
            train_model, optimizer = accelerator.prepare(train_model, optimizer)
            if ref is not None:
                ref = (ref.to(accelerator.device) if accelerator.num_processes == 1
                       else accelerator.prepare_model(ref, evaluation_mode=True))
        except BaseException:
            method.teardown()
            raise
        return cls(method, p, tokenizer, train_model, ref, optimizer, accelerator, forget_stream, retain_stream,
                   list(forget_items)[: p.eval_items], list(retain_items)[: p.eval_items], budget, total,
                   len(retain_pool))

    def train(self, stop_at: float | None, progress: bool) -> tuple[list[LogRow], str]:
        """Steps until the budget or the stop target; the log rows and the stop reason (``budget``/``target``)."""
        f_acc, r_acc = self.evaluate(0)
        rows = [LogRow(0, 0, forget_accuracy=f_acc, retain_accuracy=r_acc)]
        bar = tqdm(total=self.total, desc=f"unlearn {self.method.name}", disable=not progress, leave=False)
        try:
            for step in range(1, self.total + 1):
                row = self.step(step)
                if self.is_check(step):
                    f_acc, r_acc = self.evaluate(step)
                    row = replace(row, forget_accuracy=f_acc, retain_accuracy=r_acc)
                rows.append(row)
                bar.update(1)
                shown = "" if math.isnan(row.forget_accuracy) else f"{row.forget_accuracy:.2f}"
                bar.set_postfix(loss=f"{row.loss:.3f}", forget_acc=shown)
                if stop_at is not None and row.forget_accuracy <= stop_at:  # NaN (not checked) compares False
                    return rows, "target"
        finally:
            bar.close()
        return rows, "budget"

    def is_check(self, step: int) -> bool:
        """Whether ``step`` is a check: every ``eval_every`` steps, every step up to ``check_every_step_until``,
        and the last step."""
        p = self.params
        return step % p.eval_every == 0 or step <= p.check_every_step_until or step == self.total

    def step(self, step: int) -> LogRow:
        """One optimizer step on the next forget and retain batches."""
        rank, world = self.accelerator.process_index, self.accelerator.num_processes
        forget = shard(self.forget_stream.next(), rank, world).to(self.accelerator.device)
        retain = shard(self.retain_stream.next(), rank, world).to(self.accelerator.device)
        with self.accelerator.autocast():
            terms = self.method.loss(self.train_model, self.ref, forget, retain)
        # Each process's loss is its shard's part of the global loss times world (unpact.unlearn.batches):
        # their mean is the global batch's loss.
        logged = self.accelerator.reduce(
            torch.stack([terms[k].detach().float().to(self.accelerator.device)
                         for k in ("loss", "forget_loss", "retain_loss")]), reduction="mean")
        value, forget_value, retain_value = (float(v) for v in logged)
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"method {self.method.name!r}: loss became {value} at step {step}; nothing was written "
                "(try a lower lr or max_grad_norm, or a shorter budget)"
            )
        self.accelerator.backward(terms["loss"])
        grad_norm = self.accelerator.clip_grad_norm_(self.train_model.parameters(), self.params.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return LogRow(step, self.forget_stream.epoch, value, forget_value, retain_value, float(grad_norm))

    def evaluate(self, step: int) -> tuple[float, float]:
        """Forget and retain accuracy on the first ``eval_items`` items of the model as it would be returned now
        (and the probe's rows for ``step``, when there is a probe)."""
        view = _unlearned_view(self.accelerator.unwrap_model(self.train_model), self.method, self.ref)
        view.eval()
        f = _accuracy(view, self.tokenizer, self.eval_forget)
        r = _accuracy(view, self.tokenizer, self.eval_retain)
        if self.probe is not None:
            self.probe_rows.append(self.probe(view, self.tokenizer, step).assign(step=step))
        self.train_model.train()
        return f, r


def _check_inputs(forget: Sequence[QAItem], retain: Sequence[QAItem], stop_at: float | None,
                  texts: Sequence[str] | None, method: type[Method[Any]]) -> None:
    if not forget:
        raise UsageError("no forget items: there is nothing to unlearn")
    if not retain:
        raise UsageError("no retain items: every method draws retain batches (for its term or its log)")
    if stop_at is not None and (
        isinstance(stop_at, bool) or not isinstance(stop_at, (int, float)) or not 0 <= stop_at <= 1
    ):
        raise UsageError(f"stop_at is a forget accuracy between 0 and 1, got {stop_at!r}")
    if texts and not method.accepts_forget_texts:
        raise UsageError(f"{method.name} trains on questions (see its docstring); it cannot use plain forget texts")


def _wants_cpu(device: str | None) -> bool:
    if device in (None, "auto"):
        return not torch.cuda.is_available()
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; valid choices: auto, cpu, cuda")
    return device == "cpu"


def _accelerator(device: str | None, bf16: bool) -> Accelerator:
    """An ``Accelerator`` for this run. In a single process (no ``accelerate launch``) accelerate's
    process-wide state is cleared first, so that runs with different device/precision settings can
    follow each other in one session (accelerate otherwise refuses a changed setting)."""
    import os

    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator(cpu=_wants_cpu(device), mixed_precision="bf16" if bf16 else "no")
    if accelerator.num_processes != world:
        # accelerate 1.15 without a GPU and without --device cpu: no process group, every process rank 0.
        raise UsageError(f"launched as {world} processes but accelerate set up {accelerator.num_processes} "
                         f"({accelerator.distributed_type}); on CPUs pass --device cpu (gloo data parallel); "
                         "FSDP and DeepSpeed need GPUs")
    fsdp = os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"
    if accelerator.num_processes > 1 and _wants_cpu(device) and fsdp:
        raise UsageError("accelerate ignores the FSDP configuration on CPUs (it runs plain data parallel instead); "
                         "launch without the FSDP config, or on GPUs")
    return accelerator


def _frozen_copy(model: PreTrainedModel) -> PreTrainedModel:
    ref = copy.deepcopy(model).eval()
    for q in ref.parameters():
        q.requires_grad_(False)
    return ref


def _trainable_model(model: Any, regex: str | None, lora_r: int, lora_alpha: float) -> Any:
    """Select trainable parameters (``regex``; ``None`` = all) or wrap with LoRA adapters on them."""
    if lora_r == 0:
        if regex is None:
            for q in model.parameters():
                q.requires_grad_(True)
        else:
            select_trainable(model, regex)
        return model
    from peft import LoraConfig, get_peft_model

    if regex is None:
        targets: Any = "all-linear"
    else:
        names = select_trainable(model, regex)
        targets = sorted({n.rsplit(".", 1)[0] for n in names})
    # peft annotates lora_alpha as int; a float works (the adapter scale is lora_alpha / r).
    config = LoraConfig(r=lora_r, lora_alpha=lora_alpha, target_modules=targets, lora_dropout=0.0)  # type: ignore[arg-type]
    return get_peft_model(model, config)


def _export(model: Any, method: Method[Any], ref: PreTrainedModel | None, lora: bool) -> PreTrainedModel:
    """The plain unlearned model: LoRA adapters merged, then the method's weight transform applied."""
    if lora:
        model = model.merge_and_unload()
    method.finalize(model, ref)
    return model


def _unlearned_view(model: Any, method: Method[Any], ref: PreTrainedModel | None) -> PreTrainedModel:
    """What would be returned if training stopped now (a transformed copy only for weight-transforming methods)."""
    if not method.transforms_weights:
        return model
    lora = hasattr(model, "merge_and_unload")
    return _export(copy.deepcopy(model), method, ref, lora)


def _accuracy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, items: Sequence[QAItem]) -> float:
    if not items:
        return math.nan
    return float(accuracy_summary(evaluate_items(model, tokenizer, list(items), with_probabilities=False))["accuracy"])
