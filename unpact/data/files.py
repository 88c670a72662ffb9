"""Rows of local data files, saved data sets and hub data sets, read through Hugging Face ``datasets``.

A file's format follows its suffix, as ``datasets.load_dataset`` names its builders:

=========================== ========== ===================================================
suffix                      builder    rows
=========================== ========== ===================================================
``.parquet``                parquet    one per table row (the hub's own format)
``.json``, ``.jsonl``       json       a JSON list or JSON lines (TOFU names its lines ``.json``)
``.csv``                    csv        one per line; cells kept as written (no ``NA`` -> missing)
``.txt``                    text       the whole file is one row ``{"text": ...}`` (MUSE's raw
                                       ``.txt`` corpora are one document each)
=========================== ========== ===================================================

A ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` folder is read with
``datasets.load_from_disk``. Values are kept as the file holds them (no stripping, no unicode
normalisation); only a text file's line endings become ``"\\n"`` (Python's universal newlines).

Local reads run offline, quietly and in memory, with a throw-away cache folder, so nothing is
written to ``~/.cache``. A broken file is one ``UsageError`` naming it: empty, a git-lfs pointer
(a clone made without git-lfs), a parquet file without its ``PAR1`` magic bytes, or whatever
``datasets`` could not parse (its first line).
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from unpact.errors import UsageError

Row = dict[str, Any]
BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".txt": "text"}
BUILDER_OPTIONS: dict[str, dict[str, Any]] = {"text": {"sample_by": "document"}, "csv": {"na_filter": False}}
LFS_POINTER = b"version https://git-lfs.github.com/spec/"
PARQUET_MAGIC = b"PAR1"
BLANK_CHECK_BYTES = 1 << 20  # JSON/CSV files up to this size are checked for holding only blanks
SAVED_DATASET = "state.json"  # written by Dataset.save_to_disk
SAVED_DICT = "dataset_dict.json"  # written by DatasetDict.save_to_disk
INSTALL = "pip install datasets pyarrow (both are dependencies of unpact: reinstall it)"


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise UsageError(f"reading data needs the Hugging Face datasets library: {INSTALL}") from exc
    return datasets


@contextmanager
def _quiet(offline: bool) -> Iterator[Any]:
    """``datasets`` without progress bars or log lines (and, for local files, without the network)."""
    datasets = _datasets()
    bars_off = datasets.utils.are_progress_bars_disabled()
    verbosity = datasets.utils.logging.get_verbosity()
    was_offline = datasets.config.HF_HUB_OFFLINE
    hub_logger = logging.getLogger("huggingface_hub")
    hub_level = hub_logger.level
    datasets.utils.disable_progress_bars()
    datasets.utils.logging.set_verbosity(logging.CRITICAL)
    hub_logger.setLevel(logging.CRITICAL)  # its retry notices; a failure still ends in one UsageError
    datasets.config.HF_HUB_OFFLINE = was_offline or offline
    try:
        yield datasets
    finally:
        datasets.config.HF_HUB_OFFLINE = was_offline
        hub_logger.setLevel(hub_level)
        datasets.utils.logging.set_verbosity(verbosity)
        if not bars_off:
            datasets.utils.enable_progress_bars()


def _reason(exc: BaseException) -> str:
    """The first informative line of an exception chain (``datasets`` wraps parser errors)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    useful = [e for e in chain if type(e).__name__ != "DatasetGenerationError" and str(e).strip()] or chain
    text = str(useful[0]).strip().splitlines()
    line = text[0] if text else type(useful[0]).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def builder_of(path: Path) -> str:
    """The ``datasets`` builder for ``path``'s suffix; an unsupported suffix is a ``UsageError``."""
    builder = BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise UsageError(f"{path}: unsupported file type {path.suffix!r}; expected one of {', '.join(BUILDERS)} "
                         f"or a folder saved with datasets' save_to_disk")
    return builder


