"""Teacher-forced answer log-probabilities and greedy answers: the model calls every analysis shares.

The paper's answer score (unPact, as reported)::

    LP(x, y) = (1/T) * sum_{k=1..T} log p(y_k | x, y_<k)

the mean per-token log-probability of a fixed response ``y`` (``T`` tokens) after prompt ``x``,
teacher forced. ``exp(LP)`` is the answer probability used by TOFU/MUSE-style evaluation.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unpact.errors import UsageError
from unpact.modeling import context_length, model_device


def encode_prompt(tokenizer: Any, prompt: str) -> tuple[list[int], list[bool]]:
    """Token ids of ``prompt`` with the tokenizer's default special tokens, and a mask of which are special."""
    if not prompt or not prompt.strip():
        raise UsageError("empty prompt: there is nothing to condition on")
    enc = tokenizer(prompt, add_special_tokens=True, return_special_tokens_mask=True)
    ids = list(enc["input_ids"])
    special = [bool(s) for s in enc["special_tokens_mask"]]
    # A tokenizer's default may append an end token (e.g. EOS); a prompt must end where the answer begins.
    while ids and special[-1] and len(ids) > 1 and ids[-1] == getattr(tokenizer, "eos_token_id", None):
        ids.pop()
        special.pop()
    return ids, special


def encode_target(tokenizer: Any, target: str) -> list[int]:
    """Token ids of ``target`` alone, without special tokens; raise ``UsageError`` if empty."""
    if not target or not target.strip():
        raise UsageError("empty target: there is no answer to score")
    ids = list(tokenizer(target, add_special_tokens=False)["input_ids"])
    if not ids:
        raise UsageError(f"target {target!r} tokenizes to nothing")
    return ids


def check_fits(model: Any, n_prompt: int, n_target: int) -> None:
    """Raise ``UsageError`` when prompt + target exceed the model's context (never truncate silently)."""
    limit = context_length(model)
    if limit is not None and n_prompt + n_target > limit:
        raise UsageError(
            f"prompt ({n_prompt} tokens) + target ({n_target} tokens) = {n_prompt + n_target} tokens "
            f"exceeds the model's context of {limit} tokens"
        )


def pad_id(tokenizer: Any) -> int:
    """A token id usable for padding (pad, else eos, else 0); padded positions are always masked."""
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return 0


@torch.no_grad()
def target_token_logprobs(
    model: Any,
    prompts: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    pad_token_id: int = 0,
    batch_size: int = 64,
) -> list[torch.Tensor]:
    """Per-token ``log p(y_k | x, y_<k)`` for each (prompt ids, target ids) pair, in float32 on the CPU.

    Sequences are right-padded into batches of ``batch_size``; padded positions are masked and
    never attended to, so the result equals one unpadded forward pass per pair.
    """
    if len(prompts) != len(targets):
        raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
    device = model_device(model)
    out: list[torch.Tensor] = []
    for start in range(0, len(prompts), batch_size):
        chunk_p = prompts[start : start + batch_size]
        chunk_t = targets[start : start + batch_size]
        lengths = [len(p) + len(t) for p, t in zip(chunk_p, chunk_t)]
        width = max(lengths)
        ids = torch.full((len(chunk_p), width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk_p), width), dtype=torch.long)
        for row, (p, t) in enumerate(zip(chunk_p, chunk_t)):
            seq = list(p) + list(t)
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logp = torch.log_softmax(logits, dim=-1).cpu()
        for row, (p, t) in enumerate(zip(chunk_p, chunk_t)):
            pos = torch.arange(len(p) - 1, len(p) + len(t) - 1)
            out.append(logp[row, pos, torch.tensor(list(t))])
    return out


def mean_logprob(token_logprobs: torch.Tensor) -> float:
    """LP = mean of the per-token log-probabilities (see module docstring)."""
    return float(token_logprobs.mean())


