"""The registry of unlearning methods: one class per method, registered by name, loss formula in its docstring.

Every method minimises ``gamma * forget_term + alpha * retain_term`` (the weights are parameters
of the methods that have both terms; otherwise 1 and absent). Formulas follow the public
reference implementations (open-unlearning, TOFU, MUSE, WMDP) as summarised in
``shared/reference/paper.md``; the loss terms themselves live in ``unpact.unlearn.losses``.
The paper's six are ``ga``, ``ga_gdr``, ``ga_klr``, ``npo``, ``npo_gdr``/``npo_klr``,
``task_vector`` and ``rmu`` (the paper names GA, NPO, their retain-preserving variants, Task
Vector and RMU); ``simnpo`` and ``idk_dpo`` are added because users compare them too.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from unpact.errors import UsageError, check_choice
from unpact.prompts import qa_target
from unpact.scoring import pad_id
from unpact.unlearn.batches import Batch, collate, encode_pair
from unpact.unlearn.layers import decoder_layers, default_rmu_modules, middle_layer, modules_regex
from unpact.unlearn.losses import (
    dpo_loss,
    kl_to_reference,
    masked_mse,
    nll,
    npo_loss,
    sequence_logprobs,
    simnpo_loss,
)
from unpact.unlearn.params import Budget, CommonParams, param

METHODS: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: add a method to ``METHODS`` under ``cls.name``."""
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    """The method class registered as ``name``; ``UsageError`` listing the valid names otherwise."""
    return METHODS[check_choice("unlearning method", name, METHODS)]


