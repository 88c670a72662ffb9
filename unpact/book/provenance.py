"""Where and on which code a result was measured, and whether the code has changed since.

A benchmark result (``results/benchmarks/NAME.json``, written by :func:`unpact.report.write_benchmark`)
records, besides its machine:

- ``commit``: ``git rev-parse HEAD`` of the repository when it was measured (``+dirty`` when the
  code it depends on had uncommitted changes; ``null`` outside a git checkout);
- ``measured_utc``: the UTC time of the measurement, ``YYYY-MM-DDTHH:MM:SSZ``;
- ``code``: ``{"paths": [...], "digest": sha256}``, the files that made the numbers (the
  benchmark script and the part of ``unpact`` it measures, paths relative to the repository
  root) and the digest of their content (:func:`code_digest`).

:func:`stale_benchmarks` recomputes the digest over the same paths: a different digest means the
result is older than the code that made it. :func:`stale_notebooks` does the same for the executed
notebooks, from the stamps written by :mod:`unpact.book.runner`. The book build turns both into
Sphinx warnings (:mod:`unpact.book.sphinx_checks`), so ``jupyter-book build -W`` fails on them.

The exception, :data:`PERIODIC`: results that cost more CPU time than a session that changes the code
has left after re-running the book itself (a second cold ``quick`` run, diagnostic unlearning runs beside
the book). They are re-measured periodically, not with every change: when their code has changed they
stay in the book, marked **Stale** with the commit they were measured at (Performance page), and the
build does not fail on them. Everything the book's chapters compute, and the pipeline timings, is not
in this list and must be current.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import unpact

#: The repository the installed ``unpact`` package belongs to (benchmarks/ and unpact/ are under it).
REPO_ROOT = Path(unpact.__file__).resolve().parents[1]

#: Benchmark result files (glob pattern -> why) re-measured periodically, not with every code change (module docstring).
PERIODIC: dict[str, str] = {
    "reproducibility-quick.json": "a second `quick` run from an empty cache, after the book's own (hours on 2 cores)",
    "depth-smollm2*.json": "diagnostic unlearning runs on SmolLM2 beside the book (about 10 minutes each)",
    "depth-focus-smollm2*.json": "diagnostic unlearning runs on SmolLM2 with attribution at every check "
                                 "(about 10 minutes a method)",
    "book*-pretrained.json": "the `pretrained` profile from an empty cache (both models, both regimes, all ten "
                             "methods: many hours on 2 cores, timed over several sittings with --resume)",
}


def periodic_reason(name: str) -> str | None:
    """Why the result file ``name`` is re-measured periodically (:data:`PERIODIC`); ``None`` when it must be current."""
    return next((why for pattern, why in PERIODIC.items() if fnmatch.fnmatchcase(name, pattern)), None)


def code_digest(root: Path, paths: Iterable[str]) -> str | None:
    """SHA-256 over the files under ``paths`` (relative to ``root``; folders recursively, caches skipped).

    Each file contributes its path relative to ``root`` and its bytes, in sorted order; ``None`` when
    none of the paths exists (e.g. an installed package without the repository's ``benchmarks/``).
    """
    root = Path(root)
    files: set[Path] = set()
    for rel in paths:
        path = root / rel
        if path.is_file():
            files.add(path)
        elif path.is_dir():
            files |= {p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    if not files:
        return None
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def git_commit(root: Path, paths: Iterable[str] = ()) -> str | None:
    """Git ``HEAD`` at ``root`` (``+dirty``: ``paths`` have uncommitted changes); ``None`` outside a git checkout."""
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    if head is None:
        return None
    dirty = git("status", "--porcelain", "--", *paths) if paths else git("status", "--porcelain")
    return head + ("+dirty" if dirty else "")


def measurement_record(paths: Iterable[str], root: Path = REPO_ROOT) -> dict[str, Any]:
    """``{"commit", "measured_utc", "code": {"paths", "digest"}}`` of a result measured now with the code ``paths``."""
    paths = sorted(set(paths))
    return {"commit": git_commit(root, paths), "measured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "code": {"paths": paths, "digest": code_digest(root, paths)}}


def benchmark_status(data: dict[str, Any], root: Path = REPO_ROOT) -> str:
    """``untracked`` (measured before commit tracking), ``unknown`` (code not found here), ``stale`` or ``current``."""
    code = data.get("code")
    if not isinstance(code, dict) or not code.get("digest"):
        return "untracked"
    now = code_digest(root, code.get("paths") or [])
    if now is None:
        return "unknown"
    return "current" if now == code["digest"] else "stale"


def stale_benchmarks(folder: Path, root: Path = REPO_ROOT, periodic: bool = False) -> list[str]:
    """One message per benchmark result in ``folder`` whose code changed after it was measured.

    ``periodic``: also those of :data:`PERIODIC` (left out by default: the book marks them, it does not fail on them).
    """
    messages = []
    for path in sorted(Path(folder).glob("*.json")):
        if not periodic and periodic_reason(path.name) is not None:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue   # the Performance page reports malformed files
        if benchmark_status(data, root) == "stale":
            paths, commit = ", ".join(data["code"]["paths"]), data.get("commit") or "unknown"
            messages.append(f"{path.name} is older than the code that made it ({paths} changed since commit {commit}); "
                            f"rerun: {data.get('command', '?')}")
    return messages


def stale_notebooks(book_root: Path) -> list[str]:
    """One message per executed notebook (``book/executed/NAME.ipynb``) whose notebook or package code changed since."""
    from unpact.book.runner import EXECUTED_DIR, inputs_digest, source_digest

    book_root = Path(book_root)
    code = source_digest()
    messages = []
    for stamp_path in sorted((book_root / EXECUTED_DIR).glob("*.stamp.json")):
        try:
            stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
            name, digest, parameters = stamp["notebook"], stamp["digest"], stamp["parameters"]
        except (ValueError, KeyError):
            continue
        source = book_root / "notebooks" / f"{name}.md"
        if not source.is_file():
            continue
        if inputs_digest(source.read_text(encoding="utf-8"), parameters, code) != digest:
            messages.append(f"{EXECUTED_DIR.as_posix()}/{name}.ipynb and its results were made by older code or an "
                            f"older notebooks/{name}.md; rerun: unpact run --only {name}")
    return messages
