"""`unpact run`: execute the book's notebooks with papermill, with parameters from a profile.

    unpact run [--profile micro|quick|full|FILE.yaml] [--only NAME ...] [--cache DIR] [--force] [--root DIR]

Executed notebooks go to ``book/executed/NAME.ipynb`` and results to ``results/<profile>/NAME/``;
notebooks whose inputs did not change since their last run are skipped (see ``unpact.book.runner``).
A failing cell stops the run (exit code 1) naming the notebook, the cell and the error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unpact.errors import UsageError


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``unpact run`` and ``unpact book``."""
    parser.add_argument("--profile", default="quick",
                        help="micro, quick, full, or a profile YAML file (default: quick)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these notebooks of the profile")
    parser.add_argument("--cache", metavar="DIR",
                        help="unpact cache folder (default: the profile's, $UNPACT_CACHE or ~/.cache/unpact)")
    parser.add_argument("--force", action="store_true", help="re-execute notebooks even if they are up to date")
    parser.add_argument("--root", default=".", metavar="DIR", help="repository root holding notebooks/ (default: .)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="execute the notebooks with papermill (parameters from a profile)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.set_defaults(func=_run)


def repository_root(path: str) -> Path:
    """``path`` resolved; a ``UsageError`` unless it holds a ``notebooks/`` folder."""
    root = Path(path).resolve()
    if not (root / "notebooks").is_dir():
        raise UsageError(f"no notebooks/ folder in {str(root)!r}; run from the repository root or pass --root")
    return root


def execute(args: argparse.Namespace) -> int:
    """Load the profile and run its notebooks; 0 on success, 1 (with the failure on stderr) if a cell failed."""
    from unpact.book.profiles import load_profile
    from unpact.book.runner import NotebookFailed, run_profile

    root = repository_root(args.root)
    profile = load_profile(args.profile, root)
    try:
        run_profile(profile, root, only=args.only, force=args.force, cache=args.cache)
    except NotebookFailed as exc:
        print(f"unpact {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    return execute(args)
