"""`unpact eval`: accuracy of a model on one QA split, with n and a 95% Wilson interval.

    unpact eval --model DIR --benchmark news --split forget [--emphasis STYLE] [--json]
    unpact eval --model DIR --data FILE.jsonl [--emphasis STYLE] [--json]

Short-answer items: greedy exact match; multiple-choice items: the option with the highest
mean token log-probability (WMDP convention). ``--emphasis`` shows every question emphasised in
that style with the item's gold ``keywords`` (items without keywords are left unchanged).
Higher accuracy = more of the item's knowledge is present.
"""
from __future__ import annotations

import argparse
import json

from unpact.emphasis import EMPHASIS_STYLES
from unpact.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="accuracy of a model on a QA split (n, 95%% CI)")
    parser.add_argument("--model", required=True, help="Hugging Face model folder (or hub id)")
    parser.add_argument("--benchmark", default=None, help="benchmark carried by the model folder (unpact-data/)")
    parser.add_argument("--split", default=None, help="split of --benchmark (e.g. forget, retain, test)")
    parser.add_argument("--data", default=None, help="your own QA JSONL file instead of --benchmark/--split")
    parser.add_argument("--emphasis", default=None, help=f"emphasis style: {', '.join(EMPHASIS_STYLES)}")
    parser.add_argument("--batch-size", type=int, default=64, help="items per forward pass (default 64)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from unpact.data.benchmarks import benchmark_items
    from unpact.data.schema import load_items
    from unpact.emphasis import check_style, emphasize
    from unpact.evaluate import accuracy_summary, evaluate_items
    from unpact.modeling import load_model_and_tokenizer

    if args.emphasis is not None:
        check_style(args.emphasis)
    if args.data is not None:
        if args.benchmark is not None or args.split is not None:
            raise UsageError("give either --data FILE.jsonl or --benchmark/--split, not both")
        items = load_items(args.data)
    elif args.benchmark is None or args.split is None:
        raise UsageError("give --benchmark and --split (QA sets carried by the model folder) or --data FILE.jsonl")
    else:
        items = benchmark_items(args.model, args.benchmark, args.split)
    questions = None
    if args.emphasis is not None:
        questions = [emphasize(it.question, it.keywords or [], args.emphasis) for it in items]
    model, tokenizer = load_model_and_tokenizer(args.model, device=args.device)
    frame = evaluate_items(model, tokenizer, items, questions=questions, batch_size=args.batch_size)
    summary = accuracy_summary(frame)
    result = {**summary, "model": str(args.model), "benchmark": args.benchmark, "split": args.split,
              "data": args.data, "emphasis": args.emphasis or "plain"}
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        what = args.data or f"{args.benchmark}/{args.split}"
        print(f"{what} ({result['emphasis']}): accuracy {summary['accuracy']:.3f} "
              f"(n={summary['n']}, 95% CI {summary['ci_low']:.3f}-{summary['ci_high']:.3f}); higher is better")
    return 0
