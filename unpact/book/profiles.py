"""Run profiles: which notebooks ``unpact run`` executes, and with which parameters.

A profile is a YAML file (the built-in ones are ``unpact/profiles/{micro,quick,full}.yaml``; a
user's own file works the same way)::

    name: quick                 # optional: results go to results/<name>/NOTEBOOK/ (default: file stem)
    cache: ~/.cache/unpact      # optional: the run's unpact cache folder (default: $UNPACT_CACHE or ~/.cache/unpact)
    defaults:                   # optional: shared parameters, given to every listed notebook that declares them
      profile: quick
      seeds: [0]
    notebooks:                  # required: the notebooks to run (executed in the book's order)
      00_organism: {}           # {} = the notebook's own defaults (plus the shared ones)
      02_recovery_by_emphasis:
        methods: [ga, npo]      # a parameter of this notebook's ``parameters`` cell

Validation (``UsageError`` listing the valid choices): an unknown top-level key, an unknown
notebook, a parameter that the notebook's ``parameters`` cell does not declare, a shared default
that none of the listed notebooks declares, or ``out_dir`` (``unpact run`` sets it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from unpact.book.notebooks import OUT_DIR, available_notebooks, notebook_parameters
from unpact.errors import UsageError

# setup: the real-model grid (paper.yaml), read by users, not injected into notebooks
TOP_LEVEL_KEYS = ("name", "cache", "defaults", "notebooks", "setup")


@dataclass(frozen=True)
class Profile:
    """A validated profile: its name, optional cache folder and each notebook's parameters (shared defaults
    merged in)."""

    name: str
    source: str
    cache: str | None
    notebooks: dict[str, dict[str, Any]] = field(default_factory=dict)


def builtin_profiles() -> dict[str, Path]:
    """Name -> file of the profiles shipped in ``unpact/profiles``."""
    folder = resources.files("unpact") / "profiles"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def profile_file(spec: str) -> Path:
    """Resolve ``spec``: a built-in profile name or a path to a YAML file."""
    builtins = builtin_profiles()
    if spec in builtins:
        return builtins[spec]
    path = Path(spec).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    if path.suffix in (".yaml", ".yml"):
        raise UsageError(f"profile file not found: {spec!r}")
    raise UsageError(f"unknown profile {spec!r}; valid choices: {', '.join(sorted(builtins))}, "
                     "or a path to a .yaml file")


def load_profile(spec: str, root: Path) -> Profile:
    """Load and validate the profile ``spec`` against the notebooks under ``root``."""
    path = profile_file(spec)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"profile {str(path)!r} is not valid YAML: {exc}") from exc
    return validate_profile(raw, root, name=path.stem, source=str(path))


def validate_profile(raw: Any, root: Path, name: str, source: str = "<profile>") -> Profile:
    """Check a parsed profile mapping and merge its shared defaults into each notebook's parameters."""
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: a profile must be a mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise UsageError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(TOP_LEVEL_KEYS)}")
    sections = raw.get("notebooks")
    if not isinstance(sections, dict) or not sections:
        raise UsageError(f"{source}: 'notebooks' must map notebook names to parameter mappings")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise UsageError(f"{source}: 'defaults' must be a mapping of parameter names to values")
    valid_names = available_notebooks(root)
    for nb in sections:
        if nb not in valid_names:
            raise UsageError(f"{source}: unknown notebook {nb!r}; valid notebooks: {', '.join(valid_names)}")
    declared = {nb: notebook_parameters(root, nb) for nb in sections}
    all_declared = sorted({p for params in declared.values() for p in params} - {OUT_DIR})
    for key in defaults:
        if key == OUT_DIR or key not in all_declared:
            raise UsageError(f"{source}: shared default {key!r} is declared by no listed notebook; "
                             f"valid parameters: {', '.join(all_declared)}")
    merged: dict[str, dict[str, Any]] = {}
    for nb in [n for n in valid_names if n in sections]:
        section = sections[nb] or {}
        if not isinstance(section, dict):
            raise UsageError(f"{source}: notebook {nb!r} must map parameter names to values")
        valid = sorted(set(declared[nb]) - {OUT_DIR})
        for key in section:
            if key not in valid:
                raise UsageError(f"{source}: notebook {nb!r} has no parameter {key!r}; "
                                 f"valid parameters: {', '.join(valid)}")
        merged[nb] = {**{k: v for k, v in defaults.items() if k in declared[nb]}, **section}
    profile_name = str(raw.get("name") or name)
    cache = raw.get("cache")
    return Profile(name=profile_name, source=source, cache=str(cache) if cache else None, notebooks=merged)


def select(profile: Profile, only: list[str] | None) -> list[str]:
    """The profile's notebooks restricted to ``only`` (each must be in the profile), in book order."""
    if not only:
        return list(profile.notebooks)
    for nb in only:
        if nb not in profile.notebooks:
            raise UsageError(f"--only {nb!r} is not in profile {profile.name!r}; "
                             f"valid notebooks: {', '.join(profile.notebooks)}")
    return [nb for nb in profile.notebooks if nb in only]