def answer_logprobs(
    model: Any, tokenizer: Any, prompts: Sequence[str], targets: Sequence[str], batch_size: int = 64
) -> list[float]:
    """LP(x, y) for each (prompt text, target text) pair, with the conventions of
    ``encode_prompt``/``encode_target``."""
    p_ids = [encode_prompt(tokenizer, p)[0] for p in prompts]
    t_ids = [encode_target(tokenizer, t) for t in targets]
    for p, t in zip(p_ids, t_ids):
        check_fits(model, len(p), len(t))
    lps = target_token_logprobs(model, p_ids, t_ids, pad_token_id=pad_id(tokenizer), batch_size=batch_size)
    return [mean_logprob(x) for x in lps]


@torch.no_grad()
def first_token_top1(
    model: Any, tokenizer: Any, prompts: Sequence[str], targets: Sequence[str], batch_size: int = 64
) -> list[bool]:
    """Whether the first token of each target is the model's top-1 next token after its prompt.

    The paper's "correct answer back at top-1" check at the answer's first token.
    """
    device = model_device(model)
    pad = pad_id(tokenizer)
    out: list[bool] = []
    for start in range(0, len(prompts), batch_size):
        encoded = [encode_prompt(tokenizer, p)[0] for p in prompts[start : start + batch_size]]
        firsts = [encode_target(tokenizer, t)[0] for t in targets[start : start + batch_size]]
        width = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = torch.tensor(e)
            mask[row, : len(e)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        last = torch.tensor([len(e) - 1 for e in encoded], device=logits.device)
        top = logits[torch.arange(len(encoded), device=logits.device), last].argmax(-1).tolist()
        out.extend(t == f for t, f in zip(top, firsts))
    return out


@torch.no_grad()
def greedy_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int = 8,
    batch_size: int = 64,
    stop_at_newline: bool = True,
) -> list[str]:
    """Greedy continuation of each prompt, decoded and stripped; stops at EOS (and, by default, a newline).

    Prompts are left-padded so that every continuation starts right after its prompt.
    """
    device = model_device(model)
    pad = pad_id(tokenizer)
    eos = getattr(tokenizer, "eos_token_id", None)
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        encoded = [encode_prompt(tokenizer, p)[0] for p in prompts[start : start + batch_size]]
        width = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, e in enumerate(encoded):
            ids[row, width - len(e) :] = torch.tensor(e)
            mask[row, width - len(e) :] = 1
        limit = context_length(model)
        steps = max_new_tokens if limit is None else max(0, min(max_new_tokens, limit - width))
        generated = _greedy_loop(model, ids.to(device), mask.to(device), steps, eos)
        for row in generated.tolist():
            if eos is not None and eos in row:
                row = row[: row.index(eos)]
            text = tokenizer.decode(row, skip_special_tokens=True)
            if stop_at_newline:
                text = text.split("\n", 1)[0]
            answers.append(text.strip())
    return answers


def _greedy_loop(model: Any, ids: torch.Tensor, mask: torch.Tensor, steps: int, eos: int | None = None) -> torch.Tensor:
    """Greedy decoding with the key/value cache; returns only the new tokens.

    Stops early once every row has produced ``eos`` (what follows it is discarded anyway).
    """
    if steps <= 0:
        return ids[:, :0]
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids, use_cache=True)
    cache = out.cache
    next_tok = out.logits[:, -1].argmax(-1)
    new = [next_tok]
    done = next_tok == eos if eos is not None else torch.zeros_like(next_tok, dtype=torch.bool)
    for _ in range(steps - 1):
        if bool(done.all()):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        position_ids = position_ids[:, -1:] + 1
        out = model(
            input_ids=next_tok[:, None], attention_mask=mask, position_ids=position_ids, cache=cache, use_cache=True
        )
        cache = out.cache
        next_tok = out.logits[:, -1].argmax(-1)
        new.append(next_tok)
        if eos is not None:
            done |= next_tok == eos
    return torch.stack(new, dim=1)
