"""What a pretrained model answers at an unlearning run's operating point, under each probe condition.

    python benchmarks/answers.py [--model smollm2-135m] [--method npo_gdr] [--max-items 40]
                                 [--phrase "capital of"] [--json FILE]

Finding 2's two measures can disagree: the share of forgotten items whose greedy answer contains the
gold again (binary) and the gold answer's teacher-forced log-probability (continuous). Reading the
answers shows why. This script loads the checkpoint that notebook 02 saved at the run's operating point
(``unpact.study.Study.operating_dir``; run, or read from the unpact cache, with the ``quick`` profile's
settings, emphasis style ``instruction``), takes the forget items that checkpoint no longer answers under
the plain question, and greedily answers each of them under the plain question, key emphasis and
control emphasis (the probe's own questions, ``Study.probe_questions``). It prints every answer and,
per condition: how many answers are right (the study's judge) and how many contain ``--phrase`` (on the
``facts`` forget split, whose questions all ask for a capital, "capital of" marks an answer that states
a capital rather than talking about the country).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unpact.evaluate import evaluate_items  # noqa: E402
from unpact.modeling import load_model_and_tokenizer  # noqa: E402
from unpact.report import write_benchmark  # noqa: E402
from unpact.study import notebook_studies  # noqa: E402

CODE = ("benchmarks/answers.py", "unpact/study.py", "unpact/evaluate.py", "unpact/emphasis.py", "unpact/unlearn",
        "unpact/data/facts.py")
CONDITIONS = ("plain", "key", "control")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="a name of `unpact models` or a model folder")
    parser.add_argument("--method", default="npo_gdr", help="the unlearning method whose operating point is read")
    parser.add_argument("--max-items", type=int, default=40, help="items a split, as in the quick profile")
    parser.add_argument("--phrase", default="capital of", help="counted in each answer (case-insensitive)")
    parser.add_argument("--json", default=None, help="also write the counts for the book's Performance page here")
    args = parser.parse_args()
    params = {"profile": "quick", "archs": [], "seeds": [0], "methods": [args.method],
              "pretrained_models": [args.model], "pretrained_methods": [args.method],
              "pretrained_styles": ["instruction"], "pretrained_max_items": args.max_items}
    study = notebook_studies(params, probe_style="instruction")[0]
    domain = "facts"
    folder = study.operating_dir(args.method, domain)
    if folder is None:
        sys.exit(f"{args.method} on {args.model} has no operating point (benchmarks/depth.py shows its trajectory)")
    questions = study.probe_questions(domain, args.method)
    items = list(study.forget_items(domain))
    model, tokenizer = load_model_and_tokenizer(str(folder))
    fmt = getattr(study.config, "prompt_format", "auto")
    answers = pd.concat([
        evaluate_items(model, tokenizer, items, questions=questions[c], judge=study.config.judge,
                       with_probabilities=False, prompt_format=fmt).assign(condition=c) for c in CONDITIONS],
        ignore_index=True)
    plain_right = set(answers.loc[(answers["condition"] == "plain") & answers["correct"].astype(bool), "id"])
    forgotten = answers[~answers["id"].isin(plain_right)].copy()
    forgotten["names_phrase"] = forgotten["prediction"].str.lower().str.contains(args.phrase.lower(), regex=False)
    with pd.option_context("display.width", 200, "display.max_colwidth", 90):
        print(forgotten.sort_values(["id", "condition"])[["id", "condition", "gold", "prediction", "correct"]]
              .to_string(index=False))
    rows = [{"condition": c, "forgotten_items": int((part := forgotten[forgotten["condition"] == c]).shape[0]),
             "answers_right": int(part["correct"].astype(bool).sum()),
             f"answers_with_{args.phrase.replace(' ', '_')}": int(part["names_phrase"].sum())} for c in CONDITIONS]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if args.json:
        command = (f"python benchmarks/answers.py --model {args.model} --method {args.method} "
                   f"--max-items {args.max_items} --phrase '{args.phrase}' --json {args.json}")
        write_benchmark(args.json, f"Answers at the operating point: {args.model}, {args.method} on {domain}",
                        command, rows,
                        f"Forget items the checkpoint at {args.method}'s operating point no longer answers under the "
                        f"plain question, answered greedily under each probe condition (emphasis style instruction); "
                        f"right = the study's judge, with_{args.phrase.replace(' ', '_')} = the answer contains "
                        f"'{args.phrase}'.", code=CODE)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
