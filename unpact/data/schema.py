"""The QA item schema shared by the synthetic benchmarks, the real-benchmark loaders and users' own sets.

One JSON object per line (JSONL). Fields:

============== ============ ==============================================================
field          type         meaning
============== ============ ==============================================================
id             str          unique within the file
question       str          the question text exactly as shown to the model (no template)
answer         str          the gold short answer
keywords       list[str]    words of ``question`` that determine the answer (each occurs
               or null      verbatim in ``question``); ``null`` when unknown (real data:
                            then KeyTokens come from attribution, as in the paper)
domain         str          e.g. ``news``, ``books``, ``hazard``, ``general`` or the user's
split          str          e.g. ``forget``, ``retain``, ``test``
choices        list[str]    multiple choice only: the options (WMDP: four)
               or null
answer_index   int or null  multiple choice only: index of the gold option in ``choices``
entity         str or null  optional: the subject the fact is about (synthetic data)
relation       str or null  optional: the relation asked about (synthetic data)
============== ============ ==============================================================
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from unpact.errors import UsageError
from unpact.io import atomic_write_jsonl, read_jsonl

REQUIRED_FIELDS = ("id", "question", "answer")


@dataclass(frozen=True)
class QAItem:
    """One question with its gold answer (see the module docstring for the schema)."""

    id: str
    question: str
    answer: str
    keywords: list[str] | None = None
    domain: str = "custom"
    split: str = "test"
    choices: list[str] | None = None
    answer_index: int | None = None
    entity: str | None = None
    relation: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_multiple_choice(self) -> bool:
        return self.choices is not None

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        if not row["meta"]:
            row.pop("meta")
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any], where: str = "item") -> QAItem:
        """Validate ``row`` against the schema and build an item; raise ``UsageError`` naming the problem."""
        missing = [k for k in REQUIRED_FIELDS if k not in row]
        if missing:
            raise UsageError(f"{where}: missing required field(s) {missing}; required: {list(REQUIRED_FIELDS)}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(row) - known)
        meta = dict(row.get("meta") or {})
        meta.update({k: row[k] for k in unknown})
        item = cls(**{k: v for k, v in row.items() if k in known and k != "meta"}, meta=meta)
        validate_item(item, where)
        return item


def validate_item(item: QAItem, where: str = "item") -> None:
    """Check types and invariants of one item; raise ``UsageError`` naming the field."""
    for name in ("id", "question", "answer", "domain", "split"):
        if not isinstance(getattr(item, name), str):
            raise UsageError(f"{where}: field {name!r} must be a string")
    if not item.question.strip():
        raise UsageError(f"{where}: field 'question' is empty")
    if not item.answer.strip():
        raise UsageError(f"{where}: field 'answer' is empty")
    if item.keywords is not None:
        if not isinstance(item.keywords, list) or not all(isinstance(k, str) for k in item.keywords):
            raise UsageError(f"{where}: field 'keywords' must be a list of strings or null")
        absent = [k for k in item.keywords if k not in item.question]
        if absent:
            raise UsageError(f"{where}: keywords {absent} do not occur verbatim in the question")
    if (item.choices is None) != (item.answer_index is None):
        raise UsageError(f"{where}: 'choices' and 'answer_index' must be given together (multiple choice)")
    if item.choices is not None:
        if not isinstance(item.choices, list) or len(item.choices) < 2:
            raise UsageError(f"{where}: 'choices' must be a list of at least two options")
        if not isinstance(item.answer_index, int) or not 0 <= item.answer_index < len(item.choices):
            raise UsageError(f"{where}: 'answer_index' must be an integer in [0, {len(item.choices) - 1}]")
        if item.choices[item.answer_index] != item.answer:
            raise UsageError(f"{where}: 'answer' must equal choices[answer_index]")


def load_items(path: str | os.PathLike[str]) -> list[QAItem]:
    """Read and validate a QA JSONL file; ids must be unique."""
    items = [QAItem.from_dict(row, where=f"{path}:{i + 1}") for i, row in enumerate(read_jsonl(path))]
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            raise UsageError(f"{path}: duplicate id {it.id!r}")
        seen.add(it.id)
    if not items:
        raise UsageError(f"{path}: no items")
    return items


def save_items(path: str | os.PathLike[str], items: list[QAItem]) -> None:
    """Write items as JSONL (atomically, deterministic bytes)."""
    atomic_write_jsonl(path, (it.to_dict() for it in items))
