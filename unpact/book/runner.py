"""Execute the book's notebooks with papermill, resuming where a previous run stopped.

For notebook ``NAME`` of profile ``P`` (paths relative to the repository root ``root``):

- the text notebook ``notebooks/NAME.md`` is converted with jupytext and executed by papermill,
  with the kernel's working directory at ``root``, the profile's parameters injected and
  ``out_dir = "results/P/NAME"`` (the folder where the notebook writes its JSON and CSV results,
  emptied first so no stale result survives); after the run the runner writes
  ``out_dir/parameters.json``, every parameter of the notebook's parameters cell with its value
  in this run (``write_parameters``), so notebooks never list their parameters again;
- the executed notebook goes to ``book/executed/NAME.partial.ipynb`` while it runs (papermill
  saves it after every cell) and is renamed to ``book/executed/NAME.ipynb`` on success, which is
  the file the book renders;
- a stamp ``book/executed/NAME.stamp.json`` records the digest of the run's inputs: the notebook
  text, the parameters, the unpact version and the digest of the package's source. A later run
  skips a notebook whose stamp matches (``force=True`` re-executes anyway), so an interrupted
  run resumes with the first notebook that did not finish. Expensive artifacts (organisms,
  unlearned models, attribution tables) come from the unpact cache, so re-executing is cheap too.

A failing cell stops the run with :class:`NotebookFailed` (notebook, cell index, error) and the
partial executed notebook is kept for inspection.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import unpact
from unpact.book.notebooks import OUT_DIR, parameters_cell_source, parse_parameters, read_notebook
from unpact.book.profiles import Profile, select
from unpact.cache import source_digest
from unpact.io import atomic_write_json, ensure_writable_dir

PARAMETERS_FILE = "parameters.json"  # written next to each notebook's results by the runner

EXECUTED_DIR = Path("book") / "executed"
RESULTS_DIR = Path("results")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


class NotebookFailed(RuntimeError):
    """A notebook cell raised: names the notebook, the cell (index in ``notebooks/NAME.md``) and the error."""

    def __init__(self, notebook: str, cell_index: int | None, error: str, partial: Path, first_line: str = "") -> None:
        self.notebook, self.cell_index, self.error, self.partial = notebook, cell_index, error, partial
        where = ("an unknown cell" if cell_index is None
                 else f"cell index {cell_index} (0-based, markdown cells counted)")
        where += f" starting {first_line!r}" if first_line else ""
        super().__init__(f"notebook {notebook} failed at {where}: {error}\npartial output kept at {partial}")


@dataclass(frozen=True)
class NotebookRun:
    """What happened to one notebook: ``executed`` or ``skipped`` (up to date), with its files and duration."""

    name: str
    status: str
    executed: Path
    out_dir: Path
    seconds: float


def results_dir(profile_name: str, notebook: str) -> Path:
    """``results/<profile>/<notebook>``: the notebook's ``out_dir``, relative to the repository root."""
    return RESULTS_DIR / profile_name / notebook


