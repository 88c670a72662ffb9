"""Gradient ascent and its two retain-preserving variants (the paper's GA, GA_GDR, GA_KLR)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch

from unpact.unlearn.batches import Batch
from unpact.unlearn.losses import nll
from unpact.unlearn.methods import LossWeights, Method, register
from unpact.unlearn.methods.retain_terms import GDRetain, KLRetain
from unpact.unlearn.params import CommonParams

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(frozen=True)
class GAParams(CommonParams):
    """Gradient ascent: the common settings only."""


@register
class GA(Method[CommonParams]):
    """Gradient ascent (Jang et al. 2023; TOFU's ``grad_ascent``): minimise ``-NLL(F)``, i.e. push the
    answer-token log-likelihood of the forget answers down without bound."""

    name = "ga"
    summary = "-NLL(F)"
    Params: ClassVar[type[CommonParams]] = GAParams

    def forget_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, forget: Batch) -> torch.Tensor:
        return -nll(model, forget)


@register
class GAGDR(GDRetain, GA):
    """Gradient difference (Liu et al. 2022; TOFU's ``grad_diff``):
    ``forget_weight * (-NLL(F)) + retain_weight * NLL(R)``."""

    name = "ga_gdr"
    summary = "forget_weight*(-NLL(F)) + retain_weight*NLL(R)"
    Params = LossWeights


@register
class GAKLR(KLRetain, GA):
    """GA with a KL retain term (TOFU's ``KL``):
    ``forget_weight * (-NLL(F)) + retain_weight * KL(p_ref || p_theta)`` on R."""

    name = "ga_klr"
    summary = "forget_weight*(-NLL(F)) + retain_weight*KL(p_ref||p)(R)"
    Params = LossWeights
