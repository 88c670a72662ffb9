"""Findings 1 and 3 along unlearning depth on a pretrained model: the base KeyTokens at every check of a run.

    python benchmarks/depth_focus.py [--model smollm2-135m] [--methods npo_gdr npo ga rmu] [--max-items 40]
                                     [--target base_answer|gold] [--split forget|retain|general] [--json FILE]

Reads the ``quick`` book's SmolLM2 runs on ``facts`` (same data, rate, schedule and seed: ``Study.trajectory_dir``,
whose probe attributes every item at step 0, at steps 1, 2, 4, 8, ... and every ``attribute_every`` steps
besides scoring the forget questions: ``unpact.unlearn.probes.attributed_step``; with
``UNPACT_CACHE`` the cache of ``python benchmarks/book.py --keep-cache DIR`` it trains nothing) and prints, per
method and attributed step, forget and held-out general accuracy with finding 1's decomposed measures of the
``--split`` questions' base KeyTokens (``unpact.findings.focus_depth.focus_curves``): the shares kept, shrunk and
flipped, the Spearman correlation and top-k overlap of each question's word ranking, and the mean contribution
change of the KeyTokens and of the other words, with CIs resampling questions. Notebooks 01 and 03 draw the
same curves for every method of the book; this script writes one model's table for the Performance page.

``--target gold`` attributes the gold answer (the paper's y) instead of the base model's answer sentence
(runs of their own: the target is part of the probe). ``--split retain`` or ``general`` reads questions the
method should leave alone (finding 3). A diagnostic, not part of any verdict rule.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unpact.findings.focus_depth import MEASURES, focus_curves  # noqa: E402
from unpact.report import write_benchmark  # noqa: E402
from unpact.study import ATTRIBUTION_TARGETS, notebook_studies  # noqa: E402

CODE = ("benchmarks/depth_focus.py", "unpact/study.py", "unpact/findings", "unpact/attribution", "unpact/unlearn",
        "unpact/data/facts.py", "unpact/scoring.py", "unpact/prompts.py", "unpact/stats.py")
SPLITS = ("forget", "retain", "general")


def page_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table's rows for the Performance page: each measure rounded, its CI as one "[low, high]" cell."""
    rows = []
    for record in table.to_dict("records"):
        row = {k: record[k] for k in ("method", "step", "forget_accuracy", "utility", "n_forgotten", "n_questions")}
        for measure in MEASURES:
            if measure in record:
                row[measure] = round(float(record[measure]), 3)
                row[f"{measure}_ci"] = f"[{record[f'{measure}_ci_low']:.2f}, {record[f'{measure}_ci_high']:.2f}]"
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="a name of `unpact models` or a model folder")
    parser.add_argument("--methods", nargs="+", default=["npo_gdr", "npo"], help="unlearning methods")
    parser.add_argument("--max-items", type=int, default=40, help="items a split, as in the quick profile")
    parser.add_argument("--target", default="base_answer", choices=ATTRIBUTION_TARGETS,
                        help="attributed answer: the base model's answer sentence (the study's) or the gold answer")
    parser.add_argument("--split", default="forget", choices=SPLITS,
                        help="attributed questions read: forget (finding 1), or retain / general (finding 3)")
    parser.add_argument("--json", default=None, help="also write the table for the book's Performance page here")
    args = parser.parse_args(argv)
    params = {"profile": "quick", "archs": [], "seeds": [0], "methods": args.methods,
              "pretrained_models": [args.model], "pretrained_methods": args.methods,
              "pretrained_styles": ["instruction"], "pretrained_max_items": args.max_items}
    study = notebook_studies(params, probe_style="instruction", attribution_target=args.target)[0]
    table = focus_curves(study.focus_trajectories(), study.trajectories(), args.split)
    shown = ["method", "step", "forget_accuracy", "utility", "n_forgotten", "n_questions",
             *[m for m in MEASURES if m in table]]
    print(table[shown].to_string(index=False, float_format="%.3f"))
    if args.json:
        finding = 1 if args.split == "forget" else 3  # questions to leave alone: is the penalty indiscriminate?
        write_benchmark(
            args.json, f"Finding {finding} along unlearning depth: the base KeyTokens at every attributed check "
            f"({args.model}, facts, target {args.target}, {args.split} questions)",
            "python benchmarks/depth_focus.py " + " ".join(sys.argv[1:]),
            page_rows(table),
            "Per method and attributed step: forget accuracy and held-out general accuracy (utility) of the probe, "
            f"and finding 1's measures over the {args.split} questions' base KeyTokens with c_before > 0 "
            "(kept: c_after >= 0.5 c_before; shrunk: 0 <= c_after < 0.5 c_before; flipped: c_after < 0) and "
            "each question's word ranking against the base model's (Spearman, top-k overlap); key_change and "
            "nonkey_change: mean c_after - c_before in nats of the KeyTokens and of the other words. "
            "95% CIs resample questions. "
            f"Target {args.target}: " + ("the base model's answer sentence where it holds the gold value (the "
            "study's attribution target; the sentence repeats the question's entity, so part of a KeyToken's "
            "contribution is copying it). " if args.target == "base_answer" else "the gold answer (the "
            "paper's y), which SmolLM2 does not say first. ") +
            f"Step 0 is the base model (kept = 1, Spearman = 1 by construction). A diagnostic read beside "
            f"notebook 0{finding}, not part of any verdict rule.",
            code=CODE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
