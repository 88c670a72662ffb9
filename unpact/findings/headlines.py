"""Each finding's pre-registered verdict and headline from its frame, for one model family.

The finding notebooks call these once per model family (``organism``, ``pretrained``: the
``family`` column that ``unpact.study.collect`` adds), so the status table gives one verdict per
family from the same rule (``unpact.findings.verdicts.PREREGISTERED``) and the same headline:

- finding 1: ``keyword_focus_result``: KeyToken contribution change by question and the share of
  KeyTokens disrupted (contribution after < ``beta`` x before); headline = that share;
- finding 2: ``recovery_result``: at each run's operating point, the gold answer's log-prob under key
  minus control emphasis (question-clustered), the oracle hint as positive control; headline = key
  minus control;
- finding 3: ``indiscriminate_result``: held-out general answers destroyed (``contains`` judge) and
  the contribution change of retain words, both question-clustered; headline = the destructive
  rate on retain + general items.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from unpact.findings.depth import depth_curves, operating_points, recovery_estimates
from unpact.findings.destruction import destructive_rates
from unpact.findings.focus import key_change_by_question, key_token_fates
from unpact.findings.frames import pool
from unpact.findings.verdicts import PREREGISTERED, PreRegisteredVerdict, preregistered_verdict
from unpact.report import family_summary, fmt_ci, headline
from unpact.stats import cluster_mean_summary


@dataclass(frozen=True)
class FindingResult:
    """A finding's verdict for one family, its estimates and what the status table shows."""

    verdict: PreRegisteredVerdict
    estimates: dict[str, dict[str, Any]]
    headline: dict[str, Any]
    detail: str = ""
    control: dict[str, Any] | None = None
    n_pairs: int | None = None
    table: pd.DataFrame | None = None  # the per-measure table the estimates come from, for display

    def entry(self, family: str, models: Sequence[str]) -> dict[str, Any]:
        """This result as one family's entry of ``summary.json`` (``unpact.report.family_summary``)."""
        return family_summary(self.verdict.label, self.headline, self.detail, control=self.control,
                              conditions=self.verdict.condition_rows(self.estimates),
                              n_questions=self.verdict.n_questions, n_pairs=self.n_pairs, family=family,
                              models=models)


def by_family(frames: pd.DataFrame | Sequence[pd.DataFrame], compute: Callable[..., FindingResult]
              ) -> dict[str, tuple[FindingResult, list[str]]]:
    """``compute(*parts)`` on each model family's rows of ``frames`` (one frame or several, each with the
    ``family`` column of ``unpact.study.collect``; without it, all rows are the organism's):
    ``{family: (result, the models it pools)}``, families in sorted order."""
    frames = [frames] if isinstance(frames, pd.DataFrame) else list(frames)
    first = frames[0]
    families = sorted(map(str, first["family"].unique())) if "family" in first else ["organism"]
    results = {}
    for family in families:
        parts = [f[f["family"] == family] if "family" in f else f for f in frames]
        models = sorted(map(str, parts[0]["arch"].unique())) if "arch" in parts[0] else []
        results[family] = (compute(*parts), models)
    return results


def _ci(estimate: dict[str, Any], digits: int = 2) -> str:
    return fmt_ci(estimate["value"], estimate["ci_low"], estimate["ci_high"], digits)


def keyword_focus_result(contributions: pd.DataFrame, beta: float, n_boot: int) -> FindingResult:
    """Finding 1 (``keyword_focus`` rule) from ``Study.contributions`` rows of one family."""
    forget = contributions[contributions["split"] == "forget"]
    fates = key_token_fates(forget, beta=beta, by=("split",), n_boot=n_boot).set_index("measure")
    key_q = key_change_by_question(contributions, n_boot=n_boot)
    kept = fates.loc["kept"]
    disrupted = {"value": 1 - kept["value"], "ci_low": 1 - kept["ci_high"], "ci_high": 1 - kept["ci_low"],
                 "mde": kept["mde"]}
    estimates = {"key_contribution_falls": dict(key_q), "most_keytokens_disrupted": disrupted}
    v = preregistered_verdict("keyword_focus", estimates, n_questions=int(key_q["n_questions"]))
    head = {"name": f"KeyTokens disrupted (after < {beta} x before)",
            "value": disrupted["value"], "ci_low": disrupted["ci_low"], "ci_high": disrupted["ci_high"],
            "n": int(key_q["n_questions"]), "direction": "higher = focus more disrupted"}
    detail = f"KeyToken contribution change by question {_ci(dict(key_q), 3)} nats"
    return FindingResult(v, estimates, head, detail + (f"; {v.reason}" if v.reason else ""), table=fates)


