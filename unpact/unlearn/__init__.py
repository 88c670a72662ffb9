"""Unlearning methods for causal LMs: a registry of ten methods sharing one training loop.

``unlearn(model, tokenizer, forget_items, retain_items, method, params, budget, stop_at, seed)``
trains in memory; ``unlearn_to_dir(base_model_dir, benchmark, method, ...)`` writes a cached,
plain Hugging Face folder with a JSON record. ``METHODS`` maps names to classes; each class's
docstring gives its loss formula and source, its ``Params`` dataclass the typed defaults.
"""
from __future__ import annotations

from unpact.unlearn.artifact import read_record, unlearn_to_dir
from unpact.unlearn.loop import TrainingDiverged, UnlearnResult, unlearn
from unpact.unlearn.methods import METHODS, Method, get_method
from unpact.unlearn.params import Budget, CommonParams, build_params, param_fields, parse_assignments, type_name

__all__ = [
    "METHODS",
    "Budget",
    "CommonParams",
    "Method",
    "TrainingDiverged",
    "UnlearnResult",
    "build_params",
    "get_method",
    "param_fields",
    "parse_assignments",
    "read_record",
    "type_name",
    "unlearn",
    "unlearn_to_dir",
]
