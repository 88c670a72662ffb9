"""Teacher-forced answer log-probabilities and greedy answers: the model calls every analysis shares.

The paper's answer score (unPact, as reported)::

    LP(x, y) = (1/T) * sum_{k=1..T} log p(y_k | x, y_<k)

the mean per-token log-probability of a fixed response ``y`` (``T`` tokens) after prompt ``x``,
teacher forced. ``exp(LP)`` is the answer probability used by TOFU/MUSE-style evaluation.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

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


def left_padded(seqs: Sequence[Sequence[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ids, attention mask and position ids (0 at each row's first real token)."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, width - len(seq) :] = torch.tensor(list(seq))
        mask[row, width - len(seq) :] = 1
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


# A prefix shared by every row of a batch (e.g. a chat template's system prompt) is run once when it has
# at least this many tokens; shorter ones are not worth the extra pass.
SHARED_PREFIX_MIN_TOKENS = 4


def shared_prefix_length(seqs: Sequence[Sequence[int]], leave: int = 1) -> int:
    """Tokens at the start of every sequence, leaving at least ``leave`` tokens of each after it."""
    limit = min(len(s) for s in seqs) - leave
    n = 0
    while n < limit and all(s[n] == seqs[0][n] for s in seqs):
        n += 1
    return n


def prefill(model: Any, seqs: Sequence[Sequence[int]], pad_token_id: int, logits_to_keep: int,
            use_cache: bool = False) -> tuple[Any, torch.Tensor]:
    """One forward pass over ``seqs`` (token lists), left-padded; returns the model output (logits of the
    last ``logits_to_keep`` columns, and its key/value cache when ``use_cache``) and the attention mask.

    A prefix shared by two or more rows (``shared_prefix_length`` >= ``SHARED_PREFIX_MIN_TOKENS``, e.g. a
    chat template's system prompt; never one of the kept columns) is run once, its key/value cache
    repeated for every row, and only the rest is padded: ``[prefix][pads][rest]``, with the pads masked
    and position ids continuing the prefix's, so each row's logits equal those of its own unpadded pass.
    """
    device = model_device(model)
    shared = shared_prefix_length(seqs, leave=logits_to_keep)
    if len(seqs) < 2 or shared < SHARED_PREFIX_MIN_TOKENS:
        ids, mask, position_ids = left_padded(seqs, pad_token_id)
        mask = mask.to(device)
        return model(input_ids=ids.to(device), attention_mask=mask, position_ids=position_ids.to(device),
                     use_cache=use_cache, logits_to_keep=logits_to_keep), mask
    head = model(input_ids=torch.tensor([list(seqs[0][:shared])], device=device), use_cache=True, logits_to_keep=1)
    cache = head.cache
    cache.batch_repeat_interleave(len(seqs))
    ids, rest_mask, position_ids = left_padded([s[shared:] for s in seqs], pad_token_id)
    mask = torch.cat([torch.ones((len(seqs), shared), dtype=rest_mask.dtype), rest_mask], dim=1).to(device)
    out = model(input_ids=ids.to(device), attention_mask=mask, position_ids=(position_ids + shared).to(device),
                cache=cache, use_cache=True, logits_to_keep=logits_to_keep)
    return out, mask


R = TypeVar("R")


@torch.no_grad()
def teacher_forced(
    model: Any,
    prompts: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    reduce: Callable[[torch.Tensor, Sequence[int]], R],
    pad_token_id: int = 0,
    batch_size: int = 64,
) -> list[R]:
    """``reduce(logits, target)`` for each (prompt ids, target ids) pair, in order, where ``logits`` are the
    ``T x V`` float32 logits (on the CPU) of the positions that predict the target's ``T`` tokens, teacher
    forced.

    Pairs are batched in order of length (less padding). A row is the prompt and the target without its
    last token, left-padded (``prefill``: a shared prefix runs once), so every row's target-predicting
    positions are its last ``T`` columns and only the last ``max T`` columns of a batch are projected onto
    the vocabulary (``logits_to_keep``). Padded positions are masked and never attended to, so the result
    equals one unpadded forward pass per pair.
    """
    if len(prompts) != len(targets):
        raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(targets[i]))
    results: dict[int, R] = {}
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        keep = max(len(targets[i]) for i in batch)
        out, _ = prefill(model, [[*prompts[i], *targets[i][:-1]] for i in batch], pad_token_id, keep)
        logits = out.logits.float().cpu()
        for row, i in enumerate(batch):
            results[i] = reduce(logits[row, keep - len(targets[i]) :], targets[i])
    return [results[i] for i in range(len(prompts))]


def _token_logprobs(logits: torch.Tensor, target: Sequence[int]) -> torch.Tensor:
    """``log p(y_k | x, y_<k)`` of each target token from its ``T x V`` predicting logits."""
    return torch.log_softmax(logits, dim=-1)[torch.arange(len(target)), torch.tensor(list(target))]


def target_token_logprobs(
    model: Any,
    prompts: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    pad_token_id: int = 0,
    batch_size: int = 64,
) -> list[torch.Tensor]:
    """Per-token ``log p(y_k | x, y_<k)`` for each (prompt ids, target ids) pair, in float32 on the CPU
    (``teacher_forced``)."""
    return teacher_forced(model, prompts, targets, _token_logprobs, pad_token_id, batch_size)


def _score_and_rank(logits: torch.Tensor, target: Sequence[int]) -> tuple[float, int]:
    return mean_logprob(_token_logprobs(logits, target)), int((logits[0] > logits[0, target[0]]).sum()) + 1


def target_scores(
    model: Any,
    prompts: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    pad_token_id: int = 0,
    batch_size: int = 64,
) -> list[tuple[float, int]]:
    """``(LP(x, y), first_rank)`` for each (prompt ids, target ids) pair, from one teacher-forced pass:
    ``LP`` as in the module docstring, ``first_rank = 1 + #{v : logit_v > logit_{y_1}}`` at the answer's
    first position (1 = the gold first token is the model's top-1 next token)."""
    return teacher_forced(model, prompts, targets, _score_and_rank, pad_token_id, batch_size)


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
    p_ids = [encode_prompt(tokenizer, p)[0] for p in prompts]
    firsts = [encode_target(tokenizer, t)[:1] for t in targets]
    return teacher_forced(model, p_ids, firsts, lambda logits, t: bool(logits[0].argmax() == t[0]),
                          pad_id(tokenizer), batch_size)


@torch.no_grad()
def greedy_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int = 8,
    batch_size: int = 64,
    stop_at_newline: bool = True,
) -> list[str]:
    """Greedy continuation of each prompt, decoded and stripped; stops at EOS (and, by default, a newline:
    the text up to the first newline; a row stops decoding at the token that holds it).

    Prompts are left-padded so that every continuation starts right after its prompt.
    """
    pad = pad_id(tokenizer)
    eos = getattr(tokenizer, "eos_token_id", None)
    newline: dict[int, bool] = {}  # token id -> its text holds a newline (the answer ends there)

    def ends(tokens: torch.Tensor) -> torch.Tensor:
        flags = []
        for tok in tokens.tolist():
            if tok not in newline:
                newline[tok] = stop_at_newline and "\n" in tokenizer.decode([tok])
            flags.append(tok == eos or newline[tok])
        return torch.tensor(flags, device=tokens.device)

    encoded = [encode_prompt(tokenizer, p)[0] for p in prompts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # batches of similar length: less padding
    limit = context_length(model)
    answers: dict[int, str] = {}
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in batch)
        steps = max_new_tokens if limit is None else max(0, min(max_new_tokens, limit - width))
        generated = _greedy_loop(model, [encoded[i] for i in batch], pad, steps, ends)
        for i, row in zip(batch, generated.tolist()):
            if eos is not None and eos in row:
                row = row[: row.index(eos)]
            text = tokenizer.decode(row, skip_special_tokens=True)
            if stop_at_newline:
                text = text.split("\n", 1)[0]
            answers[i] = text.strip()
    return [answers[i] for i in range(len(prompts))]


def _greedy_loop(model: Any, prompts: Sequence[Sequence[int]], pad_token_id: int, steps: int,
                 ends: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Greedy decoding of a batch of prompts (token lists) with the key/value cache; returns only the new tokens.

    The prompts go through ``prefill`` (left-padded, a shared prefix run once, only the last position
    projected onto the vocabulary). ``ends(tokens)`` marks the rows whose new token ends their answer
    (EOS, a newline): an ended row leaves the batch (its cache rows too) and the rest of its output is
    ``pad_token_id`` (what follows an answer's end is discarded anyway); decoding stops once every row
    has ended.
    """
    if steps <= 0:
        return torch.zeros((len(prompts), 0), dtype=torch.long)
    out, mask = prefill(model, prompts, pad_token_id, logits_to_keep=1, use_cache=True)
    device = mask.device
    result = torch.full((len(prompts), steps), pad_token_id, dtype=torch.long, device=device)
    live = torch.arange(len(prompts), device=device)  # the original row of each row still decoding
    position_ids = mask.sum(-1, keepdim=True) - 1
    cache = out.cache
    for step in range(steps):
        next_tok = out.logits[:, -1].argmax(-1)
        result[live, step] = next_tok
        if step == steps - 1:
            return result
        if ends is not None:
            going = ~ends(next_tok).to(device)
            if not bool(going.any()):
                return result[:, : step + 1]
            if not bool(going.all()):
                keep = going.nonzero().flatten()
                cache.batch_select_indices(keep)
                live, next_tok, mask, position_ids = live[keep], next_tok[keep], mask[keep], position_ids[keep]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        position_ids = position_ids + 1
        out = model(input_ids=next_tok[:, None], attention_mask=mask, position_ids=position_ids, cache=cache,
                    use_cache=True)
        cache = out.cache
    return result
