"""`unpact eval`: accuracy of a model on one QA split, with n and a 95% Wilson interval.

    unpact eval --model DIR|NAME --benchmark news --split forget [--emphasis STYLE] [--json]
    unpact eval --model DIR|NAME --data FILE.jsonl [--prompt-format auto|chat|plain] [--judge J] [--json]
    unpact eval --model smollm2-135m --benchmark facts --split forget --json

Short-answer items: the greedy answer in the model's prompt format (``auto``: its chat template
when it has one), judged by ``--judge`` (default: exact match after a plain prompt, ``contains``
after a chat prompt); exact match, ``contains`` and ROUGE-L recall are reported side by side.
Multiple-choice items: the option with the highest mean token log-probability (WMDP convention).
``--emphasis`` shows every question emphasised in that style with the item's gold ``keywords``
(items without keywords are left unchanged). ``--benchmark facts`` on a base model builds the
facts benchmark for it first (``unpact.data.facts``: eligibility = the candidates it answers
correctly) and reports how many candidates were dropped. Higher accuracy = more of the item's
knowledge is present.
"""
from __future__ import annotations

import argparse
import json

from unpact.emphasis import EMPHASIS_STYLES
from unpact.errors import UsageError
from unpact.metrics import JUDGES
from unpact.prompts import PROMPT_FORMATS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="accuracy of a model on a QA split (n, 95%% CI)")
    parser.add_argument("--model", required=True, help="Hugging Face model folder, hub id or a name of `unpact models`")
    parser.add_argument("--benchmark", default=None, help="benchmark carried by the model folder (unpact-data/)")
    parser.add_argument("--split", default=None, help="split of --benchmark (e.g. forget, retain, test)")
    parser.add_argument("--data", default=None, help="your own QA JSONL file instead of --benchmark/--split")
    parser.add_argument("--emphasis", default=None, help=f"emphasis style: {', '.join(EMPHASIS_STYLES)}")
    parser.add_argument("--prompt-format", default="auto", choices=PROMPT_FORMATS,
                        help="auto (default: chat template when the tokenizer has one), chat or plain")
    parser.add_argument("--judge", default=None, choices=sorted(JUDGES),
                        help="correctness judge (default: exact after a plain prompt, contains after a chat prompt)")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="greedy answer length (default: 8 plain, 24 chat)")
    parser.add_argument("--batch-size", type=int, default=64, help="items per forward pass (default 64)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from unpact.data.benchmarks import benchmark_items
    from unpact.data.facts import FACTS, build_facts
    from unpact.data.schema import load_items
    from unpact.emphasis import check_style, emphasize
    from unpact.evaluate import accuracy_summary, default_judge, evaluate_items
    from unpact.modeling import load_model_and_tokenizer
    from unpact.pretrained import resolve_model

    model_path = resolve_model(args.model)
    if args.emphasis is not None:
        check_style(args.emphasis)
    if args.data is not None:
        if args.benchmark is not None or args.split is not None:
            raise UsageError("give either --data FILE.jsonl or --benchmark/--split, not both")
        items = load_items(args.data)
    elif args.benchmark is None or args.split is None:
        raise UsageError("give --benchmark and --split (QA sets carried by the model folder) or --data FILE.jsonl")
    else:
        if args.benchmark == FACTS:
            eligibility = build_facts(model_path, batch_size=args.batch_size, device=args.device)
        items = benchmark_items(model_path, args.benchmark, args.split)
    questions = None
    if args.emphasis is not None:
        questions = [emphasize(it.question, it.keywords or [], args.emphasis) for it in items]
    model, tokenizer = load_model_and_tokenizer(model_path, device=args.device)
    frame = evaluate_items(model, tokenizer, items, questions=questions, batch_size=args.batch_size,
                           judge=args.judge, max_new_tokens=args.max_new_tokens, prompt_format=args.prompt_format)
    summary = accuracy_summary(frame)
    fmt = str(frame["prompt_format"].iloc[0])
    result = {**summary, "model": str(args.model), "benchmark": args.benchmark, "split": args.split,
              "data": args.data, "emphasis": args.emphasis or "plain",
              "prompt_format": fmt, "judge": args.judge or default_judge(fmt),
              "exact": float(frame["exact"].mean()), "contains": float(frame["contains"].mean()),
              "rouge_l_recall": float(frame["rouge_l_recall"].mean())}
    if args.benchmark == FACTS and args.data is None:
        counts = eligibility["counts"]["retain" if args.split == "retain_train" else args.split]
        result.update(candidates=counts["candidates"], dropped=counts["dropped"])
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        what = args.data or f"{args.benchmark}/{args.split}"
        print(f"{what} ({result['emphasis']}, {result['prompt_format']} prompt, judge {result['judge']}): "
              f"accuracy {summary['accuracy']:.3f} (n={summary['n']}, 95% CI {summary['ci_low']:.3f}-"
              f"{summary['ci_high']:.3f}); exact {result['exact']:.3f}, contains {result['contains']:.3f}, "
              f"ROUGE-L recall {result['rouge_l_recall']:.3f}; higher is better")
        if "candidates" in result:
            print(f"facts {args.split}: {summary['n']} items kept of {result['candidates']} candidates "
                  f"({result['dropped']} dropped: the base model did not answer them correctly)")
    return 0

