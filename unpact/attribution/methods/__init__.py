"""The registry of attribution methods: one module per method in this package, registered by name.

A method is a subclass of ``AttributionMethod`` decorated with ``@register``; every module of this
package is imported when the package is, so adding a method is adding one file here (and a test).
``Attributor(method=NAME)``, ``unpact attribute --method`` and ``unpact attribute --list`` read
``METHODS``.

A method turns prepared prompts (``Prompt``: the attributed units of the templated prompt, the
target text and ids) into one ``PromptScore`` per prompt: ``lp`` = LP(x, y), the mean
teacher-forced log-probability of the target, and one score per unit. The default ``score`` computes
the LPs in batches (``unpact.attribution.loo.mean_target_logprobs``) and calls ``prompt_scores``
prompt by prompt; a method that batches across prompts (``loo``) overrides ``score``.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from unpact.attribution.loo import PromptScore, mean_target_logprobs
from unpact.attribution.units import PromptUnits
from unpact.errors import check_choice

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Options:
    """Settings of the attribution run: ``max_batch_tokens`` bounds each forward pass (rows x padded
    width); ``ig_steps`` is the number of integration steps of ``ig``; ``prefix_cache`` is ``loo``'s
    key/value reuse (``False``: plain padded batches, see ``unpact.attribution.loo``)."""

    max_batch_tokens: int = 4096
    ig_steps: int = 32
    prefix_cache: bool = True


@dataclass(frozen=True)
class Prompt:
    """One prompt ready to score: its attributed ``units``, the ``target`` text and its token ids."""

    units: PromptUnits
    target: str
    target_ids: list[int]


class AttributionMethod:
    """Base class: scores of every unit of each prompt, and LP of each prompt (see the module docstring)."""

    name: ClassVar[str]
    summary: ClassVar[str]

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, pad_token_id: int,
                 options: Options) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.pad_token_id = pad_token_id
        self.options = options

    def score(self, prompts: Sequence[Prompt], progress: bool) -> list[PromptScore]:
        """One ``PromptScore`` per prompt, in order."""
        from tqdm.auto import tqdm

        lps = mean_target_logprobs(self.model, [p.units.ids for p in prompts], [p.target_ids for p in prompts],
                                   self.pad_token_id, self.options.max_batch_tokens)
        bar = tqdm(prompts, desc=f"attribution ({self.name})", unit="prompt", disable=not progress)
        return [PromptScore(float(lp), self.prompt_scores(p)) for p, lp in zip(bar, lps)]

    def prompt_scores(self, prompt: Prompt) -> np.ndarray:
        """The score of each unit of one prompt."""
        raise NotImplementedError


METHODS: dict[str, type[AttributionMethod]] = {}


def register(cls: type[AttributionMethod]) -> type[AttributionMethod]:
    """Class decorator: add an attribution method to ``METHODS`` under ``cls.name``."""
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type[AttributionMethod]:
    """The method class registered as ``name``; ``UsageError`` listing the valid names otherwise."""
    return METHODS[check_choice("attribution method", name, METHODS)]


def _import_methods() -> None:
    """Import every module of this package (each registers its method); ``loo`` first, the default."""
    names = sorted((m.name for m in pkgutil.iter_modules(__path__)), key=lambda n: (n != "loo", n))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")


_import_methods()
