"""Issue 11: the linear probe (hidden vs erased), the planted positive control, and the operating-point
rerun's premise (the first s steps of a run do not depend on its budget)."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from unpact.data.schema import QAItem
from unpact.data.synthetic import WorldConfig, build_world
from unpact.errors import UsageError
from unpact.findings.planted import REFERENCE, TREATMENT, planted_estimate
from unpact.findings.verdicts import NOT_TESTABLE
from unpact.organism import RECORD_FILE, phrasing_items
from unpact.plots import plot_linear_probe, plot_relearning
from unpact.prompts import format_prompt
from unpact.scoring import encode_prompt
from unpact.unlearn import Budget, unlearn
from unpact.unlearn.linear_probe import PROBE_COLUMNS, last_token_states, probe_accuracy, ridge_probe

FORGET = [QAItem(id=f"f{i}", question=q, answer=a, split="forget") for i, (q, a) in enumerate(
    [("what city was Mira born in ?", "Paris"), ("what job was Tolan father ?", "painter")])]
RETAIN = [QAItem(id=f"r{i}", question=q, answer=a, split="retain") for i, (q, a) in enumerate(
    [("what city was Veska born in ?", "Rome"), ("what job is the writer ?", "writer")])]


def _codes(n: int, n_classes: int, width: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features = a fixed random code of the class + Gaussian noise."""
    rng = np.random.default_rng(seed)
    code = np.random.default_rng(99).normal(size=(n_classes, width))
    y = np.arange(n) % n_classes
    return code[y] + noise * rng.normal(size=(n, width)), y


def test_ridge_probe_reads_a_linear_code_and_is_at_chance_without_one() -> None:
    x_train, y_train = _codes(40, 4, 16, 0.3, 0)
    x_test, y_test = _codes(40, 4, 16, 0.3, 1)
    every = [list(range(4))] * 40
    pred, lam = ridge_probe(x_train, y_train, x_test, every, every, 4)
    assert (pred == y_test).mean() == 1.0 and lam > 0
    # labels unrelated to the features: the probe cannot transfer (chance is 1/4)
    shuffled = np.random.default_rng(2).permutation(y_train)
    noise = np.random.default_rng(3).normal(size=x_test.shape)
    pred, _ = ridge_probe(x_train, shuffled, noise, every, every, 4)
    assert (pred == y_test).mean() < 0.5
    # candidates restrict the argmax: with one candidate the prediction is that candidate
    pred, _ = ridge_probe(x_train, y_train, x_test, every, [[2]] * 40, 4)
    assert (pred == 2).all()


def test_probe_accuracy_per_layer_with_relation_candidates(tiny_llama: tuple[Any, Any]) -> None:
    model, tok = tiny_llama
    def items(split: str, rows: list[tuple[str, str, str]]) -> list[QAItem]:
        return [QAItem(id=f"{split}{i}", question=q, answer=a, relation=r, split=split)
                for i, (q, a, r) in enumerate(rows)]

    train = items("r", [("what city was Mira born in ?", "Paris", "city"),
                        ("what city was Tolan born in ?", "Rome", "city"),
                        ("what job was Mira father ?", "writer", "job"),
                        ("what job was Tolan father ?", "painter", "job")])
    test = items("f", [("what city was Veska born in ?", "Rome", "city"),
                       ("what job was Veska father ?", "painter", "job"),
                       ("what city was Veska born in ?", "Oslo", "city")])  # Oslo is never a train answer: unscorable
    frame = probe_accuracy(model, tok, train, test, prompt_format="plain")
    assert tuple(frame.columns) == PROBE_COLUMNS
    assert list(frame["layer"]) == list(range(model.config.num_hidden_layers + 1))
    assert (frame["chance"] == 0.5).all()  # two train answers per relation
    assert (frame["n_test"] == 2).all() and (frame["n_unscorable"] == 1).all() and (frame["n_train"] == 4).all()
    assert frame["accuracy"].isin([0.0, 0.5, 1.0]).all()
    # answers that no train item of the relation has (facts: capitals) leave nothing to score: NaN, not chance
    unique = probe_accuracy(model, tok, train, test[2:], prompt_format="plain")
    assert unique["accuracy"].isna().all() and (unique["n_test"] == 0).all() and (unique["n_unscorable"] == 1).all()
    assert len(unique) == len(frame)
    states = last_token_states(model, tok, [it.question for it in train], "plain")
    assert states.shape == (model.config.num_hidden_layers + 1, 4, model.config.hidden_size)
    # the last layer's state at the last prompt token is what the LM head reads there
    ids = encode_prompt(tok, format_prompt(tok, train[0].question, "plain"))[0]
    with torch.no_grad():
        direct = model(input_ids=torch.tensor([list(ids)])).logits[0, -1]
        read = model.lm_head(torch.tensor(states[-1, 0], dtype=torch.float32))
    torch.testing.assert_close(read, direct, atol=1e-4, rtol=1e-4)
    with pytest.raises(UsageError):
        probe_accuracy(model, tok, train[:1], test)


