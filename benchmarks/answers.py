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

It then scores the gold answer in two forms, in the base model and in the checkpoint, under each condition
(``unpact.scoring.answer_logprobs``: mean log-probability per answer token, teacher forced):

* ``bare``: LP(gold | prompt(question)), the book's continuous measure of finding 2 (the answer right
  after the prompt);
* ``sentence``: LP(gold | prompt(question) + "The capital of X is"), the answer inside the sentence
  form that the unlearned model uses when it does answer. The prefix is the fact's first statement
  (``unpact.data.facts.geography_facts``) up to the answer, so the form is fixed and only the content
  is scored: if the checkpoint's ``sentence`` score under the plain question stays near the base
  model's while ``bare`` falls, the fact is still reachable and unlearning removed the bare answer;
  if both fall, the fact is gone in this form too.

Per condition: the mean over the forgotten items with a bootstrap 95 % CI (``unpact.stats``), and the
paired key-minus-control difference. This is a diagnostic read after the verdicts were fixed, not part
of any verdict rule.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unpact.data.facts import geography_facts  # noqa: E402
from unpact.data.schema import QAItem  # noqa: E402
from unpact.evaluate import evaluate_items  # noqa: E402
from unpact.modeling import load_model_and_tokenizer  # noqa: E402
from unpact.prompts import format_prompt, format_target, resolve_prompt_format  # noqa: E402
from unpact.report import write_benchmark  # noqa: E402
from unpact.scoring import answer_logprobs  # noqa: E402
from unpact.stats import bootstrap_ci, paired_bootstrap_diff_ci  # noqa: E402
from unpact.study import notebook_studies  # noqa: E402

CODE = ("benchmarks/answers.py", "unpact/study.py", "unpact/evaluate.py", "unpact/emphasis.py", "unpact/unlearn",
        "unpact/data/facts.py", "unpact/scoring.py", "unpact/prompts.py", "unpact/stats.py")
CONDITIONS = ("plain", "key", "control")
SCORERS = ("bare", "sentence")


def answer_prefixes(items: list[QAItem]) -> dict[str, str]:
    """``id -> "The capital of X is"``: each fact's first statement up to its answer."""
    statements = {f.item.id: f.statements[0] for f in geography_facts()}
    prefixes = {}
    for it in items:
        first = statements[it.id]
        if not first.rstrip(".").endswith(it.answer):
            raise ValueError(f"the first statement of {it.id} does not end with its answer: {first!r}")
        prefixes[it.id] = first.rstrip(".")[: -len(it.answer)].rstrip()
    return prefixes


def gold_scores(folder: Path, items: list[QAItem], questions: dict[str, tuple[str, ...]],
                prompt_format: str) -> pd.DataFrame:
    """One row per item and condition: ``bare`` and ``sentence`` LP of the gold answer (module docstring)."""
    model, tokenizer = load_model_and_tokenizer(str(folder))
    fmt = resolve_prompt_format(tokenizer, prompt_format)
    prefixes = answer_prefixes(items)
    gap = " " if fmt == "plain" else ""  # the plain prompt ends with "Answer:", the chat prompt with a new turn
    frames = []
    for condition in CONDITIONS:
        prompts = [format_prompt(tokenizer, q, fmt) for q in questions[condition]]
        bare = answer_logprobs(model, tokenizer, prompts, [format_target(it.answer, fmt) for it in items])
        sentence = answer_logprobs(model, tokenizer, [p + gap + prefixes[it.id] for p, it in zip(prompts, items)],
                                   [f" {it.answer}" for it in items])
        frames.append(pd.DataFrame({"id": [it.id for it in items], "condition": condition, "bare": bare,
                                    "sentence": sentence}))
    return pd.concat(frames, ignore_index=True)


def score_rows(scores: pd.DataFrame, forgotten: list[str]) -> list[dict[str, object]]:
    """Per condition, then key minus control, over the forgotten items: the mean ``bare`` and ``sentence`` LP in
    the base model and in the checkpoint, the checkpoint's bootstrap 95 % CI, and the change checkpoint - base
    with its paired bootstrap 95 % CI (``unpact.stats``)."""
    table = scores[scores["id"].isin(forgotten)].pivot_table(index="id", columns=["model", "condition"],
                                                              values=list(SCORERS))

    def values(scorer: str, model: str, condition: str) -> pd.Series:
        if condition == "key minus control":
            return table[(scorer, model, "key")] - table[(scorer, model, "control")]
        return table[(scorer, model, condition)]

    rows: list[dict[str, object]] = []
    for condition in (*CONDITIONS, "key minus control"):
        row: dict[str, object] = {"condition": condition}
        for scorer in SCORERS:
            base, checkpoint = values(scorer, "base", condition), values(scorer, "checkpoint", condition)
            low, high = bootstrap_ci(checkpoint)
            change, change_low, change_high = paired_bootstrap_diff_ci(checkpoint, base)
            row.update({f"{scorer}_base": round(float(base.mean()), 3),
                        f"{scorer}_checkpoint": round(float(checkpoint.mean()), 3),
                        f"{scorer}_checkpoint_ci": f"[{low:.2f}, {high:.2f}]",
                        f"{scorer}_change": round(change, 3),
                        f"{scorer}_change_ci": f"[{change_low:.2f}, {change_high:.2f}]"})
        rows.append(row)
    return rows


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
    phrase_column = f"answers_with_{args.phrase.replace(' ', '_')}"
    rows: list[dict[str, object]] = [
        {"condition": c, "forgotten_items": int((part := forgotten[forgotten["condition"] == c]).shape[0]),
         "answers_right": int(part["correct"].astype(bool).sum()), phrase_column: int(part["names_phrase"].sum())}
        for c in CONDITIONS]
    scores = pd.concat([gold_scores(path, items, questions, fmt).assign(model=name)
                        for name, path in (("base", study.base_dir), ("checkpoint", folder))], ignore_index=True)
    scored = score_rows(scores, sorted(set(forgotten["id"])))
    for row, extra in zip(rows, scored):
        row.update(extra)
    key, control = (forgotten[forgotten["condition"] == c] for c in ("key", "control"))
    rows.append({"condition": "key minus control", "forgotten_items": len(key),
                 "answers_right": int(key["correct"].astype(bool).sum() - control["correct"].astype(bool).sum()),
                 phrase_column: int(key["names_phrase"].sum() - control["names_phrase"].sum()), **scored[-1]})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if args.json:
        command = (f"python benchmarks/answers.py --model {args.model} --method {args.method} "
                   f"--max-items {args.max_items} --phrase '{args.phrase}' --json {args.json}")
        write_benchmark(args.json, f"Answers at the operating point: {args.model}, {args.method} on {domain}",
                        command, rows,
                        f"Forget items the checkpoint at {args.method}'s operating point no longer answers under the "
                        f"plain question, answered greedily under each probe condition (emphasis style instruction); "
                        f"right = the study's judge, {phrase_column} = the answer contains '{args.phrase}'. "
                        "bare / sentence = mean log-probability per token of the gold answer right after the prompt / "
                        "after the prompt and 'The capital of X is' (the fact's first statement up to its answer), "
                        "in the base model and in the checkpoint, over the same forgotten items; ci = bootstrap 95 % "
                        "CI over items; change = checkpoint - base with its paired bootstrap 95 % CI; the key minus "
                        "control row holds paired differences. A diagnostic, not part of a verdict rule.",
                        code=CODE)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
