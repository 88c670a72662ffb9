"""Errors raised by unpact for bad input.

``UsageError`` is what a user fixes by changing an argument: the CLI prints its message and
exits with code 2, without a traceback. Library callers catch it as a ``ValueError``.
"""
from __future__ import annotations

from collections.abc import Iterable


class UsageError(ValueError):
    """Bad input from the user (argument, file, configuration)."""


def check_choice(what: str, value: str, valid: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``valid``, else raise a ``UsageError`` listing the choices."""
    choices = sorted(valid)
    if value not in choices:
        raise UsageError(f"unknown {what} {value!r}; valid choices: {', '.join(choices)}")
    return value
