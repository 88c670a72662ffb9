"""Verdicts on the paper's three findings: the pre-registered rules, one place for all three.

``PREREGISTERED`` holds the rules, fixed in this file before any result is looked at and
printed in the method chapter (``preregistered_rules_markdown``). Each finding has two
``EffectCondition``s on estimates whose CIs resample *questions* (not question x method), an
effect-size threshold for each, a minimum number of independent questions, and for finding 2 a
positive control that must pass. ``preregistered_verdict`` returns "not testable" (instead of
"not reproduced") when a condition's estimate is missing, fewer than ``min_questions`` questions
were measured, or the positive control failed: a test that cannot detect a planted effect says
nothing about its absence. Every verdict carries the minimum detectable effect of each estimate
(``unpact.stats.minimum_detectable_effect``) for the n at hand.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unpact.errors import check_choice

NOT_TESTABLE = "not testable"
VERDICTS = ("reproduced", "partly", "not reproduced", NOT_TESTABLE)


def _label(conditions: dict[str, bool]) -> str:
    """Both conditions hold: reproduced; one: partly; none: not reproduced."""
    return VERDICTS[2 - sum(conditions.values())]


@dataclass(frozen=True)
class EffectCondition:
    """One pre-registered condition on an estimate ``{value, ci_low, ci_high, n_clusters[, mde]}``.

    With d = ``direction`` (+1: the claim is "above ``null``", -1: "below"), the condition holds when
    d * (value - null) >= ``threshold`` (effect size) **and** the CI excludes ``null`` on that side
    (ci_low > null for d = +1, ci_high < null for d = -1).
    """

    name: str
    statistic: str
    unit: str
    threshold: float
    direction: int = 1
    null: float = 0.0

    def met(self, estimate: Mapping[str, Any]) -> bool:
        value, low, high = (float(estimate.get(k, math.nan)) for k in ("value", "ci_low", "ci_high"))
        if not all(math.isfinite(x) for x in (value, low, high)):
            return False
        excludes = low > self.null if self.direction > 0 else high < self.null
        return bool(excludes and self.direction * (value - self.null) >= self.threshold)

    def text(self) -> str:
        side, bound = ("above", "CI low") if self.direction > 0 else ("below", "CI high")
        shift = f"{self.null:g} {'+' if self.direction > 0 else '-'} {self.threshold:g}"
        return (f"`{self.name}`: {self.statistic} at least {self.threshold:g} {self.unit} {side} {self.null:g} "
                f"(point estimate {'>=' if self.direction > 0 else '<='} {shift}), with its 95% {bound} "
                f"{'>' if self.direction > 0 else '<'} {self.null:g}")


@dataclass(frozen=True)
class PreRegisteredRule:
    """A finding's pre-registered rule: two conditions, a minimum n of questions, an optional positive control."""

    finding: str
    claim: str
    conditions: tuple[EffectCondition, EffectCondition]
    min_questions: int = 10
    positive_control: EffectCondition | None = None

    def text(self) -> str:
        conditions = "; ".join(f"({'ab'[i]}) {c.text()}" for i, c in enumerate(self.conditions))
        untestable = (f"Not testable when an estimate is missing or rests on fewer than {self.min_questions} "
                      "independent questions (CIs resample questions)")
        if self.positive_control is not None:
            untestable += f", or when the positive control fails ({self.positive_control.text()})"
        return (f"{self.claim} Reproduced = both conditions hold, partly = one, not reproduced = none. "
                f"{conditions}. {untestable}.")


@dataclass(frozen=True)
class PreRegisteredVerdict:
    """The label, each condition's outcome, why (for "not testable"), and the MDE of each estimate."""

    finding: str
    label: str
    conditions: dict[str, bool]
    rule: str
    reason: str = ""
    n_questions: int = 0
    mde: dict[str, float] = field(default_factory=dict)

    def condition_rows(self, estimates: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``[{name, met, value}]`` for ``unpact.report.write_summary(conditions=...)``."""
        return [{"name": name, "met": met, "value": estimates.get(name, {}).get("value")}
                for name, met in self.conditions.items()]


PREREGISTERED: dict[str, PreRegisteredRule] = {
    "keyword_focus": PreRegisteredRule(
        "keyword_focus",
        "Focus disrupted on forget prompts.",
        (EffectCondition("key_contribution_falls", "mean contribution change of base KeyTokens", "nats",
                         threshold=0.05, direction=-1),
         EffectCondition("most_keytokens_disrupted", "share of KeyTokens disrupted (shrunk or sign-flipped)",
                         "(share)", threshold=0.0, null=0.5)),
    ),
    "recovery": PreRegisteredRule(
        "recovery",
        "Recovery without weight change, on forgotten items (base right, unlearned wrong).",
        (EffectCondition("emphasis_recovers", "share of forgotten items answered again under key emphasis",
                         "(share)", threshold=0.05),
         EffectCondition("key_beats_control", "gold-answer log-prob under key emphasis minus under control emphasis",
                         "nats per token", threshold=0.1)),
        positive_control=EffectCondition("positive_control", "gold-answer log-prob with the oracle hint minus plain",
                                         "nats per token", threshold=0.1),
    ),
    "indiscriminate": PreRegisteredRule(
        "indiscriminate",
        "Indiscriminate penalization.",
        (EffectCondition("utility_destroyed", "destructive rate on held-out items no method trains on (the "
                         "general split), judged by `contains` (a lost end-of-sequence is not a lost answer)",
                         "(share)", threshold=0.05),
         EffectCondition("retain_words_penalised", "mean contribution change of all words of retain prompts",
                         "nats", threshold=0.05, direction=-1)),
    ),
}


def preregistered_verdict(finding: str, estimates: Mapping[str, Mapping[str, Any]],
                          n_questions: int, positive_control: Mapping[str, Any] | None = None
                          ) -> PreRegisteredVerdict:
    """Apply ``PREREGISTERED[finding]`` to ``estimates`` (condition name -> ``{value, ci_low, ci_high[, mde]}``).

    ``n_questions``: independent questions behind the estimates (the clusters of their CIs).
    """
    check_choice("finding", finding, PREREGISTERED)
    rule = PREREGISTERED[finding]
    met = {c.name: c.met(estimates.get(c.name, {})) for c in rule.conditions}
    mde = {name: float(est.get("mde", math.nan)) for name, est in estimates.items()}
    reasons = []
    missing = [c.name for c in rule.conditions
               if not math.isfinite(float(estimates.get(c.name, {}).get("value", math.nan)))]
    if missing:
        reasons.append(f"no estimate for {', '.join(missing)} (no eligible items)")
    if n_questions < rule.min_questions:
        reasons.append(f"{n_questions} independent questions < {rule.min_questions}")
    if rule.positive_control is not None:
        if positive_control is None or not rule.positive_control.met(positive_control):
            reasons.append("the positive control did not recover (the test cannot detect a planted effect)")
    label = NOT_TESTABLE if reasons else _label(met)
    return PreRegisteredVerdict(finding, label, met, rule.text(), "; ".join(reasons), int(n_questions), mde)


def preregistered_rules_markdown() -> str:
    """The pre-registered rules as a Markdown list (printed in the method chapter)."""
    return "\n".join(f"- **{name}**: {rule.text()}" for name, rule in PREREGISTERED.items())
