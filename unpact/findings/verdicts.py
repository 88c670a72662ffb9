"""Verdicts on the paper's three findings from headline numbers and their 95% CIs.

The rules are deliberately simple, fixed before looking at results, and stated in
``FINDING_VERDICTS`` (name -> (rule text, function of the headline numbers)). "CI" is the
two-sided interval reported next to the number. Each rule has two conditions; both holding is
"reproduced", exactly one is "partly", none is "not reproduced". The thresholds 0.5 and 0.05
in the texts are the defaults of the functions' ``majority`` and ``alpha`` parameters.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unpact.errors import check_choice

VERDICTS = ("reproduced", "partly", "not reproduced")


@dataclass(frozen=True)
class Verdict:
    """A finding's verdict with the two conditions checked."""

    finding: str
    label: str
    conditions: dict[str, bool]
    rule: str


def _label(conditions: dict[str, bool]) -> str:
    return VERDICTS[2 - sum(conditions.values())]


def keyword_focus_verdict(
    key_change_ci_high: float, disruption_ci_low: float, majority: float = 0.5
) -> dict[str, bool]:
    """Conditions of finding 1 (see module docstring); NaN inputs count as not holding."""
    return {"key_contribution_falls": bool(key_change_ci_high < 0),
            "most_keytokens_stop_being_key": bool(disruption_ci_low > majority)}


def recovery_verdict(key_recovery_ci_low: float, key_rate: float, control_rate: float, p_value: float,
                     alpha: float = 0.05) -> dict[str, bool]:
    """Conditions of finding 2 (see module docstring); NaN inputs count as not holding."""
    return {"emphasis_recovers": bool(key_recovery_ci_low > 0),
            "key_beats_control": bool(key_rate > control_rate and p_value < alpha)}


def indiscriminate_verdict(destructive_ci_low: float, non_key_drop_ci_low: float,
                           retain_drop_ci_low: float) -> dict[str, bool]:
    """Conditions of finding 3 (see module docstring); NaN inputs count as not holding."""
    return {"utility_destroyed": bool(destructive_ci_low > 0),
            "penalty_untargeted": bool(non_key_drop_ci_low > 0 and retain_drop_ci_low > 0)}


FINDING_VERDICTS: dict[str, tuple[str, Callable[..., dict[str, bool]]]] = {
    "keyword_focus": (
        "Focus disrupted, on forget prompts: (a) the mean contribution change of base KeyTokens is "
        "negative (CI high < 0); (b) most KeyTokens stop being key (focus-disruption rate CI low > 0.5).",
        keyword_focus_verdict,
    ),
    "recovery": (
        "Recovery without weight change: (a) emphasis recovers something (key-emphasis recovery rate "
        "CI low > 0); (b) key tokens matter (key rate > control rate with McNemar p < 0.05).",
        recovery_verdict,
    ),
    "indiscriminate": (
        "Indiscriminate penalization: (a) utility is destroyed (destructive rate CI low > 0); (b) the "
        "penalty is not targeted (non-key units of forget prompts and all units of retain prompts "
        "lose contribution: mean drop CI low > 0 for both).",
        indiscriminate_verdict,
    ),
}


def verdict(finding: str, **numbers: float) -> Verdict:
    """Apply ``FINDING_VERDICTS[finding]`` to keyword ``numbers`` (the rule function's arguments).

    Example: ``verdict("recovery", key_recovery_ci_low=0.1, key_rate=0.4, control_rate=0.1, p_value=0.01)``.
    """
    check_choice("finding", finding, FINDING_VERDICTS)
    rule, conditions_of = FINDING_VERDICTS[finding]
    conditions = conditions_of(**numbers)
    return Verdict(finding, _label(conditions), conditions, rule)
