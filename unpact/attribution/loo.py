"""Native leave-one-out contributions: the paper's score, exactly, in padded batches.

For prompt ``x`` (ids) and fixed target ``y`` (``T`` ids, teacher forced)::

    LP(x, y)     = (1/T) * sum_k log p(y_k | x, y_<k)
    C(x_u, y)    = LP(x, y) - LP(x without unit u, y)

(unPact, arXiv:2509.24675, as reported). Unit ``u`` is one token or all tokens of one word; its
tokens are DELETED, so ``x without u`` is an ordinary shorter sequence whose positions are
renumbered from 0. A prompt with ``n`` units needs ``n + 1`` sequences; the sequences of all
prompts are packed into left-padded batches of at most ``max_batch_tokens`` (rows x width) tokens,
and only the ``T`` target-predicting positions are projected onto the vocabulary.

With ``prefix_cache=True`` the keys/values of the full sequence are reused: a deletion whose
first deleted position is ``f`` shares positions ``0..f-1`` (same tokens, same positions) with
the full sequence, so only position ``f-1`` (whose logits predict the first target token when
nothing follows the deletion), the suffix (renumbered) and the target are recomputed.
``benchmarks/attribution.py --compare-cache`` measures whether this pays: on the 2-core CPU
(1 thread, random organism-sized Llama) it did not for ~14-token prompts (0.86x) and did for
~62-token prompts (1.65x), so ``prefix_cache=None`` (auto) uses it when a chunk's mean prompt
length is at least ``AUTO_CACHE_MIN_TOKENS``. Scores are the same either way (to float rounding).
On SmolLM2-135M through its chat template (question words attributed, ~40-token prompts), reuse
also skips the template's system prefix and was about 2x the speed of no reuse
(``results/benchmarks/attribution-smollm2.json``). Batches of the cached path are packed with at
most ``MAX_PADDING`` padding.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from unpact.modeling import model_device

if TYPE_CHECKING:
    from transformers import PreTrainedModel
AUTO_CACHE_MIN_TOKENS = 32
MAX_PADDING = 0.1
"""The cached path's deletions, sorted by length, are packed with at most this much padding (see ``pack_batches``)."""


class LooPrompt(NamedTuple):
    """One prompt to attribute: its token ``ids``, the position lists of its ``units``, the ``target`` ids."""

    ids: Sequence[int]
    units: Sequence[Sequence[int]]
    target: Sequence[int]


class PromptScore(NamedTuple):
    """``lp`` = LP(x, y) of the full prompt; ``contributions[u]`` = LP(x, y) - LP(x without unit u, y)."""

    lp: float
    contributions: np.ndarray


def deletion_sequences(ids: Sequence[int], units: Sequence[Sequence[int]]) -> list[list[int]]:
    """The full prompt followed by the prompt with each unit's positions deleted (``n + 1`` sequences)."""
    seqs = [list(ids)]
    for unit in units:
        drop = set(unit)
        seqs.append([t for i, t in enumerate(ids) if i not in drop])
    return seqs


def pack_batches(lengths: Sequence[int], max_batch_tokens: int, max_padding: float | None = None) -> list[list[int]]:
    """Group consecutive sequence indices so that rows x (longest row) <= ``max_batch_tokens`` (one row at least).

    With ``max_padding`` a batch also ends before its padding would exceed that fraction of its real
    tokens (for lengths sorted ascending: batches of similar widths, so little compute goes to padding).
    """
    batches: list[list[int]] = []
    current: list[int] = []
    width = real = 0
    for i, n in enumerate(lengths):
        new_width = max(width, n)
        padded = new_width * (len(current) + 1)
        too_padded = max_padding is not None and padded > (1 + max_padding) * (real + n)
        if current and (padded > max_batch_tokens or too_padded):
            batches.append(current)
            current, new_width, real = [], n, 0
        current.append(i)
        width, real = new_width, real + n
    if current:
        batches.append(current)
    return batches


@torch.no_grad()
def mean_target_logprobs(
    model: PreTrainedModel,
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
        ids, mask, position_ids = _left_padded([list(prompts[i]) + list(targets[i]) for i in batch], pad_token_id)
        keep = max(len(targets[i]) for i in batch)
        logits = model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=position_ids.to(device),
            logits_to_keep=keep + 1,
        ).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # column c predicts token width-keep+c
        for row, i in enumerate(batch):
            out[i] = _target_mean(logp[row], keep, targets[i])
    return out


