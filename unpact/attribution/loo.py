"""Native leave-one-out contributions: the paper's score, exactly, in padded batches.

For prompt ``x`` (ids) and fixed target ``y`` (``T`` ids, teacher forced)::

    LP(x, y)     = (1/T) * sum_k log p(y_k | x, y_<k)
    C(x_u, y)    = LP(x, y) - LP(x without unit u, y)

(unPact, arXiv:2509.24675, as reported). Unit ``u`` is one token or all tokens of one word; its
tokens are DELETED, so ``x without u`` is an ordinary shorter sequence whose positions are
renumbered from 0. A prompt with ``n`` units needs ``n + 1`` sequences; the sequences of all
prompts are packed into left-padded batches of at most ``max_batch_tokens`` (rows x width) tokens,
and only the ``T`` target-predicting positions are projected onto the vocabulary.

Every sequence is fed without the target's last token (its logits predict nothing).

With ``prefix_cache`` (the default; ``False`` runs the plain padded batches above), only what a
deletion changes is computed: the prefix all prompts share (a chat template's system turn) runs
once, the full sequences run on it and keep their keys/values, and a deletion whose first deleted
position is ``f`` reuses positions ``0..f-1`` of its full sequence (same tokens, same positions), so
only the rest of the prompt (renumbered) and the target are recomputed (and position ``f-1`` when
nothing of the prompt follows the deletion, as its logits predict the first target token). Rows
are sorted by length and cut into batches where a forward call costs less than the padding it saves
(``CALL_TOKENS``).
Scores are the same either way (to float rounding). Measured
with ``benchmarks/attribution.py`` and side-by-side timings (1 thread of the shared 2-core CPU): on
SmolLM2-135M reuse computed 103 instead of 322 tokens per capital question through the chat template
and was ~2x the speed of the plain path; on six 8-token prose prompts (no template) 1.1x, on one
16-token prompt 0.9x (two forward calls instead of one); on the random organism-sized Llama 2.1x at
12 tokens (50 prompts) and 2.1x at 60 tokens (20 prompts). So it is on unless ``prefix_cache=False``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from unpact.modeling import model_device
from unpact.scoring import left_padded

if TYPE_CHECKING:
    from transformers import PreTrainedModel
CALL_TOKENS = 32
"""What one more forward pass costs, in tokens of a batch: on the CPU (1 thread) a SmolLM2-135M call took
77 ms for 1 token and ~3.5 ms per token in large batches (streaming the weights once per call); the
cached path's batches are cut where a call costs less than the padding it saves (``pack_sorted``)."""


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


def pack_sorted(lengths: Sequence[int], max_batch_tokens: int, call_tokens: int = CALL_TOKENS) -> list[list[int]]:
    """Cut ascending ``lengths`` into consecutive batches (rows x last length <= ``max_batch_tokens``, one row
    at least) minimising ``call_tokens`` x batches + padded tokens (rows x width summed), by dynamic programming."""
    n = len(lengths)
    cost = [0.0] + [float("inf")] * n  # cost[j]: best cost of the first j rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        width = lengths[j - 1]
        for i in range(j - 1, -1, -1):  # batch = rows i..j-1
            if i < j - 1 and (j - i) * width > max_batch_tokens:
                break
            if cost[i] + call_tokens + (j - i) * width < cost[j]:
                cost[j], cut[j] = cost[i] + call_tokens + (j - i) * width, i
    batches, j = [], n
    while j > 0:
        batches.append(list(range(cut[j], j)))
        j = cut[j]
    return batches[::-1]


@torch.no_grad()
def mean_target_logprobs(
    model: PreTrainedModel,
    prompts: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    pad_token_id: int,
    max_batch_tokens: int = 4096,
) -> np.ndarray:
    """LP(prompt, target) for each pair (mean teacher-forced log-prob), float64 array.

    Left padding with explicit position ids (0 at each row's first real token). A row is the prompt
    and the target without its last token (whose logits predict nothing), so every row's ``T``
    target-predicting positions are its last ``T`` columns and only the last ``max T`` columns are
    projected onto the vocabulary.
    """
    device = model_device(model)
    out = np.empty(len(prompts), dtype=np.float64)
    lengths = [len(p) + len(t) - 1 for p, t in zip(prompts, targets)]
    for batch in pack_batches(lengths, max_batch_tokens):
        ids, mask, position_ids = left_padded([[*prompts[i], *targets[i][:-1]] for i in batch], pad_token_id)
        keep = max(len(targets[i]) for i in batch)
        logits = model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=position_ids.to(device),
            logits_to_keep=keep,
        ).logits
        logp = torch.log_softmax(logits.float(), dim=-1)  # column c predicts target token T - keep + c of its row
        for row, i in enumerate(batch):
            out[i] = _target_mean(logp[row], keep, targets[i])
    return out


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
    prefix_cache: bool = True,
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
            run = _loo_chunk_cached if prefix_cache else _loo_chunk
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


KV = list[tuple[torch.Tensor, torch.Tensor]]
"""Keys and values per layer, each ``(1, heads, positions, head_dim)``."""


class _Row(NamedTuple):
    """One sequence of the cached path: its ``source`` (the keys/values whose first ``first`` positions it
    reuses: index of a prompt's full sequence, or -1 for the chunk's shared prefix), the recomputed prompt
    tokens (from position ``first`` on, any deleted unit removed) and the target ids."""

    source: int
    first: int
    suffix: list[int]
    target: Sequence[int]


