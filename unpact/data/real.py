"""Loaders that turn the public unlearning benchmarks into the project's QA schema.

``load_real(name, split, source)`` returns ``QAItem`` lists (see ``unpact/data/schema.py``) and
``load_corpus(name, part, source)`` the raw texts that unlearning trains on. ``source`` is

- a local file (``.jsonl``, ``.json`` -- a JSON list or JSON lines, as TOFU ships them --,
  ``.parquet`` which needs ``pyarrow``, ``.txt`` for a corpus: one text per file),
- a local folder (a clone or download of the data set: the split's file is found by name),
- a Hugging Face hub id such as ``muse-bench/MUSE-News`` (needs the optional extra
  ``pip install 'unpact[hub]'``), or ``None`` for the benchmark's own hub id.

Field names follow the data sets' public cards:

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

Keywords are ``None`` for every real item: KeyTokens come from attribution, as in the paper.
Extra fields of a row (e.g. TOFU's ``paraphrased_answer``) are kept in ``QAItem.meta``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unpact.data.schema import QAItem, save_items
from unpact.errors import UsageError, check_choice
from unpact.io import atomic_write_jsonl

Row = dict[str, Any]
HUB_EXTRA = "pip install 'unpact[hub]'"
FILE_TYPES = (".json", ".jsonl", ".parquet", ".txt")


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
    return (f"{stem}.jsonl", f"{stem}.json", f"{stem}.parquet", f"{stem}-*.parquet", f"{stem}/*.parquet")


def _corpus_files(stem: str) -> tuple[str, ...]:
    """MUSE's ``raw`` subset first (``privleak``/``verbmem`` hold files of the same name), then anywhere."""
    return tuple(f"raw/{p}" for p in (*_data_files(stem), f"{stem}.txt")) + _data_files(stem) + (f"{stem}.txt",)


