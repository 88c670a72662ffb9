"""``ig``: captum ``LayerIntegratedGradients`` on the input embeddings.

Output = LP (mean target log-prob); baseline = the same sequence with every attributed token
replaced by the pad id; token score = sum over embedding dimensions; a unit's score = sum of its
tokens' scores. ``Options.ig_steps`` integration steps.
"""
from __future__ import annotations

import numpy as np
import torch

from unpact.attribution.methods import AttributionMethod, Prompt, register
from unpact.modeling import model_device


@register
class IntegratedGradients(AttributionMethod):
    """Layer integrated gradients of LP on the input embeddings, summed per unit (module docstring)."""

    name = "ig"
    summary = "integrated gradients of LP on the input embeddings (pad-token baseline), summed per unit"

    def prompt_scores(self, prompt: Prompt) -> np.ndarray:
        from captum.attr import LayerIntegratedGradients

        model, pu, n_steps = self.model, prompt.units, self.options.ig_steps
        device = model_device(model)
        n = len(pu.ids)
        t = torch.tensor(list(prompt.target_ids), device=device)
        ids = torch.tensor([list(pu.ids) + list(prompt.target_ids)], device=device)
        baseline = ids.clone()
        for unit in pu.units:
            baseline[0, unit] = self.pad_token_id

        def lp(input_ids: torch.Tensor) -> torch.Tensor:
            logp = torch.log_softmax(model(input_ids=input_ids).logits.float(), dim=-1)
            cols = torch.arange(n - 1, n - 1 + len(t), device=device)
            return logp[:, cols, t].mean(-1)

        lig = LayerIntegratedGradients(lp, model.get_input_embeddings())
        with torch.enable_grad():
            attr = lig.attribute(ids, baselines=baseline, n_steps=n_steps, internal_batch_size=n_steps)
        per_token = attr[0].sum(-1).detach().double().cpu().numpy()
        return np.array([per_token[u].sum() for u in pu.units])
