"""Time `unpact run` from an empty cache, then again with the warm cache (every notebook re-executed: --force).

    python benchmarks/book.py [--profile quick] [--out results/benchmarks/book.json] [--keep-cache DIR [--resume]]

Targets (issue 6, on a 2-core machine): quick profile <= 600 s cold, <= 120 s warm. Prints both
with their ratio and writes the JSON that the book's Performance page shows
(``{"title", "machine", "command", "rows", "notes"}``). The cold run uses a fresh temporary cache
folder, so the user's cache is neither used nor touched; ``--keep-cache DIR`` (new or empty) runs in DIR
and keeps it, so that ``UNPACT_CACHE=DIR python benchmarks/depth.py`` reads the book's own runs.

A profile that takes longer than one sitting (``pretrained``: many hours on 2 CPU cores) is timed in
attempts: ``--keep-cache DIR --resume`` keeps a ledger in DIR (``LEDGER``), written atomically every
``HEARTBEAT_S`` seconds, and when it is run again after an interruption it carries on from the cached
models (``unpact run`` without ``--force``: notebooks already executed for this code are kept). The cold
time is the sum of the attempts' seconds, so the work an interruption cut off is counted twice (an upper
bound); a pause between heartbeats longer than two of them (the machine or the process suspended) counts
as two heartbeats. The ledger records the code's digest: after a code change it refuses to resume (start
again with an empty DIR). Run such a profile in a clone of its own: ``unpact run`` executes the notebooks
into ``book/executed/`` of the checkout, where the book's own ``quick`` notebooks live.

It also writes where the cold run's time went (``book-stages-<profile>.json``), from what the run
itself recorded: organism training and evaluation (the organisms' ``organism.json``), unlearning
(``unlearning.json`` ``duration_s`` of every unlearned model), attribution, emphasis evaluation,
plain evaluation and the relearning probe (the seconds each cached table of ``unpact.study.StudyCache``
took to compute, model loading included), each notebook's execution time (its stamp in
``book/executed/``) and the notebooks' remaining time (statistics, plots, the other probes, kernel
start-up and imports). After the cold run the HTML book is built from its notebooks
(``unpact.book``: generated pages and ``jupyter-book build``) and timed as the "book" stage.
"""

from __future__ import annotations

import argparse
import calendar
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"quick": (600.0, 120.0)}
CODE = ("benchmarks/book.py", "unpact", "notebooks")
LEDGER = "book-benchmark-ledger.json"  # the attempts of a --resume cold run, in its cache folder
HEARTBEAT_S = 30.0


