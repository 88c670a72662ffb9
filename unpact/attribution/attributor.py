"""``Attributor``: a captum-like front door to every attribution method, and its result.

    from unpact import Attributor
    attr = Attributor(model, tokenizer, method="loo", granularity="word")
    result = attr.attribute(["What city was Mira born in?"], [" Paris"], template="Question: {}\\nAnswer:")
    result.to_frame()

``method``: a name registered in ``unpact.attribution.methods`` (``loo``, the paper's score, by
default; ``captum``, ``ig``, ``attention``; ``unpact attribute --list`` shows them all).
``template``: ``None`` (attribute the whole prompt text), a format string with one ``{}`` (attribute
only the inserted text), or ``"chat"``. The target is given per prompt, or ``targets="greedy"`` uses
the model's own greedy answer (``unpact.scoring.greedy_answers`` on the templated prompt).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from unpact.attribution.methods import METHODS, Options, Prompt, get_method
from unpact.attribution.units import GRANULARITIES, apply_template, prompt_units
from unpact.errors import UsageError, check_choice
from unpact.scoring import check_fits, encode_target, greedy_answers, pad_id

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["METHODS", "AttributionResult", "Attributor", "PromptAttribution"]


@dataclass
class PromptAttribution:
    """One prompt's attribution: its ``id``, units (token or word strings), their char spans in ``prompt``,
    scores, LP."""

    id: str
    prompt: str
    target: str
    units: list[str]
    spans: list[tuple[int, int]]
    contributions: np.ndarray
    lp: float
    method: str
    granularity: str


@dataclass
class AttributionResult:
    """Per-prompt attributions, each with a unique ``id``; ``to_frame()`` gives one tidy row per unit."""

    items: list[PromptAttribution] = field(default_factory=list)

    def __post_init__(self) -> None:
        ids = [item.id for item in self.items]
        if len(set(ids)) != len(ids):
            duplicated = sorted({i for i in ids if ids.count(i) > 1})[:3]
            raise UsageError(f"prompt ids must be unique, got duplicates {duplicated}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> PromptAttribution:
        return self.items[i]

    def by_id(self) -> dict[str, PromptAttribution]:
        """The attributions keyed by prompt id."""
        return {item.id: item for item in self.items}

    def to_frame(self) -> pd.DataFrame:
        rows = [
            {
                "prompt_id": pid,
                "item_id": item.id,
                "position": pos,
                "unit": unit,
                "contribution": float(c),
                "lp": item.lp,
                "method": item.method,
                "granularity": item.granularity,
            }
            for pid, item in enumerate(self.items)
            for pos, (unit, c) in enumerate(zip(item.units, item.contributions))
        ]
        columns = ["prompt_id", "item_id", "position", "unit", "contribution", "lp", "method", "granularity"]
        return pd.DataFrame(rows, columns=columns)


class Attributor:
    """Attribute a causal LM's answer log-probability to its prompt's tokens or words.

    ``max_batch_tokens`` bounds each forward pass (rows x padded width) for ``loo``;
    ``prefix_cache`` reuses the full sequence's keys/values before each deleted unit (``loo`` only;
    same scores; ``False``: plain padded batches, see ``unpact.attribution.loo``); ``ig_steps`` is the number of
    integration steps for ``ig``.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        method: str = "loo",
        granularity: str = "word",
        max_batch_tokens: int = 4096,
        ig_steps: int = 32,
        progress: bool | None = None,
        prefix_cache: bool = True,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.method = get_method(method).name
        self.granularity = check_choice("granularity", granularity, GRANULARITIES)
        if max_batch_tokens < 1:
            raise UsageError(f"max_batch_tokens must be positive, got {max_batch_tokens}")
        self.options = Options(max_batch_tokens=max_batch_tokens, ig_steps=ig_steps, prefix_cache=prefix_cache)
        self.progress = progress

    def attribute(
        self,
        prompts: Sequence[str],
        targets: Sequence[str] | str,
        template: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> AttributionResult:
        """Attribute each ``(prompt, target)``; ``targets="greedy"`` uses the model's greedy answers.

        ``ids`` name the prompts (e.g. QA item ids; default ``"0"``, ``"1"``, ...): results are matched by them.
        """
        if isinstance(prompts, str):
            raise UsageError("prompts must be a list of strings, not one string")
        names = [str(i) for i in range(len(prompts))] if ids is None else [str(i) for i in ids]
        if len(names) != len(prompts):
            raise UsageError(f"{len(prompts)} prompts but {len(names)} ids")
        texts_spans = [apply_template(self.tokenizer, p, template) for p in prompts]
        if isinstance(targets, str):
            if targets != "greedy":
                raise UsageError("targets must be a list of strings (one per prompt) or 'greedy'")
            answers = greedy_answers(self.model, self.tokenizer, [t for t, _ in texts_spans])
            empty = [p for p, a in zip(prompts, answers) if not a]
            if empty:
                raise UsageError(f"the model's greedy answer is empty for {len(empty)} prompt(s), e.g. {empty[0]!r}")
            targets = [" " + a for a in answers]
        if len(targets) != len(prompts):
            raise UsageError(f"{len(prompts)} prompts but {len(targets)} targets")
        pus = [prompt_units(self.tokenizer, text, span, self.granularity) for text, span in texts_spans]
        ready = []
        for target, pu in zip(targets, pus):
            if not target.strip():
                raise UsageError(f"empty target for prompt {pu.text!r}: there is no answer to score")
            target_ids = encode_target(self.tokenizer, target)
            check_fits(self.model, len(pu.ids), len(target_ids))
            ready.append(Prompt(pu, target, target_ids))
        scorer = get_method(self.method)(self.model, self.tokenizer, pad_id(self.tokenizer), self.options)
        scores = scorer.score(ready, len(ready) > 1 if self.progress is None else self.progress)
        items = [
            PromptAttribution(pid, p.units.text, p.target, p.units.labels, p.units.spans, s.contributions, s.lp,
                              self.method, self.granularity)
            for pid, p, s in zip(names, ready, scores)
        ]
        return AttributionResult(items)
