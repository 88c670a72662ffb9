"""Task-vector negation: reinforce the forget set, then subtract the scaled difference."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from unpact.unlearn.batches import Batch
from unpact.unlearn.losses import nll
from unpact.unlearn.methods import Method, register
from unpact.unlearn.params import CommonParams, param

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(frozen=True)
class TaskVectorParams(CommonParams):
    scale: float = param(2.0, "scale 1 (Ilharco et al.) left forget accuracy at 0.65 on a memorising test model: "
                              "fine-tuning an already memorised set moves little")


@register
class TaskVector(Method[TaskVectorParams]):
    """Task-vector negation (Ilharco et al. 2023, used by MUSE): fine-tune a copy on F by descending
    ``NLL(F)`` (the reinforced model theta_r), then ``theta_unlearned = theta - scale * (theta_r - theta)``.
    Accuracies logged during training are those of the negated model at that step."""

    name = "task_vector"
    summary = "train theta_r on NLL(F); theta - scale*(theta_r - theta)"
    Params = TaskVectorParams
    needs_reference = True
    transforms_weights = True

    def forget_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, forget: Batch) -> torch.Tensor:
        return nll(model, forget)

    @torch.no_grad()
    def finalize(self, model: PreTrainedModel, ref: PreTrainedModel | None) -> None:
        assert ref is not None
        base = dict(ref.named_parameters())
        for name, p in model.named_parameters():
            theta = base[name].to(p.device, p.dtype)
            p.copy_(theta - self.params.scale * (p - theta))
