"""``loo``: unPact's leave-one-out score, exactly, batched across prompts (``unpact.attribution.loo``)."""
from __future__ import annotations

from collections.abc import Sequence

from unpact.attribution.loo import LooPrompt, PromptScore, loo_contributions
from unpact.attribution.methods import AttributionMethod, Prompt, register


@register
class LeaveOneOut(AttributionMethod):
    """``C(x_u, y) = LP(x, y) - LP(x without unit u, y)``: the unit's tokens are deleted (the paper's score)."""

    name = "loo"
    summary = "LP(x, y) - LP(x without u, y), the unit deleted (the paper's score)"

    def score(self, prompts: Sequence[Prompt], progress: bool) -> list[PromptScore]:
        items = [LooPrompt(p.units.ids, p.units.units, p.target_ids) for p in prompts]
        return loo_contributions(self.model, items, self.pad_token_id, self.options.max_batch_tokens, progress,
                                 self.options.prefix_cache)