def _left_padded(seqs: Sequence[Sequence[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ids, attention mask and position ids (0 at each row's first real token)."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, width - len(seq) :] = torch.tensor(list(seq))
        mask[row, width - len(seq) :] = 1
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def _target_mean(logp: torch.Tensor, keep: int, target: Sequence[int]) -> float:
    """Mean log-prob of ``target`` from one row's last ``keep`` target-predicting columns (target right-aligned)."""
    t = torch.tensor(list(target), device=logp.device)
    return float(logp[torch.arange(keep - len(t), keep, device=logp.device), t].double().mean())


def loo_contributions(
    model: PreTrainedModel,
    items: Sequence[LooPrompt],
    pad_token_id: int,
    max_batch_tokens: int = 4096,
    progress: bool = False,
    prefix_cache: bool | None = None,
) -> list[PromptScore]:
    """A ``PromptScore`` for each ``LooPrompt``, in order (the formula is in the module docstring)."""
    from tqdm.auto import tqdm

    results: list[PromptScore] = []
    # Chunks of prompts keep memory bounded while still filling batches across prompts.
    chunk: list[LooPrompt] = []
    budget = 0
    bar = tqdm(total=len(items), desc="attribution (loo)", unit="prompt", disable=not progress)
    for i, item in enumerate(items):
        chunk.append(item)
        budget += (len(item.units) + 1) * (len(item.ids) + len(item.target))
        if budget >= 8 * max_batch_tokens or i == len(items) - 1:
            cached = prefix_cache
            if cached is None:
                cached = bool(np.mean([len(c.ids) for c in chunk]) >= AUTO_CACHE_MIN_TOKENS)
            run = _loo_chunk_cached if cached else _loo_chunk
            results.extend(run(model, chunk, pad_token_id, max_batch_tokens))
            bar.update(len(chunk))
            chunk, budget = [], 0
    bar.close()
    return results


def _loo_chunk(
    model: PreTrainedModel, chunk: Sequence[LooPrompt], pad_token_id: int, max_batch_tokens: int
) -> list[PromptScore]:
    prompts: list[list[int]] = []
    targets: list[Sequence[int]] = []
    counts: list[int] = []
    for item in chunk:
        seqs = deletion_sequences(item.ids, item.units)
        prompts.extend(seqs)
        targets.extend([item.target] * len(seqs))
        counts.append(len(seqs))
    lps = mean_target_logprobs(model, prompts, targets, pad_token_id, max_batch_tokens)
    results = []
    start = 0
    for n in counts:
        full = lps[start]
        results.append(PromptScore(float(full), full - lps[start + 1 : start + n]))
        start += n
    return results


class _Deletion(NamedTuple):
    """One deletion of the cached path: its prompt's index in the chunk, the first recomputed position,
    the recomputed prompt tokens (from ``first`` on, the unit removed) and the target ids."""

    prompt: int
    first: int
    suffix: list[int]
    target: Sequence[int]


@torch.no_grad()
def _loo_chunk_cached(
    model: PreTrainedModel, chunk: Sequence[LooPrompt], pad_token_id: int, max_batch_tokens: int
) -> list[PromptScore]:
    """As ``_loo_chunk``, reusing each full sequence's prefix keys/values for its deletions."""
    from transformers import DynamicCache

    device = model_device(model)
    fulls: list[float] = []
    caches: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
    lengths = [len(item.ids) + len(item.target) for item in chunk]
    for batch in pack_batches(lengths, max_batch_tokens):  # full sequences, left-padded like mean_target_logprobs
        seqs = [list(chunk[i].ids) + list(chunk[i].target) for i in batch]
        ids, mask, position_ids = _left_padded(seqs, pad_token_id)
        keep = max(len(chunk[i].target) for i in batch)
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=position_ids.to(device),
                    use_cache=True, logits_to_keep=keep + 1)
        logp = torch.log_softmax(out.logits[:, :-1].float(), dim=-1)
        layers = [(layer.keys, layer.values) for layer in out.cache.layers]
        width = ids.shape[1]
        for row, i in enumerate(batch):
            fulls.append(_target_mean(logp[row], keep, chunk[i].target))
            start, n = width - len(seqs[row]), len(chunk[i].ids)
            caches.append([(k[row : row + 1, :, start : start + n - 1], v[row : row + 1, :, start : start + n - 1])
                           for k, v in layers])
    rows: list[_Deletion] = []
    for p, item in enumerate(chunk):
        for unit in item.units:
            # Recompute from one token before the deletion, so the suffix always holds the token
            # that predicts the first target token (even when the prompt's last unit is deleted).
            drop, first = set(unit), max(min(unit) - 1, 0)
            rows.append(_Deletion(p, first, [t for j, t in enumerate(item.ids) if j >= first and j not in drop],
                                  item.target))
    order = sorted(range(len(rows)), key=lambda r: len(rows[r].suffix) + len(rows[r].target))
    deleted = np.empty(len(rows))
    sizes = [len(rows[r].suffix) + len(rows[r].target) for r in order]
    for batch in pack_batches(sizes, max_batch_tokens, max_padding=MAX_PADDING):
        members = [rows[order[b]] for b in batch]
        prefix = max(m.first for m in members)
        width = max(len(m.suffix) + len(m.target) for m in members)
        keep = max(len(m.target) for m in members)
        ids = torch.full((len(members), width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(members), prefix + width), dtype=torch.long)
        pos = torch.zeros((len(members), width), dtype=torch.long)
        for row, m in enumerate(members):
            seq = m.suffix + list(m.target)
            ids[row, width - len(seq) :] = torch.tensor(seq)
            mask[row, : m.first] = 1
            mask[row, prefix + width - len(seq) :] = 1
            pos[row, width - len(seq) :] = torch.arange(m.first, m.first + len(seq))
        cache = None
        if prefix > 0:
            data = []
            for layer in range(len(caches[0])):
                k0 = caches[members[0].prompt][layer][0]
                keys = k0.new_zeros((len(members), k0.shape[1], prefix, k0.shape[3]))
                values = keys.clone()
                for row, m in enumerate(members):
                    keys[row, :, : m.first] = caches[m.prompt][layer][0][0, :, : m.first]
                    values[row, :, : m.first] = caches[m.prompt][layer][1][0, :, : m.first]
                data.append((keys, values))
            cache = DynamicCache(ddp_cache_data=data)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                       cache=cache, use_cache=cache is not None, logits_to_keep=keep + 1).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        for row, b in enumerate(batch):
            deleted[order[b]] = _target_mean(logp[row], keep, members[row].target)
    results, start = [], 0
    for p, item in enumerate(chunk):
        results.append(PromptScore(fulls[p], fulls[p] - deleted[start : start + len(item.units)]))
        start += len(item.units)
    return results
