"""A Sphinx extension that lets the package's plain-text docstrings render as reStructuredText.

The docstrings are written to read well as plain text (``help()``), and a few plain-text habits
are not valid reStructuredText. At ``autodoc-process-docstring`` (before napoleon) each docstring
is adjusted:

- ``|x|`` (a set's size, an absolute value) is escaped, so it is not read as a substitution;
- blank lines are inserted where a bullet list or an indented formula starts (or ends) right
  after a paragraph line;
- a docstring that still does not parse cleanly with docutils is shown verbatim, as a literal
  block, rather than as a page of error boxes (``-W`` would otherwise fail the build on prose).

:func:`unparsable_docstrings` lists the verbatim ones (a test reports them so they can be fixed).
Enabled in ``_config.yml`` (``sphinx: extra_extensions``).
"""
from __future__ import annotations

import re
from typing import Any

_LITERAL = re.compile(r"(``.+?``)")
_BULLET = re.compile(r"^\s*[-*+] \S")
_ROLE = re.compile(r":[\w:.-]+:`([^`]+)`")
#: docutils messages that only mean "a Sphinx role/directive", which Sphinx itself knows.
_SPHINX_ONLY = ("Unknown interpreted text role", "Unknown directive type", "No role entry", "No directive entry")


def escape_bars(line: str) -> str:
    """Escape ``|`` outside inline literals (grid-table lines, ``|...|`` or ``+-...``, are kept)."""
    bare = line.strip()
    if (bare.startswith("|") and bare.endswith("|") and len(bare) > 2) or bare.startswith(("+-", "+=")):
        return line
    parts = _LITERAL.split(line)
    return "".join(part if part.startswith("``") else re.sub(r"(?<!\\)\|", r"\\|", part) for part in parts)


def separate_blocks(lines: list[str]) -> list[str]:
    """Insert the blank lines reStructuredText needs around blocks that plain text starts without one.

    A bullet item right after a paragraph line; a line indented deeper than the text above it (an
    aligned formula: it becomes a block quote); and the first line back at a shallower indent after
    either of those (the end of the list or quote).
    """
    out: list[str] = []
    open_blocks: list[tuple[int, str]] = []   # (content indent, "list" or "quote"), innermost last
    previous_content = 0                       # content indent of the previous non-blank line
    for line in lines:
        if not line.strip():
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip())
        bullet = bool(_BULLET.match(line))
        blank_needed = False
        while open_blocks and indent < open_blocks[-1][0] and not (bullet and open_blocks[-1] == (indent + 2, "list")):
            open_blocks.pop()
            blank_needed = True
        if bullet and not (open_blocks and open_blocks[-1] == (indent + 2, "list")):
            open_blocks.append((indent + 2, "list"))
            blank_needed = True
        elif not bullet and indent > previous_content:
            open_blocks.append((indent, "quote"))
            blank_needed = True
        if blank_needed and out and out[-1].strip() and not out[-1].rstrip().endswith("::"):
            out.append("")
        previous_content = indent + 2 if bullet else indent
        out.append(line)
    return out


def docutils_problems(text: str) -> list[str]:
    """Warnings and errors docutils reports for ``text`` (Sphinx-only roles and directives ignored)."""
    from docutils.core import publish_doctree
    from docutils.nodes import system_message
    from docutils.utils import SystemMessage

    plain = _ROLE.sub(r"``\1``", text)
    try:
        tree = publish_doctree(plain, settings_overrides={"report_level": 5, "halt_level": 5, "warning_stream": False})
    except SystemMessage as exc:   # pragma: no cover (halt_level 5 keeps docutils from raising)
        return [str(exc)]
    problems = [m.astext() for m in tree.findall(system_message) if m["level"] >= 2]
    return [p for p in problems if not any(s in p for s in _SPHINX_ONLY)]


def readable_lines(lines: list[str]) -> list[str]:
    """The docstring's lines made valid reStructuredText, or shown verbatim when that is not enough."""
    fixed = separate_blocks([escape_bars(line) for line in lines])
    if not docutils_problems("\n".join(fixed)):
        return fixed
    return ["::", ""] + [f"    {line}" if line.strip() else "" for line in lines]


def adjust_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """``autodoc-process-docstring``: replace ``lines`` in place by :func:`readable_lines`."""
    lines[:] = readable_lines(list(lines))


def unparsable_docstrings(modules: list[str]) -> list[str]:
    """Names of the module, class and function docstrings in ``modules`` that are shown verbatim."""
    import importlib
    import inspect

    bad = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        objects = [(module_name, module)] + [
            (f"{module_name}.{name}", obj) for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module_name]
        for name, obj in objects:
            doc = inspect.getdoc(obj)
            if doc and readable_lines(doc.splitlines())[0] == "::":
                bad.append(name)
    return bad


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", adjust_docstring, priority=400)   # before napoleon (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
