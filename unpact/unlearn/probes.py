"""Probes of what an unlearned model still knows: gold-answer log-probs along the trajectory, relearning.

- ``gold_measures``: per (question, gold answer), teacher forced in the model's prompt format
  (``unpact.prompts.format_prompt`` / ``format_target``):
      gold_lp    = LP(x, y) = (1/T) sum_k log p(y_k | x, y_<k)   (mean nats per answer token)
      first_rank = 1 + #{v : logit_v > logit_{y_1}} at the answer's first position (1 = top-1).
  Continuous measures: they move long before a greedy answer flips.
- ``ForgetProbe``: a callback for ``unpact.unlearn.unlearn(..., probe=...)``. At every check of the
  loop (step 0, every ``eval_every`` steps, every step up to ``check_every_step_until``, the last step)
  it scores the forget items under each *condition* (a question text per item: plain, key emphasis,
  control emphasis, oracle hint, ...) and the greedy answer's correctness, plus the accuracy on
  ``utility_items`` (held-out items no method trains on): one row per (step, item, condition) with
  ``gold_lp, first_rank, correct``, and rows with ``condition = "utility"`` (``item_id`` of the utility item).
- ``AttributionProbe``: at the checks whose step is 0, a power of two or a multiple of ``every`` (dense
  early, where the answers go, sparse late; ``attributed_step``), the unPact contributions
  (``unpact.attribution.Attributor``, leave-one-word-out by default) of the attributed questions for fixed
  targets: one row per (step, item, word) with ``position, unit, contribution``. Raw contributions, so
  any KeyToken rule can be applied afterwards against step 0 (``unpact.findings.focus_depth.focus_frame``);
  step 0 may reuse an attribution of the base model already computed (``base``).
- ``ProbeSet``: several probes at the same checks, each row tagged with its probe's name (``kind``);
  ``probe_rows`` reads one kind back from a run folder.
- ``relearn_probe``: the relearning attack (Lynch et al. 2024; Deeb & Roger 2024): fine-tune a copy
  of the unlearned model for ``steps`` AdamW steps on one half of the forget items (answer-token
  loss), then greedy accuracy on the *other* half, which it never saw. Knowledge that comes back on
  the unseen half was hidden, not erased.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from unpact.data.schema import QAItem
from unpact.errors import UsageError
from unpact.evaluate import evaluate_items
from unpact.modeling import model_device
from unpact.prompts import format_prompt, format_target, resolve_prompt_format
from unpact.scoring import check_fits, encode_prompt, encode_target, pad_id, target_scores

if TYPE_CHECKING:
    from unpact.attribution import AttributionResult

PROBE_COLUMNS = ("step", "item_id", "condition", "gold_lp", "first_rank", "correct")
ATTRIBUTION_COLUMNS = ("step", "item_id", "position", "unit", "contribution")


def gold_measures(model: Any, tokenizer: Any, questions: Sequence[str], answers: Sequence[str],
                  prompt_format: str = "auto", batch_size: int = 64) -> pd.DataFrame:
    """``gold_lp`` and ``first_rank`` (module docstring; ``unpact.scoring.target_scores``) of each
    (question, answer) pair, in order."""
    if len(questions) != len(answers):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
    fmt = resolve_prompt_format(tokenizer, prompt_format)
    prompts = [encode_prompt(tokenizer, format_prompt(tokenizer, q, fmt))[0] for q in questions]
    targets = [encode_target(tokenizer, format_target(a, fmt)) for a in answers]
    for p, t in zip(prompts, targets):
        check_fits(model, len(p), len(t))
    scores = target_scores(model, prompts, targets, pad_id(tokenizer), batch_size)
    return pd.DataFrame(scores, columns=["gold_lp", "first_rank"])


@dataclass
class ForgetProbe:
    """Scores ``items`` under each condition of ``questions`` (condition -> one question per item).

    Call it as ``probe(model, tokenizer, step)``; it returns the rows of ``PROBE_COLUMNS`` (see the
    module docstring). ``judge``/``prompt_format`` as in ``unpact.evaluate.evaluate_items``.
    """

    items: Sequence[QAItem]
    questions: Mapping[str, Sequence[str]]
    utility_items: Sequence[QAItem] = ()
    prompt_format: str = "auto"
    judge: str | None = None

    def __post_init__(self) -> None:
        for name, qs in self.questions.items():
            if len(qs) != len(self.items):
                raise UsageError(f"probe condition {name!r}: {len(qs)} questions for {len(self.items)} items")

    def __call__(self, model: Any, tokenizer: Any, step: int) -> pd.DataFrame:
        names = list(self.questions)
        shown = [q for name in names for q in self.questions[name]]
        repeated = list(self.items) * len(names)
        measures = gold_measures(model, tokenizer, shown, [it.answer for it in repeated], self.prompt_format)
        greedy = evaluate_items(model, tokenizer, repeated, questions=shown, judge=self.judge,
                                with_probabilities=False, prompt_format=self.prompt_format)
        frame = pd.DataFrame({"step": step, "item_id": [str(it.id) for it in repeated],
                              "condition": [name for name in names for _ in self.items],
                              "gold_lp": measures["gold_lp"], "first_rank": measures["first_rank"],
                              "correct": greedy["correct"].astype(bool).to_numpy()})
        if self.utility_items:
            utility = evaluate_items(model, tokenizer, list(self.utility_items), judge=self.judge,
                                     with_probabilities=False, prompt_format=self.prompt_format)
            frame = pd.concat([frame, pd.DataFrame({
                "step": step, "item_id": utility["id"].astype(str), "condition": "utility", "gold_lp": math.nan,
                "first_rank": -1, "correct": utility["correct"].astype(bool).to_numpy()})], ignore_index=True)
        return frame


def attributed_step(step: int, every: int) -> bool:
    """Whether an ``AttributionProbe`` attributes at ``step``: 0 (the base model), a power of two, or a multiple
    of ``every``."""
    return step == 0 or step & (step - 1) == 0 or step % every == 0


@dataclass
class AttributionProbe:
    """Contributions of ``questions`` (ids ``ids``) to ``targets`` at the checks of ``attributed_step`` (step 0,
    the base model, always): rows of ``ATTRIBUTION_COLUMNS``, none at other checks.

    ``template`` and ``method`` as in ``unpact.attribution.Attributor.attribute``; words are the units.
    ``base``: the same attribution of the base model, already computed (an ``AttributionResult`` of these
    questions, targets, template and method, e.g. ``unpact.study.Study.attribution`` of the base folder): step 0
    (no update yet, so the base model) takes its rows instead of attributing again. Every method's
    trajectory starts from the same base model, so its step-0 map is computed once.
    """

    questions: Sequence[str]
    targets: Sequence[str]
    ids: Sequence[str]
    template: str | None = None
    method: str = "loo"
    every: int = 20
    base: AttributionResult | None = None
    last: tuple[int, AttributionResult | None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not len(self.questions) == len(self.targets) == len(self.ids):
            raise UsageError(f"attribution probe: {len(self.questions)} questions, {len(self.targets)} targets and "
                             f"{len(self.ids)} ids (one each per item)")
        if self.every < 1:
            raise UsageError(f"attribution probe: every must be >= 1 step, got {self.every}")
        if self.base is not None and [str(it.id) for it in self.base.items] != [str(i) for i in self.ids]:
            raise UsageError("attribution probe: the base attribution covers other items than the probe's ids")

    def __call__(self, model: Any, tokenizer: Any, step: int) -> pd.DataFrame:
        from unpact.attribution import Attributor

        if not attributed_step(step, self.every) or not self.questions:
            self.last = (step, None)
            return pd.DataFrame(columns=list(ATTRIBUTION_COLUMNS))
        if step == 0 and self.base is not None:
            result = self.base
        else:
            result = Attributor(model, tokenizer, method=self.method, granularity="word", progress=False).attribute(
                list(self.questions), list(self.targets), template=self.template, ids=[str(i) for i in self.ids])
        self.last = (step, result)
        return result.to_frame()[["item_id", "position", "unit", "contribution"]].assign(step=step)

    def final_result(self) -> AttributionResult | None:
        """The attribution made at the last check this probe saw, when that check was attributed (else ``None``).
        The loop's last check is its last step, so this is the map of the model the run returns: a caller can
        keep it as that model's attribution instead of computing it again."""
        return self.last[1] if self.last is not None else None


