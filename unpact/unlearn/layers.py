"""Find a decoder's transformer blocks and their MLP output projections, for any architecture.

Nothing here uses an architecture's attribute names (``model.layers``, ``transformer.h``): the
blocks are the ``ModuleList`` whose length equals the number of layers in the config
(``num_hidden_layers`` / ``n_layer``), and a block's MLP is its child whose name contains
``mlp``, ``ffn`` or ``feed_forward``; the MLP's output projection is its last 2-D weight
(llama/qwen2 ``mlp.down_proj``, gpt2 ``mlp.c_proj``).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from torch import nn

from unpact.errors import UsageError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

LAYER_COUNT_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
MLP_NAME = re.compile(r"mlp|ffn|feed_forward", re.IGNORECASE)


def layer_count(model: PreTrainedModel) -> int:
    """Number of decoder blocks, from the model's config."""
    cfg = model.config
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    for key in LAYER_COUNT_KEYS:
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    raise UsageError(f"the model's config names no layer count (looked for {', '.join(LAYER_COUNT_KEYS)})")


def decoder_layers(model: PreTrainedModel) -> tuple[str, nn.ModuleList]:
    """``(qualified name, blocks)``: the ``ModuleList`` of ``layer_count(model)`` blocks (the outermost one)."""
    n = layer_count(model)
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return name, module
    raise UsageError(f"no list of {n} decoder blocks found in the model's module tree")


def middle_layer(model: PreTrainedModel) -> int:
    """Index of the middle block, ``n // 2`` (0-based)."""
    return layer_count(model) // 2


def mlp_output_projection(model: PreTrainedModel, index: int) -> str:
    """Qualified module name of block ``index``'s MLP output projection."""
    prefix, blocks = decoder_layers(model)
    block = blocks[index]
    mlp = next(((n, m) for n, m in block.named_children() if MLP_NAME.search(n)), None)
    if mlp is None:
        children = ", ".join(n for n, _ in block.named_children())
        raise UsageError(f"block {index} has no MLP child (children: {children}); pass param_regex")
    weighted = [n for n, m in mlp[1].named_modules() if getattr(getattr(m, "weight", None), "ndim", 0) == 2]
    if not weighted:
        raise UsageError(f"the MLP of block {index} has no 2-D weight; pass param_regex")
    return f"{prefix}.{index}.{mlp[0]}.{weighted[-1]}"


def default_rmu_modules(model: PreTrainedModel, layer: int, span: int = 3) -> list[str]:
    """MLP output projections of block ``layer`` and the ``span - 1`` blocks before it (WMDP's RMU: layers 5,6,7
    for layer 7)."""
    return [mlp_output_projection(model, i) for i in range(max(0, layer - span + 1), layer + 1)]


def modules_regex(module_names: list[str]) -> str:
    """A regex matching exactly the weight and bias of the named modules."""
    return r"^(" + "|".join(re.escape(n) for n in module_names) + r")\.(weight|bias)$"


def select_trainable(model: PreTrainedModel, regex: str) -> list[str]:
    """Freeze every parameter whose name does not match ``regex``; return the trainable names."""
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise UsageError(f"param_regex {regex!r} is not a valid regular expression: {exc}") from exc
    chosen = []
    for name, p in model.named_parameters():
        p.requires_grad_(bool(pattern.search(name)))
        if p.requires_grad:
            chosen.append(name)
    if not chosen:
        examples = ", ".join(n for n, _ in list(model.named_parameters())[:6])
        raise UsageError(f"param_regex {regex!r} matches no parameter (names look like: {examples}, ...)")
    return chosen
