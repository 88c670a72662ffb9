"""unpact: a reproducible companion to *Understanding the Dilemma of Unlearning for LLMs* (arXiv:2509.24675).

Top-level names are imported lazily so that ``import unpact`` stays fast.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Attributor": "unpact.attribution.attributor",
    "QAItem": "unpact.data.schema",
    "load_items": "unpact.data.schema",
    "load_model_and_tokenizer": "unpact.modeling",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'unpact' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
