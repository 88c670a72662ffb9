"""The registry of unlearning methods: one module per method (or family) in this package.

A method is a subclass of ``Method`` decorated with ``@register``, with a ``Params`` dataclass
(``unpact.unlearn.params``) and its loss formula and source in its docstring. Every module of this
package is imported when the package is, so adding a method is adding one file here (and a test);
``unlearn``, ``unpact unlearn --method/--list`` and the book read ``METHODS``.

Every method minimises ``forget_weight * forget_term + retain_weight * retain_term`` (the weights
are the ``LossWeights`` parameters of the methods that have both terms; otherwise 1 and absent).
Formulas follow the public reference implementations (open-unlearning, TOFU, MUSE, WMDP); the loss
terms themselves live in ``unpact.unlearn.losses``. The ten methods: ``ga``, ``ga_gdr``,
``ga_klr``, ``npo``, ``npo_gdr``, ``npo_klr`` (the paper's six: gradient ascent and NPO with their
retain-preserving variants), ``task_vector`` and ``rmu`` (the paper also names Task Vector and
RMU), and ``simnpo`` and ``idk_dpo``, added because users compare them too.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import pandas as pd
import torch

from unpact.errors import check_choice
from unpact.unlearn.batches import Batch
from unpact.unlearn.params import Budget, CommonParams, param, param_fields

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

P = TypeVar("P", bound=CommonParams)


@dataclass(frozen=True)
class LossWeights(CommonParams):
    """Weights of the forget and retain terms (open-unlearning's ``gamma`` and ``alpha``)."""

    forget_weight: float = param(1.0, "forget-term weight (open-unlearning's gamma, default 1)")
    retain_weight: float = param(1.0, "retain-term weight (open-unlearning's alpha, default 1)")


class Method(Generic[P]):
    """Base class: ``loss = forget_weight * forget_term + retain_weight * retain_term`` on one forget
    and one retain batch. ``Params`` is the method's parameter dataclass (``P``)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[CommonParams]] = CommonParams
    default_budget: ClassVar[Budget] = Budget(steps=100)
    """100 steps (~25-50 epochs of a tens-of-items forget set at batch 16): on a memorising test model
    every method but RMU got forget accuracy <= 0.2 within it; pass ``stop_at`` to stop earlier."""
    needs_reference: ClassVar[bool] = False
    """A frozen copy of the model before unlearning is passed as ``ref``."""
    transforms_weights: ClassVar[bool] = False
    """``finalize`` changes the trained weights (accuracies during training are of the transformed copy)."""
    accepts_forget_texts: ClassVar[bool] = True
    """Plain forget texts (no question) can join the forget examples."""

    def __init__(self, params: P) -> None:
        self.params = params

    def setup(self, model: PreTrainedModel, ref: PreTrainedModel | None, tokenizer: PreTrainedTokenizerBase,
              generator: torch.Generator) -> str | None:
        """Prepare before training (hooks, fixed vectors); return a regex of trainable parameters or ``None`` (all)."""
        return None

    def forget_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, forget: Batch) -> torch.Tensor:
        raise NotImplementedError

    def retain_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, retain: Batch) -> torch.Tensor | None:
        """The retain regulariser, or ``None`` for methods without one."""
        return None

    def loss(self, model: PreTrainedModel, ref: PreTrainedModel | None, forget: Batch,
             retain: Batch) -> dict[str, torch.Tensor]:
        """``{"loss", "forget_loss", "retain_loss"}`` (``retain_loss`` is NaN when the method has none)."""
        f = self.forget_term(model, ref, forget)
        r = self.retain_term(model, ref, retain)
        weights = self.params if isinstance(self.params, LossWeights) else LossWeights()
        total = weights.forget_weight * f if r is None else weights.forget_weight * f + weights.retain_weight * r
        nan = torch.tensor(float("nan"))
        return {"loss": total, "forget_loss": f.detach(), "retain_loss": nan if r is None else r.detach()}

    def finalize(self, model: PreTrainedModel, ref: PreTrainedModel | None) -> None:
        """Turn trained weights into the unlearned model, in place (identity except for ``task_vector``)."""

    def teardown(self) -> None:
        """Undo ``setup`` (remove hooks)."""


METHODS: dict[str, type[Method[Any]]] = {}


def register(cls: type[Method[P]]) -> type[Method[P]]:
    """Class decorator: add a method to ``METHODS`` under ``cls.name``."""
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method[Any]]:
    """The method class registered as ``name``; ``UsageError`` listing the valid names otherwise."""
    return METHODS[check_choice("unlearning method", name, METHODS)]


def parameter_table(names: Sequence[str]) -> pd.DataFrame:
    """``method, parameter, default, why`` for every parameter of the named methods (``unpact unlearn --list``)."""
    rows = [dict(method=name, parameter=field, default=default, why=why)
            for name in names for field, _, default, why in param_fields(get_method(name).Params)]
    return pd.DataFrame(rows, columns=["method", "parameter", "default", "why"])


# Modules listed here come first, in the paper's order; any other module of the package follows,
# alphabetically (a new method needs no entry).
_ORDER = ("ga", "npo", "simnpo", "idk_dpo", "task_vector", "rmu")


def _import_methods() -> None:
    """Import every public module of the package (each registers its methods; helper modules register none)."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    for name in sorted(names, key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n)):
        importlib.import_module(f"{__name__}.{name}")


__all__ = ["METHODS", "LossWeights", "Method", "get_method", "parameter_table", "register"]

_import_methods()
