"""`unpact attribute`: contributions of prompt tokens/words to an answer's log-probability.

One prompt::

    unpact attribute --model DIR --prompt TEXT [--target TEXT] [--granularity word|token]
                     [--method loo|captum|ig|attention] [--template none|qa|chat] [--json]

(without ``--target`` the model's own greedy answer is attributed). A QA file, questions through
the QA template with only the question attributed, one CSV row per (item, unit)::

    unpact attribute --model DIR --data FILE.jsonl [--target gold|greedy] --out FILE.csv
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from unpact.errors import UsageError, check_choice

if TYPE_CHECKING:
    from unpact.attribution import Attributor

TEMPLATES = ("none", "qa", "chat")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "attribute", help="attribute an answer's log-probability to prompt tokens or words (leave-one-out)"
    )
    parser.add_argument("--model", required=True, help="Hugging Face model folder (or hub id already cached)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", help="the prompt text (one prompt)")
    source.add_argument("--data", help="a QA JSONL file (batch mode; needs --out)")
    parser.add_argument("--target", help="one prompt: the answer text (default: the model's greedy answer); "
                        "batch mode: gold or greedy (default gold)")
    parser.add_argument("--out", help="batch mode: the CSV to write")
    parser.add_argument("--granularity", default="word", choices=("word", "token"))
    parser.add_argument("--method", default="loo", choices=("loo", "captum", "ig", "attention"))
    parser.add_argument("--template", default=None, choices=TEMPLATES,
                        help="none (attribute the whole prompt; default for --prompt), qa (default for --data), chat")
    parser.add_argument("--max-batch-tokens", type=int, default=4096, help="memory budget: rows x width per forward pass")
    parser.add_argument("--alpha", type=float, default=0.5, help="KeyToken relative threshold in the CSV (C >= alpha * max C)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of coloured text")
    parser.set_defaults(func=_run)


def _template(name: str | None, default: str) -> str | None:
    from unpact.prompts import QA_TEMPLATE

    name = check_choice("template", name or default, TEMPLATES)
    return {"none": None, "qa": QA_TEMPLATE, "chat": "chat"}[name]


def _run(args: argparse.Namespace) -> int:
    from unpact.attribution import Attributor
    from unpact.modeling import load_model_and_tokenizer

    if args.data is not None and not args.out:
        raise UsageError("--data needs --out FILE.csv")
    if args.data is not None:
        check_choice("--target for --data", args.target or "gold", ("gold", "greedy"))
    model, tokenizer = load_model_and_tokenizer(args.model, dtype=args.dtype, device=args.device)
    attributor = Attributor(model, tokenizer, method=args.method, granularity=args.granularity,
                            max_batch_tokens=args.max_batch_tokens)
    if args.prompt is not None:
        return _one(attributor, args)
    return _batch(attributor, args)


def _one(attributor: Attributor, args: argparse.Namespace) -> int:
    from unpact.attribution.heat import heat_ansi

    targets = [args.target] if args.target is not None else "greedy"
    item = attributor.attribute([args.prompt], targets, template=_template(args.template, "none"))[0]
    if args.json:
        print(json.dumps({"tokens": item.units, "contributions": [float(c) for c in item.contributions],
                          "lp": item.lp, "target": item.target, "method": item.method,
                          "granularity": item.granularity}))
    elif sys.stdout.isatty():
        print(heat_ansi(item))
        print(f"target: {item.target!r}  LP = {item.lp:.4f}  ({item.method}, {item.granularity})")
    else:
        for unit, c in zip(item.units, item.contributions):
            print(f"{c:+.6f}\t{unit}")
        print(f"LP\t{item.lp:.6f}")
    return 0


def _batch(attributor: Attributor, args: argparse.Namespace) -> int:
    from unpact.attribution.keytokens import gold_keyword_mask, key_mask
    from unpact.data.schema import load_items
    from unpact.io import atomic_write_csv
    from unpact.prompts import qa_target

    items = load_items(args.data)
    questions = [it.question for it in items]
    targets = "greedy" if args.target == "greedy" else [qa_target(it.answer) for it in items]
    result = attributor.attribute(questions, targets, template=_template(args.template, "qa"))
    frame = result.to_frame()
    key, gold = [], []
    for it, pa in zip(items, result.items):
        key.extend(key_mask(pa.contributions, alpha=args.alpha).tolist())
        gold.extend((gold_keyword_mask(pa.units, it.keywords) if it.keywords is not None else [None] * len(pa.units)))
    frame.insert(1, "item_id", [items[p].id for p in frame["prompt_id"]])
    frame["target"] = [result.items[p].target for p in frame["prompt_id"]]
    frame["key"] = key
    frame["gold_keyword"] = [None if g is None else bool(g) for g in gold]
    atomic_write_csv(args.out, frame)
    print(f"wrote {len(frame)} rows for {len(items)} items to {args.out}", file=sys.stderr)
    with_gold = frame[frame["gold_keyword"].notna()]
    if len(with_gold):
        key_b, gold_b = with_gold["key"].astype(bool), with_gold["gold_keyword"].astype(bool)
        hits = int((key_b & gold_b).sum())
        print(f"KeyTokens (C >= {args.alpha} * max C, C > 0) vs gold keywords, pooled over "
              f"{with_gold['prompt_id'].nunique()} items: precision {hits}/{int(key_b.sum())}, "
              f"recall {hits}/{int(gold_b.sum())}", file=sys.stderr)
    return 0
