"""The GPU check's stage table as a Performance-page result: what ``benchmarks/gpu_check.sh`` measured.

    python benchmarks/gpu_card.py OUT_DIR [OUT_DIR ...] --json results/benchmarks/gpu-check-h200.json

Each ``OUT_DIR`` is a folder ``benchmarks/gpu_check.sh`` wrote (``stages.tsv``, ``gpu.txt``, each stage's
log and the attribution tables). Given several runs on the same device, a stage's row comes from the
last run that ran it (not ``skipped``), and the row says which run that was: a stage that failed for a
reason of the machine (a missing package, a blocked download) can be re-run alone with
``SKIP_STAGES`` naming the others. The machine is the one the check's attribution tables recorded (they
are written on the device); the card itself may be assembled elsewhere.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from unpact.io import atomic_write_json
from unpact.report import write_benchmark


def stage_rows(folders: list[Path]) -> list[dict[str, Any]]:
    """One row per stage in first-seen order: ``stage, rc, seconds, peak_gpu_mib, run`` (1-based folder index)."""
    rows: dict[str, dict[str, Any]] = {}
    for run, folder in enumerate(folders, start=1):
        table = folder / "stages.tsv"
        if not table.is_file():
            raise SystemExit(f"{folder}: no stages.tsv (not a folder written by benchmarks/gpu_check.sh)")
        for line in table.read_text(encoding="utf-8").splitlines()[1:]:
            name, rc, seconds, peak = line.split("\t")
            if rc == "skipped" and name in rows:
                continue
            rows[name] = {"stage": name, "rc": rc, "seconds": float(seconds),
                          "peak_gpu_mib": None if peak == "NA" else int(peak), "run": run}
    return list(rows.values())


def device_record(folders: list[Path]) -> tuple[str | None, list[str]]:
    """The machine and measurement times recorded by the check's attribution tables, and each run's ``gpu.txt``."""
    machine, lines = None, []
    for run, folder in enumerate(folders, start=1):
        for path in sorted(folder.glob("attribution*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            machine = machine or data.get("machine")
            when = f"at commit {str(data.get('commit'))[:12]} on {data.get('measured_utc')}"  # short: the page wraps
            lines.append(f"run {run}: {path.name} measured {when}")
        gpu = folder / "gpu.txt"
        if gpu.is_file():
            lines.append(f"run {run}: " + "; ".join(gpu.read_text(encoding="utf-8").split("\n")).strip("; "))
    return machine, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path,
                        help="folders written by benchmarks/gpu_check.sh, in run order")
    parser.add_argument("--json", required=True, type=Path, help="where to write the Performance-page result")
    parser.add_argument("--notes", default="", help="what else a reader should know about these runs")
    args = parser.parse_args()
    rows = stage_rows(args.folders)
    machine, lines = device_record(args.folders)
    for row in rows:
        print(f"{row['stage']:16s} rc {row['rc']:>7s}  {row['seconds']:8.1f} s  "
              f"peak {row['peak_gpu_mib']} MiB  (run {row['run']})")
    legend = ("rc 0 = the stage ran to completion; seconds include loading Python and the model; "
              "peak_gpu_mib = nvidia-smi's memory.used sampled every 200 ms.")
    notes = " ".join([args.notes, legend, *[f"{x}." for x in lines]]).strip()
    command = "python benchmarks/gpu_card.py " + " ".join(str(f) for f in args.folders) + f" --json {args.json}"
    path = write_benchmark(args.json, "GPU check: benchmarks/gpu_check.sh stage by stage", command, rows, notes,
                           code=("benchmarks/gpu_check.sh", "benchmarks/gpu_card.py"))
    if machine:  # the device's own description, not that of the machine assembling the card
        data = json.loads(path.read_text(encoding="utf-8"))
        atomic_write_json(path, {**data, "machine": machine})
    print(path)


if __name__ == "__main__":
    main()
