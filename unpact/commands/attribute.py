"""`unpact attribute`: contributions of prompt tokens/words to an answer's log-probability.

One prompt::

    unpact attribute --model DIR --prompt TEXT [--target TEXT] [--granularity word|token]
                     [--method loo|captum|ig|attention] [--template none|qa|chat] [--json]

(without ``--target`` the model's own greedy answer is attributed). A QA file, questions through
the QA template with only the question attributed, one CSV row per (item, unit)::

    unpact attribute --model DIR --data FILE.jsonl [--target gold|greedy] --out FILE.csv
    unpact attribute --list

The CSV marks KeyTokens with the shared rule (``unpact.attribution.keytokens.KeyRule``: the top 2
units by contribution; ``--top-k``, ``--alpha`` and ``--min-contribution`` change it).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from unpact.attribution.keytokens import KeyRule
from unpact.errors import UsageError, check_choice

if TYPE_CHECKING:
    from unpact.attribution import Attributor

TEMPLATES = ("none", "qa", "chat")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "attribute", help="attribute an answer's log-probability to prompt tokens or words (leave-one-out)"
    )
    parser.add_argument("--model", help="Hugging Face model folder (or hub id already cached)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--list", action="store_true", help="list the attribution methods with their formulas")
    source.add_argument("--prompt", help="the prompt text (one prompt)")
    source.add_argument("--data", help="a QA JSONL file (batch mode; needs --out)")
    parser.add_argument("--target", help="one prompt: the answer text (default: the model's greedy answer); "
                        "batch mode: gold or greedy (default gold)")
    parser.add_argument("--out", help="batch mode: the CSV to write")
    parser.add_argument("--granularity", default="word", choices=("word", "token"))
    parser.add_argument("--method", default="loo", help="attribution method (default: loo; --list shows them)")
    parser.add_argument("--template", default=None, choices=TEMPLATES,
                        help="none (attribute the whole prompt; default for --prompt), qa (default for --data), chat")
    parser.add_argument("--max-batch-tokens", type=int, default=4096,
                        help="memory budget: rows x width per forward pass")
    rule = KeyRule()
    parser.add_argument("--top-k", type=_optional_int, default=rule.top_k,
                        help=f"KeyTokens in the CSV: the top K units by contribution "
                        f"(default {rule.top_k}; none: no limit)")
    parser.add_argument("--alpha", type=float, default=rule.alpha,
                        help="KeyTokens in the CSV: also require C >= alpha * max C (default: no threshold)")
    parser.add_argument("--min-contribution", type=float, default=rule.min_contribution,
                        help="KeyTokens in the CSV: also require C >= this value (default: none)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of coloured text")
    parser.set_defaults(func=_run)


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "null", "") else int(text)


def methods_table() -> str:
    """Every registered attribution method with its formula summary."""
    from unpact.attribution import METHODS

    return "\n".join(f"{name}: {cls.summary}" for name, cls in METHODS.items())


def _template(name: str | None, default: str) -> str | None:
    from unpact.prompts import QA_TEMPLATE

    name = check_choice("template", name or default, TEMPLATES)
    return {"none": None, "qa": QA_TEMPLATE, "chat": "chat"}[name]


def _run(args: argparse.Namespace) -> int:
    from unpact.attribution import Attributor
    from unpact.modeling import load_model_and_tokenizer

    if args.list:
        print(methods_table())
        return 0
    if not args.model:
        raise UsageError("--model DIR is required (or --list)")
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
    from unpact.attribution.keytokens import gold_keyword_mask
    from unpact.data.schema import load_items
    from unpact.io import atomic_write_csv
    from unpact.prompts import qa_target

    items = load_items(args.data)
    questions = [it.question for it in items]
    targets = "greedy" if args.target == "greedy" else [qa_target(it.answer) for it in items]
    result = attributor.attribute(questions, targets, template=_template(args.template, "qa"),
                                  ids=[it.id for it in items])
    frame = result.to_frame()
    rule = KeyRule(top_k=args.top_k, alpha=args.alpha, min_contribution=args.min_contribution)
    key: list[bool] = []
    gold: list[bool | None] = []
    by_id = result.by_id()
    for it in items:
        pa = by_id[it.id]
        key.extend(rule.mask(pa.contributions).tolist())
        gold.extend(gold_keyword_mask(pa.units, it.keywords) if it.keywords is not None else [None] * len(pa.units))
    targets_by_id = {pa.id: pa.target for pa in result.items}
    frame["target"] = frame["item_id"].map(targets_by_id)
    frame["key"] = key
    frame["gold_keyword"] = [None if g is None else bool(g) for g in gold]
    atomic_write_csv(args.out, frame)
    print(f"wrote {len(frame)} rows for {len(items)} items to {args.out}", file=sys.stderr)
    with_gold = frame[frame["gold_keyword"].notna()]
    if len(with_gold):
        key_b, gold_b = with_gold["key"].astype(bool), with_gold["gold_keyword"].astype(bool)
        hits = int((key_b & gold_b).sum())
        print(f"KeyTokens ({rule.describe()}) vs gold keywords, pooled over "
              f"{with_gold['prompt_id'].nunique()} items: precision {hits}/{int(key_b.sum())}, "
              f"recall {hits}/{int(gold_b.sum())}", file=sys.stderr)
    return 0