def inputs_digest(notebook_text: str, parameters: dict[str, Any], code_digest: str) -> str:
    """Digest of everything a notebook's output depends on besides the cache: text, parameters, unpact version
    and code."""
    blob = json.dumps({"text": notebook_text, "parameters": parameters, "version": unpact.__version__,
                       "code": code_digest},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def run_profile(profile: Profile, root: Path, only: list[str] | None = None, force: bool = False,
                cache: str | None = None, log: Callable[[str], None] = print,
                progress: bool = True) -> list[NotebookRun]:
    """Execute the profile's notebooks (or those in ``only``) in order; return what happened to each.

    ``cache`` (or the profile's ``cache``) sets ``UNPACT_CACHE`` for the kernels. Raises
    :class:`NotebookFailed` at the first failing cell.
    """
    root = Path(root).resolve()
    names = select(profile, only)
    code = source_digest()
    cache_dir = cache or profile.cache
    runs: list[NotebookRun] = []
    with _kernel_environment(cache_dir):
        for i, name in enumerate(names, start=1):
            params = {**profile.notebooks[name], OUT_DIR: results_dir(profile.name, name).as_posix()}
            log(f"[{i}/{len(names)}] {name} (profile {profile.name})")
            run = run_notebook(root, name, params, code, force=force, progress=progress)
            log(f"[{i}/{len(names)}] {name}: {run.status} in {run.seconds:.1f} s -> {run.executed.relative_to(root)}")
            runs.append(run)
    return runs


def run_notebook(root: Path, name: str, parameters: dict[str, Any], code_digest: str | None = None,
                 force: bool = False, progress: bool = True) -> NotebookRun:
    """Execute ``notebooks/NAME.md`` under ``root`` with ``parameters`` (which include ``out_dir``), unless up to
    date."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    root = Path(root).resolve()
    executed_dir = ensure_writable_dir(root / EXECUTED_DIR, "executed-notebooks folder")
    final, partial = executed_dir / f"{name}.ipynb", executed_dir / f"{name}.partial.ipynb"
    stamp = executed_dir / f"{name}.stamp.json"
    out_dir = root / parameters[OUT_DIR]
    source = root / "notebooks" / f"{name}.md"
    digest = inputs_digest(source.read_text(encoding="utf-8"), parameters, code_digest or source_digest())
    if not force and final.is_file() and out_dir.is_dir() and _stamp_digest(stamp) == digest:
        return NotebookRun(name, "skipped (up to date)", final, out_dir, 0.0)
    for stale in (stamp, final, partial):
        stale.unlink(missing_ok=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    nb = read_notebook(source)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        input_path = Path(tmp) / f"{name}.ipynb"
        nbformat.write(nb, input_path)
        try:
            papermill.execute_notebook(str(input_path), str(partial), parameters=parameters, kernel_name="python3",
                                       cwd=str(root), progress_bar=progress)
        except PapermillExecutionError as exc:
            first_line = next((line for line in (exc.source or "").splitlines() if line.strip()), "")
            raise NotebookFailed(name, _source_cell_index(nb, exc.source), f"{exc.ename}: {exc.evalue}", partial,
                                 first_line) from exc
    seconds = time.perf_counter() - start
    write_parameters(out_dir, nb, name, parameters)
    os.replace(partial, final)
    atomic_write_json(stamp, {"notebook": name, "digest": digest, "parameters": parameters,
                              "unpact_version": unpact.__version__, "seconds": round(seconds, 2),
                              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return NotebookRun(name, "executed", final, out_dir, seconds)


def write_parameters(out_dir: Path, nb: Any, name: str, parameters: dict[str, Any]) -> Path:
    """``out_dir/parameters.json``: every parameter the notebook's parameters cell declares, with the
    value of this run (the injected one, else the cell's default); ``out_dir`` itself is left out."""
    declared = parse_parameters(parameters_cell_source(nb, name), name)
    values = {key: parameters.get(key, p.default) for key, p in declared.items() if key != OUT_DIR}
    return atomic_write_json(ensure_writable_dir(out_dir, "results folder") / PARAMETERS_FILE, values)


def _stamp_digest(stamp: Path) -> str | None:
    try:
        return str(json.loads(stamp.read_text())["digest"])
    except (OSError, ValueError, KeyError):
        return None


def _source_cell_index(nb: Any, failing_source: str) -> int | None:
    """Index (0-based, among all cells of the text notebook) of the cell whose source is ``failing_source``."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.strip() == (failing_source or "").strip():
            return i
    return None


@contextlib.contextmanager
def _kernel_environment(cache_dir: str | None) -> Iterator[None]:
    """Environment inherited by the kernels: inline matplotlib (so figures land in the book), the cache folder."""
    changes = {"MPLBACKEND": INLINE_BACKEND}
    if cache_dir:
        changes["UNPACT_CACHE"] = str(Path(cache_dir).expanduser().resolve())
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
