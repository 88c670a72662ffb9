"""The one training loop every unlearning method runs through.

Each step draws one forget batch and one retain batch (each from its own seeded, per-epoch
shuffle), computes the method's loss, and takes a clipped AdamW step (constant learning rate).
Device placement, mixed precision, backward and clipping go through ``accelerate.Accelerator``, so
the same code runs on the CPU here and under ``accelerate launch --config_file
configs/accelerate/fsdp.yaml`` on GPUs. Every ``eval_every`` steps (and at steps 0 and last) the
forget and retain accuracy (``unpact.evaluate.evaluate_items``: greedy exact match, multiple choice
by option likelihood) of the first ``eval_items`` items is logged; the stop target
(``stop_at``) is checked there. A loss that is NaN or infinite stops the run with
``TrainingDiverged`` naming the method and step.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from unpact.data.schema import QAItem
from unpact.errors import UsageError
from unpact.evaluate import accuracy_summary, evaluate_items
from unpact.scoring import pad_id
from unpact.unlearn.batches import BatchStream, encode_item, encode_text
from unpact.unlearn.layers import select_trainable
from unpact.unlearn.methods import Method, get_method
from unpact.unlearn.params import Budget, build_params


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; nothing was written."""


@dataclass
class UnlearnResult:
    """The unlearned model (a plain, merged ``*ForCausalLM``), the per-step log and the run's record."""

    model: Any
    log: pd.DataFrame
    record: dict[str, Any]


def unlearn(
    model: Any,
    tokenizer: Any,
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
) -> UnlearnResult:
    """Unlearn ``forget_items`` from ``model`` (trained in place) with the registered ``method``.

    ``params`` overrides the method's defaults (``unpact unlearn --list``); ``budget`` defaults to
    the method's ``default_budget``; ``stop_at`` stops early once forget accuracy <= it (checked
    every ``eval_every`` steps on the first ``eval_items`` forget items). ``general_items`` are
    evaluated at the end (and join the retain batches if ``retain_with_general``);
    ``forget_texts`` are plain texts (e.g. corpus sentences about forget entities) added to the
    forget examples with the loss on all their tokens. ``device=None`` uses the CPU unless a GPU
    is present; ``bf16`` trains in bfloat16 mixed precision.
    """
    cls = get_method(method)
    p = build_params(cls.Params, params, method)
    budget = budget or cls.default_budget
    _check_inputs(forget_items, retain_items, stop_at, forget_texts, method)
    m = cls(p)
    started = time.perf_counter()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)

    ref = _frozen_copy(model) if cls.needs_reference else None
    model.train()
    retain_pool = list(retain_items) + (list(general_items or []) if p.retain_with_general else [])
    forget_ex = [encode_item(model, tokenizer, it) for it in forget_items]
    forget_ex += [encode_text(model, tokenizer, t) for t in forget_texts or []]
    retain_ex = [encode_item(model, tokenizer, it) for it in retain_pool]
    pad = pad_id(tokenizer)
    forget_stream = BatchStream(forget_ex, p.batch_size, pad, generator)
    retain_stream = BatchStream(retain_ex, p.retain_batch_size, pad, generator)
    total = budget.total_steps(forget_stream.steps_per_epoch)

    accelerator = _accelerator(device, bf16)
    try:
        regex = m.setup(model, ref, tokenizer, generator)
        train_model = _trainable_model(model, regex, p.lora_r, p.lora_alpha)
        optimizer = torch.optim.AdamW(
            [q for q in train_model.parameters() if q.requires_grad], lr=p.lr, weight_decay=p.weight_decay
        )
        train_model, optimizer = accelerator.prepare(train_model, optimizer)
        if ref is not None:
            ref = ref.to(accelerator.device) if accelerator.num_processes == 1 else accelerator.prepare_model(ref, evaluation_mode=True)
        eval_forget = list(forget_items)[: p.eval_items]
        eval_retain = list(retain_items)[: p.eval_items]

        def evaluate(step_model: Any) -> tuple[float, float]:
            view = _unlearned_view(accelerator.unwrap_model(step_model), m, ref)
            view.eval()
            f = _accuracy(view, tokenizer, eval_forget)
            r = _accuracy(view, tokenizer, eval_retain)
            step_model.train()
            return f, r

        rows: list[dict[str, Any]] = []
        f_acc, r_acc = evaluate(train_model)
        rows.append(_row(0, 0, math.nan, math.nan, math.nan, math.nan, f_acc, r_acc))
        stop_reason = "budget"
        step = 0
        bar = tqdm(total=total, desc=f"unlearn {method}", disable=not progress, leave=False)
        for step in range(1, total + 1):
            forget = forget_stream.next().to(accelerator.device)
            retain = retain_stream.next().to(accelerator.device)
            with accelerator.autocast():
                terms = m.loss(train_model, ref, forget, retain)
            value = float(terms["loss"].detach())
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"method {method!r}: loss became {value} at step {step}; nothing was written "
                    "(try a lower lr or max_grad_norm, or a shorter budget)"
                )
            accelerator.backward(terms["loss"])
            grad_norm = accelerator.clip_grad_norm_(train_model.parameters(), p.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            f_acc = r_acc = math.nan
            checked = step % p.eval_every == 0 or step == total
            if checked:
                f_acc, r_acc = evaluate(train_model)
            rows.append(
                _row(step, forget_stream.epoch, value, float(terms["forget_loss"]), float(terms["retain_loss"]),
                     float(grad_norm), f_acc, r_acc)
            )
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}", forget_acc="" if math.isnan(f_acc) else f"{f_acc:.2f}")
            if checked and stop_at is not None and f_acc <= stop_at:
                stop_reason = "target"
                break
        bar.close()
        final = _export(accelerator.unwrap_model(train_model), m, ref, p.lora_r > 0)
    finally:
        m.teardown()
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
        "budget": budget.to_dict(),
        "budget_steps": total,
        "stop_at": stop_at,
        "eval_every": p.eval_every,
        "steps": step,
        "stop_reason": stop_reason,
        "seed": seed,
        "n_forget": len(forget_items),
        "n_forget_texts": len(forget_texts or []),
        "n_retain": len(retain_pool),
        "metrics": metrics,
        "duration_s": round(time.perf_counter() - started, 3),
    }
    return UnlearnResult(final, pd.DataFrame(rows), record)


