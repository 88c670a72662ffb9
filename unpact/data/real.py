"""Loaders that turn the public unlearning benchmarks into the project's QA schema.

``load_real(name, split, source)`` returns ``QAItem`` lists (see ``unpact/data/schema.py``) and
``load_corpus(name, part, source)`` the raw texts that unlearning trains on. ``source`` is

- a local file: parquet, JSON list or JSON lines (``.json``/``.jsonl``), CSV, or ``.txt`` for a
  corpus (one text per file); read by ``unpact.data.files`` through Hugging Face ``datasets``;
- a local folder: a hub snapshot (``hf download``, or a ``git clone`` with git-lfs), a folder saved
  with ``save_to_disk``, the muse_bench repository's ``data/news`` or ``data/books``, or any folder
  of exports; the split's file is found as ``unpact.data.layouts`` describes;
- a Hugging Face hub id such as ``muse-bench/MUSE-News`` (online), or ``None`` for the benchmark's
  own hub id.

This module only knows what is specific to each benchmark: which file is which split, which
fields hold question, answer and options. Field names follow the data sets' public cards:

============ ============================ ================================================
benchmark    rows                          becomes
============ ============================ ================================================
MUSE         ``question``, ``answer``      short-answer QA (``knowmem`` forget/retain)
MUSE corpus  ``text`` (``raw``), or        the verbatim forget text; a ``verbmem`` row is
             ``prompt`` + ``gt``           its prompt followed by its continuation
WMDP         ``question``, ``choices``,    four-option multiple choice (``answer`` is the
             ``answer`` (int)              index of the gold option)
TOFU         ``question``, ``answer``      short-answer QA; rows with ``option1..N``
             [, ``option1``..]             (real authors, world facts) are multiple choice
============ ============================ ================================================

Values are kept exactly as the files hold them: no stripping, no unicode normalisation (the
project's scorer normalises answers when it compares them, as MUSE's and TOFU's ROUGE do).
Keywords are ``None`` for every real item: KeyTokens come from attribution, as in the paper.
Extra fields of a row (e.g. TOFU's ``paraphrased_answer``) are kept in ``QAItem.meta``.
"""
from __future__ import annotations

import ast
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unpact.data.files import BUILDERS, Row, hub_rows, read_files, read_rows, read_saved
from unpact.data.layouts import find_split, saved_patterns
from unpact.data.schema import QAItem, save_items
from unpact.errors import UsageError, check_choice
from unpact.io import atomic_write_jsonl

__all__ = ["REAL_BENCHMARKS", "export_real", "load_corpus", "load_forget_corpus", "load_real", "read_rows"]


@dataclass(frozen=True)
class SplitSpec:
    """Where one split lives: the hub config and split, and file-name patterns for local folders."""

    hub_config: str | None
    hub_split: str
    files: tuple[str, ...]
    item_split: str
    domain: str
    hub_split_aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class CorpusSpec:
    """A text corpus for unlearning; ``gated`` explains how to obtain it when the hub refuses."""

    hub_id: str
    hub_config: str | None
    hub_split: str
    files: tuple[str, ...]
    gated: str | None = None


@dataclass(frozen=True)
class RealBenchmark:
    """One public benchmark: its hub id, card, QA splits and unlearning corpora."""

    name: str
    hub_id: str
    card: str
    kind: str  # "qa" (MUSE), "mc" (WMDP) or "tofu"
    splits: dict[str, SplitSpec]
    corpora: dict[str, CorpusSpec] = field(default_factory=dict)
    no_corpus: str = ""


def _data_files(stem: str) -> tuple[str, ...]:
    """File-name patterns of a split called ``stem``: exports, hub parquet shards, ``save_to_disk`` folders."""
    return (f"{stem}.jsonl", f"{stem}.json", f"{stem}.parquet", f"{stem}-*.parquet", f"{stem}/*.parquet",
            f"{stem}.csv", *saved_patterns(stem))


def _corpus_files(stem: str) -> tuple[str, ...]:
    """MUSE's ``raw`` subset first (``privleak``/``verbmem`` hold files of the same name), then anywhere."""
    return tuple(f"raw/{p}" for p in (*_data_files(stem), f"{stem}.txt")) + _data_files(stem) + (f"{stem}.txt",)


