"""SimNPO: reference-free, length-normalised NPO with the retain NLL."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from unpact.unlearn.batches import Batch
from unpact.unlearn.losses import sequence_logprobs, simnpo_loss
from unpact.unlearn.methods import LossWeights, register
from unpact.unlearn.methods.retain_terms import GDRetain
from unpact.unlearn.params import param

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(frozen=True)
class SimNPOParams(LossWeights):
    beta: float = param(4.5, "length-normalised margins need a beta of a few units (SimNPO's range), not NPO's 0.1; "
                             "forget 0.15 in 60 steps on a test model")
    delta: float = param(0.0, "no extra reward margin (the simplest setting of SimNPO's delta)")


@register
class SimNPO(GDRetain):
    """SimNPO (Fan et al. 2024, arXiv:2410.07163), reference-free and length-normalised:
    ``forget_weight * [-(2/beta) * mean log sigmoid(beta * (NLL_sum(y|x)/|y| - delta))] + retain_weight * NLL(R)``
    (the retain NLL term as in the SimNPO paper and open-unlearning's ``SimNPO``)."""

    name = "simnpo"
    summary = "forget_weight*(-(2/beta) mean log sigmoid(beta (NLL_sum/|y| - delta))) + retain_weight*NLL(R)"
    Params = SimNPOParams
    params: SimNPOParams

    def forget_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, forget: Batch) -> torch.Tensor:
        logp, length = sequence_logprobs(model, forget)
        return simnpo_loss(logp, length, self.params.beta, self.params.delta, forget.norm("rows"))
