"""`unpact organism`: train (or fetch from the cache) the model organism and print its evaluation.

    unpact organism --arch llama [--seed 0] [--profile quick] [--out DIR] [--cache DIR]
    unpact organism --init NAME_OR_FOLDER [--profile init] [--epochs N] [--steps N] [--lr LR] ...

Without ``--init`` a small model is trained from scratch on the synthetic world
(``unpact.organism``); with ``--init`` a pretrained model (a name of ``unpact models`` or a local
folder) is fine-tuned on it (``unpact.finetuned``). Either lives in the content-addressed cache
(``--cache``, else ``$UNPACT_CACHE``, else ``~/.cache/unpact``); ``--out`` receives a copy (a plain
Hugging Face folder). The last line printed is the model folder.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from unpact.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    from unpact.finetuned import DEFAULT_INIT_PROFILE, INIT_PROFILES
    from unpact.organism import ARCHS, PROFILES

    parser = subparsers.add_parser("organism", help="train the model organism (cached) and print its accuracy table")
    parser.add_argument("--arch", default=None, help=f"one of: {', '.join(ARCHS)} (default llama; not with --init)")
    parser.add_argument(
        "--init",
        default=None,
        metavar="NAME_OR_FOLDER",
        help="fine-tune this pretrained model (a name of `unpact models` or a local folder) on the "
        "synthetic world instead of training from scratch",
    )
    parser.add_argument("--seed", type=int, default=0, help="world and training seed (default 0)")
    parser.add_argument(
        "--profile",
        default=None,
        help=f"one of: {', '.join(PROFILES)} (default quick); with --init one of: "
        f"{', '.join(INIT_PROFILES)} (default {DEFAULT_INIT_PROFILE})",
    )
    parser.add_argument("--epochs", type=int, default=None, help="passes over the corpus (default: the profile's)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the profile's)")
    parser.add_argument("--steps", type=int, default=None, help="with --init: stop after this many optimiser steps")
    parser.add_argument("--out", default=None, help="copy the organism folder here (replaced if it exists)")
    parser.add_argument("--cache", default=None, help="cache folder (default $UNPACT_CACHE or ~/.cache/unpact)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from unpact.cache import cache_root
    from unpact.errors import check_choice
    from unpact.finetuned import DEFAULT_INIT_PROFILE, INIT_PROFILES, finetune_organism, resolve_init_model
    from unpact.io import atomic_directory, ensure_writable_dir
    from unpact.organism import ARCHS, PROFILES, organism_record, train_organism

    overrides = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr)) if v is not None}
    if args.init is not None:
        if args.arch is not None:
            raise UsageError("--arch is for an organism trained from scratch; with --init the init model's is used")
        profile = args.profile or DEFAULT_INIT_PROFILE
        check_choice("profile for --init", profile, INIT_PROFILES)
        resolve_init_model(args.init)
        if args.steps is not None:
            overrides["max_steps"] = args.steps
    else:
        if args.steps is not None:
            raise UsageError("--steps is for fine-tuning with --init; an organism trains for --epochs")
        profile = args.profile or "quick"
        check_choice("architecture", args.arch or "llama", ARCHS)
        check_choice("profile", profile, PROFILES)
    _check_can_write(cache_root(args.cache), "cache folder")
    if args.out is not None:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {str(out)!r} exists and is not a folder")
        _check_can_write(ensure_writable_dir(out.parent, what="output folder"), "output folder")
    if args.init is not None:
        folder = finetune_organism(args.init, profile, args.seed, cache_root=args.cache, **overrides)
    else:
        folder = train_organism(args.arch or "llama", profile, args.seed, cache_root=args.cache, **overrides)
    record = organism_record(folder)
    if args.out is not None:
        with atomic_directory(args.out) as tmp:
            shutil.copytree(folder, tmp, dirs_exist_ok=True)
        folder = Path(args.out)
    table = pd.DataFrame(record["accuracies"])
    table = table.pivot_table(index=["benchmark", "split"], columns="emphasis", values="accuracy", sort=False)
    n = pd.DataFrame(record["accuracies"]).groupby(["benchmark", "split"], sort=False)["n"].first()
    table.insert(0, "n", n)
    if args.init is not None:
        before = pd.DataFrame(record["accuracies_before"]).set_index(["benchmark", "split"])["accuracy"]
        table.insert(1, "before", before)
        print(
            f"fine-tuned {record['arch']} from {record['init']['folder']}, profile {profile}, seed {args.seed}, "
            f"{record['parameters']} parameters, {record['optimizer_steps']} steps in {record['train_seconds']:.0f} s; "
            f"prompt format {record['prompt_format']}"
        )
        print(
            "accuracy before (plain) and after fine-tuning (greedy answer judged by the format's judge; "
            "hazard: multiple choice), higher is better:"
        )
    else:
        print(
            f"arch {record['arch']}, profile {profile}, seed {args.seed}, {record['parameters']} parameters, "
            f"trained in {record['train_seconds']:.0f} s"
        )
        print("accuracy (greedy exact match; hazard: multiple choice), higher is better:")
    print(table.round(3).to_string())
    if args.init is not None:
        _print_facts(record["facts"])
    print(folder)
    return 0


def _print_facts(facts: dict[str, Any]) -> None:
    """The base model's real-world facts: kept by eligibility (accuracy 1 before) and answered after fine-tuning."""
    if facts.get("accuracies") is None:
        print(facts.get("note", "facts benchmark not built"))
        return
    table = pd.DataFrame(facts["accuracies"]).set_index("split")[["n", "base_rate", "accuracy_before", "accuracy"]]
    print("facts (real-world facts the base model answered; before = 1 by eligibility), higher is better:")
    print(table.round(3).to_string())


def _check_can_write(folder: Path, what: str) -> None:
    """Create and remove a temporary folder in ``folder`` (permission bits do not bind root), before any training."""
    try:
        shutil.rmtree(tempfile.mkdtemp(dir=folder, prefix=".unpact-probe-"))
    except OSError as exc:
        raise UsageError(f"cannot write to {what} {str(folder)!r}: {exc.strerror or exc}") from exc