def check_file(path: Path) -> str:
    """Refuse the common broken files before parsing; return the builder name."""
    builder = builder_of(path)
    if not path.is_file():
        raise UsageError(f"data file not found: {str(path)!r}")
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(len(LFS_POINTER))
        blank = builder in ("json", "csv") and size <= BLANK_CHECK_BYTES and not (head + handle.read()).strip()
        handle.seek(max(size - len(PARQUET_MAGIC), 0))
        tail = handle.read()
    if size == 0 or blank:
        raise UsageError(f"{path}: empty file ({size} bytes{', all blank' if size else ''})")
    if head == LFS_POINTER:
        raise UsageError(f"{path}: a git-lfs pointer, not the data (the repository was cloned without git-lfs); "
                         f"run `git lfs install && git lfs pull` in the clone, or download it with `hf download`")
    if builder == "parquet" and not (head.startswith(PARQUET_MAGIC) and tail == PARQUET_MAGIC):
        problem = "truncated parquet file (no PAR1 footer)" if head.startswith(PARQUET_MAGIC) else \
            "not a parquet file (no PAR1 magic bytes)"
        raise UsageError(f"{path}: {problem}; download it again")
    return builder


def read_files(paths: Sequence[str | os.PathLike[str]]) -> list[Row]:
    """Rows of one split stored in ``paths`` (shards of one format), in file order."""
    files = [Path(p) for p in paths]
    builders = {check_file(p) for p in files}
    if len(builders) > 1:
        raise UsageError(f"{files[0].parent}: one split in files of different formats "
                         f"({', '.join(p.name for p in files)}); pass one file")
    builder = builders.pop()
    with _quiet(offline=True) as datasets, tempfile.TemporaryDirectory(prefix="unpact-data-") as cache:
        try:
            data = datasets.load_dataset(builder, data_files={"rows": [str(p.absolute()) for p in files]},
                                         split="rows", keep_in_memory=True, cache_dir=cache,
                                         **BUILDER_OPTIONS.get(builder, {}))
        except Exception as exc:  # any parser failure becomes one line naming the file
            where = files[0] if len(files) == 1 else f"{files[0].parent} ({', '.join(p.name for p in files)})"
            what = "neither a JSON list nor JSON lines" if builder == "json" else f"cannot read it as {builder}"
            raise UsageError(f"{where}: {what} ({_reason(exc)})") from exc
        return data.to_list()


def read_rows(path: str | os.PathLike[str]) -> list[Row]:
    """Rows of one local file (see the module docstring for the formats)."""
    return read_files([path])


def saved_kind(folder: Path) -> str | None:
    """``"dataset"`` or ``"dict"`` for a ``save_to_disk`` folder, else ``None``."""
    if (folder / SAVED_DICT).is_file():
        return "dict"
    if (folder / SAVED_DATASET).is_file():
        return "dataset"
    return None


def read_saved(folder: str | os.PathLike[str], splits: Sequence[str]) -> list[Row]:
    """Rows of a ``save_to_disk`` folder; of a dataset dict, the first of ``splits`` it holds."""
    folder = Path(folder)
    kind = saved_kind(folder)
    if kind is None:
        raise UsageError(f"{folder}: not a folder saved with datasets' save_to_disk (no {SAVED_DATASET} "
                         f"or {SAVED_DICT})")
    with _quiet(offline=True) as datasets:
        try:
            data = datasets.load_from_disk(str(folder), keep_in_memory=True)
        except Exception as exc:  # a damaged folder becomes one line naming it
            raise UsageError(f"{folder}: cannot read the saved data set ({_reason(exc)})") from exc
    if kind == "dict":
        split = next((s for s in splits if s in data), None)
        if split is None:
            raise UsageError(f"{folder}: the saved dataset dict has no split {' or '.join(splits)}; "
                             f"it has {', '.join(sorted(data))}")
        data = data[split]
    return data.to_list()


def hub_rows(hub_id: str, config: str | None, splits: Sequence[str], hint: str) -> list[Row]:
    """Rows of a hub data set (``load_dataset(hub_id, config)``), the first of ``splits`` it has.

    ``hint`` (how to get the data otherwise) ends every error message.
    """
    try:
        _datasets()
    except UsageError as exc:
        raise UsageError(f"{exc}; {hint}") from exc
    with _quiet(offline=False) as datasets:
        try:
            data = datasets.load_dataset(hub_id, config)
        except Exception as exc:  # gated/missing/offline: all become one clear message
            raise UsageError(f"cannot load {hub_id!r} (config {config!r}) from the hub: {_reason(exc)}; "
                             f"{hint}") from exc
    for split in splits:
        if split in data:
            return data[split].to_list()
    raise UsageError(f"{hub_id!r} (config {config!r}) has no split {' or '.join(splits)}; it has {sorted(data)}")
