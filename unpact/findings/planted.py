"""Planted positive control (issue 11, 3a): does the recovery pipeline detect recovery that is there?

The oracle hint (``unpact.emphasis.oracle_hint``) shows the measure reacts to answer text in the
prompt. This control asks the harder question: when a forgotten fact is *still reachable* through
the weights, does the very pipeline of finding 2 (forgotten items at the pre-declared operating
point, paired gold log-prob differences, question-clustered bootstrap CI; ``unpact.findings.depth``)
find it?

Setting (the organism only): every fact is trained in several question phrasings (the canonical
question 0 and its corpus paraphrases; ``unpact.data.synthetic``). The planted run unlearns the
forget facts through **one surface form only**, ``UNLEARNED_PHRASING`` (a paraphrase), with the
same method, retain set, budget, stop rule and seed as the real runs; the probe (``ForgetProbe``)
scores at every check
- ``plain``: the unlearned surface form (it defines *known*, *forgotten* and the operating point), and
- ``other_form``: the canonical question of the same fact, never trained on during unlearning.

Estimate = ``paired_effect(other_form - plain)`` in gold log-prob (nats per answer token) at each
run's operating point, plus the recovery share under ``other_form``. ``detected`` uses the bar of the
pre-registered positive control (``PREREGISTERED["recovery"].positive_control``: at least 0.1 nats with
the 95% CI low above 0); "not testable" when fewer than the rule's ``min_questions`` forgotten
questions exist (or no organism, or no run reached its operating point).

Why "detected" is not true by construction: the other form adds no answer text and no word outside
the question templates, and gradient unlearning of one phrasing may well generalise to the others
(the answers are tied to the entity, not to the phrasing), in which case the plant does not take and
the control reports "not detected"; detection further needs forgotten items at the operating point
and a CI that excludes 0 at the n at hand. A null on finding 2 in a model where this control is
detected is informative; where it is not, the pipeline's null says little.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from unpact.findings.depth import (
    RUN_COLUMNS,
    at_steps,
    depth_curves,
    operating_points,
    paired_effect,
    recovery_share,
)
from unpact.findings.verdicts import NOT_TESTABLE, PREREGISTERED
from unpact.stats import DEFAULT_N_BOOT

UNLEARNED_PHRASING = 1
TREATMENT, REFERENCE = "other_form", "plain"
SETTING = (f"forget facts unlearned through question phrasing {UNLEARNED_PHRASING} only; gold log-prob under the "
           "canonical phrasing (never unlearned) minus under the unlearned phrasing, on items forgotten in the "
           "unlearned phrasing, at the operating point")


def planted_estimate(frame: pd.DataFrame, runs: Sequence[str] = RUN_COLUMNS, n_boot: int = DEFAULT_N_BOOT,
                     seed: int = 0) -> dict[str, Any]:
    """The planted control on the probe rows of the planted runs (module docstring).

    Returns ``{value, ci_low, ci_high, n_questions, n_pairs, mde, recovered, recovered_ci_low,
    recovered_ci_high, n_runs_at_point, status, reason, setting}`` with ``status`` in
    {"detected", "not detected", "not testable"}.
    """
    rule = PREREGISTERED["recovery"]
    nan = float("nan")
    out: dict[str, Any] = {"value": nan, "ci_low": nan, "ci_high": nan, "n_questions": 0, "n_pairs": 0,
                           "mde": nan, "recovered": nan, "recovered_ci_low": nan, "recovered_ci_high": nan,
                           "n_runs_at_point": 0, "setting": SETTING}
    if frame.empty:
        return {**out, "status": NOT_TESTABLE, "reason": "no planted run (the planted setting needs an organism, "
                                                         "whose facts are trained in several phrasings)"}
    points = operating_points(depth_curves(frame, runs), runs)
    chosen = at_steps(frame, points, runs)
    out["n_runs_at_point"] = int((points["op_step"] >= 0).sum())
    if (chosen["step"] > 0).sum() == 0:
        return {**out, "status": NOT_TESTABLE, "reason": "no planted run reached its operating point"}
    effect = paired_effect(chosen, TREATMENT, REFERENCE, runs, n_boot=n_boot, seed=seed)
    share = recovery_share(chosen, TREATMENT, runs, n_boot=n_boot, seed=seed)
    out.update({k: effect[k] for k in ("value", "ci_low", "ci_high", "n_questions", "n_pairs", "mde")},
               recovered=share["value"], recovered_ci_low=share["ci_low"], recovered_ci_high=share["ci_high"])
    if int(out["n_questions"]) < rule.min_questions or not math.isfinite(float(out["value"])):
        return {**out, "status": NOT_TESTABLE,
                "reason": f"{int(out['n_questions'])} forgotten questions < {rule.min_questions}"}
    assert rule.positive_control is not None
    detected = rule.positive_control.met(effect)
    return {**out, "status": "detected" if detected else "not detected",
            "reason": "" if detected else f"not met: {rule.positive_control.text()}"}
