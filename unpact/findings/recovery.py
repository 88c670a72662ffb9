"""Finding 2: recovery of "forgotten" answers by emphasising question tokens (FocusOnKey).

Input: a long per-item frame, one row per (item, method, domain, emphasis style, token source)
[plus any extra grouping column such as ``seed``]:

=====================  ======  ===============================================================
column                 type    meaning
=====================  ======  ===============================================================
item_id                any     the QA item (forget split)
method                 str     unlearning method (``ga``, ``npo``, ...)
domain                 str     benchmark domain
style                  str     emphasis style (``unpact.emphasis``)
source                 str     which tokens were emphasised, see ``TOKEN_SOURCES``
base_correct           bool    answered correctly by the base model (plain question)
unlearned_correct      bool    answered correctly by the unlearned model (plain question)
emphasized_correct     bool    answered correctly by the unlearned model, emphasised question
first_token_top1       bool    optional: gold's first answer token is top-1 under emphasis
answer_prob_unlearned  float   optional: exp(LP(x, gold)) on the unlearned model, plain question
answer_prob_emphasized float   optional: exp(LP(x', gold)) on the unlearned model, emphasised x'
=====================  ======  ===============================================================

Formulas (higher recovery = *worse* unlearning: the knowledge is still there):
- eligible items E = {i : base_correct_i and not unlearned_correct_i} ("forgotten" items);
- recovery rate = |{i in E : emphasized_correct_i}| / |E|;
- top-1 share = mean of first_token_top1 over E;
- answer-probability change = mean over E of (answer_prob_emphasized - answer_prob_unlearned).
CIs: Wilson or percentile bootstrap for rates (``ci_method``), percentile bootstrap for the mean.

``key_vs_control`` pairs, on the same eligible items, emphasis of key tokens with emphasis of
control tokens (random non-key words, ``unpact.findings.tokens.control_tokens``): McNemar's exact
test on the discordant pairs b = #(key right, control wrong), c = #(key wrong, control right),
and the difference of recovery rates (key - control) with a paired bootstrap CI.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from unpact.errors import UsageError
from unpact.findings.frames import check_group_columns, per_group, validate_frame
from unpact.stats import DEFAULT_N_BOOT, bootstrap_ci, mcnemar_test, paired_bootstrap_diff_ci, summarize_binary

TOKEN_SOURCES = ("base_key", "unlearned_key", "gold_keywords", "control")
"""Conventional source names: KeyTokens of the base model, KeyTokens of the unlearned model's own
attribution (an attacker without the original), the dataset's gold keywords, random non-key words."""

RECOVERY_COLUMNS = (
    "item_id", "method", "domain", "style", "source", "base_correct", "unlearned_correct", "emphasized_correct",
)
RECOVERY_GROUPS = ("method", "domain", "style", "source")
_PROB_COLUMNS = ("answer_prob_unlearned", "answer_prob_emphasized")


