"""Finding 3 with the judges side by side and the shared-answer factor.

``judged_outcome_frame`` turns per-item evaluations (``unpact.evaluate.evaluate_items`` frames, which
carry ``exact``, ``contains`` and ``rouge_l_recall`` for every short answer) of the base model and
of each unlearned model into the input of ``unpact.findings.destruction.destructive_rates``, one row
per (item, method, judge), so the destructive rate can be read per judge:

- ``exact``    : normalised exact match (punishes an answer that lost its end-of-sequence and runs on);
- ``contains`` : the gold value is a whole-word span of the answer's first line;
- ``rouge_l``  : ROUGE-L recall of the gold >= ``rouge_threshold`` (default 0.5).

``answer_shared`` marks retain/general items whose gold answer (normalised: lower case, stripped) is
also the gold answer of some forget item of the same benchmark: unlearning that suppresses the
*answer string* hits them whatever the prompt, so they are a factor of their own rather than
evidence about prompt tokens.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from unpact.findings.frames import validate_frame

JUDGE_COLUMNS = {"exact": "exact", "contains": "contains", "rouge_l": "rouge_l_recall"}


def _correct(frame: pd.DataFrame, judge: str, rouge_threshold: float) -> pd.Series:
    column = frame[JUDGE_COLUMNS[judge]]
    return column.astype(float) >= rouge_threshold if judge == "rouge_l" else column.astype(bool)


def judged_outcome_frame(base: pd.DataFrame, unlearned: Mapping[str, pd.DataFrame], forget_answers: Iterable[str],
                         rouge_threshold: float = 0.5) -> pd.DataFrame:
    """``item_id, method, domain, split, judge, answer_shared, base_correct, unlearned_correct``.

    ``base`` and each ``unlearned[method]``: evaluation frames of the same items (``id, domain, split,
    gold, exact, contains, rouge_l_recall``); ``forget_answers``: the gold answers of the forget items.
    """
    need = ("id", "domain", "split", "gold", *JUDGE_COLUMNS.values())
    b = validate_frame(base, "base evaluation", need, unique=["id"]).set_index("id")
    shared_pool = {str(a).strip().lower() for a in forget_answers}
    shared = b["gold"].astype(str).str.strip().str.lower().isin(shared_pool) & (b["split"] != "forget")
    parts = []
    for method, frame in unlearned.items():
        u = validate_frame(frame, f"{method} evaluation", need, unique=["id"]).set_index("id").reindex(b.index)
        for judge in JUDGE_COLUMNS:
            parts.append(pd.DataFrame({
                "item_id": b.index, "method": method, "domain": b["domain"].to_numpy(), "split": b["split"].to_numpy(),
                "judge": judge, "answer_shared": shared.to_numpy(),
                "base_correct": _correct(b, judge, rouge_threshold).to_numpy(),
                "unlearned_correct": _correct(u, judge, rouge_threshold).to_numpy()}))
    return pd.concat(parts, ignore_index=True)
