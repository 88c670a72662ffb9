"""Alternative attribution methods: captum deletion ablation agrees with loo; IG and attention are sane."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from unpact import Attributor

QA = "Question: {}\nAnswer:"
PROMPTS = ["what city was Mira born in ?", "the father of Tolan won which award ?"]
TARGETS = [" Paris", " the prize"]


def test_captum_feature_ablation_agrees_with_loo(tiny_model: tuple[Any, Any]) -> None:
    model, tok = tiny_model
    loo = Attributor(model, tok, method="loo").attribute(PROMPTS[1:], TARGETS[1:], template=QA)
    cap = Attributor(model, tok, method="captum").attribute(PROMPTS[1:], TARGETS[1:], template=QA)
    for a, b in zip(loo.items, cap.items):
        assert a.units == b.units
        assert np.abs(a.contributions).max() > 1e-4  # the comparison is not between zeros
        np.testing.assert_allclose(a.contributions, b.contributions, atol=1e-4)
        assert a.lp == pytest.approx(b.lp, abs=1e-5)


def test_integrated_gradients_completeness(tiny_llama: tuple[Any, Any]) -> None:
    """IG's scores sum to LP(x) - LP(baseline) (completeness), up to the integration error."""
    import torch

    model, tok = tiny_llama
    item = Attributor(model, tok, method="ig", granularity="token", ig_steps=64).attribute(PROMPTS[:1], TARGETS[:1])[0]
    ids = tok(PROMPTS[0])["input_ids"]
    t = tok(TARGETS[0], add_special_tokens=False)["input_ids"]
    base = [ids[0]] + [tok.pad_token_id] * (len(ids) - 1)
    with torch.no_grad():
        def lp(x: list[int]) -> float:
            logp = torch.log_softmax(model(input_ids=torch.tensor([x + t])).logits[0].double(), -1)
            return float(np.mean([float(logp[len(x) - 1 + k, y]) for k, y in enumerate(t)]))
        gap = lp(ids) - lp(base)
    assert len(item.contributions) == len(ids) - 1
    assert item.contributions.sum() == pytest.approx(gap, abs=0.05 * abs(gap) + 1e-4)


def test_attention_scores_are_attention_shares(tiny_model: tuple[Any, Any]) -> None:
    """Mean attention rows sum to 1 over all keys, so the attributed tokens' shares lie in [0, 1] and sum below 1."""
    model, tok = tiny_model
    before = getattr(model.config, "_attn_implementation", None)
    attributor = Attributor(model, tok, method="attention", granularity="token")
    item = attributor.attribute(PROMPTS[:1], TARGETS[:1], template=QA)[0]
    assert (item.contributions >= 0).all() and 0 < item.contributions.sum() < 1
    assert getattr(model.config, "_attn_implementation", None) == before
