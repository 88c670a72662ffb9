"""Which file of a downloaded folder holds a benchmark split.

A folder is searched in this order:

1. a folder saved with ``save_to_disk`` (the folder itself): read whole, or the split of a dataset dict;
2. a hub snapshot (as ``hf download`` or ``git clone`` leaves it): its dataset card ``README.md``
   names each config's split files in its YAML header (``configs: - config_name: knowmem,
   data_files: - split: forget_qa, path: knowmem/forget_qa-*``), which settles look-alikes such
   as ``forget_qa_icl`` or an older export lying beside the current files;
3. file-name patterns (``forget_qa.json``, ``forget_qa-*.parquet``, ``forget_qa/state.json`` ...), the
   first pattern that matches wins; several files matching one pattern are the shards of one
   split when they lie in one folder and the pattern has a wildcard, and an ambiguity otherwise;
4. the folder of one split itself: its only data file, or the shards of one split
   (``test-00000-of-00002.parquet``, ``test-00001-of-00002.parquet``) and nothing else.

Hidden folders (``.cache/huggingface`` of ``hf download``, ``.git``) are never searched.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from unpact.data.files import BUILDERS, SAVED_DATASET, SAVED_DICT, saved_kind
from unpact.errors import UsageError

CARD = "README.md"
SHARD = re.compile(r"(?P<split>.+)-\d{5}-of-\d{5}\.[a-z]+")  # the hub's shard names


def _visible(folder: Path, paths: Iterable[Path]) -> list[Path]:
    """Files of ``paths`` with no hidden folder or name below ``folder``, sorted."""
    return sorted(p for p in paths if p.is_file() and not any(s.startswith(".") for s in p.relative_to(folder).parts))


def card_configs(folder: Path) -> dict[str, dict[str, list[str]]]:
    """``{config: {split: [path patterns]}}`` from the YAML header of a hub dataset card (empty if none)."""
    card = folder / CARD
    if not card.is_file():
        return {}
    text = card.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 3)
    try:
        meta = yaml.safe_load(text[4:end] if end > 0 else "")
    except yaml.YAMLError:
        return {}
    listed = meta.get("configs") if isinstance(meta, dict) else None
    configs: dict[str, dict[str, list[str]]] = {}
    for config in listed if isinstance(listed, list) else []:
        if isinstance(config, dict) and "config_name" in config:
            configs[str(config["config_name"])] = _split_patterns(config.get("data_files"))
    return configs


def _split_patterns(data_files: Any) -> dict[str, list[str]]:
    """A card's ``data_files`` (a pattern, a list of them, or a list of ``{split, path}``) per split."""
    if isinstance(data_files, str):
        return {"train": [data_files]}
    out: dict[str, list[str]] = {}
    for entry in data_files or []:
        if isinstance(entry, str):
            out.setdefault("train", []).append(entry)
        elif isinstance(entry, dict) and "split" in entry:
            paths = entry.get("path", [])
            out.setdefault(str(entry["split"]), []).extend([paths] if isinstance(paths, str) else list(paths))
    return out


def _from_card(folder: Path, config: str | None, splits: Sequence[str]) -> list[Path]:
    splits_of = card_configs(folder).get(config or "default", {})
    for split in splits:
        files = _visible(folder, (p for pattern in splits_of.get(split, []) for p in folder.glob(pattern)))
        if files:
            return files
    return []


def _from_names(folder: Path, patterns: Sequence[str], what: str) -> list[Path]:
    for pattern in patterns:
        hits = _visible(folder, folder.rglob(pattern))
        if not hits:
            continue
        shards = len({h.parent for h in hits}) == 1 and any(c in pattern for c in "*?[")
        if len(hits) == 1 or shards:
            return [hits[0].parent] if hits[0].name in (SAVED_DATASET, SAVED_DICT) else hits
        listed = ", ".join(str(h.relative_to(folder)) for h in hits)
        raise UsageError(f"several files for {what} under {str(folder)!r} ({listed}); pass the file itself")
    return []


def find_split(folder: Path, config: str | None, splits: Sequence[str], patterns: Sequence[str],
               what: str) -> list[Path]:
    """The data files of one split under ``folder`` (shards in order), or ``[saved folder]``.

    ``config`` and ``splits`` are the hub's names (``knowmem``, ``forget_qa``), ``patterns`` the
    file names to look for without a card; ``what`` names the split in the error when nothing matches.
    """
    if saved_kind(folder):
        return [folder]
    found = _from_card(folder, config, splits) or _from_names(folder, patterns, what) or _one_split(folder)
    if not found:
        raise UsageError(f"no file for {what} under {str(folder)!r}; looked for {', '.join(patterns)} "
                         f"(in any subfolder){_card_hint(folder, config)}")
    return found


def _one_split(folder: Path) -> list[Path]:
    """The data files directly in ``folder`` when they are one file or the shards of one split."""
    files = _visible(folder, (p for p in folder.iterdir() if p.suffix.lower() in BUILDERS))
    shards = {m.group("split") if (m := SHARD.fullmatch(p.name)) else None for p in files}
    return files if len(files) == 1 or (len(shards) == 1 and None not in shards) else []


def _card_hint(folder: Path, config: str | None) -> str:
    """Say so when a hub card lists the config but its files are absent (a partial download)."""
    splits = card_configs(folder).get(config or "default")
    if not splits:
        return ""
    return f", nor the files {CARD} lists for config {config or 'default'!r} (a partial download?)"


def saved_patterns(stem: str) -> tuple[str, ...]:
    """Patterns of a split saved with ``save_to_disk`` in a folder named ``stem``."""
    return (f"{stem}/{SAVED_DATASET}", f"{stem}/{SAVED_DICT}")
