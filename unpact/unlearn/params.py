"""Typed method parameters: defaults with a one-line justification, validation, parsing of ``key=value``.

Every method has a frozen dataclass of parameters (subclass of ``CommonParams``). Each field is
declared with ``param(default, why)``; the reason is shown by ``unpact unlearn --list``. Values
come from Python (``params={"lr": 1e-4}``) or from the CLI (``--set lr=1e-4``); both go through
``build_params``, which rejects unknown names (listing the valid ones with their types) and wrong
types before any training starts.
"""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from unpact.errors import UsageError

P = TypeVar("P", bound="CommonParams")

RENAMED = {"alpha": "retain_weight (task_vector: scale)", "gamma": "forget_weight"}
"""Parameter names of earlier versions, named in the error that rejects them."""


def param(default: Any, why: str) -> Any:
    """A dataclass field with its default and the one-line justification of that default."""
    return field(default=default, metadata={"why": why})


@dataclass(frozen=True)
class Budget:
    """How long to train: a number of optimizer ``steps`` or of ``epochs`` over the forget set (exactly one)."""

    steps: int | None = None
    epochs: float | None = None

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise UsageError("a budget needs exactly one of steps or epochs")
        if self.steps is not None and (
            isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1
        ):
            raise UsageError(f"budget steps must be a positive integer, got {self.steps!r}")
        if self.epochs is not None and (
            isinstance(self.epochs, bool) or not isinstance(self.epochs, (int, float)) or not self.epochs > 0
        ):
            raise UsageError(f"budget epochs must be a positive number, got {self.epochs!r}")

    def total_steps(self, steps_per_epoch: int) -> int:
        """Optimizer steps this budget allows when one epoch takes ``steps_per_epoch`` steps."""
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil(float(self.epochs or 0) * steps_per_epoch))

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps} if self.steps is not None else {"epochs": self.epochs}


@dataclass(frozen=True)
class CommonParams:
    """Settings every method shares (the training loop's knobs)."""

    lr: float = param(1e-3, "constant AdamW step size; a ~1-4M-parameter organism trained at 2e-3 moves at 1e-3 "
                            "within tens of steps")
    batch_size: int = param(16, "forget examples per step; small sets (tens of items) give a few steps per epoch")
    retain_batch_size: int = param(16, "retain examples per step, same size as the forget batch "
                                       "(reference implementations pair them 1:1)")
    max_grad_norm: float = param(1.0, "gradient clipping as in the HF Trainer default; "
                                      "keeps ascent methods from one-step blow-ups")
    weight_decay: float = param(0.0, "no decay: unlearning runs are short and decay would also move retain knowledge")
    eval_every: int = param(10, "forget/retain accuracy (and the stop target) checked every 10 steps: "
                                "cheap on the organism")
    check_every_step_until: int = param(0, "0 = checks only every eval_every steps; N > 0 also checks at every "
                                           "step 1..N, where a pretrained model's forget accuracy falls fastest")
    eval_items: int = param(64, "items of each of forget/retain scored at every check (the first N); "
                                "final metrics use all")
    retain_with_general: bool = param(False, "retain batches use the retain QA only; "
                                             "True adds the general items to them")
    lora_r: int = param(0, "0 = full fine-tuning; r > 0 trains LoRA adapters of rank r, merged before saving")
    lora_alpha: float = param(16.0, "LoRA scaling numerator (peft default 8-32); only used when lora_r > 0")

    def __post_init__(self) -> None:
        for name in ("batch_size", "retain_batch_size", "eval_every", "eval_items"):
            if getattr(self, name) < 1:
                raise UsageError(f"parameter {name!r} must be >= 1, got {getattr(self, name)!r}")
        for name in ("lr", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise UsageError(f"parameter {name!r} must be > 0, got {getattr(self, name)!r}")
        if self.lora_r < 0 or self.weight_decay < 0 or self.check_every_step_until < 0:
            raise UsageError("parameters 'lora_r', 'weight_decay' and 'check_every_step_until' must be >= 0")


def param_fields(cls: type[CommonParams]) -> list[tuple[str, Any, Any, str]]:
    """``(name, type hint, default, why)`` of every parameter of ``cls``, in declaration order."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name], f.default, f.metadata.get("why", "")) for f in dataclasses.fields(cls)]


def type_name(hint: Any) -> str:
    """A reader's name for a parameter type: ``int``, ``float``, ``int or none``, ``list of str``."""
    if hint in (int, float, bool, str):
        return hint.__name__
    args = [a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis]
    if _is_optional(hint):
        return f"{type_name(args[0])} or none"
    if typing.get_origin(hint) is tuple:
        return f"list of {type_name(args[0])}"
    return str(hint)


def build_params(cls: type[P], values: Mapping[str, Any] | None, method: str) -> P:
    """An instance of ``cls`` from ``values``; ``UsageError`` for an unknown name or a value of the wrong type."""
    values = dict(values or {})
    fields_ = {name: hint for name, hint, _, _ in param_fields(cls)}
    unknown = sorted(set(values) - set(fields_))
    if unknown:
        valid = ", ".join(f"{n} ({type_name(h)})" for n, h in fields_.items())
        renamed = "".join(f" ({n} is now {RENAMED[n]})" for n in unknown if n in RENAMED)
        raise UsageError(f"unknown parameter(s) {unknown} for method {method!r}{renamed}; valid parameters: {valid}")
    checked = {name: _check_value(method, name, value, fields_[name]) for name, value in values.items()}
    return cls(**checked)


def parse_assignments(cls: type[CommonParams], assignments: Sequence[str], method: str) -> dict[str, Any]:
    """Typed values from CLI ``key=value`` strings (lists: JSON ``["a","b"]`` or ``a|b``; ``none`` for an empty
    optional)."""
    fields_ = {name: hint for name, hint, _, _ in param_fields(cls)}
    out: dict[str, Any] = {}
    for text in assignments:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {text!r}")
        if key not in fields_:
            build_params(cls, {key: None}, method)  # raises the error listing the valid parameters
        out[key] = _parse_text(method, key, raw.strip(), fields_[key])
    return out


def _is_optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _wrong(method: str, name: str, value: Any, hint: Any) -> UsageError:
    return UsageError(f"parameter {name!r} of method {method!r} must be {type_name(hint)}, "
                      f"got {value!r} ({type(value).__name__})")


def _check_value(method: str, name: str, value: Any, hint: Any) -> Any:
    """``value`` converted to the declared type when that is lossless (int -> float, list -> tuple), else an error."""
    if _is_optional(hint):
        if value is None:
            return None
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        return _check_value(method, name, value, inner)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(hint) is tuple:
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
    raise _wrong(method, name, value, hint)


def _parse_text(method: str, name: str, raw: str, hint: Any) -> Any:
    """Parse one CLI value according to ``hint`` (then checked like a Python value)."""
    if _is_optional(hint):
        if raw.lower() in ("none", "null", ""):
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        if hint is bool:
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            value: Any = lowered in ("true", "1", "yes")
        elif hint is int:
            value = int(raw)
        elif hint is float:
            value = float(raw)
        elif typing.get_origin(hint) is tuple:
            value = (json.loads(raw) if raw.startswith("[")
                     else [part.strip() for part in raw.split("|") if part.strip()])
        else:
            value = raw
    except (ValueError, json.JSONDecodeError):
        raise UsageError(f"parameter {name!r} of method {method!r} must be {type_name(hint)}, got {raw!r}") from None
    return _check_value(method, name, value, hint)
