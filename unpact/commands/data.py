"""`unpact data`: write one benchmark split (or a domain's training corpus) as JSONL.

    unpact data --benchmark news --split forget [--seed N] [--profile quick] --out news-forget.jsonl
    unpact data --benchmark muse-news --split forget --source PATH_OR_HUB_ID --out muse-news-forget.jsonl

QA splits follow the schema of ``unpact.data.schema`` (id, question, answer, keywords, ...);
``--split corpus`` writes the domain's training examples (context, target, form). The world is
the one the organism of the same ``--profile`` and ``--seed`` is trained on.
"""
from __future__ import annotations

import argparse

from unpact.data.real import REAL_BENCHMARKS, export_real
from unpact.data.schema import save_items
from unpact.data.synthetic import DOMAINS, SPLITS, build_world
from unpact.errors import UsageError, check_choice
from unpact.io import atomic_write_jsonl

SYNTHETIC_SPLITS = sorted({s for splits in SPLITS.values() for s in splits} | {"corpus"})


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="write a synthetic benchmark split or training corpus as JSONL")
    parser.add_argument("--benchmark", required=True,
                        help=f"synthetic: {', '.join(DOMAINS)}; real: {', '.join(sorted(REAL_BENCHMARKS))}")
    parser.add_argument("--split", required=True, help=f"one of: {', '.join(SYNTHETIC_SPLITS)} (per benchmark)")
    parser.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    parser.add_argument("--profile", default="quick", help="organism profile whose world to write (micro, quick, full)")
    parser.add_argument("--source", default=None,
                        help="real benchmarks: local file/folder or hub id (default: its hub id, needs unpact[hub])")
    parser.add_argument("--out", required=True, help="output JSONL file")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.benchmark in REAL_BENCHMARKS:
        n = export_real(args.benchmark, args.split, args.source, args.out)
        print(f"wrote {n} rows to {args.out}")
        return 0
    if args.source is not None:
        raise UsageError("--source applies to real benchmarks only (" + ", ".join(sorted(REAL_BENCHMARKS)) + ")")
    from unpact.organism import resolve_configs

    check_choice("benchmark", args.benchmark, (*DOMAINS, *REAL_BENCHMARKS))
    check_choice(f"split of {args.benchmark}", args.split, (*SPLITS[args.benchmark], "corpus"))
    world_cfg, _ = resolve_configs(args.profile, args.seed)
    world = build_world(world_cfg)
    if args.split == "corpus":
        rows = world.corpus(args.benchmark)
        atomic_write_jsonl(args.out, rows)
        n = len(rows)
    else:
        items = world.items(args.benchmark, args.split)
        save_items(args.out, items)
        n = len(items)
    print(f"wrote {n} rows to {args.out}")
    return 0