def test_first_steps_of_a_run_do_not_depend_on_its_budget(tiny_llama: tuple[Any, Any]) -> None:
    """The premise of ``Study.operating_dir``: a run of s steps ends where a longer run was at step s."""
    model, tok = tiny_llama
    seen: dict[int, list[torch.Tensor]] = {}

    def probe(m: Any, _tok: Any, step: int) -> pd.DataFrame:
        seen[step] = [p.detach().clone() for p in m.parameters()]
        return pd.DataFrame({"item_id": []})

    params = {"eval_every": 2, "batch_size": 2, "retain_batch_size": 2}
    short = unlearn(copy.deepcopy(model), tok, FORGET, RETAIN, "npo", params, Budget(steps=2), progress=False).model
    unlearn(copy.deepcopy(model), tok, FORGET, RETAIN, "npo", params, Budget(steps=5), progress=False, probe=probe)
    assert all(torch.equal(a, b) for a, b in zip(short.parameters(), seen[2]))
    assert not all(torch.equal(a, b) for a, b in zip(short.parameters(), seen[4]))


def test_phrasing_items_reword_the_same_facts(tmp_path: Path) -> None:
    cfg = WorldConfig(forget_entities=2, retain_entities=2, relations=2, arithmetic_max=2, opposites=2, unanswerable=2)
    (tmp_path / RECORD_FILE).write_text(json.dumps({"world": cfg.to_dict()}))
    world = build_world(cfg)
    canonical = world.items("news", "forget")
    reworded = phrasing_items(tmp_path, "news", "forget", 1)
    assert [it.id for it in reworded] == [it.id for it in canonical]
    assert [it.answer for it in reworded] == [it.answer for it in canonical]
    assert all(a.question != b.question and b.entity in a.question for a, b in zip(reworded, canonical))
    assert phrasing_items(tmp_path, "news", "forget", 0) == canonical
    with pytest.raises(UsageError):
        phrasing_items(tmp_path, "news", "forget", 2)


def _planted_frame(n_questions: int, shift: float) -> pd.DataFrame:
    """One run; every question known at step 0 and forgotten (plain) at step 1; ``other_form`` = plain + shift
    (+ a small per-question spread); utility kept."""
    rows = []
    for step in (0, 1):
        for q in range(n_questions):
            base = -1.0 - 3 * step
            for cond, lp in ((REFERENCE, base), (TREATMENT, base + step * (shift + 0.05 * (q % 3 - 1)))):
                rows.append(dict(method="npo", domain="news", step=step, item_id=f"q{q}", condition=cond, gold_lp=lp,
                                 first_rank=1, correct=step == 0 or (cond == TREATMENT and shift > 0 and q % 2 == 0)))
        for u in range(3):
            rows.append(dict(method="npo", domain="news", step=step, item_id=f"u{u}", condition="utility",
                             gold_lp=math.nan, first_rank=-1, correct=True))
    return pd.DataFrame(rows)


def test_planted_control_detects_a_planted_effect_and_says_when_it_cannot() -> None:
    found = planted_estimate(_planted_frame(12, 1.0), n_boot=200)
    assert found["status"] == "detected" and found["n_questions"] == 12
    assert found["value"] == pytest.approx(1.0) and found["ci_low"] > 0
    assert found["recovered"] == pytest.approx(0.5)
    assert planted_estimate(_planted_frame(12, 0.0), n_boot=200)["status"] == "not detected"
    few = planted_estimate(_planted_frame(4, 1.0), n_boot=200)
    assert few["status"] == NOT_TESTABLE and "4 forgotten questions" in few["reason"]
    assert planted_estimate(pd.DataFrame(), n_boot=200)["status"] == NOT_TESTABLE


def test_probe_and_relearning_figures_draw_both_points() -> None:
    probe = pd.DataFrame([dict(method=m, domain="news", point=p, layer=layer, accuracy=0.5, chance=0.25, greedy=0.0)
                          for m, p in (("base", "base"), ("ga", "operating point"), ("ga", "end of budget"))
                          for layer in range(3)])
    assert len(plot_linear_probe(probe).axes[0].lines) == 4
    relearn = pd.DataFrame([dict(method=m, domain="news", point=p, heldout_before=0.0, heldout_after=0.5)
                            for m, p in (("base", "base"), ("ga", "operating point"), ("ga", "end of budget"))])
    labels = [t.get_text() for t in plot_relearning(relearn).axes[0].get_xticklabels()]
    assert labels == ["base", "ga (end)", "ga (op)"]
