"""Loading causal LMs and tokenizers: the organism, a local Hugging Face folder or a hub id.

Everything downstream takes a ``(model, tokenizer)`` pair, so a user's own model or unlearned
checkpoint goes through the same code as the organism.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from unpact.errors import UsageError, check_choice
from unpact.pretrained import resolve_model, unknown_model_hint

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str | None = None) -> torch.device:
    """``None`` or ``"auto"`` picks CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_model_and_tokenizer(
    name_or_path: str | os.PathLike[str],
    dtype: str = "float32",
    device: str | None = None,
    device_map: str | None = None,
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from a folder, a pretrained name or a hub id, in eval mode.

    A pretrained name (``unpact models`` lists them) is converted into the cache on first use.
    Raises ``UsageError`` when the folder does not exist or holds no causal LM. ``device_map``
    (e.g. ``"auto"``) spreads a large model over the available GPUs through ``accelerate``.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    check_choice("dtype", dtype, DTYPES)
    path = resolve_model(name_or_path)
    local = Path(path)
    if local.exists() and not (local / "config.json").is_file():
        raise UsageError(f"{path!r} is not a Hugging Face model folder (no config.json)")
    if not local.exists() and (path.startswith((".", "/", "~")) or os.sep in path and path.count("/") != 1):
        raise UsageError(f"model folder not found: {path!r}")
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read a model configuration from {path!r}{unknown_model_hint(path)}: {exc}") from exc
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        raise UsageError(f"{path!r} is not a causal LM (architectures: {architectures}); unpact needs a *ForCausalLM model")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype], device_map=device_map)
    except ValueError as exc:
        raise UsageError(f"{path!r} is not a causal LM: {exc}") from exc
    tokenizer = load_tokenizer(path)
    if device_map is None:
        model.to(resolve_device(device))  # type: ignore[arg-type]  # transformers' decorated .to confuses mypy
    model.eval()
    return model, tokenizer


GENERIC_TOKENIZER_CLASSES = ("TokenizersBackend", "PreTrainedTokenizerFast")


def load_tokenizer(name_or_path: str | os.PathLike[str]) -> Any:
    """The tokenizer of a folder, pretrained name or hub id; a generic ``tokenizer.json`` tokenizer is loaded as saved.

    transformers 5 maps a generic tokenizer (``tokenizer_class`` ``TokenizersBackend`` or
    ``PreTrainedTokenizerFast``) to the model type's own class when ``config.json`` names one (e.g.
    ``Qwen2Tokenizer``), which rebuilds the pipeline and can encode text to nothing; such folders
    (the organism's word-level tokenizer on any architecture) are therefore loaded generically.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    name_or_path = resolve_model(name_or_path)
    config_file = Path(name_or_path) / "tokenizer_config.json"
    if config_file.is_file():
        try:
            declared = json.loads(config_file.read_text(encoding="utf-8")).get("tokenizer_class")
        except json.JSONDecodeError as exc:
            raise UsageError(f"{config_file}: not valid JSON ({exc})") from exc
        if declared in GENERIC_TOKENIZER_CLASSES:
            return PreTrainedTokenizerFast.from_pretrained(str(name_or_path))
    return AutoTokenizer.from_pretrained(str(name_or_path))


def model_device(model: Any) -> torch.device:
    """The device of the model's input embeddings (the one inputs must be on)."""
    return model.get_input_embeddings().weight.device


def context_length(model: Any) -> int | None:
    """Maximum sequence length of ``model`` from its config, or ``None`` if it has none."""
    cfg = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
