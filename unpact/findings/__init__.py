"""The computational core of the paper's three findings: pure functions over tidy DataFrames.

- Finding 1, keyword focus disrupted: ``focus_disruption``, ``contribution_change``.
- Finding 2, recovery by emphasis: ``recovery_rates``, ``key_vs_control``, ``control_tokens``,
  ``combine_styles`` (an attacker trying several styles).
- Finding 3, indiscriminate penalization: ``destructive_rates``, ``indiscriminateness``,
  ``contribution_change(classify="function")``.
- ``seed_spread``: mean, sd, min, max of a number across pipeline seeds.
- ``keyword_quality``, ``setting_summary``: KeyTokens against gold keywords, and the headline numbers
  of one analysis setting (the robustness sweep).
- ``accuracy_table``, ``target_misses``: what unlearning did to accuracy, and the forget targets.
- ``preregistered_verdict`` / ``PREREGISTERED``: reproduced / partly / not reproduced / not testable.
- ``outcome_frame``, ``recovery_frame``, ``contribution_frame``: build the inputs above from
  ``evaluate_items`` and ``unit_changes`` outputs.
Each module's docstring gives its input schema and formulas.
"""
from unpact.findings.assemble import contribution_frame, outcome_frame, recovery_frame
from unpact.findings.contributions import (
    CONTRIBUTION_COLUMNS,
    contribution_change,
    focus_disruption,
    indiscriminateness,
)
from unpact.findings.destruction import DESTRUCTIVE_COLUMNS, UTILITY_SPLITS, destructive_rates
from unpact.findings.recovery import (
    RECOVERY_COLUMNS,
    RECOVERY_GROUPS,
    TOKEN_SOURCES,
    combine_styles,
    eligible_items,
    key_vs_control,
    recovery_rates,
)
from unpact.findings.robustness import keyword_quality, setting_summary
from unpact.findings.seeds import seed_spread
from unpact.findings.tokens import FUNCTION_WORDS, control_tokens, core_word, is_function_word
from unpact.findings.unlearning import accuracy_table, target_misses
from unpact.findings.verdicts import PREREGISTERED, VERDICTS, preregistered_verdict

__all__ = [
    "CONTRIBUTION_COLUMNS", "DESTRUCTIVE_COLUMNS", "PREREGISTERED", "FUNCTION_WORDS", "RECOVERY_COLUMNS",
    "RECOVERY_GROUPS", "TOKEN_SOURCES", "UTILITY_SPLITS", "VERDICTS", "combine_styles",
    "contribution_change", "contribution_frame", "control_tokens", "core_word", "destructive_rates", "eligible_items",
    "focus_disruption", "indiscriminateness",
    "is_function_word", "key_vs_control", "outcome_frame", "recovery_frame", "recovery_rates", "seed_spread",
    "preregistered_verdict",
    "accuracy_table", "keyword_quality", "setting_summary", "target_misses",
]
