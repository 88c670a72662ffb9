"""Unlearning methods for causal LMs: a registry of ten methods sharing one training loop.

``unlearn(model, tokenizer, forget_items, retain_items, method, params, budget, stop_at, seed)``
trains in memory; ``unlearn_to_dir(base_model_dir, benchmark, method, ...)`` writes a cached,
plain Hugging Face folder with a JSON record. ``METHODS`` maps names to classes, one module per
method in ``unpact.unlearn.methods`` (adding a method is adding a module there); each class's
docstring gives its loss formula and source, its ``Params`` dataclass the typed defaults.

Data conventions (each a documented choice):

- forget examples are the forget QA items as ``format_prompt(question)`` + ``format_target(answer)``
  with the loss on the answer tokens only (the tokens evaluation scores); plain texts (e.g.
  corpus sentences about the forget entities) may be added with ``forget_texts`` (loss on all
  tokens). Multiple-choice items train on their gold option text.
- retain examples are the retain QA items (``retain_with_general=True`` adds general items).
- ``idk_dpo`` prefers a fixed refusal answer per question; only refusals the tokenizer writes
  without unknown tokens are used (a word-level organism may lack the words: then pass
  ``idk_answers`` made of words it knows).
- accuracy during training: the first ``eval_items`` forget/retain items, every ``eval_every``
  steps (greedy exact match; multiple choice by option likelihood); final metrics use all items.
- defaults were set on a small memorising test model (not the organism), see ``unpact unlearn --list``.
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
