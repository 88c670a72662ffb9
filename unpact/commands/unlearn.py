"""`unpact unlearn`: run one unlearning method on a model folder and write a plain Hugging Face folder.

    unpact unlearn --model DIR --benchmark NAME --method NAME [--set key=value ...]
                   [--steps N | --epochs N] [--stop-at T] [--seed N] [--out DIR]
    unpact unlearn --list
"""
from __future__ import annotations

import argparse
import sys

from unpact.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "unlearn", help="unlearn a benchmark's forget set from a model (ten methods; --list shows them)",
        description="Unlearn the forget split of a benchmark from a model folder; writes a plain HF folder "
        "with unlearning.json (record) and unlearning-log.csv (per-step log). Same configuration twice: cached.",
    )
    parser.add_argument("--list", action="store_true",
                        help="list the methods with their parameters, types, defaults and formulas")
    parser.add_argument("--model", help="base model folder (carries unpact-data/ QA sets, or use --forget/--retain)")
    parser.add_argument("--benchmark", help="benchmark whose forget split is unlearned (e.g. news, books, hazard)")
    parser.add_argument("--method", default="npo", help="unlearning method (default: npo)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="override a method parameter (repeatable), e.g. --set lr=1e-4 --set lora_r=8")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="optimizer steps (default: the method's budget)")
    budget.add_argument("--epochs", type=float, help="epochs over the forget set")
    parser.add_argument("--stop-at", type=float, default=None,
                        help="stop once forget accuracy <= T (checked every eval_every steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--forget", help="your own forget QA JSONL (instead of the model's benchmark data)")
    parser.add_argument("--retain", help="your own retain QA JSONL")
    parser.add_argument("--forget-texts",
                        help="plain forget texts, JSONL rows {\"text\": ...} (e.g. MUSE's verbatim corpus), "
                        "trained on with the forget QA")
    parser.add_argument("--device", default=None, help="auto (default), cpu or cuda")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision (GPU)")
    parser.add_argument("--out", help="output folder (default: the unpact cache)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from unpact.unlearn import Budget, TrainingDiverged, get_method, parse_assignments, unlearn_to_dir
    from unpact.unlearn.artifact import read_record

    if args.list:
        print(methods_table())
        return 0
    if not args.model:
        raise UsageError("--model DIR is required (or --list)")
    if not args.benchmark and not (args.forget and args.retain):
        raise UsageError("--benchmark NAME is required (or both --forget FILE and --retain FILE)")
    cls = get_method(args.method)
    params = parse_assignments(cls.Params, args.assignments, args.method)
    budget = None
    if args.steps is not None:
        budget = Budget(steps=args.steps)
    elif args.epochs is not None:
        budget = Budget(epochs=args.epochs)
    try:
        folder = unlearn_to_dir(
            args.model, args.benchmark or "custom", args.method, params, budget, args.stop_at, args.seed,
            out=args.out, forget_file=args.forget, retain_file=args.retain, forget_texts_file=args.forget_texts,
            device=args.device, bf16=args.bf16,
        )
    except TrainingDiverged as exc:
        print(f"unpact unlearn: error: {exc}", file=sys.stderr)
        return 1
    record = read_record(folder)
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in record["metrics"].items())
    print(f"{folder}\n{args.method}: {record['steps']} steps (stop: {record['stop_reason']}), {metrics}, "
          f"{record['duration_s']:.1f} s")
    return 0


def methods_table() -> str:
    """Every method: its formula summary, default budget and parameters (type, default, why)."""
    from unpact.unlearn import METHODS, CommonParams, param_fields, type_name

    def line(name: str, hint: object, default: object, why: str) -> str:
        shown = list(default) if isinstance(default, tuple) else default
        return f"    {name} ({type_name(hint)}) = {shown!r}: {why}"

    common = {name: default for name, _, default, _ in param_fields(CommonParams)}
    lines = ["common parameters (every method; a method may change a default, shown under it):"]
    lines += [line(*f) for f in param_fields(CommonParams)]
    for name, cls in METHODS.items():
        lines.append(f"{name}: {cls.summary}   [default budget: {cls.default_budget.to_dict()}]")
        lines += [line(*f) for f in param_fields(cls.Params) if f[0] not in common or common[f[0]] != f[2]]
    return "\n".join(lines)
