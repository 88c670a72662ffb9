"""Content-addressed cache for expensive artifacts (data, organisms, unlearned models, tables).

An artifact's folder is ``<cache>/<kind>/<name>-<hash>`` where ``hash`` is the SHA-256 of its
full configuration (canonical JSON). The same configuration therefore finds the same folder and
returns at once; a different one never collides. The cache root is, in order: the ``root``
argument, the ``UNPACT_CACHE`` environment variable, ``~/.cache/unpact``.

Content identities used in configurations: ``folder_hash`` (a model folder's files),
``model_identity`` (a cached artifact's own configuration hash, else ``folder_hash``) and
``source_digest`` (the unpact package's source, for results that depend on the code).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import unpact
from unpact.data.benchmarks import DATA_FOLDER
from unpact.io import atomic_directory, atomic_write_json, ensure_writable_dir

CACHE_ENV = "UNPACT_CACHE"
DONE_MARKER = "unpact-artifact.json"


def cache_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the cache root (argument, then ``$UNPACT_CACHE``, then ``~/.cache/unpact``)."""
    chosen = root or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "unpact"
    return ensure_writable_dir(Path(chosen).expanduser(), what="cache folder")


def config_hash(config: Mapping[str, Any], length: int = 16) -> str:
    """SHA-256 of the canonical JSON of ``config`` (sorted keys), truncated to ``length`` hex digits."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


def artifact_dir(kind: str, name: str, config: Mapping[str, Any], root: str | os.PathLike[str] | None = None) -> Path:
    """The folder where the artifact of this kind and configuration lives (it may not exist yet)."""
    return cache_root(root) / kind / f"{name}-{config_hash(config)}"


def is_complete(folder: Path) -> bool:
    """True when ``folder`` holds a finished artifact (its marker file was written last)."""
    return (folder / DONE_MARKER).is_file()


def cached_artifact(
    kind: str,
    name: str,
    config: Mapping[str, Any],
    build: Callable[[Path], Mapping[str, Any] | None],
    root: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the finished artifact folder for ``config``, building it first if needed.

    ``build(tmp_dir)`` writes the artifact into a temporary folder and may return a dict of
    extra facts (metrics, durations) that are stored with the configuration in the marker file
    ``unpact-artifact.json``. The folder is renamed into place only once ``build`` returned, so
    an interrupted build leaves nothing behind and the next call starts it again.
    """
    folder = artifact_dir(kind, name, config, root)
    if is_complete(folder):
        return folder
    with atomic_directory(folder) as tmp:
        extra = build(tmp) or {}
        atomic_write_json(tmp / DONE_MARKER, {"kind": kind, "name": name, "config": dict(config), **dict(extra)})
    return folder


def artifact_record(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the marker record (configuration and facts) of a finished artifact folder."""
    with open(Path(folder) / DONE_MARKER, encoding="utf-8") as fh:
        return json.load(fh)


def source_digest() -> str:
    """SHA-256 over the unpact package's Python sources: results keyed by it are recomputed after a code change."""
    pkg = Path(unpact.__file__).parent
    h = hashlib.sha256()
    for path in sorted(pkg.rglob("*.py")):
        h.update(path.relative_to(pkg).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def folder_hash(folder: str | os.PathLike[str]) -> str:
    """SHA-256 over the relative paths and bytes of a model folder's files (its QA data excluded).

    Remembered per process for an unchanged listing (each file's path, size, inode and modification
    time): a study asks for the same base model's hash at every cache lookup, and reading a pretrained
    model's weights each time costs about a second."""
    root = Path(folder).resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file() and DATA_FOLDER not in p.relative_to(root).parts)
    listing = tuple((p.relative_to(root).as_posix(), st.st_size, st.st_ino, st.st_mtime_ns)
                    for p, st in ((p, p.stat()) for p in files))
    return _hash_files(str(root), listing)


@functools.lru_cache(maxsize=256)
def _hash_files(root: str, listing: tuple[tuple[str, int, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for relative, *_ in listing:
        digest.update(relative.encode("utf-8") + b"\0")
        with (Path(root) / relative).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def model_identity(folder: str | os.PathLike[str]) -> str:
    """What identifies the weights in a model folder: ``<kind>-<configuration hash>`` of a finished
    cached artifact (organisms, unlearned models: the configuration that built them), else the
    ``folder_hash`` of its files (a user's own model); a name that is no folder (a hub id, resolved
    by the Hugging Face cache) is its own identity."""
    if not Path(folder).is_dir():
        return f"name-{folder}"
    if is_complete(Path(folder)):
        record = artifact_record(folder)
        return f"{record.get('kind', 'artifact')}-{config_hash(record.get('config', {}), length=64)}"
    return folder_hash(folder)
