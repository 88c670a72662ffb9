"""IdkDPO: DPO towards an "I don't know"-style answer, with the retain NLL."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from unpact.errors import UsageError
from unpact.prompts import format_target, resolve_prompt_format
from unpact.scoring import pad_id
from unpact.unlearn.batches import Batch, collate, encode_pair
from unpact.unlearn.losses import dpo_loss, sequence_logprobs
from unpact.unlearn.methods import LossWeights, register
from unpact.unlearn.methods.retain_terms import GDRetain
from unpact.unlearn.params import param

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

IDK_ANSWERS = ("I don't know", "I do not know", "I am not sure", "I have no idea", "no idea", "unknown", "not sure")


@dataclass(frozen=True)
class IdkDPOParams(LossWeights):
    beta: float = param(0.1, "open-unlearning's DPO default inverse temperature")
    idk_answers: tuple[str, ...] = param(
        IDK_ANSWERS,
        "refusal-style answers after TOFU's idk list; only those the tokenizer encodes without unknown tokens are used",
    )


@register
class IdkDPO(GDRetain):
    """IdkDPO (TOFU / open-unlearning ``DPO`` with idk answers): DPO preferring an "I don't know"-style
    answer y_w over the true answer y_l of each forget question, plus the retain NLL:
    ``forget_weight * [-(2/beta) mean log sigmoid(beta ((log p(y_w|x) - log p_ref(y_w|x))
    - (log p(y_l|x) - log p_ref(y_l|x))))] + retain_weight * NLL(R)``.

    Each question gets one fixed idk answer (chosen by a hash of its prompt). Only answers the
    tokenizer encodes without its unknown token are used: a word-level organism vocabulary may
    lack these words, and training towards ``[UNK]`` would teach nothing. If none is encodable
    the run stops before training with an error; pass ``idk_answers`` made of words the model
    knows (``--set idk_answers="word1 word2|word3"``). Plain forget texts cannot be used (they
    have no question to answer).
    """

    name = "idk_dpo"
    summary = "forget_weight*DPO(y_idk > y_true on F) + retain_weight*NLL(R)"
    Params = IdkDPOParams
    params: IdkDPOParams
    needs_reference = True
    accepts_forget_texts = False

    def setup(self, model: PreTrainedModel, ref: PreTrainedModel | None, tokenizer: PreTrainedTokenizerBase,
              generator: torch.Generator) -> str | None:
        self.model_for_limits = model
        self.tokenizer = tokenizer
        self.answers = usable_idk_answers(tokenizer, self.params.idk_answers)
        return None

    def idk_for(self, prompt: str) -> str:
        return self.answers[zlib.crc32(prompt.encode("utf-8")) % len(self.answers)]

    def forget_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, forget: Batch) -> torch.Tensor:
        assert ref is not None
        pairs = [encode_pair(self.model_for_limits, self.tokenizer, e.prompt,
                             format_target(self.idk_for(e.prompt), resolve_prompt_format(self.tokenizer)))
                 for e in forget.examples]
        preferred = collate(pairs, pad_id(self.tokenizer)).to(forget.input_ids.device)
        win, _ = sequence_logprobs(model, preferred)
        lose, _ = sequence_logprobs(model, forget)
        with torch.no_grad():
            win_ref, _ = sequence_logprobs(ref, preferred)
            lose_ref, _ = sequence_logprobs(ref, forget)
        return dpo_loss(win, win_ref, lose, lose_ref, self.params.beta, forget.norm("rows"))


def usable_idk_answers(tokenizer: PreTrainedTokenizerBase, answers: tuple[str, ...]) -> tuple[str, ...]:
    """The answers the tokenizer encodes without its unknown token; ``UsageError`` if none is left."""
    unk = getattr(tokenizer, "unk_token_id", None)
    fmt = resolve_prompt_format(tokenizer)
    ok = tuple(a for a in answers
               if a.strip() and unk not in tokenizer(format_target(a, fmt), add_special_tokens=False)["input_ids"])
    if not ok:
        raise UsageError(
            f"idk_dpo: none of the idk answers {list(answers)} can be written with this tokenizer's vocabulary "
            "(they contain unknown words); pass answers made of known words, e.g. --set idk_answers=\"no idea|unknown\""
        )
    return ok
