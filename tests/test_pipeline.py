"""`unpact run` machinery on a tiny notebook in a temporary repository: parameters, results, stamps, failures,
profiles."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from unpact.book.notebooks import parse_parameters
from unpact.book.profiles import builtin_profiles, load_profile, validate_profile
from unpact.book.runner import NotebookFailed, run_profile
from unpact.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]

TINY = '''---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Tiny

```{code-cell} ipython3
:tags: [parameters]

factor = 2  # multiplier of 21
fail = False  # raise in the second code cell
out_dir = "results/x"  # results folder
```

```{code-cell} ipython3
import json, pathlib
assert not fail, "asked to fail"
pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)
(pathlib.Path(out_dir) / "r.json").write_text(json.dumps({"value": 21 * factor}))
```
'''


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A temporary repository root with one notebook (``tiny``) and a profile ``p.yaml`` setting factor=3."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "tiny.md").write_text(TINY)
    (tmp_path / "p.yaml").write_text("defaults: {factor: 3}\nnotebooks:\n  tiny: {}\n")
    return tmp_path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "unpact.cli", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_parse_parameters_reads_names_defaults_and_comments() -> None:
    params = parse_parameters('a = 1  # one\nb: list = ["x", 2]\nc = (\n  0.5  # half\n)\n')
    assert list(params) == ["a", "b", "c"]
    assert (params["a"].default, params["a"].comment) == (1, "one")
    assert params["b"].default == ["x", 2] and params["b"].default_source == '["x", 2]'
    assert params["c"].default == 0.5 and params["c"].comment == "half"


@pytest.mark.parametrize("source, message", [("import os\n", "only 'name = literal'"),
                                             ("a = f(1)\n", "literal default"),
                                             ("a = \n", "not valid Python")])
def test_parse_parameters_rejects_non_literal_cells(source: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_parameters(source)


def test_run_injects_parameters_writes_results_and_skips_when_unchanged(repo: Path) -> None:
    profile = load_profile(str(repo / "p.yaml"), repo)
    logs: list[str] = []
    [first] = run_profile(profile, repo, log=logs.append, progress=False)
    assert first.status == "executed"
    assert json.loads((repo / "results/p/tiny/r.json").read_text()) == {"value": 63}  # factor 3 from the profile
    # the runner records every declared parameter with this run's value (out_dir is the folder itself)
    assert json.loads((repo / "results/p/tiny/parameters.json").read_text()) == {"factor": 3, "fail": False}
    executed = json.loads((repo / "book/executed/tiny.ipynb").read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
    assert any("tiny: executed in" in line for line in logs)

    [second] = run_profile(profile, repo, log=logs.append, progress=False)
    assert second.status.startswith("skipped")

    (repo / "p.yaml").write_text("defaults: {factor: 4}\nnotebooks:\n  tiny: {}\n")  # a new parameter value re-executes
    [third] = run_profile(load_profile(str(repo / "p.yaml"), repo), repo, log=logs.append, progress=False)
    assert third.status == "executed"
    assert json.loads((repo / "results/p/tiny/r.json").read_text()) == {"value": 84}


def test_failing_cell_names_notebook_and_cell_and_keeps_partial_output(repo: Path) -> None:
    profile = validate_profile({"notebooks": {"tiny": {"fail": True}}}, repo, name="bad")
    with pytest.raises(NotebookFailed) as info:
        run_profile(profile, repo, log=lambda _: None, progress=False)
    exc = info.value
    assert exc.notebook == "tiny"
    cells = TINY.split("```{code-cell}")  # [header + markdown, parameters cell, failing cell]
    assert exc.cell_index == 2 and "asked to fail" in cells[2]  # cells: markdown 0, parameters 1, failing 2
    assert "import json, pathlib" in str(exc)
    assert "AssertionError: asked to fail" in exc.error
    assert exc.partial.is_file() and not (repo / "book/executed/tiny.ipynb").exists()
    assert not (repo / "book/executed/tiny.stamp.json").exists()


def test_cli_run_exits_1_on_failure_and_2_on_bad_profile(repo: Path) -> None:
    (repo / "bad.yaml").write_text("notebooks:\n  tiny: {fail: true}\n")
    proc = _cli("run", "--profile", "bad.yaml", cwd=repo)
    assert proc.returncode == 1
    assert "notebook tiny failed at cell index 2" in proc.stderr and "asked to fail" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _cli("run", "--profile", "nosuch", cwd=repo)
    assert proc.returncode == 2 and "unknown profile 'nosuch'; valid choices:" in proc.stderr
    assert all(name in proc.stderr for name in ("micro", "quick", "full"))


@pytest.mark.parametrize("raw, message", [
    ({"notebooks": {"nosuch": {}}}, "unknown notebook 'nosuch'; valid notebooks: tiny"),
    ({"notebooks": {"tiny": {"factr": 1}}}, "no parameter 'factr'; valid parameters: factor, fail"),
    ({"defaults": {"seed": 1}, "notebooks": {"tiny": {}}},
     "shared default 'seed' is declared by no listed notebook; valid parameters: factor, fail"),
    ({"notebooks": {"tiny": {"out_dir": "x"}}}, "no parameter 'out_dir'"),
    ({"notebook": {"tiny": {}}}, "unknown key\\(s\\) notebook; valid keys"),
    ({"notebooks": {}}, "'notebooks' must map"),
])
def test_profile_validation_lists_valid_choices(repo: Path, raw: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        validate_profile(raw, repo, name="t")


def test_only_must_name_notebooks_of_the_profile(repo: Path) -> None:
    profile = load_profile(str(repo / "p.yaml"), repo)
    with pytest.raises(UsageError, match="--only 'other' is not in profile 'p'; valid notebooks: tiny"):
        run_profile(profile, repo, only=["other"], log=lambda _: None)


@pytest.mark.parametrize("name", ["micro", "quick", "full"])
def test_builtin_profiles_match_the_notebooks_parameters(name: str) -> None:
    assert set(builtin_profiles()) >= {"micro", "quick", "full"}
    profile = load_profile(name, ROOT)
    assert profile.name == name and profile.notebooks


def test_a_run_stopped_by_a_failure_resumes_with_the_notebook_that_failed(repo: Path) -> None:
    (repo / "notebooks" / "tiny2.md").write_text(TINY)
    raw = {"notebooks": {"tiny": {}, "tiny2": {"fail": True}}}
    with pytest.raises(NotebookFailed, match="tiny2"):
        run_profile(validate_profile(raw, repo, name="r"), repo, log=lambda _: None, progress=False)
    raw["notebooks"]["tiny2"] = {"fail": False}
    runs = run_profile(validate_profile(raw, repo, name="r"), repo, log=lambda _: None, progress=False)
    assert [(r.name, r.status) for r in runs] == [("tiny", "skipped (up to date)"), ("tiny2", "executed")]
