"""Atomic artifact writing and JSONL helpers.

Every artifact is written to a temporary sibling first and then renamed into place, so an
interrupted run never leaves a half-written file or model folder behind, and the next run
simply redoes the missing piece.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from unpact.errors import UsageError


def ensure_writable_dir(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Create ``path`` if needed and check that it is writable; raise ``UsageError`` if not."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {what} {str(p)!r}: {exc.strerror or exc}") from exc
    if not os.access(p, os.W_OK):
        raise UsageError(f"{what} {str(p)!r} is not writable")
    return p


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    target = Path(path)
    ensure_writable_dir(target.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON (deterministic bytes)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> Path:
    """Atomically write one JSON object per line (keys sorted, so equal rows give equal bytes)."""
    text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False, default=_json_default) + "\n" for r in rows)
    return atomic_write_text(path, text)


def atomic_write_csv(path: str | os.PathLike[str], frame: Any) -> Path:
    """Atomically write a pandas DataFrame as CSV without its index."""
    return atomic_write_text(path, frame.to_csv(index=False))


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL file; raise ``UsageError`` naming the file and line for a missing file or bad JSON."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"JSONL file not found: {str(p)!r}")
    rows: list[dict[str, Any]] = []
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{p}:{lineno}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise UsageError(f"{p}:{lineno}: each line must be a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; on success rename it to ``path``.

    If the body raises, the temporary folder is removed and ``path`` is left untouched, so a
    crashed or interrupted build (or a training run that diverged) writes nothing.
    An existing ``path`` is replaced only after the new folder is complete.
    """
    target = Path(path)
    ensure_writable_dir(target.parent)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old.{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _json_default(obj: Any) -> Any:
    """Serialise numpy scalars/arrays and paths."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