def _check_inputs(
    forget: Sequence[QAItem], retain: Sequence[QAItem], stop_at: float | None, texts: Sequence[str] | None, method: str
) -> None:
    if not forget:
        raise UsageError("no forget items: there is nothing to unlearn")
    if not retain:
        raise UsageError("no retain items: every method draws retain batches (for its term or its log)")
    if stop_at is not None and (isinstance(stop_at, bool) or not isinstance(stop_at, (int, float)) or not 0 <= stop_at <= 1):
        raise UsageError(f"stop_at is a forget accuracy between 0 and 1, got {stop_at!r}")
    if texts and method == "idk_dpo":
        raise UsageError("idk_dpo needs questions to answer with 'I don't know'; it cannot use plain forget texts")


def _wants_cpu(device: str | None) -> bool:
    if device in (None, "auto"):
        return not torch.cuda.is_available()
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; valid choices: auto, cpu, cuda")
    return device == "cpu"


def _accelerator(device: str | None, bf16: bool) -> Any:
    """An ``Accelerator`` for this run. In a single process (no ``accelerate launch``) accelerate's
    process-wide state is cleared first, so that runs with different device/precision settings can
    follow each other in one session (accelerate otherwise refuses a changed setting)."""
    import os

    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(cpu=_wants_cpu(device), mixed_precision="bf16" if bf16 else "no")


def _frozen_copy(model: Any) -> Any:
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


def _export(model: Any, method: Method, ref: Any | None, lora: bool) -> Any:
    """The plain unlearned model: LoRA adapters merged, then the method's weight transform applied."""
    if lora:
        model = model.merge_and_unload()
    method.finalize(model, ref)
    return model


def _unlearned_view(model: Any, method: Method, ref: Any | None) -> Any:
    """What would be returned if training stopped now (a transformed copy only for weight-transforming methods)."""
    if not method.transforms_weights:
        return model
    lora = hasattr(model, "merge_and_unload")
    return _export(copy.deepcopy(model), method, ref, lora)


def _accuracy(model: Any, tokenizer: Any, items: Sequence[QAItem]) -> float:
    if not items:
        return math.nan
    return float(accuracy_summary(evaluate_items(model, tokenizer, list(items), with_probabilities=False))["accuracy"])


def _row(step: int, epoch: int, loss: float, f_loss: float, r_loss: float, grad: float, f_acc: float, r_acc: float) -> dict[str, Any]:
    return {"step": step, "epoch": epoch, "loss": loss, "forget_loss": f_loss, "retain_loss": r_loss,
            "grad_norm": grad, "forget_accuracy": f_acc, "retain_accuracy": r_acc}
