"""Alternative attributions, selectable by name next to the native leave-one-out (``loo``).

* ``captum``: captum's ``LLMAttribution(FeatureAblation)`` on a ``TextTemplateInput`` whose
  features are the units' texts, each with the empty string as baseline, so ablating a unit
  DELETES its text. Captum re-tokenizes the edited text (default special tokens, target ids
  without special tokens: the same conventions as ``loo``), sums the target log-probs, and
  ablation gives ``sum LP(x) - sum LP(x without u)``; dividing by ``T`` gives the ``loo`` score.
  The two agree exactly whenever tokenizing the text without the unit gives the token ids without
  the unit (always true for word-level tokenizers; BPE merges across a removed word can differ).
* ``ig``: captum ``LayerIntegratedGradients`` on the input embeddings, output = LP (mean target
  log-prob); baseline = the same sequence with every attributed token replaced by the pad id;
  token score = sum over embedding dimensions; a word's score = sum of its tokens' scores.
* ``attention``: mean attention weight from the ``T`` target-predicting positions to each prompt
  token, averaged over all layers and heads (eager attention); a word's score = sum of its tokens.
  It is non-negative and not a log-prob difference: compare rankings, not values.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from unpact.attribution.units import PromptUnits
from unpact.modeling import model_device


def captum_ablation(model: Any, tokenizer: Any, pu: PromptUnits, target: str, n_target: int) -> np.ndarray:
    """Deletion-semantics FeatureAblation through captum (see module docstring), divided by ``T``."""
    from captum.attr import FeatureAblation, LLMAttribution, TextTemplateInput

    pieces: list[str] = []
    cursor = 0
    for s, e in pu.spans:
        pieces.append(_escape(pu.text[cursor:s]) + "{}")
        cursor = e
    template = "".join(pieces) + _escape(pu.text[cursor:])
    values = [pu.text[s:e] for s, e in pu.spans]
    inp = TextTemplateInput(template, values=values, baselines=[""] * len(values))
    llm = LLMAttribution(FeatureAblation(model), tokenizer)
    result = llm.attribute(inp, target=target, forward_in_tokens=False)
    return result.seq_attr.detach().double().cpu().numpy() / n_target


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def integrated_gradients(
    model: Any, pu: PromptUnits, target_ids: Sequence[int], pad_token_id: int, n_steps: int = 32
) -> np.ndarray:
    """Layer integrated gradients of LP on the input embeddings, summed per unit (see module docstring)."""
    from captum.attr import LayerIntegratedGradients

    device = model_device(model)
    n = len(pu.ids)
    t = torch.tensor(list(target_ids), device=device)
    ids = torch.tensor([list(pu.ids) + list(target_ids)], device=device)
    baseline = ids.clone()
    for unit in pu.units:
        baseline[0, unit] = pad_token_id

    def lp(input_ids: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(model(input_ids=input_ids).logits.float(), dim=-1)
        cols = torch.arange(n - 1, n - 1 + len(t), device=device)
        return logp[:, cols, t].mean(-1)

    lig = LayerIntegratedGradients(lp, model.get_input_embeddings())
    with torch.enable_grad():
        attr = lig.attribute(ids, baselines=baseline, n_steps=n_steps, internal_batch_size=n_steps)
    per_token = attr[0].sum(-1).detach().double().cpu().numpy()
    return np.array([per_token[u].sum() for u in pu.units])


@torch.no_grad()
def attention_scores(model: Any, pu: PromptUnits, target_ids: Sequence[int]) -> np.ndarray:
    """Mean attention from target-predicting positions to each unit's tokens (summed per unit)."""
    device = model_device(model)
    n = len(pu.ids)
    ids = torch.tensor([list(pu.ids) + list(target_ids)], device=device)
    previous = getattr(model.config, "_attn_implementation", None)
    if previous != "eager":
        model.set_attn_implementation("eager")
    try:
        attentions = model(input_ids=ids, output_attentions=True).attentions
    finally:
        if previous not in (None, "eager"):
            model.set_attn_implementation(previous)
    stacked = torch.stack([a[0].float() for a in attentions])  # layers, heads, query, key
    rows = stacked[:, :, n - 1 : n - 1 + len(target_ids), :n].mean(dim=(0, 1, 2)).double().cpu().numpy()
    return np.array([rows[u].sum() for u in pu.units])
