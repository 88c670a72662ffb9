"""`unpact book`: run the notebooks (like ``unpact run``), generate the results pages, build the HTML book.

    unpact book [--profile micro|quick|full|FILE.yaml] [--only NAME ...] [--cache DIR] [--force] [--root DIR]

Output: ``_build/html/index.html``. Warnings fail the build (``jupyter-book build -W -n --keep-going``).
"""
from __future__ import annotations

import argparse
import sys

from unpact.commands.run import add_run_arguments, execute, repository_root


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("book", help="run the notebooks and build the HTML book (_build/html)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from unpact.book.build import BookBuildFailed, build_book
    from unpact.book.pages import generate_pages
    from unpact.book.profiles import load_profile

    code = execute(args)
    if code != 0:
        return code
    root = repository_root(args.root)
    generate_pages(root, load_profile(args.profile, root).name)
    try:
        build_book(root)
    except BookBuildFailed as exc:
        print(f"unpact book: error: {exc}", file=sys.stderr)
        return 1
    return 0