class Method:
    """Base class: ``loss = gamma * forget_term + alpha * retain_term`` on one forget and one retain batch."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[CommonParams]] = CommonParams
    default_budget: ClassVar[Budget] = Budget(steps=100)
    """100 steps (~25-50 epochs of a tens-of-items forget set at batch 16): on a memorising test model
    every method but RMU got forget accuracy <= 0.2 within it; pass ``stop_at`` to stop earlier."""
    needs_reference: ClassVar[bool] = False
    transforms_weights: ClassVar[bool] = False

    def __init__(self, params: CommonParams):
        self.params = params

    def setup(self, model: Any, ref: Any | None, tokenizer: Any, generator: torch.Generator) -> str | None:
        """Prepare before training (hooks, fixed vectors); return a regex of trainable parameters or ``None`` (all)."""
        return None

    def forget_term(self, model: Any, ref: Any | None, forget: Batch) -> torch.Tensor:
        raise NotImplementedError

    def retain_term(self, model: Any, ref: Any | None, retain: Batch) -> torch.Tensor | None:
        """The retain regulariser, or ``None`` for methods without one."""
        return None

    def loss(self, model: Any, ref: Any | None, forget: Batch, retain: Batch) -> dict[str, torch.Tensor]:
        """``{"loss", "forget_loss", "retain_loss"}`` (``retain_loss`` is NaN when the method has none)."""
        f = self.forget_term(model, ref, forget)
        r = self.retain_term(model, ref, retain)
        gamma = float(getattr(self.params, "gamma", 1.0))
        alpha = float(getattr(self.params, "alpha", 1.0))
        total = gamma * f if r is None else gamma * f + alpha * r
        nan = torch.tensor(float("nan"))
        return {"loss": total, "forget_loss": f.detach(), "retain_loss": nan if r is None else r.detach()}

    def finalize(self, model: Any, ref: Any | None) -> None:
        """Turn trained weights into the unlearned model, in place (identity except for ``task_vector``)."""

    def teardown(self) -> None:
        """Undo ``setup`` (remove hooks)."""


# ---------------------------------------------------------------- parameters

@dataclass(frozen=True)
class GAParams(CommonParams):
    """Gradient ascent: the common settings only."""


@dataclass(frozen=True)
class RetainWeights(CommonParams):
    """Weights of the forget and retain terms (open-unlearning's ``gamma`` and ``alpha``)."""

    gamma: float = param(1.0, "forget-term weight of the reference implementations (open-unlearning default 1)")
    alpha: float = param(1.0, "retain-term weight of the reference implementations (open-unlearning default 1)")


@dataclass(frozen=True)
class NPOParams(CommonParams):
    beta: float = param(0.1, "the NPO paper's and open-unlearning's default inverse temperature")


@dataclass(frozen=True)
class NPORetainParams(RetainWeights):
    beta: float = param(0.1, "the NPO paper's and open-unlearning's default inverse temperature")


@dataclass(frozen=True)
class SimNPOParams(RetainWeights):
    beta: float = param(4.5, "length-normalised margins need a beta of a few units (SimNPO's range), not NPO's 0.1; forget 0.15 in 60 steps on a test model")
    delta: float = param(0.0, "no extra reward margin (the simplest setting of SimNPO's delta)")


IDK_ANSWERS = ("I don't know", "I do not know", "I am not sure", "I have no idea", "no idea", "unknown", "not sure")


@dataclass(frozen=True)
class IdkDPOParams(RetainWeights):
    beta: float = param(0.1, "open-unlearning's DPO default inverse temperature")
    idk_answers: tuple[str, ...] = param(
        IDK_ANSWERS,
        "refusal-style answers after TOFU's idk list; only those the tokenizer encodes without unknown tokens are used",
    )


@dataclass(frozen=True)
class TaskVectorParams(CommonParams):
    alpha: float = param(2.0, "alpha 1 (Ilharco et al.) left forget accuracy at 0.65 on a memorising test model: fine-tuning an already memorised set moves little")


@dataclass(frozen=True)
class RMUParams(CommonParams):
    lr: float = param(1e-2, "only three MLP matrices train; at 1e-3 forget activations barely moved in 100 steps on a test model")
    layer: int | None = param(None, "none = middle block n//2 (WMDP's RMU hooks layer 7 of 32, an early-middle block)")
    steering_coef: float = param(20.0, "|c*u| well above a tiny model's per-token activation norm; WMDP used 6.5-300 on 7B models")
    alpha: float = param(1.0, "retain-activation MSE weight; WMDP used 1200 on 7B, but at 10-100 the forget term never moved here")
    param_regex: str = param("", "empty = MLP output projections of the hooked block and the two before it (WMDP's choice)")


# ---------------------------------------------------------------- retain terms

class _GDR(Method):
    """Gradient-difference retain term: ``NLL(R)``, the answer-token NLL on the retain batch."""

    def retain_term(self, model: Any, ref: Any | None, retain: Batch) -> torch.Tensor:
        return nll(model, retain)


class _KLR(Method):
    """KL retain term: ``KL(p_ref || p_theta)`` on the retain batch's answer positions."""

    needs_reference = True

    def retain_term(self, model: Any, ref: Any | None, retain: Batch) -> torch.Tensor:
        return kl_to_reference(model, ref, retain)


# ---------------------------------------------------------------- methods

@register
class GA(Method):
    """Gradient ascent (Jang et al. 2023; TOFU's ``grad_ascent``): minimise ``-NLL(F)``, i.e. push the
    answer-token log-likelihood of the forget answers down without bound."""

    name = "ga"
    summary = "-NLL(F)"
    Params = GAParams

    def forget_term(self, model: Any, ref: Any | None, forget: Batch) -> torch.Tensor:
        return -nll(model, forget)


@register
class GAGDR(_GDR, GA):
    """Gradient difference (Liu et al. 2022; TOFU's ``grad_diff``): ``gamma * (-NLL(F)) + alpha * NLL(R)``."""

    name = "ga_gdr"
    summary = "gamma*(-NLL(F)) + alpha*NLL(R)"
    Params = RetainWeights


@register
class GAKLR(_KLR, GA):
    """GA with a KL retain term (TOFU's ``KL``): ``gamma * (-NLL(F)) + alpha * KL(p_ref || p_theta)`` on R."""

    name = "ga_klr"
    summary = "gamma*(-NLL(F)) + alpha*KL(p_ref||p)(R)"
    Params = RetainWeights


@register
class NPO(Method):
    """Negative preference optimisation (Zhang et al. 2024, arXiv:2404.05868):
    ``-(2/beta) * mean log sigmoid(-beta * (log p_theta(y|x) - log p_ref(y|x)))`` over F, with sequence
    log-probabilities (sums of log-softmax over answer tokens; never raw logits)."""

    name = "npo"
    summary = "-(2/beta) mean log sigmoid(-beta (log p(y|x) - log p_ref(y|x))) on F"
    Params = NPOParams
    needs_reference = True

    def forget_term(self, model: Any, ref: Any | None, forget: Batch) -> torch.Tensor:
        logp, _ = sequence_logprobs(model, forget)
        with torch.no_grad():
            logp_ref, _ = sequence_logprobs(ref, forget)
        return npo_loss(logp, logp_ref, self.params.beta)  # type: ignore[attr-defined]


@register
class NPOGDR(_GDR, NPO):
    """NPO plus the gradient-difference retain term: ``gamma * NPO(F) + alpha * NLL(R)``."""

    name = "npo_gdr"
    summary = "gamma*NPO(F) + alpha*NLL(R)"
    Params = NPORetainParams


@register
class NPOKLR(_KLR, NPO):
    """NPO plus the KL retain term: ``gamma * NPO(F) + alpha * KL(p_ref || p_theta)`` on R."""

    name = "npo_klr"
    summary = "gamma*NPO(F) + alpha*KL(p_ref||p)(R)"
    Params = NPORetainParams


@register
class SimNPO(_GDR, Method):
    """SimNPO (Fan et al. 2024, arXiv:2410.07163), reference-free and length-normalised:
    ``gamma * [-(2/beta) * mean log sigmoid(beta * (NLL_sum(y|x)/|y| - delta))] + alpha * NLL(R)``
    (the retain NLL term as in the SimNPO paper and open-unlearning's ``SimNPO``)."""

    name = "simnpo"
    summary = "gamma*(-(2/beta) mean log sigmoid(beta (NLL_sum/|y| - delta))) + alpha*NLL(R)"
    Params = SimNPOParams

    def forget_term(self, model: Any, ref: Any | None, forget: Batch) -> torch.Tensor:
        logp, length = sequence_logprobs(model, forget)
        return simnpo_loss(logp, length, self.params.beta, self.params.delta)  # type: ignore[attr-defined]


@register
class IdkDPO(_GDR, Method):
    """IdkDPO (TOFU / open-unlearning ``DPO`` with idk answers): DPO preferring an "I don't know"-style
    answer y_w over the true answer y_l of each forget question, plus the retain NLL:
    ``gamma * [-(2/beta) mean log sigmoid(beta ((log p(y_w|x) - log p_ref(y_w|x)) - (log p(y_l|x) - log p_ref(y_l|x))))] + alpha * NLL(R)``.

    Each question gets one fixed idk answer (chosen by a hash of its prompt). Only answers the
    tokenizer encodes without its unknown token are used: a word-level organism vocabulary may
    lack these words, and training towards ``[UNK]`` would teach nothing. If none is encodable
    the run stops before training with an error; pass ``idk_answers`` made of words the model
    knows (``--set idk_answers="word1 word2|word3"``).
    """

    name = "idk_dpo"
    summary = "gamma*DPO(y_idk > y_true on F) + alpha*NLL(R)"
    Params = IdkDPOParams
    needs_reference = True

    def setup(self, model: Any, ref: Any | None, tokenizer: Any, generator: torch.Generator) -> str | None:
        self.model_for_limits = model
        self.tokenizer = tokenizer
        self.answers = usable_idk_answers(tokenizer, self.params.idk_answers)  # type: ignore[attr-defined]
        return None

    def idk_for(self, prompt: str) -> str:
        return self.answers[zlib.crc32(prompt.encode("utf-8")) % len(self.answers)]

    def forget_term(self, model: Any, ref: Any | None, forget: Batch) -> torch.Tensor:
        preferred = collate(
            [encode_pair(self.model_for_limits, self.tokenizer, e.prompt, qa_target(self.idk_for(e.prompt))) for e in forget.examples],
            pad_id(self.tokenizer),
        ).to(forget.input_ids.device)
        win, _ = sequence_logprobs(model, preferred)
        lose, _ = sequence_logprobs(model, forget)
        with torch.no_grad():
            win_ref, _ = sequence_logprobs(ref, preferred)
            lose_ref, _ = sequence_logprobs(ref, forget)
        return dpo_loss(win, win_ref, lose, lose_ref, self.params.beta)  # type: ignore[attr-defined]


def usable_idk_answers(tokenizer: Any, answers: tuple[str, ...]) -> tuple[str, ...]:
    """The answers the tokenizer encodes without its unknown token; ``UsageError`` if none is left."""
    unk = getattr(tokenizer, "unk_token_id", None)
    ok = tuple(a for a in answers if a.strip() and unk not in tokenizer(qa_target(a), add_special_tokens=False)["input_ids"])
    if not ok:
        raise UsageError(
            f"idk_dpo: none of the idk answers {list(answers)} can be written with this tokenizer's vocabulary "
            "(they contain unknown words); pass answers made of known words, e.g. --set idk_answers=\"no idea|unknown\""
        )
    return ok


@register
class TaskVector(Method):
    """Task-vector negation (Ilharco et al. 2023, used by MUSE): fine-tune a copy on F by descending
    ``NLL(F)`` (the reinforced model theta_r), then ``theta_unlearned = theta - alpha * (theta_r - theta)``.
    Accuracies logged during training are those of the negated model at that step."""

    name = "task_vector"
    summary = "train theta_r on NLL(F); theta - alpha*(theta_r - theta)"
    Params = TaskVectorParams
    needs_reference = True
    transforms_weights = True

    def forget_term(self, model: Any, ref: Any | None, forget: Batch) -> torch.Tensor:
        return nll(model, forget)

    @torch.no_grad()
    def finalize(self, model: Any, ref: Any | None) -> None:
        assert ref is not None
        base = dict(ref.named_parameters())
        for name, p in model.named_parameters():
            theta = base[name].to(p.device, p.dtype)
            p.copy_(theta - self.params.alpha * (p - theta))  # type: ignore[attr-defined]


@register
class RMU(Method):
    """Representation misdirection for unlearning (Li et al. 2024, WMDP, arXiv:2403.03218): at block L,
    ``MSE(h_L(F), c * u) + alpha * MSE(h_L(R), h_L^ref(R))`` over non-padding tokens, with u a fixed,
    seeded random unit vector (uniform entries, normalised, as in WMDP's code) and c the steering
    coefficient; only the parameters matched by ``param_regex`` train (default: the MLP output
    projections of blocks L-2..L). Block L is found from the config and the module tree."""

    name = "rmu"
    summary = "MSE(h_L(F), c*u) + alpha*MSE(h_L(R), h_L_ref(R))"
    Params = RMUParams
    needs_reference = True
    default_budget = Budget(steps=150)
    """150 steps: only three matrices train; on a test model forget accuracy reached 0.25 at step 90 and 0 at 120."""

    def setup(self, model: Any, ref: Any | None, tokenizer: Any, generator: torch.Generator) -> str | None:
        p: RMUParams = self.params  # type: ignore[assignment]
        _, blocks = decoder_layers(model)
        self.layer = middle_layer(model) if p.layer is None else p.layer
        if not 0 <= self.layer < len(blocks):
            raise UsageError(f"rmu: layer {self.layer} out of range; the model has blocks 0..{len(blocks) - 1}")
        width = model.get_input_embeddings().weight.shape[1]
        u = torch.rand(width, generator=generator)
        self.control = p.steering_coef * u / u.norm()
        self.acts: dict[str, torch.Tensor] = {}
        assert ref is not None
        self.hooks = [
            blocks[self.layer].register_forward_hook(self._store("model")),
            decoder_layers(ref)[1][self.layer].register_forward_hook(self._store("ref")),
        ]
        self.trainable_modules = default_rmu_modules(model, self.layer)
        return p.param_regex or modules_regex(self.trainable_modules)

    def _store(self, key: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            self.acts[key] = output[0] if isinstance(output, tuple) else output
        return hook

    def forget_term(self, model: Any, ref: Any | None, forget: Batch) -> torch.Tensor:
        model(input_ids=forget.input_ids, attention_mask=forget.attention_mask)
        h = self.acts.pop("model")
        return masked_mse(h, self.control.to(h.device).expand_as(h), forget.attention_mask)

    def retain_term(self, model: Any, ref: Any | None, retain: Batch) -> torch.Tensor:
        model(input_ids=retain.input_ids, attention_mask=retain.attention_mask)
        h = self.acts.pop("model")
        with torch.no_grad():
            ref(input_ids=retain.input_ids, attention_mask=retain.attention_mask)  # type: ignore[misc]
            h_ref = self.acts.pop("ref")
        return masked_mse(h, h_ref, retain.attention_mask)

    def teardown(self) -> None:
        for h in getattr(self, "hooks", []):
            h.remove()
