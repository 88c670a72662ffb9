"""How far a resumable cold run of a long profile has come, from its kept cache (no model is loaded or trained).

    python benchmarks/book_progress.py --cache DIR [--profile pretrained] [--out FILE]

A profile that takes longer than one sitting (``pretrained``: many hours on 2 CPU cores) is timed by
``python benchmarks/book.py --profile NAME --keep-cache DIR --resume`` over several attempts. When the
sittings end before it finishes, this script reports what the attempts measured, read from DIR:

- per model and benchmark of the profile (its studies: ``unpact.study.notebook_studies`` with the
  parameters of notebook 01, which trains every unlearned model the later notebooks reuse), the
  unlearning runs the profile needs and those finished, with their seconds (``duration_s`` of each
  run's record, which its cache marker holds, probes included);
- the fine-tunings of the fine-tuned regime that finished (``organism.json``: before-evaluation,
  training, the base model's facts and the evaluation after);
- the seconds of the cached study tables (``table_seconds`` of ``benchmarks/book.py``: attribution,
  emphasis and plain evaluation, relearning probe);
- the wall seconds of the attempts (the ledger of ``benchmarks/book.py``, whose code digest must be this
  checkout's). An unfinished run takes longer than its attempts' sum (a strict lower bound), and, under
  the assumption that no remaining run of a model is faster than its fastest finished one, at least::

      estimate = sum(attempts) + sum over measured models m of (needed_m - finished_m) * min_m

  where min_m is the seconds of m's fastest finished run. Models with no finished run, the fine-tunings not
  yet done, and the notebooks after 01 add nothing to it.

It writes ``book-progress-<profile>.json`` for the Performance page (re-measured periodically, like
``book-<profile>.json``, which replaces it once the run has finished).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from book import CODE, LEDGER, table_seconds  # noqa: E402
from unpact.book.profiles import load_profile  # noqa: E402
from unpact.book.provenance import code_digest  # noqa: E402
from unpact.cache import DONE_MARKER, artifact_record  # noqa: E402
from unpact.errors import UsageError  # noqa: E402
from unpact.organism import RECORD_FILE as ORGANISM_RECORD  # noqa: E402
from unpact.study import FINETUNED_PREFIX, notebook_studies  # noqa: E402

TRAINING_NOTEBOOK = "01_keyword_focus"  # builds every unlearned model of a profile (README: notebook 01)
FINETUNE_SECONDS = ("eval_before_seconds", "train_seconds", "facts_build_seconds", "eval_seconds")


def cache_label(folder: Path) -> str:
    """The study label (``unpact.study.Study.label``) of a cached base-model folder: its name without the
    cache's ``-<hash>`` suffix (``unpact.cache.artifact_dir``), with ``FINETUNED_PREFIX`` and the init model's name
    for a fine-tuned one."""
    record = folder / ORGANISM_RECORD
    if record.is_file():
        data = json.loads(record.read_text(encoding="utf-8"))
        if data.get("regime") == "finetuned":
            return FINETUNED_PREFIX + cache_label(Path(data["init"]["folder"]))
    return re.sub(r"-[0-9a-f]{16}$", "", folder.name)


def finished_runs(cache: Path) -> dict[tuple[str, str], list[float]]:
    """Seconds of every finished unlearning run in ``cache``, by (base-model label, benchmark); a run entered
    a second time under another key (``entered_from``) counts once."""
    runs: dict[tuple[str, str], list[float]] = defaultdict(list)
    for marker in sorted((cache / "unlearned").glob(f"*/{DONE_MARKER}")):
        artifact = artifact_record(marker.parent)
        if "entered_from" in artifact:
            continue
        record = artifact["record"]
        runs[(cache_label(Path(record["base_model"])), record["benchmark"])].append(float(record["duration_s"]))
    return runs


def finetunings(cache: Path) -> dict[str, float]:
    """Seconds of every finished fine-tuning in ``cache`` (``organism.json`` of the fine-tuned regime), by label."""
    seconds = {}
    for marker in sorted((cache / "organism").glob(f"*/{DONE_MARKER}")):
        folder = marker.parent
        data = json.loads((folder / ORGANISM_RECORD).read_text(encoding="utf-8"))
        if data.get("regime") == "finetuned":
            seconds[cache_label(folder)] = sum(float(data.get(k, 0.0)) for k in FINETUNE_SECONDS)
    return seconds


def read_ledger(cache: Path, profile: str) -> dict[str, Any]:
    """The ledger of ``benchmarks/book.py --resume`` in ``cache``; refuses one of another profile or other code."""
    path = cache / LEDGER
    if not path.is_file():
        raise UsageError(f"{path} not found: give the --keep-cache folder of `python benchmarks/book.py --profile "
                         f"{profile} --keep-cache DIR --resume`")
    ledger: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    digest = code_digest(ROOT, CODE)
    if ledger["profile"] != profile or ledger["digest"] != digest:
        raise UsageError(f"{path} is a run of profile {ledger['profile']!r} with code digest {ledger['digest']}; "
                         f"this is profile {profile!r} with code digest {digest}")
    return ledger


def progress_rows(cache: Path, profile: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of the report (module docstring) and the ledger."""
    ledger = read_ledger(cache, profile)
    parameters = load_profile(profile, ROOT).notebooks[TRAINING_NOTEBOOK]
    needed: dict[tuple[str, str], int] = defaultdict(int)
    for study in notebook_studies(parameters, cache_root=str(cache)):
        for _, domain in study.grid():
            needed[(study.label, domain)] += 1
    runs, tuned = finished_runs(cache), finetunings(cache)
    unknown = sorted(set(runs) - set(needed))
    if unknown:
        raise UsageError(f"{cache} holds unlearning runs the profile {profile!r} does not make: {unknown}")
    walls = [float(s) for s in ledger["attempts"]]
    rows: list[dict[str, Any]] = []
    remaining = 0.0
    for (label, domain), count in needed.items():
        seconds = runs.get((label, domain), [])
        remaining += (count - len(seconds)) * min(seconds, default=0.0)
        rows.append({"part": f"unlearning runs: {label} on {domain}", "needed": count, "finished": len(seconds),
                     "seconds": round(sum(seconds), 1), "fastest_run": round(min(seconds), 1) if seconds else None})
    for label in (FINETUNED_PREFIX + name for name in parameters.get("finetuned_models", ())):
        done = label in tuned
        rows.append({"part": f"fine-tuning: {label}", "needed": 1, "finished": int(done),
                     "seconds": round(tuned[label], 1) if done else 0.0, "fastest_run": None})
    for kind, total in sorted(table_seconds(cache).items()):
        rows.append({"part": f"study tables: {kind}", "needed": None, "finished": None, "seconds": round(total, 1),
                     "fastest_run": None})
    state = "finished" if ledger["finished"] else "not finished"
    rows.append({"part": f"whole run so far (wall, {len(walls)} attempts, {state})", "needed": None,
                 "finished": None, "seconds": round(sum(walls), 1), "fastest_run": None})
    if not ledger["finished"]:
        rows.append({"part": "whole run, estimated at least (so far + remaining runs of each measured model at "
                             "its fastest finished run)", "needed": None, "finished": None,
                     "seconds": round(sum(walls) + remaining, 1), "fastest_run": None})
    return rows, ledger


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, required=True, help="the --keep-cache folder of benchmarks/book.py")
    parser.add_argument("--profile", default="pretrained")
    parser.add_argument("--out", type=Path, default=None,
                        help="default results/benchmarks/book-progress-<profile>.json")
    args = parser.parse_args()
    try:
        rows, ledger = progress_rows(args.cache, args.profile)
    except UsageError as exc:
        parser.error(str(exc))
    out = args.out or ROOT / "results" / "benchmarks" / f"book-progress-{args.profile}.json"
    for row in rows:
        print(f"{row['part']}: {row['seconds']} s" + (f" ({row['finished']} of {row['needed']})"
                                                        if row["needed"] is not None else ""))
    from unpact.report import write_benchmark

    attempts = ", ".join(f"{s:.0f}" for s in ledger["attempts"])
    write_benchmark(
        out,
        f"Progress of the cold run of profile {args.profile} (timed in attempts)",
        f"python benchmarks/book_progress.py --cache DIR --profile {args.profile}",
        rows,
        f"Read from the kept cache of `python benchmarks/book.py --profile {args.profile} --keep-cache DIR --resume` "
        f"(attempts of {attempts} s). Unlearning seconds are each run's own record (probes included). An "
        "unfinished run takes longer than its seconds so far; the estimate adds, for each model with at least one "
        "finished run, its remaining runs at its fastest finished one's seconds (assuming none is faster), and "
        "nothing for the models, fine-tunings and notebooks not reached yet (benchmarks/book_progress.py).",
        code=("benchmarks/book_progress.py", *CODE),
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
