"""Representation misdirection for unlearning (WMDP's RMU)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from unpact.errors import UsageError
from unpact.unlearn.batches import Batch
from unpact.unlearn.layers import decoder_layers, default_rmu_modules, middle_layer, modules_regex
from unpact.unlearn.losses import masked_mse
from unpact.unlearn.methods import LossWeights, Method, register
from unpact.unlearn.params import Budget, param

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class RMUParams(LossWeights):
    lr: float = param(1e-2, "only three MLP matrices train; at 1e-3 forget activations barely moved in 100 steps "
                            "on a test model")
    layer: int | None = param(None, "none = middle block n//2 (WMDP's RMU hooks layer 7 of 32, an early-middle block)")
    steering_coef: float = param(20.0, "|c*u| well above a tiny model's per-token activation norm; "
                                       "WMDP used 6.5-300 on 7B models")
    retain_weight: float = param(1.0, "retain-activation MSE weight; WMDP used 1200 on 7B, but at 10-100 the forget "
                                      "term never moved here")
    param_regex: str = param("", "empty = MLP output projections of the hooked block and the two before it "
                                 "(WMDP's choice)")


@register
class RMU(Method[RMUParams]):
    """Representation misdirection for unlearning (Li et al. 2024, WMDP, arXiv:2403.03218): at block L,
    ``forget_weight * MSE(h_L(F), c * u) + retain_weight * MSE(h_L(R), h_L^ref(R))`` over non-padding
    tokens, with u a fixed, seeded random unit vector (uniform entries, normalised, as in WMDP's code)
    and c the steering coefficient; only the parameters matched by ``param_regex`` train (default: the
    MLP output projections of blocks L-2..L). Block L is found from the config and the module tree."""

    name = "rmu"
    summary = "forget_weight*MSE(h_L(F), c*u) + retain_weight*MSE(h_L(R), h_L_ref(R))"
    Params = RMUParams
    needs_reference = True
    default_budget = Budget(steps=150)
    """150 steps: only three matrices train; on a test model forget accuracy reached 0.25 at step 90 and 0 at 120."""

    def setup(self, model: PreTrainedModel, ref: PreTrainedModel | None, tokenizer: PreTrainedTokenizerBase,
              generator: torch.Generator) -> str | None:
        p = self.params
        _, blocks = decoder_layers(model)
        self.layer = middle_layer(model) if p.layer is None else p.layer
        if not 0 <= self.layer < len(blocks):
            raise UsageError(f"rmu: layer {self.layer} out of range; the model has blocks 0..{len(blocks) - 1}")
        embedding = model.get_input_embeddings().weight
        assert isinstance(embedding, torch.Tensor)
        u = torch.rand(embedding.shape[1], generator=generator)
        self.control = p.steering_coef * u / u.norm()
        self.acts: dict[str, torch.Tensor] = {}
        assert ref is not None
        self.hooks = [
            blocks[self.layer].register_forward_hook(self._store("model")),
            decoder_layers(ref)[1][self.layer].register_forward_hook(self._store("ref")),
        ]
        self.trainable_modules = default_rmu_modules(model, self.layer)
        return p.param_regex or modules_regex(self.trainable_modules)

    def _store(self, key: str) -> Callable[[Any, Any, Any], None]:
        def hook(module: Any, args: Any, output: Any) -> None:
            self.acts[key] = output[0] if isinstance(output, tuple) else output
        return hook

    def forget_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, forget: Batch) -> torch.Tensor:
        model(input_ids=forget.input_ids, attention_mask=forget.attention_mask)
        h = self.acts.pop("model")
        return masked_mse(h, self.control.to(h.device).expand_as(h), forget)

    def retain_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, retain: Batch) -> torch.Tensor:
        assert ref is not None
        model(input_ids=retain.input_ids, attention_mask=retain.attention_mask)
        h = self.acts.pop("model")
        with torch.no_grad():
            ref(input_ids=retain.input_ids, attention_mask=retain.attention_mask)
            h_ref = self.acts.pop("ref")
        return masked_mse(h, h_ref, retain)

    def teardown(self) -> None:
        for h in getattr(self, "hooks", []):
            h.remove()