def _muse(name: str, title: str, domain: str) -> RealBenchmark:
    hub = f"muse-bench/MUSE-{title}"
    return RealBenchmark(
        name=name,
        hub_id=hub,
        card=f"https://huggingface.co/datasets/{hub}",
        kind="qa",
        splits={
            "forget": SplitSpec(hub_config="knowmem", hub_split="forget_qa", domain=domain,
                                files=_data_files("forget_qa") + ("forget-qa.json",), item_split="forget"),
            # Older revisions of the cards call the retain QA split ``retain2_qa``.
            "retain": SplitSpec(hub_config="knowmem", hub_split="retain_qa", hub_split_aliases=("retain2_qa",),
                                domain=domain, item_split="retain",
                                files=_data_files("retain_qa") + _data_files("retain2_qa") + ("retain2-qa.json",)),
        },
        corpora={
            "forget": CorpusSpec(hub, "raw", "forget", _corpus_files("forget")),
            "retain": CorpusSpec(hub, "raw", "retain1", _corpus_files("retain1")),
        },
    )


def _wmdp(subject: str) -> RealBenchmark:
    corpora: dict[str, CorpusSpec] = {}
    no_corpus = ""
    if subject == "bio":
        corpora["forget"] = CorpusSpec(
            "cais/wmdp-bio-forget-corpus", None, "train", _data_files("bio-forget-corpus") + _data_files("bio_forget"),
            gated="the WMDP bio forget corpus is gated, so a local path is needed: request access on "
                  "https://huggingface.co/datasets/cais/wmdp-bio-forget-corpus (or from the WMDP authors), "
                  "download it, and pass the local file (bio-forget-corpus.jsonl) with --source",
        )
        corpora["retain"] = CorpusSpec("cais/wmdp-corpora", "bio-retain-corpus", "train",
                                       _data_files("bio-retain-corpus"))
    elif subject == "cyber":
        corpora["forget"] = CorpusSpec(
            "cais/wmdp-corpora", "cyber-forget-corpus", "train", _data_files("cyber-forget-corpus"),
            gated="the WMDP cyber forget corpus is distributed by the WMDP authors through "
                  "https://huggingface.co/datasets/cais/wmdp-corpora (config cyber-forget-corpus); if your "
                  "account cannot read it, download it where you can and pass the local file with --source",
        )
        corpora["retain"] = CorpusSpec("cais/wmdp-corpora", "cyber-retain-corpus", "train",
                                       _data_files("cyber-retain-corpus"))
    else:
        no_corpus = ("WMDP releases no chemistry corpus; unlearn chemistry with your own texts "
                     "(a local file via --source)")
    return RealBenchmark(
        name=f"wmdp-{subject}",
        hub_id="cais/wmdp",
        card="https://huggingface.co/datasets/cais/wmdp",
        kind="mc",
        # WMDP's questions all probe the hazardous knowledge to be removed, hence item split "forget".
        splits={"test": SplitSpec(hub_config=f"wmdp-{subject}", hub_split="test",
                                  files=_data_files(f"wmdp-{subject}") + (f"{subject}_questions.json",),
                                  item_split="forget", domain="hazard")},
        corpora=corpora,
        no_corpus=no_corpus,
    )


def _tofu() -> RealBenchmark:
    splits = {}
    for name in ("forget01", "forget05", "forget10", "retain90", "retain95", "retain99", "real_authors", "world_facts"):
        item_split = "forget" if name.startswith("forget") else "retain" if name.startswith("retain") else "general"
        domain = name if item_split == "general" else "authors"
        splits[name] = SplitSpec(hub_config=name, hub_split="train", files=_data_files(name), item_split=item_split,
                                 domain=domain)
    return RealBenchmark(
        name="tofu", hub_id="locuslab/TOFU", card="https://huggingface.co/datasets/locuslab/TOFU", kind="tofu",
        splits=splits,
        no_corpus="TOFU unlearns on its question-answer pairs, not on a text corpus: use load_real('tofu', 'forget10')",
    )


REAL_BENCHMARKS: dict[str, RealBenchmark] = {
    b.name: b
    for b in (
        _muse("muse-news", "News", "news"),
        _muse("muse-books", "Books", "books"),
        _wmdp("bio"),
        _wmdp("cyber"),
        _wmdp("chem"),
        _tofu(),
    )
}


# ---------------------------------------------------------------- reading rows


def _looks_like_hub_id(text: str) -> bool:
    return text.count("/") == 1 and not text.startswith((".", "/", "~")) and Path(text).suffix.lower() not in BUILDERS


