"""``captum``: captum's ``LLMAttribution(FeatureAblation)`` with deletion semantics.

The features of a ``TextTemplateInput`` are the units' texts, each with the empty string as
baseline, so ablating a unit DELETES its text (with the whitespace before it, as BPE tokens carry it:
``unpact.attribution.units.deletion_spans``). Captum re-tokenizes the edited text (default special
tokens, target ids without special tokens: the same conventions as ``loo``), sums the target
log-probs, and ablation gives ``sum LP(x) - sum LP(x without u)``; dividing by ``T`` gives the
``loo`` score. The two agree exactly whenever tokenizing the text without the unit gives the token
ids without the unit (always true for word-level tokenizers; BPE merges across a removed word can
differ).
"""
from __future__ import annotations

import numpy as np

from unpact.attribution.methods import AttributionMethod, Prompt, register
from unpact.attribution.units import deletion_spans


@register
class CaptumAblation(AttributionMethod):
    """Deletion-semantics FeatureAblation through captum (module docstring), divided by ``T``."""

    name = "captum"
    summary = "captum FeatureAblation deleting each unit's text, / T (equals loo for word-level tokenizers)"

    def prompt_scores(self, prompt: Prompt) -> np.ndarray:
        from captum.attr import FeatureAblation, LLMAttribution, TextTemplateInput

        pu = prompt.units
        spans = deletion_spans(self.tokenizer, pu)
        pieces: list[str] = []
        cursor = 0
        for s, e in spans:
            pieces.append(_escape(pu.text[cursor:s]) + "{}")
            cursor = e
        template = "".join(pieces) + _escape(pu.text[cursor:])
        values = [pu.text[s:e] for s, e in spans]
        inp = TextTemplateInput(template, values=values, baselines=[""] * len(values))
        llm = LLMAttribution(FeatureAblation(self.model), self.tokenizer)
        result = llm.attribute(inp, target=prompt.target, forward_in_tokens=False)
        return result.seq_attr.detach().double().cpu().numpy() / len(prompt.target_ids)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
