"""The package's declared requirements, environment.yml and the CLI entry point agree."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_mirrors_pyproject() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "python=3.11" in env["dependencies"]
    assert sorted(p for p in pip_section if p != "-e .") == sorted(deps)
    assert "-e ." in pip_section


def test_cli_help_lists_every_command() -> None:
    from unpact.cli import COMMANDS

    out = subprocess.run([sys.executable, "-m", "unpact.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for name in COMMANDS:
        assert name in out


def test_unknown_command_exits_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "unpact.cli", "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
    assert "Traceback" not in proc.stderr