@torch.no_grad()
def _loo_chunk_cached(
    model: PreTrainedModel, chunk: Sequence[LooPrompt], pad_token_id: int, max_batch_tokens: int
) -> list[PromptScore]:
    """As ``_loo_chunk``, recomputing only what a deletion changes.

    1. The prefix every prompt of the chunk shares (a chat template's system turn) runs once (when that
       saves more than a forward call costs).
    2. The full sequences run on it, keeping their keys/values.
    3. A deletion whose first deleted position is ``f`` reuses positions ``0..f-1`` of its full
       sequence and recomputes the rest (renumbered) and the target; when nothing of the prompt
       follows the deletion, position ``f-1`` is recomputed too, as its logits predict the first
       target token.
    """
    shared = len(chunk[0].ids)
    for item in chunk:
        shared = min(shared, len(item.ids) - 1, next((j for j, (a, b) in enumerate(zip(item.ids, chunk[0].ids))
                                                      if a != b), len(item.ids)))
    if (len(chunk) - 2) * shared <= CALL_TOKENS:  # its own call saves (prompts - 1) x shared tokens
        shared = 0
    prefix: list[KV] = []
    if shared > 0:
        out = model(input_ids=torch.tensor([list(chunk[0].ids[:shared])], device=model_device(model)),
                    use_cache=True, logits_to_keep=1)
        prefix.append([(layer.keys, layer.values) for layer in out.cache.layers])
    fulls = [_Row(-1, shared, list(item.ids[shared:]), item.target) for item in chunk]
    full_lps, caches = _score_rows(model, fulls, prefix, pad_token_id, max_batch_tokens, keep_cache=True)
    rows: list[_Row] = []
    for p, item in enumerate(chunk):
        for unit in item.units:
            drop, first = set(unit), min(unit)
            suffix = [t for j, t in enumerate(item.ids) if j >= first and j not in drop]
            if not suffix:
                if first == 0:
                    raise ValueError("deleting the unit leaves an empty prompt: there is nothing to condition on")
                first, suffix = first - 1, [item.ids[first - 1]]
            rows.append(_Row(p, first, suffix, item.target))
    deleted, _ = _score_rows(model, rows, caches, pad_token_id, max_batch_tokens, keep_cache=False)
    results, start = [], 0
    for p, item in enumerate(chunk):
        results.append(PromptScore(float(full_lps[p]), full_lps[p] - deleted[start : start + len(item.units)]))
        start += len(item.units)
    return results


def _score_rows(
    model: PreTrainedModel, rows: Sequence[_Row], sources: Sequence[KV], pad_token_id: int, max_batch_tokens: int,
    keep_cache: bool,
) -> tuple[np.ndarray, list[KV]]:
    """LP of each row (its source's first ``first`` keys/values, then suffix + target), in batches of rows of
    similar length; with ``keep_cache`` also each row's keys/values for its prompt positions (all but the last).

    A batch's cache holds each row's reused positions left-aligned, padded to the batch's longest; its new
    tokens are left-padded behind them, with position ids continuing from ``first``. A row is its suffix and
    the target without its last token, so its last ``T`` columns predict the target (``mean_target_logprobs``).
    """
    from transformers import DynamicCache

    device = model_device(model)
    sizes = [len(r.suffix) + len(r.target) - 1 for r in rows]
    order = sorted(range(len(rows)), key=sizes.__getitem__)
    lps = np.empty(len(rows))
    kept: list[KV] = [[] for _ in rows]
    for batch in pack_sorted([sizes[i] for i in order], max_batch_tokens):
        members = [rows[order[b]] for b in batch]
        reused = max(m.first for m in members)
        width = max(sizes[order[b]] for b in batch)
        keep = max(len(m.target) for m in members)
        ids = torch.full((len(members), width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(members), reused + width), dtype=torch.long)
        pos = torch.zeros((len(members), width), dtype=torch.long)
        for row, m in enumerate(members):
            seq = [*m.suffix, *m.target[:-1]]
            ids[row, width - len(seq) :] = torch.tensor(seq)
            mask[row, : m.first] = 1
            mask[row, reused + width - len(seq) :] = 1
            pos[row, width - len(seq) :] = torch.arange(m.first, m.first + len(seq))
        cache = None
        if reused > 0:
            data = []
            for layer in range(len(sources[0])):
                k0 = sources[members[0].source][layer][0]
                keys = k0.new_zeros((len(members), k0.shape[1], reused, k0.shape[3]))
                values = keys.clone()
                for row, m in enumerate(members):
                    keys[row, :, : m.first] = sources[m.source][layer][0][0, :, : m.first]
                    values[row, :, : m.first] = sources[m.source][layer][1][0, :, : m.first]
                data.append((keys, values))
            cache = DynamicCache(ddp_cache_data=data)
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                    cache=cache, use_cache=cache is not None or keep_cache, logits_to_keep=keep)
        logp = torch.log_softmax(out.logits.float(), dim=-1)
        for row, b in enumerate(batch):
            m = members[row]
            lps[order[b]] = _target_mean(logp[row], keep, m.target)
            if keep_cache:
                start, n = reused + width - len(m.suffix) - len(m.target) + 1, len(m.suffix)
                kept[order[b]] = [
                    (torch.cat([k[row : row + 1, :, : m.first], k[row : row + 1, :, start : start + n - 1]], 2),
                     torch.cat([v[row : row + 1, :, : m.first], v[row : row + 1, :, start : start + n - 1]], 2))
                    for k, v in ((layer.keys, layer.values) for layer in out.cache.layers)]
    return lps, kept
