"""Negative preference optimisation and its two retain-preserving variants (the paper's NPO, NPO_GDR, NPO_KLR)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch

from unpact.unlearn.batches import Batch
from unpact.unlearn.losses import npo_loss, sequence_logprobs
from unpact.unlearn.methods import LossWeights, Method, register
from unpact.unlearn.methods.retain_terms import GDRetain, KLRetain
from unpact.unlearn.params import CommonParams, param

if TYPE_CHECKING:
    from transformers import PreTrainedModel

BETA_WHY = "the NPO paper's and open-unlearning's default inverse temperature"


@dataclass(frozen=True)
class NPOParams(CommonParams):
    beta: float = param(0.1, BETA_WHY)


@dataclass(frozen=True)
class NPORetainParams(LossWeights, NPOParams):
    """NPO's ``beta`` and the two loss weights."""


@register
class NPO(Method[NPOParams]):
    """Negative preference optimisation (Zhang et al. 2024, arXiv:2404.05868):
    ``-(2/beta) * mean log sigmoid(-beta * (log p_theta(y|x) - log p_ref(y|x)))`` over F, with sequence
    log-probabilities (sums of log-softmax over answer tokens; never raw logits)."""

    name = "npo"
    summary = "-(2/beta) mean log sigmoid(-beta (log p(y|x) - log p_ref(y|x))) on F"
    Params: ClassVar[type[CommonParams]] = NPOParams
    needs_reference = True

    def forget_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, forget: Batch) -> torch.Tensor:
        assert ref is not None
        logp, _ = sequence_logprobs(model, forget)
        with torch.no_grad():
            logp_ref, _ = sequence_logprobs(ref, forget)
        return npo_loss(logp, logp_ref, self.params.beta, forget.norm("rows"))


@register
class NPOGDR(GDRetain, NPO):
    """NPO plus the gradient-difference retain term: ``forget_weight * NPO(F) + retain_weight * NLL(R)``."""

    name = "npo_gdr"
    summary = "forget_weight*NPO(F) + retain_weight*NLL(R)"
    Params = NPORetainParams


@register
class NPOKLR(KLRetain, NPO):
    """NPO plus the KL retain term: ``forget_weight * NPO(F) + retain_weight * KL(p_ref || p_theta)`` on R."""

    name = "npo_klr"
    summary = "forget_weight*NPO(F) + retain_weight*KL(p_ref||p)(R)"
    Params = NPORetainParams
