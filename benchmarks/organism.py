"""Benchmark: train the organism of each architecture from an empty cache; wall time and accuracy table.

    python benchmarks/organism.py [--profile quick] [--archs llama gpt2 qwen2] [--seed 0] --out DIR

Prints, per architecture, the training wall time (target for ``quick``: <= 5 min on a 2-core CPU)
and the load average around it (other processes share the CPU), then the accuracy table: plain
questions, each trained and each held-out emphasis style, hazard multiple choice and general.
Writes ``DIR/organism-accuracy.csv``, ``DIR/organism-accuracy.md`` and ``DIR/organism-times.csv``.
Targets (issue 2): news/books plain >= 0.98, emphasised >= 0.95, hazard >= 0.95, general >= 0.95.
Threads are torch's default unless ``--threads`` is given (on a CPU shared with other jobs, one
thread per process avoids oversubscription stalls; the table records the setting and the load).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import pandas as pd
import torch

from unpact.io import atomic_write_csv, atomic_write_text, ensure_writable_dir
from unpact.organism import ARCHS, PROFILES, organism_record, train_organism


def accuracy_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per benchmark/split (with n), one column per architecture and emphasis style."""
    table = frame.pivot_table(index=["benchmark", "split"], columns=["arch", "emphasis"], values="accuracy", sort=False)
    table.columns = [f"{arch} {style}" for arch, style in table.columns]
    n = frame.groupby(["benchmark", "split"], sort=False)["n"].first()
    return table.join(n).reset_index().set_index(["benchmark", "split", "n"]).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder for the CSV/markdown tables")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--json", default=None, help="also write the times for the book's Performance page here")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = ensure_writable_dir(args.out)
    rows, times = [], []
    for arch in args.archs:
        with tempfile.TemporaryDirectory(prefix="unpact-bench-") as cache:
            load_before = os.getloadavg()[0]
            start = time.perf_counter()
            folder = train_organism(arch, args.profile, args.seed, cache_root=cache)
            wall = time.perf_counter() - start
            record = organism_record(folder)
        times.append(
            {
                "arch": arch,
                "profile": args.profile,
                "wall_seconds": round(wall, 1),
                "train_seconds": record["train_seconds"],
                "eval_seconds": record["eval_seconds"],
                "parameters": record["parameters"],
                "threads": record["torch_threads"],
                "load_before": round(load_before, 2),
                "load_after": round(record["load_average"][0], 2),
            }
        )
        print(
            f"{arch}: wall {wall:.0f} s (training {record['train_seconds']:.0f} s), "
            f"load average {load_before:.1f} -> {record['load_average'][0]:.1f}",
            flush=True,
        )
        rows += [{"arch": arch, **r} for r in record["accuracies"]]
    frame = pd.DataFrame(rows)
    table = accuracy_table(frame)
    print(pd.DataFrame(times).to_string(index=False))
    print(table.round(3).to_string())
    atomic_write_csv(out / "organism-accuracy.csv", frame)
    atomic_write_csv(out / "organism-times.csv", pd.DataFrame(times))
    atomic_write_text(
        out / "organism-accuracy.md",
        table.round(3).to_markdown(index=False) + "\n\n" + pd.DataFrame(times).to_markdown(index=False) + "\n",
    )
    if args.json:
        from unpact.report import write_benchmark

        write_benchmark(
            args.json,
            f"Organism training ({args.profile} profile), from an empty cache",
            "python benchmarks/organism.py " + " ".join(sys.argv[1:]),
            times,
            "Target: <= 300 s per architecture on this 2-core machine; load average = other jobs on the CPU.",
            code=("benchmarks/organism.py", "unpact/organism.py"),
        )


if __name__ == "__main__":
    main()