def _validate_recovery(frame: pd.DataFrame, by: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    optional_bool = ["first_token_top1"] if "first_token_top1" in frame.columns else []
    has_prob = [c for c in _PROB_COLUMNS if c in frame.columns]
    if len(has_prob) == 1:
        raise UsageError(f"recovery frame: answer-probability change needs both {' and '.join(_PROB_COLUMNS)}")
    cols = check_group_columns(frame, "recovery frame", by)
    out = validate_frame(
        frame, "recovery frame", RECOVERY_COLUMNS,
        boolean=["base_correct", "unlearned_correct", "emphasized_correct", *optional_bool],
        numeric=has_prob, unique=[*cols, "item_id"],
    )
    return out, cols


def eligible_items(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of rows whose item was correct on the base model and wrong after unlearning."""
    return frame["base_correct"].astype(bool) & ~frame["unlearned_correct"].astype(bool)


def recovery_rates(
    frame: pd.DataFrame,
    by: Sequence[str] = RECOVERY_GROUPS,
    ci_method: str = "bootstrap",
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Recovery rate per group of ``by`` with its CI (see module docstring for schema and formulas).

    Columns: ``*by, n_items, n, k, rate, ci_low, ci_high`` (n = eligible items, k = recovered),
    plus ``top1_rate, top1_ci_low, top1_ci_high`` when ``first_token_top1`` is given and
    ``prob_change, prob_change_ci_low, prob_change_ci_high`` when both probability columns are.
    Rows must be unique by ``(*by, item_id)``: an item is counted once per group.
    """
    data, cols = _validate_recovery(frame, by)

    def summarise(group: pd.DataFrame) -> dict[str, Any]:
        sub = group[eligible_items(group)]
        row: dict[str, Any] = {"n_items": int(group["item_id"].nunique())}
        row.update(summarize_binary(sub["emphasized_correct"], ci_method, confidence, n_boot, seed))
        if "first_token_top1" in sub.columns:
            top = summarize_binary(sub["first_token_top1"], ci_method, confidence, n_boot, seed)
            row.update(top1_rate=top["rate"], top1_ci_low=top["ci_low"], top1_ci_high=top["ci_high"])
        if all(c in sub.columns for c in _PROB_COLUMNS):
            change = sub["answer_prob_emphasized"] - sub["answer_prob_unlearned"]
            low, high = bootstrap_ci(change, confidence, n_boot, seed)
            row.update(prob_change=float(change.mean()) if len(change) else float("nan"),
                       prob_change_ci_low=low, prob_change_ci_high=high)
        return row

    return per_group(data, cols, summarise)


def key_vs_control(
    frame: pd.DataFrame,
    key_source: str = "base_key",
    control_source: str = "control",
    by: Sequence[str] = ("method", "domain", "style"),
    mid_p: bool = False,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Paired comparison of key vs control emphasis on the same eligible items, per group of ``by``.

    Columns: ``*by, key_source, control_source, n_pairs, n_unpaired, key_rate, control_rate,
    diff, diff_ci_low, diff_ci_high, b, c, p_value, test``. ``diff`` = key_rate - control_rate
    (positive: key tokens recover more). Eligible items present under only one of the two sources
    are left out of the pairs and counted in ``n_unpaired``.
    """
    cols = [c for c in by if c != "source"]
    data, _ = _validate_recovery(frame, [*cols, "source"])
    for name in (key_source, control_source):
        if name not in set(data["source"]):
            raise UsageError(
                f"key_vs_control: source {name!r} not in the frame; sources present: "
                f"{', '.join(sorted(map(str, data['source'].unique())))}"
            )
    data = data[data["source"].isin([key_source, control_source])]
    status = data.groupby([*cols, "item_id"], observed=True)[["base_correct", "unlearned_correct"]].nunique()
    if (status > 1).any().any():
        raise UsageError("key_vs_control: base_correct/unlearned_correct differ between sources for the same item")

    def summarise(group: pd.DataFrame) -> dict[str, Any]:
        sub = group[eligible_items(group)]
        wide = sub.pivot(index="item_id", columns="source", values="emphasized_correct")
        for name in (key_source, control_source):
            if name not in wide.columns:
                wide[name] = pd.NA
        paired = wide.dropna(subset=[key_source, control_source])
        key = paired[key_source].astype(bool).to_numpy()
        ctl = paired[control_source].astype(bool).to_numpy()
        test = mcnemar_test(key, ctl, mid_p=mid_p)
        diff, low, high = paired_bootstrap_diff_ci(key, ctl, confidence, n_boot, seed)
        n = len(paired)
        return {
            "key_source": key_source, "control_source": control_source,
            "n_pairs": n, "n_unpaired": int(len(wide) - n),
            "key_rate": key.mean() if n else float("nan"), "control_rate": ctl.mean() if n else float("nan"),
            "diff": diff, "diff_ci_low": low, "diff_ci_high": high,
            "b": test.b, "c": test.c, "p_value": test.p_value, "test": f"McNemar {test.method}",
        }

    return per_group(data, cols, summarise)


def combine_styles(frame: pd.DataFrame, name: str = "any", styles: Sequence[str] | None = None) -> pd.DataFrame:
    """Add rows for an attacker who tries several styles and keeps the best outcome.

    Returns ``frame`` plus, per (item, method, domain, source[, extra columns]), one row with
    ``style = name``: ``emphasized_correct`` and ``first_token_top1`` = OR over the styles (all
    by default), ``answer_prob_emphasized`` = max over them. Compare with single styles knowing
    that "any of k tries" is easier to pass.
    """
    full, _ = _validate_recovery(frame, RECOVERY_GROUPS)
    data = full
    if name in set(data["style"]):
        raise UsageError(f"combine_styles: style name {name!r} already used in the frame")
    if styles is not None:
        unknown = sorted(set(styles) - set(data["style"]))
        if unknown:
            raise UsageError(f"combine_styles: unknown style(s) {', '.join(unknown)}; "
                             f"present: {', '.join(sorted(map(str, data['style'].unique())))}")
        data = data[data["style"].isin(list(styles))]
    best = {"emphasized_correct": "any", "first_token_top1": "any", "answer_prob_emphasized": "max"}
    best = {col: how for col, how in best.items() if col in data.columns}
    keys = [c for c in data.columns if c not in {"style", *best}]
    combined = data.groupby(keys, observed=True, dropna=False, sort=False).agg(best).reset_index()
    combined["style"] = name
    return pd.concat([full, combined[list(full.columns)]], ignore_index=True)
