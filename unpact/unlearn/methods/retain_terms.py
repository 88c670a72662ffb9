"""The two retain terms that methods mix in (``class GAGDR(GDRetain, GA)``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from unpact.unlearn.batches import Batch
from unpact.unlearn.losses import kl_to_reference, nll
from unpact.unlearn.methods import Method

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class GDRetain(Method[Any]):
    """Gradient-difference retain term: ``NLL(R)``, the answer-token NLL on the retain batch."""

    def retain_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, retain: Batch) -> torch.Tensor:
        return nll(model, retain)


class KLRetain(Method[Any]):
    """KL retain term: ``KL(p_ref || p_theta)`` on the retain batch's answer positions."""

    needs_reference = True

    def retain_term(self, model: PreTrainedModel, ref: PreTrainedModel | None, retain: Batch) -> torch.Tensor:
        assert ref is not None
        return kl_to_reference(model, ref, retain)
