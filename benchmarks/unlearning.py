"""Run every unlearning method with its defaults on one base model and benchmark; print a table.

    python benchmarks/unlearning.py --model DIR [--benchmark news] [--methods ga npo ...] [--out FILE.csv]

For each method: wall seconds, steps taken, stop reason, and final forget / retain / general
accuracy (greedy exact match; multiple choice by option likelihood). Higher forget accuracy =
less forgotten; higher retain/general accuracy = more utility kept. The issue's target per
method on the default organism: <= 60 s on 2 cores, forget accuracy from >= 0.98 to <= 0.20
(hazard: within 0.10 of chance). Each run trains afresh (no cache) so the seconds are real.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unpact.data.benchmarks import available_benchmarks, benchmark_items  # noqa: E402
from unpact.errors import UsageError  # noqa: E402
from unpact.evaluate import accuracy_summary, evaluate_items  # noqa: E402
from unpact.io import atomic_write_csv  # noqa: E402
from unpact.modeling import load_model_and_tokenizer  # noqa: E402
from unpact.unlearn import METHODS, Budget, TrainingDiverged, unlearn  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="base model folder carrying its QA sets (unpact-data/)")
    source.add_argument("--organism", choices=("llama", "gpt2", "qwen2"),
                        help="the quick organism of this architecture")
    parser.add_argument("--benchmark", default="news")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--steps", type=int, default=None, help="override every method's budget")
    parser.add_argument("--stop-at", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", default=None, help="CSV file for the table")
    parser.add_argument("--json", default=None, help="also write the table for the book's Performance page here")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.organism:
        from unpact.organism import train_organism

        args.model = str(train_organism(args.organism, "quick"))
    forget = benchmark_items(args.model, args.benchmark, "forget")
    retain = benchmark_items(args.model, args.benchmark, "retain")
    general = benchmark_items(args.model, "general", "test") if "general" in available_benchmarks(args.model) else []
    model, tok = load_model_and_tokenizer(args.model, device="cpu")
    base = {"forget": accuracy_summary(evaluate_items(model, tok, forget))["accuracy"],
            "retain": accuracy_summary(evaluate_items(model, tok, retain))["accuracy"],
            "general": accuracy_summary(evaluate_items(model, tok, general))["accuracy"] if general else float("nan")}
    print(f"base model: forget {base['forget']:.3f}  retain {base['retain']:.3f}  general {base['general']:.3f}")
    rows = []
    for name in args.methods:
        model, tok = load_model_and_tokenizer(args.model, device="cpu")
        budget = Budget(steps=args.steps) if args.steps else None
        started = time.perf_counter()
        try:
            res = unlearn(model, tok, forget, retain, name, None, budget, args.stop_at, args.seed,
                          general_items=general, progress=False)
        except (UsageError, TrainingDiverged) as exc:
            rows.append({"method": name, "error": str(exc)})
            print(f"{name}: {exc}")
            continue
        m = res.record["metrics"]
        rows.append({"benchmark": args.benchmark, "method": name, "seconds": round(time.perf_counter() - started, 1),
                     "steps": res.record["steps"], "stop_reason": res.record["stop_reason"],
                     "forget_accuracy": m["forget_accuracy"], "retain_accuracy": m["retain_accuracy"],
                     "general_accuracy": m.get("general_accuracy", float("nan"))})
        print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1, float_format="%.3f"), flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False, float_format="%.3f"))
    if args.out:
        atomic_write_csv(args.out, table)
    if args.json:
        from unpact.report import write_benchmark

        model_name = f"the quick {args.organism} organism" if args.organism else Path(args.model).name
        write_benchmark(args.json, f"Unlearning: every method with its defaults, {model_name}, {args.benchmark}",
                        "python benchmarks/unlearning.py " + " ".join(sys.argv[1:]), table.to_dict("records"),
                        f"Target: <= 60 s per method on this 2-core machine. Base model: forget {base['forget']:.2f}, "
                        f"retain {base['retain']:.2f}, general {base['general']:.2f}.",
                        code=("benchmarks/unlearning.py", "unpact/unlearn"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