@dataclass
class ProbeSet:
    """Calls each probe of ``probes`` (name -> probe) at the same check; their rows, each with ``kind`` = the
    probe's name, in one frame (one ``PROBES_FILE`` per run)."""

    probes: Mapping[str, Any]

    def __call__(self, model: Any, tokenizer: Any, step: int) -> pd.DataFrame:
        parts = [probe(model, tokenizer, step).assign(kind=name) for name, probe in self.probes.items()]
        return pd.concat([p for p in parts if not p.empty], ignore_index=True) if parts else pd.DataFrame()


def probe_rows(folder: Any, kind: str) -> pd.DataFrame:
    """The rows of probe ``kind`` (a ``ProbeSet`` name) in the run folder's ``PROBES_FILE``, with only the
    columns that kind fills (a file written by a single probe, without ``kind``, is returned whole)."""
    from pathlib import Path

    from unpact.unlearn.artifact import PROBES_FILE

    # only empty cells are missing: a question word such as "None" or "NA" stays a word
    frame = pd.read_csv(Path(folder) / PROBES_FILE, dtype={"item_id": str, "unit": str}, keep_default_na=False,
                        na_values=[""], low_memory=False)
    if "kind" not in frame.columns:
        return frame
    kinds = sorted(frame["kind"].astype(str).unique())
    if kind not in kinds:
        raise UsageError(f"{Path(folder) / PROBES_FILE}: no {kind!r} probe rows (kinds here: {', '.join(kinds)})")
    part = frame[frame["kind"] == kind].drop(columns="kind").dropna(axis=1, how="all")
    if "correct" in part.columns:  # a CSV of mixed rows reads booleans as objects
        part = part.assign(correct=part["correct"].map({True: True, False: False, "True": True, "False": False}))
    integers = [c for c in ("step", "first_rank", "position") if c in part.columns]
    return part.astype({c: int for c in integers}).reset_index(drop=True)