def _source_rows(
    source: str | os.PathLike[str] | None, default_hub: str, config: str | None, splits: Sequence[str],
    files: Sequence[str], what: str, gated: str | None = None,
) -> tuple[list[Row], str]:
    """Rows and a description of where they came from (file path, folder or hub id).

    ``config`` and ``splits`` are the hub's names (the first split present wins); ``files`` the
    file-name patterns searched in a folder without a dataset card.
    """
    hint = gated or "download it and pass a local file or folder with --source"
    if source is None:
        return hub_rows(default_hub, config, splits, hint), default_hub
    path = Path(source).expanduser()
    if path.is_dir():
        found = find_split(path, config, splits, files, what)
        if found[0].is_dir():
            return read_saved(found[0], splits), str(found[0])
        origin = str(found[0]) if len(found) == 1 else f"{found[0].parent} ({len(found)} files)"
        return read_files(found), origin
    if path.exists():
        return read_rows(path), str(path)
    text = str(source)
    if _looks_like_hub_id(text):
        return hub_rows(text, config, splits, hint), text
    extra = f" ({gated})" if gated else ""
    raise UsageError(f"source not found: {text!r} is neither a local file or folder nor a hub id{extra}")


def _require(rows: list[Row], fields: Sequence[str], where: str) -> None:
    """Every row has every field (a null counts as absent: columnar files fill missing keys with null)."""
    if not rows:
        raise UsageError(f"{where}: no rows")
    for i, row in enumerate(rows):
        absent = [f for f in fields if row.get(f) is None]
        if absent:
            raise UsageError(
                f"{where}: row {i + 1} lacks field(s) {absent}; expected fields {list(fields)}, found "
                f"{sorted(k for k, v in row.items() if v is not None)}"
            )


# ---------------------------------------------------------------- rows -> items


def _text(row: Row, key: str, where: str) -> str:
    value = row[key]
    if not isinstance(value, str):
        raise UsageError(f"{where}: field {key!r} must be a string, got {type(value).__name__}")
    return value


def _meta(row: Row, used: Sequence[str]) -> Row:
    return {k: v for k, v in row.items() if k not in used and v is not None}


def _qa_item(row: Row, item_id: str, spec: SplitSpec, where: str, used: Sequence[str]) -> QAItem:
    return QAItem.from_dict(
        {"id": item_id, "question": _text(row, "question", where), "answer": _text(row, "answer", where),
         "keywords": None, "domain": spec.domain, "split": spec.item_split, "meta": _meta(row, used)},
        where=where,
    )


def _choice_list(value: Any, where: str) -> list[str]:
    """WMDP's ``choices``: a list of strings; in a CSV export, the cell holding that list as JSON or Python."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                pass
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) for c in value):
        raise UsageError(f"{where}: field 'choices' must be a list of strings, got {value!r}"[:300])
    return list(value)


def _answer_index(value: Any, where: str) -> int:
    """WMDP's ``answer``: the integer index of the gold choice (a CSV cell holds it as digits)."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{where}: field 'answer' must be the integer index of the gold choice, got {value!r}")
    return value


def _mc_item(row: Row, item_id: str, spec: SplitSpec, where: str, choices: list[str], index: int,
             used: Sequence[str]) -> QAItem:
    if not 0 <= index < len(choices):
        raise UsageError(f"{where}: answer index {index} outside the {len(choices)} choices")
    return QAItem.from_dict(
        {"id": item_id, "question": _text(row, "question", where), "answer": choices[index], "keywords": None,
         "domain": spec.domain, "split": spec.item_split, "choices": choices, "answer_index": index,
         "meta": _meta(row, used)},
        where=where,
    )


def _tofu_item(row: Row, item_id: str, spec: SplitSpec, where: str) -> QAItem:
    """A TOFU row; with ``option1..N`` its ``answer`` must be one option (ignoring trailing blanks)."""
    options = sorted((k for k in row if k.startswith("option") and k[6:].isdigit() and row[k] is not None),
                     key=lambda k: int(k[6:]))
    if not options:
        return _qa_item(row, item_id, spec, where, used=("question", "answer"))
    choices = [_text(row, k, where) for k in options]
    answer = _text(row, "answer", where)
    matches = [i for i, c in enumerate(choices) if c == answer] or \
        [i for i, c in enumerate(choices) if c.rstrip() == answer.rstrip()]
    if len(matches) != 1:
        problem = "is none of" if not matches else "matches several of"
        raise UsageError(f"{where}: answer {answer!r} {problem} the options {choices}")
    return _mc_item(row, item_id, spec, where, choices, matches[0], used=("question", "answer", *options))


def _splits(*names: str) -> tuple[str, ...]:
    """Split names to try, in order, without repeats."""
    return tuple(dict.fromkeys(names))