def recovery_result(trajectories: pd.DataFrame, runs: Sequence[str], style: str, n_boot: int) -> FindingResult:
    """Finding 2 (``recovery`` rule) at the operating point, from ``Study.trajectories`` rows of one family."""
    points = operating_points(depth_curves(trajectories, runs), runs)
    at_op = recovery_estimates(trajectories, points, runs, "op_step", n_boot=n_boot)
    kc, pc, er = at_op["key_beats_control"], at_op["positive_control"], at_op["emphasis_recovers"]
    v = preregistered_verdict("recovery", at_op, n_questions=int(kc["n_questions"]), positive_control=pc)
    head = {"name": f"Gold log-prob, key - control emphasis ({style})",
            "value": kc["value"], "ci_low": kc["ci_low"], "ci_high": kc["ci_high"], "n": int(kc["n_questions"]),
            "direction": "higher = key emphasis brings the answer closer (nats per token)"}
    control = {"name": "oracle hint minus plain (positive control)", "value": pc["value"], "ci_low": pc["ci_low"],
               "ci_high": pc["ci_high"]}
    detail = (f"oracle hint (positive control) {_ci(pc)} nats; key-emphasis recovery {_ci(er)}"
              + (f"; {v.reason}" if v.reason else ""))
    return FindingResult(v, at_op, head, detail, control, n_pairs=int(kc["n_pairs"]))


def indiscriminate_result(outcomes: pd.DataFrame, judged: pd.DataFrame, contributions: pd.DataFrame,
                          n_boot: int) -> FindingResult:
    """Finding 3 (``indiscriminate`` rule) from ``Study.outcomes``, ``judged_outcomes`` and ``contributions``
    rows of one family."""
    held_out = judged[(judged["split"] == "general") & (judged["judge"] == "contains") & judged["base_correct"]]
    destroyed = cluster_mean_summary((~held_out["unlearned_correct"]).astype(float), held_out["item_id"],
                                     n_boot=n_boot)
    retain_rows = contributions[contributions["split"] == "retain"]
    retain_change = cluster_mean_summary(retain_rows["c_after"] - retain_rows["c_before"], retain_rows["item_id"],
                                         n_boot=n_boot)
    estimates = {"utility_destroyed": dict(destroyed), "retain_words_penalised": dict(retain_change)}
    v = preregistered_verdict("indiscriminate", estimates,
                              n_questions=min(int(destroyed["n_clusters"]), int(retain_change["n_clusters"])))
    pooled = destructive_rates(pool(outcomes)).iloc[0]
    head = headline("Destructive rate, retain + general", pooled,
                    direction="higher = more utility lost")
    detail = (f"held-out general answers destroyed {_ci(dict(destroyed))} (contains judge); retain words "
              f"{_ci(dict(retain_change), 3)} nats" + (f"; {v.reason}" if v.reason else ""))
    return FindingResult(v, estimates, head, detail)


def family_table(results: dict[str, tuple[FindingResult, list[str]]]) -> pd.DataFrame:
    """One row per model family: models, verdict, headline value with its 95% CI, questions, reason."""
    rows = []
    for family, (res, models) in results.items():
        h = res.headline
        rows.append({"family": family, "models": ", ".join(models), "verdict": res.verdict.label,
                     "headline": h["name"], "value [95% CI]": fmt_ci(h["value"], h["ci_low"], h["ci_high"]),
                     "questions": res.verdict.n_questions, "reason": res.verdict.reason or ""})
    return pd.DataFrame(rows)


def family_readings(results: dict[str, tuple[FindingResult, list[str]]]) -> str:
    """What each model family showed, in words, from its result: one Markdown bullet per family with the
    verdict, each pre-registered condition met or not with its estimate, and the detail line (the chapter's
    text for every family, not only the first one its figures show)."""
    lines = []
    for family, (res, models) in results.items():
        statistic = {c.name: c.statistic for c in PREREGISTERED[res.verdict.finding].conditions}
        conditions = "; ".join(
            f"{statistic.get(name, name)} {'met' if met else 'not met'}"
            + (f" ({_ci(res.estimates[name])})" if name in res.estimates else "")
            for name, met in res.verdict.conditions.items())
        h = res.headline
        lines.append(f"- **{family}** ({', '.join(models) or 'no model'}): **{res.verdict.label}**, "
                     f"{res.verdict.n_questions} independent questions. {h['name']}: "
                     f"{fmt_ci(h['value'], h['ci_low'], h['ci_high'])} ({h['direction']}). "
                     f"Conditions: {conditions or 'none evaluated'}. {res.detail}.")
    return "\n".join(lines)