def relearn_probe(model: Any, tokenizer: Any, forget_items: Sequence[QAItem], steps: int = 10, lr: float = 1e-3,
                  batch_size: int = 8, seed: int = 0, prompt_format: str = "auto",
                  judge: str | None = None) -> dict[str, float | int]:
    """Relearning attack (module docstring) on a deep copy of ``model``; ``model`` is left untouched.

    Items at even positions are relearned, those at odd positions are held out. Returns
    ``{n_train, n_heldout, steps, heldout_before, heldout_after, train_before, train_after}``
    (greedy accuracies; higher after = more knowledge came back).
    """
    from unpact.unlearn.batches import BatchStream, encode_pair
    from unpact.unlearn.losses import nll

    if len(forget_items) < 2:
        raise UsageError("relearn_probe needs at least 2 forget items (one half to relearn, one to test)")
    train, heldout = list(forget_items[0::2]), list(forget_items[1::2])
    fmt = resolve_prompt_format(tokenizer, prompt_format)

    def accuracy(m: Any, items: list[QAItem]) -> float:
        frame = evaluate_items(m, tokenizer, items, judge=judge, with_probabilities=False, prompt_format=fmt)
        return float(frame["correct"].mean())

    before = {"heldout_before": accuracy(model, heldout), "train_before": accuracy(model, train)}
    torch.manual_seed(seed)
    student = copy.deepcopy(model).train()
    for q in student.parameters():
        q.requires_grad_(True)
    examples = [encode_pair(student, tokenizer, format_prompt(tokenizer, it.question, fmt),
                            format_target(it.answer, fmt)) for it in train]
    stream = BatchStream(examples, batch_size, pad_id(tokenizer), torch.Generator().manual_seed(seed))
    optimizer = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0)
    device = model_device(student)
    for _ in range(steps):
        loss = nll(student, stream.next().to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    student.eval()
    return {"n_train": len(train), "n_heldout": len(heldout), "steps": steps, **before,
            "heldout_after": accuracy(student, heldout), "train_after": accuracy(student, train)}
