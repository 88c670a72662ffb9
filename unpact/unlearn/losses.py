"""The loss terms of the unlearning methods, each a formula on teacher-forced answer log-probabilities.

Notation (as in the method docstrings of ``unpact.unlearn.methods``): for an example (x, y) with answer tokens
y_1..y_T, ``log p(y|x) = sum_k log p(y_k | x, y_<k)`` is the *sequence* log-probability (a sum of
log-softmax values, never raw logits); ``p_ref`` is the frozen model before unlearning.

Means over a batch divide by ``Batch.norm``: the batch's own count, or on a process's shard the
global batch's count / number of processes (``unpact.unlearn.batches``), so that data parallel
training averages to the single-process gradient.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unpact.unlearn.batches import IGNORE, Batch


def _logits(model: nn.Module, batch: Batch) -> torch.Tensor:
    return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits.float()


def token_logprobs(model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log p(y_k | x, y_<k), mask)`` at every position, shape ``[B, L-1]``; mask marks answer tokens."""
    logp = torch.log_softmax(_logits(model, batch)[:, :-1], dim=-1)
    labels = batch.labels[:, 1:]
    mask = labels != IGNORE
    picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return picked * mask, mask


def sequence_logprobs(model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log p(y|x), T)`` per example: the summed answer-token log-probabilities and the answer length."""
    lp, mask = token_logprobs(model, batch)
    return lp.sum(-1), mask.sum(-1)


def nll(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Mean negative log-likelihood per answer token over the batch: ``-sum log p(y_k|.) / sum T``
    (the Hugging Face causal-LM loss with prompt tokens ignored)."""
    lp, _ = token_logprobs(model, batch)
    return -lp.sum() / batch.norm("answer_tokens")


def kl_to_reference(model: nn.Module, ref: nn.Module, batch: Batch) -> torch.Tensor:
    """``KL(p_ref || p_theta)`` of the next-token distributions, averaged over answer-token positions:
    ``mean_k sum_v p_ref(v|.) * (log p_ref(v|.) - log p_theta(v|.))`` (the KL retain term of
    open-unlearning / TOFU's ``KL`` regulariser)."""
    mask = (batch.labels[:, 1:] != IGNORE).unsqueeze(-1)
    logp = torch.log_softmax(_logits(model, batch)[:, :-1], dim=-1)
    with torch.no_grad():
        logp_ref = torch.log_softmax(_logits(ref, batch)[:, :-1], dim=-1)
    per_position = (logp_ref.exp() * (logp_ref - logp) * mask).sum(-1)
    return per_position.sum() / batch.norm("answer_tokens")


def npo_loss(logp: torch.Tensor, logp_ref: torch.Tensor, beta: float, rows: float) -> torch.Tensor:
    """NPO (Zhang et al. 2024, arXiv:2404.05868, eq. 3):
    ``-(2/beta) * mean log sigmoid(-beta * (log p_theta(y|x) - log p_ref(y|x)))`` on sequence
    log-probabilities; the mean divides by ``rows`` (``Batch.norm("rows")``)."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - logp_ref)).sum() / rows


def simnpo_loss(logp: torch.Tensor, length: torch.Tensor, beta: float, delta: float, rows: float) -> torch.Tensor:
    """SimNPO (Fan et al. 2024, arXiv:2410.07163): reference-free,
    ``-(2/beta) * mean log sigmoid(beta * (NLL_sum(y|x)/|y| - delta))`` with ``NLL_sum = -log p(y|x)``."""
    return -(2.0 / beta) * F.logsigmoid(beta * (-logp / length.clamp(min=1) - delta)).sum() / rows


def dpo_loss(
    win: torch.Tensor, win_ref: torch.Tensor, lose: torch.Tensor, lose_ref: torch.Tensor, beta: float, rows: float
) -> torch.Tensor:
    """DPO (Rafailov et al. 2023) as used for unlearning in TOFU/open-unlearning (``IdkDPO``):
    ``-(2/beta) * mean log sigmoid(beta * ((log p(y_w|x) - log p_ref(y_w|x)) - (log p(y_l|x) - log p_ref(y_l|x))))``
    with y_w the preferred ("I don't know") and y_l the dispreferred (true) answer."""
    return -(2.0 / beta) * F.logsigmoid(beta * ((win - win_ref) - (lose - lose_ref))).sum() / rows


def masked_mse(h: torch.Tensor, target: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean squared error over the hidden dimensions and the attended positions of ``batch`` (RMU's two terms)."""
    m = batch.attention_mask.unsqueeze(-1).to(h.dtype)
    return (((h.float() - target.float()) ** 2) * m).sum() / (batch.norm("attended_tokens") * h.shape[-1])
