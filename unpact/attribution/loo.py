"""Native leave-one-out contributions: the paper's score, exactly, in padded batches.

For prompt ``x`` (ids) and fixed target ``y`` (``T`` ids, teacher forced)::

    LP(x, y)     = (1/T) * sum_k log p(y_k | x, y_<k)
    C(x_u, y)    = LP(x, y) - LP(x without unit u, y)

(unPact, arXiv:2509.24675, as reported). Unit ``u`` is one token or all tokens of one word; its
tokens are DELETED, so ``x without u`` is an ordinary shorter sequence whose positions are
renumbered from 0. A prompt with ``n`` units needs ``n + 1`` sequences; the sequences of all
prompts are packed into left-padded batches of at most ``max_batch_tokens`` (rows x width) tokens,
and only the ``T`` target-predicting positions are projected onto the vocabulary.

Prefix key/value caching (the prefix before a deleted token is shared) is not used: see
``benchmarks/attribution.py`` and the report for why.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from unpact.modeling import model_device


def deletion_sequences(ids: Sequence[int], units: Sequence[Sequence[int]]) -> list[list[int]]:
    """The full prompt followed by the prompt with each unit's positions deleted (``n + 1`` sequences)."""
    seqs = [list(ids)]
    for unit in units:
        drop = set(unit)
        seqs.append([t for i, t in enumerate(ids) if i not in drop])
    return seqs


def pack_batches(lengths: Sequence[int], max_batch_tokens: int) -> list[list[int]]:
    """Group consecutive sequence indices so that rows x (longest row) <= ``max_batch_tokens`` (one row at least)."""
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i, n in enumerate(lengths):
        new_width = max(width, n)
        if current and new_width * (len(current) + 1) > max_batch_tokens:
            batches.append(current)
            current, new_width = [], n
        current.append(i)
        width = new_width
    if current:
        batches.append(current)
    return batches


@torch.no_grad()
def mean_target_logprobs(
    model: Any,
    prompts: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    pad_token_id: int,
    max_batch_tokens: int = 4096,
) -> np.ndarray:
    """LP(prompt, target) for each pair (mean teacher-forced log-prob), float64 array.

    Left padding with explicit position ids (0 at each row's first real token), so every target
    ends at the last column and only the last ``max T`` positions need logits.
    """
    device = model_device(model)
    out = np.empty(len(prompts), dtype=np.float64)
    lengths = [len(p) + len(t) for p, t in zip(prompts, targets)]
    for batch in pack_batches(lengths, max_batch_tokens):
        width = max(lengths[i] for i in batch)
        keep = max(len(targets[i]) for i in batch)
        ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            seq = list(prompts[i]) + list(targets[i])
            ids[row, width - len(seq) :] = torch.tensor(seq)
            mask[row, width - len(seq) :] = 1
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=position_ids.to(device),
            logits_to_keep=keep + 1,
        ).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # column c predicts token width-keep+c
        for row, i in enumerate(batch):
            t = torch.tensor(list(targets[i]), device=logp.device)
            cols = torch.arange(keep - len(t), keep, device=logp.device)
            out[i] = float(logp[row, cols, t].double().mean())
    return out


def loo_contributions(
    model: Any,
    items: Sequence[tuple[Sequence[int], Sequence[Sequence[int]], Sequence[int]]],
    pad_token_id: int,
    max_batch_tokens: int = 4096,
    progress: bool = False,
) -> list[tuple[float, np.ndarray]]:
    """``(LP, contributions)`` for each ``(prompt ids, units, target ids)``; contributions[u] = LP - LP(without u)."""
    from tqdm.auto import tqdm

    results: list[tuple[float, np.ndarray]] = []
    # Chunks of prompts keep memory bounded while still filling batches across prompts.
    chunk: list[tuple[Sequence[int], Sequence[Sequence[int]], Sequence[int]]] = []
    budget = 0
    bar = tqdm(total=len(items), desc="attribution (loo)", unit="prompt", disable=not progress)
    for item in list(items) + [None]:  # type: ignore[list-item]
        if item is not None:
            chunk.append(item)
            budget += (len(item[1]) + 1) * (len(item[0]) + len(item[2]))
        if chunk and (item is None or budget >= 8 * max_batch_tokens):
            results.extend(_loo_chunk(model, chunk, pad_token_id, max_batch_tokens))
            bar.update(len(chunk))
            chunk, budget = [], 0
    bar.close()
    return results


def _loo_chunk(model: Any, chunk: Sequence[Any], pad_token_id: int, max_batch_tokens: int) -> list[tuple[float, np.ndarray]]:
    prompts: list[list[int]] = []
    targets: list[Sequence[int]] = []
    counts: list[int] = []
    for ids, units, target in chunk:
        seqs = deletion_sequences(ids, units)
        prompts.extend(seqs)
        targets.extend([target] * len(seqs))
        counts.append(len(seqs))
    lps = mean_target_logprobs(model, prompts, targets, pad_token_id, max_batch_tokens)
    results = []
    start = 0
    for n in counts:
        full = lps[start]
        results.append((float(full), full - lps[start + 1 : start + n]))
        start += n
    return results
