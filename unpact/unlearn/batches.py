"""Training examples for unlearning: QA items as (prompt, target) with the loss on answer tokens only.

A QA item becomes ``format_prompt(question)`` + ``format_target(answer)`` in the tokenizer's prompt format
(``unpact.prompts``: the chat template when it has one, else the plain template), encoded exactly as evaluation
encodes them (``unpact.scoring.encode_prompt`` / ``encode_target``), so the tokens trained on are
the tokens scored. Labels are ``-100`` (ignored) on prompt and padding positions. A plain text
(e.g. a corpus sentence about a forget entity) becomes an example with the loss on every token
after the tokenizer's special prefix.

Several processes (``accelerate launch``, data parallel): every process draws the same global
batch from the same seeded stream and keeps its ``shard`` (rows ``rank, rank + world, ...``). A
shard remembers the global batch's row and token counts (``Share``), so that the losses normalise
by the *global* count times ``world``: the gradients that data parallelism averages over the
processes are then exactly the single-process gradients of the global batch (to float rounding),
for per-example means (NPO, DPO) and per-token means (NLL, KL, RMU) alike.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from unpact.data.schema import QAItem
from unpact.prompts import format_prompt, format_target, resolve_prompt_format
from unpact.scoring import check_fits, encode_prompt, encode_target

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

IGNORE = -100


@dataclass(frozen=True)
class Example:
    """One training sequence: ``ids``, the index where the loss starts, and its prompt/target texts."""

    ids: tuple[int, ...]
    start: int
    prompt: str
    target: str


@dataclass(frozen=True)
class Share:
    """The global batch a shard belongs to: ``world`` processes, its rows, answer tokens and attended tokens.

    ``stand_in``: the global batch has fewer rows than processes and this process got none; it
    computes the global batch's first row instead, with every mean divided by infinity (zero loss,
    zero gradient), so that it still takes part in the collective backward pass.
    """

    world: int
    rows: int
    answer_tokens: int
    attended_tokens: int
    stand_in: bool = False


@dataclass
class Batch:
    """Right-padded tensors of a list of examples; ``labels`` is ``-100`` outside the answer tokens.

    ``share`` is set on a process's shard of a global batch (``shard``); ``None`` is a whole batch.
    """

    examples: list[Example]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    share: Share | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.examples, self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device),
                     self.share)

    def counts(self) -> Share:
        """This batch's own counts (``world`` 1)."""
        answer = int((self.labels[:, 1:] != IGNORE).sum())
        return Share(1, len(self.examples), answer, int(self.attention_mask.sum()))

    def norm(self, kind: str) -> float:
        """The divisor of a mean over ``rows``, ``answer_tokens`` or ``attended_tokens``: the global count / world
        (for a whole batch, its own count; at least 1)."""
        share = self.share or self.counts()
        return math.inf if share.stand_in else max(getattr(share, kind), 1) / share.world


def shard(batch: Batch, rank: int, world: int) -> Batch:
    """Process ``rank``'s rows (``rank::world``) of a global batch, remembering the global counts."""
    if world == 1:
        return batch
    rows = list(range(rank, len(batch.examples), world)) or [0]
    index = torch.tensor(rows, dtype=torch.long)
    share = replace(batch.counts(), world=world, stand_in=rank >= len(batch.examples))
    return Batch([batch.examples[i] for i in rows], batch.input_ids[index], batch.attention_mask[index],
                 batch.labels[index], share)


def encode_pair(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str, target: str) -> Example:
    """Encode a (prompt, target) pair; the loss covers the target tokens."""
    p = encode_prompt(tokenizer, prompt)[0]
    t = encode_target(tokenizer, target)
    check_fits(model, len(p), len(t))
    return Example(tuple(p + t), len(p), prompt, target)


def encode_item(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, item: QAItem) -> Example:
    """A QA item in the shared template (multiple-choice items train on their gold option text)."""
    fmt = resolve_prompt_format(tokenizer, "auto")
    return encode_pair(model, tokenizer, format_prompt(tokenizer, item.question, fmt), format_target(item.answer, fmt))


def encode_text(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, text: str) -> Example:
    """A plain text; the loss covers every token after the tokenizer's leading special tokens."""
    ids, special = encode_prompt(tokenizer, text)
    start = next((i for i, s in enumerate(special) if not s), len(ids))
    start = max(start, 1)  # the first token has no prediction
    check_fits(model, 0, len(ids))
    return Example(tuple(ids), start, "", text)


def collate(examples: Sequence[Example], pad_token_id: int) -> Batch:
    """Right-pad ``examples`` into a batch; padded positions are masked and never in the loss."""
    width = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(examples):
        seq = torch.tensor(e.ids, dtype=torch.long)
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
        labels[row, e.start : len(seq)] = seq[e.start :]
    return Batch(list(examples), ids, mask, labels)


class BatchStream:
    """Endless seeded batches from a fixed list of examples: reshuffled every epoch, last partial batch kept."""

    def __init__(self, examples: Sequence[Example], batch_size: int, pad_token_id: int, generator: torch.Generator):
        if not examples:
            raise ValueError("no examples to batch")
        self.examples = list(examples)
        self.batch_size = min(batch_size, len(self.examples))
        self.pad = pad_token_id
        self.generator = generator
        self._order: list[int] = []
        self.epoch = 0

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.examples) // self.batch_size)

    def next(self) -> Batch:
        if not self._order:
            self._order = torch.randperm(len(self.examples), generator=self.generator).tolist()
            self.epoch += 1
        take, self._order = self._order[: self.batch_size], self._order[self.batch_size :]
        return collate([self.examples[i] for i in take], self.pad)
