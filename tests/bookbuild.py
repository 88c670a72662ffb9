"""One built book per test session (shared by test_book.py and test_browser.py, also across xdist workers).

The book's sources (notebooks/, book/, _config.yml, _toc.yml, results/benchmarks/) are copied
to a temporary root and built there with ``unpact book --profile micro --root ROOT`` and a
private cache, so the tests never touch the working tree's book or the user's cache.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("notebooks", "book", "_config.yml", "_toc.yml", "results/benchmarks")
IGNORED = shutil.ignore_patterns("executed", "_generated", ".ipynb_checkpoints")


def book_cache(root: Path) -> Path:
    """The private unpact cache of the book built at ``root`` (reuse it to run more notebooks cheaply)."""
    return root.parent / "unpact-book-cache"


def built_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a book built on the micro profile (``ROOT/_build/html``); fails the test with the build log otherwise."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # one folder for all workers
    root, outcome = shared / "unpact-book", shared / "unpact-book.json"
    with FileLock(str(shared / "unpact-book.lock")):
        if not outcome.is_file():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            for name in SOURCES:
                src = REPO / name
                if src.is_dir():
                    shutil.copytree(src, root / name, ignore=IGNORED)
                elif src.is_file():
                    shutil.copy2(src, root / name)
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            proc = subprocess.run([sys.executable, "-m", "unpact.cli", "book", "--profile", "micro",
                                   "--root", str(root),
                                   "--cache", str(book_cache(root))], env=env, capture_output=True, text=True)
            outcome.write_text(json.dumps({"returncode": proc.returncode, "log": (proc.stdout + proc.stderr)[-6000:]}))
    result = json.loads(outcome.read_text())
    if result["returncode"] != 0:
        pytest.fail(f"unpact book --profile micro failed (exit {result['returncode']}):\n{result['log']}")
    return root
