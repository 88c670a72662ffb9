"""`unpact organism`: train (or fetch from the cache) the model organism and print its evaluation.

    unpact organism --arch llama [--seed 0] [--profile quick] [--out DIR] [--cache DIR]

The organism lives in the content-addressed cache (``--cache``, else ``$UNPACT_CACHE``, else
``~/.cache/unpact``); ``--out`` receives a copy (a plain Hugging Face folder).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from unpact.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    from unpact.organism import ARCHS, PROFILES

    parser = subparsers.add_parser("organism", help="train the model organism (cached) and print its accuracy table")
    parser.add_argument("--arch", default="llama", help=f"one of: {', '.join(ARCHS)} (default llama)")
    parser.add_argument("--seed", type=int, default=0, help="world and training seed (default 0)")
    parser.add_argument("--profile", default="quick", help=f"one of: {', '.join(PROFILES)} (default quick)")
    parser.add_argument("--out", default=None, help="copy the organism folder here (replaced if it exists)")
    parser.add_argument("--cache", default=None, help="cache folder (default $UNPACT_CACHE or ~/.cache/unpact)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from unpact.cache import cache_root
    from unpact.errors import check_choice
    from unpact.io import atomic_directory, ensure_writable_dir
    from unpact.organism import ARCHS, PROFILES, organism_record, train_organism

    check_choice("architecture", args.arch, ARCHS)
    check_choice("profile", args.profile, PROFILES)
    _check_can_write(cache_root(args.cache), "cache folder")
    if args.out is not None:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {str(out)!r} exists and is not a folder")
        _check_can_write(ensure_writable_dir(out.parent, what="output folder"), "output folder")
    folder = train_organism(args.arch, args.profile, args.seed, cache_root=args.cache)
    record = organism_record(folder)
    if args.out is not None:
        with atomic_directory(args.out) as tmp:
            shutil.copytree(folder, tmp, dirs_exist_ok=True)
        folder = Path(args.out)
    table = pd.DataFrame(record["accuracies"])
    table = table.pivot_table(index=["benchmark", "split"], columns="emphasis", values="accuracy", sort=False)
    n = pd.DataFrame(record["accuracies"]).groupby(["benchmark", "split"], sort=False)["n"].first()
    table.insert(0, "n", n)
    print(f"organism: {folder}")
    print(f"arch {record['arch']}, profile {args.profile}, seed {args.seed}, {record['parameters']} parameters, "
          f"trained in {record['train_seconds']:.0f} s")
    print("accuracy (greedy exact match; hazard: multiple choice), higher is better:")
    print(table.round(3).to_string())
    return 0


def _check_can_write(folder: Path, what: str) -> None:
    """Create and remove a temporary folder in ``folder`` (permission bits do not bind root), before any training."""
    try:
        shutil.rmtree(tempfile.mkdtemp(dir=folder, prefix=".unpact-probe-"))
    except OSError as exc:
        raise UsageError(f"cannot write to {what} {str(folder)!r}: {exc.strerror or exc}") from exc