def load_real(name: str, split: str, source: str | os.PathLike[str] | None = None) -> list[QAItem]:
    """QA items of benchmark ``name`` (a key of ``REAL_BENCHMARKS``) and ``split``, from ``source``.

    ``source``: a local file or folder, a hub id, or ``None`` for the benchmark's hub id (see the
    module docstring). Raises ``UsageError`` for an unknown name or split, a missing or broken
    file, a row that lacks the expected fields or a multiple-choice answer out of range.
    """
    check_choice("real benchmark", name, REAL_BENCHMARKS)
    bench = REAL_BENCHMARKS[name]
    check_choice(f"split of {name}", split, bench.splits)
    spec = bench.splits[split]
    rows, origin = _source_rows(source, bench.hub_id, spec.hub_config,
                                _splits(spec.hub_split, *spec.hub_split_aliases, split), spec.files,
                                f"{name} split {split}")
    fields = ("question", "choices", "answer") if bench.kind == "mc" else ("question", "answer")
    _require(rows, fields, f"{origin} ({name} {split})")
    items = []
    for i, row in enumerate(rows):
        where = f"{origin}: row {i + 1}"
        item_id = str(row["id"]) if row.get("id") is not None else f"{name}-{split}-{i:05d}"
        if bench.kind == "mc":
            items.append(_mc_item(row, item_id, spec, where, _choice_list(row["choices"], where),
                                  _answer_index(row["answer"], where), used=("question", "choices", "answer", "id")))
        elif bench.kind == "tofu":
            items.append(_tofu_item({k: v for k, v in row.items() if k != "id"}, item_id, spec, where))
        else:
            items.append(_qa_item(row, item_id, spec, where, used=("question", "answer", "id")))
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise UsageError(f"{origin}: duplicate ids in field 'id'")
    return items


# ---------------------------------------------------------------- corpora


def _corpus_text(row: Row, where: str) -> str:
    """A ``text`` row as it is; a ``verbmem`` row is ``prompt`` then ``gt`` (a space between, unless one has it)."""
    if row.get("text") is not None:
        return _text(row, "text", where)
    if row.get("prompt") is not None and row.get("gt") is not None:
        prompt, gt = _text(row, "prompt", where), _text(row, "gt", where)
        joint = "" if prompt[-1:].isspace() or gt[:1].isspace() else " "
        return prompt + joint + gt
    raise UsageError(f"{where}: expected field 'text' (raw corpus) or 'prompt' and 'gt' (MUSE verbmem); "
                     f"found {sorted(k for k, v in row.items() if v is not None)}")


def load_corpus(name: str, part: str = "forget", source: str | os.PathLike[str] | None = None) -> list[str]:
    """Texts of the ``part`` corpus (``forget`` or ``retain``) of benchmark ``name``; blank texts are dropped.

    A ``.txt`` file is read as one text. For the gated WMDP bio forget corpus ``source`` must be a
    local path (or a hub id your account can read); the error says where to request it.
    """
    check_choice("real benchmark", name, REAL_BENCHMARKS)
    bench = REAL_BENCHMARKS[name]
    if not bench.corpora:
        raise UsageError(f"{name} has no text corpus: {bench.no_corpus}")
    check_choice(f"corpus of {name}", part, bench.corpora)
    spec = bench.corpora[part]
    rows, origin = _source_rows(source, spec.hub_id, spec.hub_config, _splits(spec.hub_split, part), spec.files,
                                f"{name} {part} corpus", spec.gated)
    texts = [_corpus_text(r, f"{origin}: row {i + 1}") for i, r in enumerate(rows)]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise UsageError(f"{origin}: the {name} {part} corpus is empty")
    return texts


def load_forget_corpus(name: str, source: str | os.PathLike[str] | None = None) -> list[str]:
    """The forget texts of benchmark ``name`` (``load_corpus(name, "forget", source)``)."""
    return load_corpus(name, "forget", source)


CORPUS_SPLITS = {"corpus": "forget", "retain-corpus": "retain"}


def export_real(name: str, split: str, source: str | os.PathLike[str] | None, out: str | os.PathLike[str]) -> int:
    """Write ``load_real`` items as schema JSONL, or for ``split`` ``corpus``/``retain-corpus`` the
    corpus texts as JSONL rows ``{"text": ...}``; returns the number of rows written (atomically)."""
    if split in CORPUS_SPLITS:
        texts = load_corpus(name, CORPUS_SPLITS[split], source)
        atomic_write_jsonl(out, ({"text": t} for t in texts))
        return len(texts)
    items = load_real(name, split, source)
    save_items(out, items)
    return len(items)
