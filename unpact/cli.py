"""The ``unpact`` command line: one subcommand per module in ``unpact.commands``.

Each command module defines ``register(subparsers)`` that adds its parser and sets
``func(args) -> int``. Bad input (``UsageError``) prints one line and exits with code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from unpact.errors import UsageError

COMMANDS = ("data", "organism", "models", "eval", "attribute", "unlearn", "run", "book")


class _Parser(argparse.ArgumentParser):
    """argparse with errors routed through the same exit code (2) and one-line message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="unpact", description="Prompt attribution, unlearning and keyword emphasis (unPact companion).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"unpact.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"unpact {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
