"""``attention``: mean attention weight from the ``T`` target-predicting positions to each prompt token.

Averaged over all layers and heads (eager attention); a unit's score = sum of its tokens. It is
non-negative and not a log-prob difference: compare rankings, not values.
"""
from __future__ import annotations

import numpy as np
import torch

from unpact.attribution.methods import AttributionMethod, Prompt, register
from unpact.modeling import model_device


@register
class Attention(AttributionMethod):
    """Mean attention from target-predicting positions to each unit's tokens (summed per unit)."""

    name = "attention"
    summary = "mean attention from the target-predicting positions, all layers and heads (a ranking, not LP)"

    @torch.no_grad()
    def prompt_scores(self, prompt: Prompt) -> np.ndarray:
        model, pu = self.model, prompt.units
        device = model_device(model)
        n, n_target = len(pu.ids), len(prompt.target_ids)
        ids = torch.tensor([list(pu.ids) + list(prompt.target_ids)], device=device)
        previous = getattr(model.config, "_attn_implementation", None)
        if previous != "eager":
            model.set_attn_implementation("eager")
        try:
            attentions = model(input_ids=ids, output_attentions=True).attentions
        finally:
            if previous not in (None, "eager"):
                model.set_attn_implementation(previous)
        stacked = torch.stack([a[0].float() for a in attentions])  # layers, heads, query, key
        rows = stacked[:, :, n - 1 : n - 1 + n_target, :n].mean(dim=(0, 1, 2)).double().cpu().numpy()
        return np.array([rows[u].sum() for u in pu.units])