def timed_run(profile: str, cache: Path, force: bool = True) -> float:
    """Seconds for ``unpact run --profile PROFILE [--force] --cache CACHE`` in the repository root (fails loudly)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "unpact.cli", "run", "--profile", profile, *(["--force"] if force else []),
         "--cache", str(cache)],
        cwd=ROOT,
        check=True,
    )
    return time.perf_counter() - start


def _write_ledger(cache: Path, ledger: dict[str, Any]) -> None:
    """Write the ledger into ``cache`` atomically (an interruption leaves the previous one whole)."""
    from unpact.io import atomic_write_json

    atomic_write_json(cache / LEDGER, ledger)


def start_ledger(cache: Path, profile: str, digest: str | None) -> dict[str, Any]:
    """The ledger of a resumable cold run in ``cache``, with a new attempt (0 s) appended; a new ledger when
    there is none. Refuses (``SystemExit`` naming the problem) a ledger of another profile or other code."""
    path = cache / LEDGER
    if path.is_file():
        ledger: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if ledger["profile"] != profile or ledger["digest"] != digest:
            raise SystemExit(f"{path}: a cold run of profile {ledger['profile']!r} with other code "
                             f"(digest {ledger['digest']}) cannot be resumed for profile {profile!r} with this code "
                             f"(digest {digest}); start again with an empty --keep-cache folder")
    else:
        ledger = {"profile": profile, "digest": digest, "started_epoch": time.time(), "attempts": [],
                  "finished": False}
    if not ledger["finished"]:
        ledger["attempts"].append(0.0)
    _write_ledger(cache, ledger)
    return ledger


def resumable_cold_run(profile: str, cache: Path) -> tuple[float, dict[str, Any]]:
    """The cold run's seconds summed over its attempts (module docstring) and its ledger; the run itself only
    when the ledger does not say it finished."""
    from unpact.book.provenance import code_digest

    ledger = start_ledger(cache, profile, code_digest(ROOT, CODE))
    if not ledger["finished"]:
        done = threading.Event()
        last = [time.monotonic()]

        def beat() -> None:
            now = time.monotonic()
            ledger["attempts"][-1] += min(now - last[0], 2 * HEARTBEAT_S)
            last[0] = now
            _write_ledger(cache, ledger)

        def heartbeat() -> None:
            while not done.wait(HEARTBEAT_S):
                beat()

        thread = threading.Thread(target=heartbeat, daemon=True)
        thread.start()
        try:
            timed_run(profile, cache, force=len(ledger["attempts"]) == 1)
        finally:
            done.set()
            thread.join()
            beat()
        ledger["finished"] = True
        _write_ledger(cache, ledger)
    return float(sum(ledger["attempts"])), ledger


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick")
    parser.add_argument(
        "--out", type=Path, default=None, help="default results/benchmarks/book.json (quick) or book-<profile>.json"
    )
    parser.add_argument(
        "--keep-cache", type=Path, default=None,
        help="run in this (new or empty) cache folder and keep it afterwards, e.g. for benchmarks/depth.py "
        "(UNPACT_CACHE=DIR) to read the book's own runs; default: a temporary folder, removed",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="time the cold run in attempts (module docstring): carry on an interrupted one in --keep-cache DIR",
    )
    args = parser.parse_args()
    if args.resume and args.keep_cache is None:
        parser.error("--resume needs --keep-cache DIR (the folder whose ledger it carries on)")
    resuming = args.resume and (args.keep_cache / LEDGER).is_file()
    if args.keep_cache is not None and args.keep_cache.exists() and any(args.keep_cache.iterdir()) and not resuming:
        parser.error(f"--keep-cache {args.keep_cache} is not empty: the cold run must start from an empty cache"
                     + (f" (or hold the {LEDGER} of an interrupted --resume run)" if args.resume else ""))
    if args.out is None:
        name = "book.json" if args.profile == "quick" else f"book-{args.profile}.json"
        args.out = ROOT / "results" / "benchmarks" / name
    sys.path.insert(0, str(ROOT))
    from unpact.report import write_benchmark

    with tempfile.TemporaryDirectory(prefix="unpact-bench-cache-") as tmp:
        cache = args.keep_cache or Path(tmp)
        if args.resume:
            cold, ledger = resumable_cold_run(args.profile, cache)
            started, attempts = float(ledger["started_epoch"]), len(ledger["attempts"])
        else:
            started, attempts = time.time(), 1
            cold = timed_run(args.profile, cache)
        stages = stage_rows(cache, cold, *timed_book_build(args.profile), started=started)
        warm = timed_run(args.profile, cache)
    cold_target, warm_target = TARGETS.get(args.profile, (None, None))
    rows = [
        {"run": "empty cache" + (f" (summed over {attempts} attempts)" if attempts > 1 else ""),
         "seconds": round(cold, 1), "target_seconds": cold_target},
        {"run": "warm cache", "seconds": round(warm, 1), "target_seconds": warm_target},
    ]
    print(
        f"unpact run --profile {args.profile}: empty cache {cold:.1f} s, warm cache {warm:.1f} s "
        f"(warm/cold = {warm / cold:.2f}); targets {cold_target} s / {warm_target} s"
    )
    write_benchmark(
        args.out,
        f"Book pipeline: unpact run --profile {args.profile}",
        f"python benchmarks/book.py --profile {args.profile}",
        rows,
        "All notebooks re-executed (--force) in the warm run and in the cold run's first attempt; the warm run "
        "reuses the organisms and unlearned models cached by the cold run."
        + (f" The cold run was timed in {attempts} attempts (--resume): only the first passed --force, the later "
           "ones carried on from the models and notebooks it had cached; their seconds are summed, so the work "
           "an interruption cut off counts twice (an upper bound)." if attempts > 1 else ""),
        code=CODE,
    )
    print(f"wrote {args.out}")
    stages_out = args.out.with_name(f"book-stages-{args.profile}.json")
    write_benchmark(
        stages_out,
        f"Where the time goes: unpact run --profile {args.profile} from an empty cache",
        f"python benchmarks/book.py --profile {args.profile}",
        stages,
        "From the cold run's own records (module docstring of benchmarks/book.py); the stages run inside the "
        "notebooks, so the notebook rows contain them. What a GPU would change: organism, unlearning and the "
        "relearning probe are training, attribution and the evaluations are batched forward passes (all "
        "GPU work); the notebooks' remainder (statistics, plots, kernel start-up) and the book build stay "
        "on the CPU.",
    )
    print(f"wrote {stages_out}")
    return 0


TABLE_STAGES = {  # every kind of table unpact.study caches
    "attribution": "attribution (leave-one-out maps of the base and every unlearned model)",
    "emphasis": "emphasis evaluation (every style and word source)",
    "evaluation": "evaluation (plain questions, every model)",
    "relearning": "relearning probe",
}


def timed_book_build(profile: str) -> tuple[float, str]:
    """Seconds to generate the pages and build the HTML book from the executed notebooks, and a note."""
    from unpact.book.build import BookBuildFailed, build_book
    from unpact.book.pages import generate_pages
    from unpact.book.profiles import load_profile

    start = time.perf_counter()
    note = ""
    try:
        generate_pages(ROOT, load_profile(profile, ROOT).name)
        build_book(ROOT)
    except BookBuildFailed as exc:
        note = build_problems(str(exc))
    return time.perf_counter() - start, note


def build_problems(log: str) -> str:
    """A one-line note on a failed build: its warnings by kind (a stale result names the benchmark file).

    The build of this benchmark runs before the other benchmarks of a re-measurement are rerun, so
    "stale result" warnings of those files are expected there; any other warning is a real problem."""
    warnings = [re.sub(r"\x1b\[[0-9;]*m", "", line).split("WARNING:", 1)[1].strip()
                for line in log.splitlines() if "WARNING:" in line]
    stale = [w.split(":", 1)[1].split(" is older", 1)[0].strip() for w in warnings if w.startswith("stale result:")]
    other = [w for w in warnings if not w.startswith("stale result:")]
    parts = [f"stale at build time: {', '.join(stale)}"] if stale else []
    parts += [f"{len(other)} other warning(s), the first: {other[0][:200]}"] if other else []
    return "the build failed: " + ("; ".join(parts) if parts else log.strip().splitlines()[0])


def table_seconds(cache: Path) -> dict[str, float]:
    """Seconds the run spent computing ``StudyCache`` tables, per kind (``attribution``, ``emphasis``, ...)."""
    from unpact.cache import DONE_MARKER

    totals: dict[str, float] = {}
    for marker in (cache / "tables").glob(f"*/{DONE_MARKER}"):
        record = json.loads(marker.read_text())
        totals[record["name"]] = totals.get(record["name"], 0.0) + float(record.get("seconds", 0.0))
    return totals


def stage_rows(cache: Path, total: float, book: float, book_note: str, started: float) -> list[dict[str, object]]:
    """The cold run's time per stage (seconds), then each notebook's (those executed since ``started``, the
    epoch second the cold run began)."""
    organism = sum(
        float(r.get("train_seconds", 0)) + float(r.get("eval_seconds", 0))
        for r in (json.loads(f.read_text()) for f in (cache / "organism").rglob("organism.json"))
    )
    unlearning = sum(
        float(json.loads((f.parent / "unlearning.json").read_text()).get("duration_s", 0))
        for f in (cache / "unlearned").glob("*/unpact-artifact.json")
        if "entered_from" not in json.loads(f.read_text())  # the same run entered twice (unpact.unlearn.artifact)
    )
    tables = table_seconds(cache)
    notebooks = {}
    for stamp in sorted((ROOT / "book" / "executed").glob("*.stamp.json")):
        record = json.loads(stamp.read_text())
        if calendar.timegm(time.strptime(record["finished"], "%Y-%m-%dT%H:%M:%SZ")) >= started - 1:
            notebooks[record["notebook"]] = float(record["seconds"])
    rows: list[dict[str, object]] = [
        {"stage": "organism (training and evaluation)", "seconds": round(organism, 1)},
        {"stage": "unlearning (all methods)", "seconds": round(unlearning, 1)},
        *({"stage": label, "seconds": round(tables.get(kind, 0.0), 1)} for kind, label in TABLE_STAGES.items()),
        {"stage": "notebooks' remainder (statistics, plots, other probes, kernel start-up and imports)",
         "seconds": round(sum(notebooks.values()) - organism - unlearning - sum(tables.values()), 1)},
        {"stage": "whole run (wall, unpact run)", "seconds": round(total, 1)},
        {"stage": "book (generated pages and HTML build, after the run)", "seconds": round(book, 1),
         "note": book_note},
    ]
    rows += [{"stage": f"notebook {name}", "seconds": round(sec, 1)} for name, sec in notebooks.items()]
    return [{"stage": r["stage"], "seconds": r["seconds"], "note": r.get("note", "")} for r in rows]


if __name__ == "__main__":
    raise SystemExit(main())
