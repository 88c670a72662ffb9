"""Findings 1 and 3 along unlearning depth on a pretrained model: the base KeyTokens at every check of a run.

    python benchmarks/depth_focus.py [--model smollm2-135m] [--methods npo_gdr npo ga rmu] [--max-items 40]
                                     [--target base_answer|gold] [--split forget|retain] [--json FILE]

Runs each method's unlearning on ``facts`` with the ``quick`` profile's settings and check schedule (the
probed runs of notebook 02, as ``benchmarks/depth.py``) and, at every check, besides the ``ForgetProbe``'s
forget and held-out general accuracies, attributes the forget questions with the study's own attribution
(leave-one-out over the question's words, target = the base model's answer; ``Study.attribution``). Each
check's contributions are compared with the base model's (``unpact.attribution.tracking.unit_changes``, the
study's KeyToken rule) and summarised by finding 1's decomposed measures
(``unpact.findings.focus.key_token_fates``): the shares of base KeyTokens kept, shrunk and flipped, and the
Spearman correlation and top-k overlap of each question's word ranking, with CIs resampling questions.

So finding 1 is read as a curve against forget accuracy (base -> 0), not at one checkpoint: does the focus on
the KeyTokens decay before, with, or after the answers go? ``--split retain`` attributes the held-out retain
questions instead (finding 3: does unlearning take contribution from the words of questions it should leave
alone, and from which words?). A diagnostic beside notebooks 01 and 03 (they report the findings at the
operating point and at the end of the budget); not part of any verdict rule.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unpact.attribution import AttributionResult, Attributor  # noqa: E402
from unpact.attribution.tracking import unit_changes  # noqa: E402
from unpact.cache import config_hash  # noqa: E402
from unpact.findings.assemble import contribution_frame  # noqa: E402
from unpact.findings.depth import depth_curves  # noqa: E402
from unpact.findings.focus import key_token_fates  # noqa: E402
from unpact.prompts import attribution_template  # noqa: E402
from unpact.report import write_benchmark  # noqa: E402
from unpact.stats import cluster_mean_summary  # noqa: E402
from unpact.study import Study, attribution_target, items_fingerprint, notebook_studies  # noqa: E402
from unpact.unlearn.artifact import PROBES_FILE  # noqa: E402
from unpact.unlearn.probes import ForgetProbe  # noqa: E402

CODE = ("benchmarks/depth_focus.py", "unpact/study.py", "unpact/findings", "unpact/attribution", "unpact/unlearn",
        "unpact/data/facts.py", "unpact/scoring.py", "unpact/prompts.py", "unpact/stats.py")
DOMAIN = "facts"
MEASURES = ("kept", "shrunk", "flipped", "spearman", "topk_overlap")
CHANGES = ("key_change", "nonkey_change")


TARGETS = ("base_answer", "gold")
SPLITS = ("forget", "retain")


def probed_run(study: Study, method: str, target: str = "base_answer", split: str = "forget") -> pd.DataFrame:
    """The probe rows (``kind = "probe"``) and per-word contribution rows (``kind = "contribution"``) of one run.

    The run is ``Study.trajectory_dir``'s (same data, budget, schedule and seed) with a probe that also
    attributes the ``split`` questions (the forget questions, or the held-out retain questions that no method
    trains on: finding 3's question) at every check; cached like any unlearning run, under its own key.
    ``target``: the answer whose log-probability is attributed, ``base_answer`` (the study's: the base
    model's own answer sentence where it holds the gold value, ``unpact.study.attribution_target``) or
    ``gold`` (the bare gold value, the paper's y). Contributions are compared with those of the first
    check, step 0, which is the base model.
    """
    cfg = study.config
    forget = study.forget_items(DOMAIN)
    attributed = forget if split == "forget" else [it for it in study.items(DOMAIN) if it.split == split]
    fmt = study.prompt_format
    ids = [it.id for it in attributed]
    targets = [attribution_target(it, fmt) if target == "base_answer" else it.answer for it in attributed]
    utility = [it for it in study.items(DOMAIN) if it.split == "general"]
    questions = study.probe_questions(DOMAIN, method)
    forget_probe = ForgetProbe(forget, questions, utility, prompt_format=getattr(cfg, "prompt_format", "auto"),
                               judge=cfg.judge)
    base: list[AttributionResult] = []

    def probe(model: Any, tokenizer: Any, step: int) -> pd.DataFrame:
        now = Attributor(model, tokenizer, method=cfg.attribution_method, granularity="word", progress=False
                         ).attribute([it.question for it in attributed], targets, template=attribution_template(fmt),
                                     ids=ids)
        if not base:
            if step != 0:
                raise RuntimeError(f"the probe's first check is step {step}, not the base model's step 0")
            base.append(now)
        changes = unit_changes(base[0], now, **cfg.key_rule.as_kwargs())
        units = contribution_frame(changes, attributed, method).assign(kind="contribution")
        return pd.concat([forget_probe(model, tokenizer, step).assign(kind="probe"), units], ignore_index=True)

    key = "depth_focus-" + config_hash({"questions": questions, "utility": items_fingerprint(utility),
                                        "items": items_fingerprint(forget), "judge": cfg.judge, "targets": targets,
                                        **({"attributed": items_fingerprint(attributed)} if split != "forget" else {}),
                                        "attribution": cfg.attribution_method, "rule": cfg.key_rule.as_kwargs()},
                                       length=32)
    folder = study._unlearn(method, DOMAIN, cfg.steps, cfg.stop_at, probed=True, probe=probe, probe_key=key)
    return pd.read_csv(folder / PROBES_FILE, dtype={"item_id": str}).assign(method=method, domain=DOMAIN)


def _booleans(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` as bool (a CSV of mixed rows reads them as objects or the strings "True"/"False")."""
    values = {True: True, False: False, "True": True, "False": False}
    return frame.assign(**{c: frame[c].map(values).astype(bool) for c in columns if c in frame.columns})


def _mean_changes(units: pd.DataFrame, n_boot: int) -> dict[str, float]:
    """Mean c_after - c_before (nats) of the base KeyTokens and of the other words, CIs resampling questions."""
    out: dict[str, float] = {}
    for name, part in (("key_change", units[units["is_key"]]), ("nonkey_change", units[~units["is_key"]])):
        est = cluster_mean_summary((part["c_after"] - part["c_before"]).to_numpy(float), part["item_id"],
                                   n_boot=n_boot, seed=0)
        out |= {name: est["value"], f"{name}_ci_low": est["ci_low"], f"{name}_ci_high": est["ci_high"]}
    return out


def focus_along_depth(rows: pd.DataFrame, n_boot: int = 1000) -> pd.DataFrame:
    """One row per (method, step): forget accuracy, utility, n_forgotten and finding 1's measures with CIs.

    ``rows``: ``probed_run`` output of one or more methods (``kind`` = probe or contribution).
    """
    probes = _booleans(rows[rows["kind"] == "probe"].dropna(axis=1, how="all"), ["correct"])
    curves = depth_curves(probes, ["method", "domain"])[["method", "step", "forget_accuracy", "utility", "n_forgotten"]]
    units = _booleans(rows[rows["kind"] == "contribution"].dropna(axis=1, how="all"), ["is_key", "is_function_word"])
    fates = key_token_fates(units, by=("method", "step"), runs=("method", "domain", "step"), n_boot=n_boot)
    wide = fates.pivot_table(index=["method", "step"], columns="measure", values=["value", "ci_low", "ci_high"])
    wide.columns = [m if stat == "value" else f"{m}_{stat}" for stat, m in wide.columns]
    n_questions = fates.groupby(["method", "step"])["n_questions"].max().rename("n_questions")
    columns = [c for m in MEASURES for c in (m, f"{m}_ci_low", f"{m}_ci_high") if c in wide.columns]
    changes = pd.DataFrame([_mean_changes(g, n_boot) | {"method": m, "step": s}
                            for (m, s), g in units.groupby(["method", "step"], sort=True)])
    table = curves.merge(wide[columns].reset_index(), on=["method", "step"]).merge(
        changes, on=["method", "step"]).merge(n_questions.reset_index(), on=["method", "step"])
    return table.sort_values(["method", "step"]).reset_index(drop=True)


def page_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table's rows for the Performance page: each measure rounded, its CI as one "[low, high]" cell."""
    rows = []
    for record in table.to_dict("records"):
        row = {k: record[k] for k in ("method", "step", "forget_accuracy", "utility", "n_forgotten", "n_questions")}
        for measure in (*MEASURES, *CHANGES):
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
    parser.add_argument("--target", default="base_answer", choices=TARGETS,
                        help="attributed answer: the base model's answer sentence (the study's) or the bare gold value")
    parser.add_argument("--split", default="forget", choices=SPLITS,
                        help="attribute the forget questions (finding 1) or the held-out retain ones (finding 3)")
    parser.add_argument("--json", default=None, help="also write the table for the book's Performance page here")
    args = parser.parse_args(argv)
    params = {"profile": "quick", "archs": [], "seeds": [0], "methods": args.methods,
              "pretrained_models": [args.model], "pretrained_methods": args.methods,
              "pretrained_styles": ["instruction"], "pretrained_max_items": args.max_items}
    study = notebook_studies(params, probe_style="instruction")[0]
    rows = pd.concat([probed_run(study, m, args.target, args.split) for m in args.methods], ignore_index=True)
    table = focus_along_depth(rows)
    shown = ["method", "step", "forget_accuracy", "utility", "n_forgotten", *[m for m in MEASURES if m in table],
             *CHANGES]
    print(table[shown].to_string(index=False, float_format="%.3f"))
    if args.json:
        finding = 1 if args.split == "forget" else 3  # retain questions: is the penalty indiscriminate?
        write_benchmark(
            args.json, f"Finding {finding} along unlearning depth: the base KeyTokens at every check ({args.model}, "
            f"facts, target {args.target}, {args.split} questions)",
            "python benchmarks/depth_focus.py " + " ".join(sys.argv[1:]),
            page_rows(table),
            "Per method and checked step: forget accuracy and held-out general accuracy (utility) of the probe, "
            f"and finding 1's measures over the {args.split} questions' base KeyTokens with c_before > 0 "
            "(kept: c_after >= 0.5 c_before; shrunk: 0 <= c_after < 0.5 c_before; flipped: c_after < 0) and "
            "each question's word ranking against the base model's (Spearman, top-k overlap); key_change and "
            "nonkey_change: mean c_after - c_before in nats of the KeyTokens and of the other words. "
            "95% CIs resample questions. "
            f"Target {args.target}: " + ("the base model's answer sentence where it holds the gold value (the "
            "study's attribution target; the sentence repeats the question's entity, so part of a KeyToken's "
            "contribution is copying it). " if args.target == "base_answer" else "the bare gold value (the "
            "paper's y), which SmolLM2 does not say first. ") +
            "Step 0 is the base model (kept = 1, Spearman = 1 by construction). A diagnostic read beside "
            f"notebook 0{finding}, not part of any verdict rule.",
            code=CODE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