def _muse(name: str, title: str, domain: str) -> RealBenchmark:
    hub = f"muse-bench/MUSE-{title}"
    qa: dict[str, Any] = dict(hub_config="knowmem", domain=domain)
    return RealBenchmark(
        name=name,
        hub_id=hub,
        card=f"https://huggingface.co/datasets/{hub}",
        kind="qa",
        splits={
            "forget": SplitSpec(hub_split="forget_qa", files=_data_files("forget_qa") + ("forget-qa.json",),
                                item_split="forget", **qa),
            # Older revisions of the cards call the retain QA split ``retain2_qa``.
            "retain": SplitSpec(hub_split="retain_qa", hub_split_aliases=("retain2_qa",),
                                files=_data_files("retain_qa") + _data_files("retain2_qa") + ("retain2-qa.json",),
                                item_split="retain", **qa),
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


def read_rows(path: str | os.PathLike[str]) -> list[Row]:
    """Rows of a local JSON list, JSON-lines (``.json`` or ``.jsonl``) or parquet file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"data file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pandas as pd

            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise UsageError(f"reading {path.name} needs a parquet engine: pip install pyarrow ({exc})") from exc
        return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    if suffix not in (".json", ".jsonl"):
        raise UsageError(f"{path}: unsupported file type {suffix!r}; expected .json, .jsonl or .parquet")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        rows = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: neither a JSON list nor JSON lines ({exc})") from exc
    if not all(isinstance(r, dict) for r in rows):
        raise UsageError(f"{path}: every row must be a JSON object")
    return rows


def _plain(value: Any) -> Any:
    """numpy scalars/arrays from parquet -> Python ints, strings and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _find_file(folder: Path, patterns: Sequence[str], what: str) -> Path:
    """The one file under ``folder`` matching the first pattern that matches; several matches are an error."""
    for pattern in patterns:
        hits = sorted(p for p in folder.rglob(pattern) if p.is_file())
        if len(hits) == 1:
            return hits[0]
        if hits:
            listed = ", ".join(str(h.relative_to(folder)) for h in hits)
            raise UsageError(f"several files for {what} under {str(folder)!r} ({listed}); pass the file itself")
    raise UsageError(f"no file for {what} under {str(folder)!r}; looked for {', '.join(patterns)} (in any subfolder)")


def _hub_rows(hub_id: str, config: str | None, splits: Sequence[str], gated: str | None = None) -> list[Row]:
    """Rows of a hub data set through ``datasets`` (optional extra ``hub``), trying split names in order."""
    try:
        import datasets
    except ImportError as exc:
        hint = f" ({gated})" if gated else ""
        raise UsageError(
            f"reading {hub_id!r} from the Hugging Face hub needs the optional extra: {HUB_EXTRA}; "
            f"or pass a local file or folder with --source{hint}"
        ) from exc
    try:
        ds = datasets.load_dataset(hub_id, config)
    except Exception as exc:  # noqa: BLE001 - gated/missing/offline: all become one clear message
        hint = f"; {gated}" if gated else "; download it and pass a local file or folder with --source"
        raise UsageError(f"cannot load {hub_id!r} (config {config!r}) from the hub: {exc}{hint}") from exc
    for split in splits:
        if split in ds:
            return [dict(r) for r in ds[split]]
    raise UsageError(f"{hub_id!r} (config {config!r}) has no split {list(splits)}; it has {sorted(ds)}")


def _source_rows(
    source: str | os.PathLike[str] | None, default_hub: str, config: str | None, hub_splits: Sequence[str],
    files: Sequence[str], what: str, gated: str | None = None,
) -> tuple[list[Row], str]:
    """Rows and a description of where they came from (file path or hub id)."""
    if source is None:
        return _hub_rows(default_hub, config, hub_splits, gated), default_hub
    path = Path(source).expanduser()
    if path.is_dir():
        found = _find_file(path, files, what)
        return read_rows(found), str(found)
    if path.exists():
        return read_rows(path), str(path)
    text = str(source)
    if text.count("/") == 1 and not text.startswith((".", "/", "~")) and Path(text).suffix.lower() not in FILE_TYPES:
        return _hub_rows(text, config, hub_splits, gated), text
    hint = f" ({gated})" if gated else ""
    raise UsageError(f"source not found: {text!r} is neither a local file or folder nor a hub id{hint}")


def _require(rows: list[Row], fields: Sequence[str], where: str) -> None:
    if not rows:
        raise UsageError(f"{where}: no rows")
    for i, row in enumerate(rows):
        absent = [f for f in fields if f not in row]
        if absent:
            raise UsageError(
                f"{where}: row {i + 1} lacks field(s) {absent}; expected fields {list(fields)}, found {sorted(row)}"
            )


# ---------------------------------------------------------------- rows -> items


def _text(row: Row, key: str, where: str) -> str:
    value = row[key]
    if not isinstance(value, str):
        raise UsageError(f"{where}: field {key!r} must be a string, got {type(value).__name__}")
    return value.strip()


def _qa_item(row: Row, item_id: str, spec: SplitSpec, where: str, used: Sequence[str]) -> QAItem:
    meta = {k: v for k, v in row.items() if k not in used}
    return QAItem.from_dict(
        dict(id=item_id, question=_text(row, "question", where), answer=_text(row, "answer", where),
             keywords=None, domain=spec.domain, split=spec.item_split, meta=meta),
        where=where,
    )


def _mc_item(row: Row, item_id: str, spec: SplitSpec, where: str, choices: list[Any], index: Any,
             used: Sequence[str]) -> QAItem:
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise UsageError(f"{where}: field 'choices' must be a list of strings")
    if isinstance(index, bool) or not isinstance(index, int):
        raise UsageError(f"{where}: field 'answer' must be the integer index of the gold choice, got {index!r}")
    if not 0 <= index < len(choices):
        raise UsageError(f"{where}: answer index {index} outside the {len(choices)} choices")
    meta = {k: v for k, v in row.items() if k not in used}
    return QAItem.from_dict(
        dict(id=item_id, question=_text(row, "question", where), answer=choices[index], keywords=None,
             domain=spec.domain, split=spec.item_split, choices=choices, answer_index=index, meta=meta),
        where=where,
    )


def _tofu_item(row: Row, item_id: str, spec: SplitSpec, where: str) -> QAItem:
    options = sorted((k for k in row if k.startswith("option") and k[6:].isdigit()), key=lambda k: int(k[6:]))
    if not options:
        return _qa_item(row, item_id, spec, where, used=("question", "answer"))
    choices = [_text(row, k, where) for k in options]
    answer = _text(row, "answer", where)
    if answer not in choices:
        raise UsageError(f"{where}: answer {answer!r} is none of the options {choices}")
    return _mc_item(row, item_id, spec, where, choices, choices.index(answer), used=("question", "answer", *options))


def load_real(name: str, split: str, source: str | os.PathLike[str] | None = None) -> list[QAItem]:
    """QA items of benchmark ``name`` (a key of ``REAL_BENCHMARKS``) and ``split``, from ``source``.

    ``source``: a local file or folder, a hub id, or ``None`` for the benchmark's hub id (see the
    module docstring). Raises ``UsageError`` for an unknown name or split, a missing file or a row
    that lacks the expected fields.
    """
    check_choice("real benchmark", name, REAL_BENCHMARKS)
    bench = REAL_BENCHMARKS[name]
    check_choice(f"split of {name}", split, bench.splits)
    spec = bench.splits[split]
    rows, origin = _source_rows(source, bench.hub_id, spec.hub_config, (spec.hub_split, *spec.hub_split_aliases),
                                spec.files, f"{name} split {split}")
    fields = ("question", "choices", "answer") if bench.kind == "mc" else ("question", "answer")
    _require(rows, fields, f"{origin} ({name} {split})")
    items = []
    for i, row in enumerate(rows):
        where = f"{origin}: row {i + 1}"
        item_id = str(row["id"]) if "id" in row else f"{name}-{split}-{i:05d}"
        if bench.kind == "mc":
            items.append(_mc_item(row, item_id, spec, where, _plain(row["choices"]), _plain(row["answer"]),
                                  used=("question", "choices", "answer", "id")))
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
    if "text" in row:
        return _text(row, "text", where)
    if "prompt" in row and "gt" in row:
        prompt, gt = _text(row, "prompt", where), _text(row, "gt", where)
        return f"{prompt} {gt}"
    raise UsageError(f"{where}: expected field 'text' (raw corpus) or 'prompt' and 'gt' (MUSE verbmem); "
                     f"found {sorted(row)}")


def load_corpus(name: str, part: str = "forget", source: str | os.PathLike[str] | None = None) -> list[str]:
    """Texts of the ``part`` corpus (``forget`` or ``retain``) of benchmark ``name``; empty texts are dropped.

    A ``.txt`` file is read as one text. For the gated WMDP bio forget corpus ``source`` must be a
    local path (or a hub id your account can read); the error says where to request it.
    """
    check_choice("real benchmark", name, REAL_BENCHMARKS)
    bench = REAL_BENCHMARKS[name]
    if not bench.corpora:
        raise UsageError(f"{name} has no text corpus: {bench.no_corpus}")
    check_choice(f"corpus of {name}", part, bench.corpora)
    spec = bench.corpora[part]
    if source is not None and Path(source).expanduser().suffix.lower() == ".txt":
        path = Path(source).expanduser()
        if not path.is_file():
            raise UsageError(f"corpus file not found: {str(path)!r}")
        texts = [path.read_text(encoding="utf-8").strip()]
        origin = str(path)
    else:
        rows, origin = _source_rows(source, spec.hub_id, spec.hub_config, (spec.hub_split,), spec.files,
                                    f"{name} {part} corpus", spec.gated)
        texts = [_corpus_text(r, f"{origin}: row {i + 1}") for i, r in enumerate(rows)]
    texts = [t for t in texts if t]
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
