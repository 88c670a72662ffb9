"""Each method's loss equals an independent, hand-written computation of its formula on a fixed batch.

The expected values use one unpadded forward pass per example and explicit loops over answer
tokens (and vocabulary, for KL), never the package's loss helpers.
"""
from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from tests.conftest import TINY_WORDS, make_tiny_model, make_word_tokenizer
from unpact.prompts import qa_prompt, qa_target
from unpact.unlearn import build_params, get_method
from unpact.unlearn.batches import collate, encode_pair
from unpact.unlearn.methods.idk_dpo import IdkDPO

WORDS = tuple(TINY_WORDS) + ("I", "don't", "know")
FORGET = [("what city was Mira born in ?", "Paris"), ("which prize the painter won ?", "Oslo award")]
RETAIN = [("what job was Tolan father ?", "writer"), ("which city is Veska in ?", "Lima Rome")]



def _ids(tok: Any, prompt: str, target: str) -> tuple[list[int], int]:
    p = tok(prompt)["input_ids"]
    t = tok(target, add_special_tokens=False)["input_ids"]
    return p + t, len(p)


def _answer_logprobs(model: Any, tok: Any, pairs: list[tuple[str, str]]) -> list[list[float]]:
    """log p(y_k | x, y_<k) for every answer token, one example at a time."""
    out = []
    for q, a in pairs:
        ids, start = _ids(tok, qa_prompt(q), qa_target(a))
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
        row = []
        for k in range(start, len(ids)):
            logp = logits[k - 1] - torch.logsumexp(logits[k - 1], dim=0)
            row.append(float(logp[ids[k]]))
        out.append(row)
    return out


def _mean_nll(rows: list[list[float]]) -> float:
    return -sum(sum(r) for r in rows) / sum(len(r) for r in rows)


def _logsig(x: float) -> float:
    return math.log(1.0 / (1.0 + math.exp(-x)))


@pytest.fixture
def setup() -> dict[str, Any]:
    tok = make_word_tokenizer(WORDS)
    model = make_tiny_model("llama", len(tok), seed=0)
    ref = make_tiny_model("llama", len(tok), seed=1)  # a different "reference" so that ratios and KL are non-zero
    return {"tok": tok, "model": model, "ref": ref}


def _run(name: str, s: dict[str, Any], params: dict[str, Any] | None = None) -> tuple[Any, dict[str, torch.Tensor]]:
    cls = get_method(name)
    m = cls(build_params(cls.Params, params, name))
    m.setup(s["model"], s["ref"], s["tok"], torch.Generator().manual_seed(0))
    f = collate([encode_pair(s["model"], s["tok"], qa_prompt(q), qa_target(a)) for q, a in FORGET], 0)
    r = collate([encode_pair(s["model"], s["tok"], qa_prompt(q), qa_target(a)) for q, a in RETAIN], 0)
    terms = m.loss(s["model"], s["ref"], f, r)
    m.teardown()
    return m, terms


def _kl_by_hand(model: Any, ref: Any, tok: Any, pairs: list[tuple[str, str]]) -> float:
    total, n = 0.0, 0
    for q, a in pairs:
        ids, start = _ids(tok, qa_prompt(q), qa_target(a))
        with torch.no_grad():
            lm = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
            lr = torch.log_softmax(ref(input_ids=torch.tensor([ids])).logits[0].double(), -1)
        for k in range(start, len(ids)):
            total += sum(math.exp(float(lr[k - 1, v])) * float(lr[k - 1, v] - lm[k - 1, v])
                         for v in range(lm.shape[-1]))
            n += 1
    return total / n


def test_ga(setup: dict[str, Any]) -> None:
    _, terms = _run("ga", setup)
    expected = -_mean_nll(_answer_logprobs(setup["model"], setup["tok"], FORGET))
    assert float(terms["loss"].detach()) == pytest.approx(expected, rel=1e-5)
    assert math.isnan(float(terms["retain_loss"].detach()))


def test_ga_gdr(setup: dict[str, Any]) -> None:
    _, terms = _run("ga_gdr", setup, {"forget_weight": 0.7, "retain_weight": 2.5})
    f = -_mean_nll(_answer_logprobs(setup["model"], setup["tok"], FORGET))
    r = _mean_nll(_answer_logprobs(setup["model"], setup["tok"], RETAIN))
    assert float(terms["loss"].detach()) == pytest.approx(0.7 * f + 2.5 * r, rel=1e-5)


def test_ga_klr(setup: dict[str, Any]) -> None:
    _, terms = _run("ga_klr", setup, {"forget_weight": 1.0, "retain_weight": 3.0})
    f = -_mean_nll(_answer_logprobs(setup["model"], setup["tok"], FORGET))
    kl = _kl_by_hand(setup["model"], setup["ref"], setup["tok"], RETAIN)
    assert kl > 0
    assert float(terms["retain_loss"].detach()) == pytest.approx(kl, rel=1e-4)
    assert float(terms["loss"].detach()) == pytest.approx(f + 3.0 * kl, rel=1e-4)


def _npo_by_hand(s: dict[str, Any], beta: float) -> float:
    lp = [sum(r) for r in _answer_logprobs(s["model"], s["tok"], FORGET)]
    lp_ref = [sum(r) for r in _answer_logprobs(s["ref"], s["tok"], FORGET)]
    return -(2 / beta) * sum(_logsig(-beta * (a - b)) for a, b in zip(lp, lp_ref)) / len(lp)


def test_npo_uses_sequence_logprobs(setup: dict[str, Any]) -> None:
    _, terms = _run("npo", setup, {"beta": 0.3})
    assert float(terms["loss"].detach()) == pytest.approx(_npo_by_hand(setup, 0.3), rel=1e-5)


def test_npo_gdr_and_klr(setup: dict[str, Any]) -> None:
    npo = _npo_by_hand(setup, 0.1)
    _, gdr = _run("npo_gdr", setup, {"retain_weight": 0.5})
    retain_nll = _mean_nll(_answer_logprobs(setup["model"], setup["tok"], RETAIN))
    assert float(gdr["loss"].detach()) == pytest.approx(npo + 0.5 * retain_nll, rel=1e-5)
    _, klr = _run("npo_klr", setup, {"retain_weight": 2.0, "forget_weight": 0.5})
    kl = _kl_by_hand(setup["model"], setup["ref"], setup["tok"], RETAIN)
    assert float(klr["loss"].detach()) == pytest.approx(0.5 * npo + 2.0 * kl, rel=1e-4)


def test_simnpo(setup: dict[str, Any]) -> None:
    beta, delta = 2.0, 0.5
    _, terms = _run("simnpo", setup, {"beta": beta, "delta": delta, "retain_weight": 0.0})
    rows = _answer_logprobs(setup["model"], setup["tok"], FORGET)
    expected = -(2 / beta) * sum(_logsig(beta * (-sum(r) / len(r) - delta)) for r in rows) / len(rows)
    assert float(terms["forget_loss"].detach()) == pytest.approx(expected, rel=1e-5)
    assert float(terms["loss"].detach()) == pytest.approx(expected, rel=1e-5)


def test_idk_dpo(setup: dict[str, Any]) -> None:
    beta = 0.2
    m, terms = _run("idk_dpo", setup, {"beta": beta, "retain_weight": 0.0,
                                       "idk_answers": ["I don't know", "no such words"]})
    assert m.answers == ("I don't know",)  # "no such words" has unknown words in this vocabulary
    win_pairs = [(q, "I don't know") for q, _ in FORGET]
    w = [sum(r) for r in _answer_logprobs(setup["model"], setup["tok"], win_pairs)]
    wr = [sum(r) for r in _answer_logprobs(setup["ref"], setup["tok"], win_pairs)]
    lo = [sum(r) for r in _answer_logprobs(setup["model"], setup["tok"], FORGET)]
    lr = [sum(r) for r in _answer_logprobs(setup["ref"], setup["tok"], FORGET)]
    expected = -(2 / beta) * sum(_logsig(beta * ((a - b) - (c - d))) for a, b, c, d in zip(w, wr, lo, lr)) / len(w)
    assert float(terms["loss"].detach()) == pytest.approx(expected, rel=1e-5)


def test_idk_dpo_without_known_words_is_a_usage_error(setup: dict[str, Any]) -> None:
    from unpact.errors import UsageError

    m = IdkDPO(build_params(IdkDPO.Params, {"idk_answers": ["nobody knows"]}, "idk_dpo"))
    with pytest.raises(UsageError, match="idk_answers"):
        m.setup(setup["model"], setup["ref"], setup["tok"], torch.Generator())


def test_task_vector_reinforces(setup: dict[str, Any]) -> None:
    _, terms = _run("task_vector", setup)
    forget_nll = _mean_nll(_answer_logprobs(setup["model"], setup["tok"], FORGET))
    assert float(terms["loss"].detach()) == pytest.approx(forget_nll, rel=1e-5)


def test_rmu(setup: dict[str, Any]) -> None:
    coef, weight, seed = 7.0, 3.0, 0
    m, terms = _run("rmu", setup, {"steering_coef": coef, "retain_weight": weight})
    assert m.layer == 2
    u = torch.rand(32, generator=torch.Generator().manual_seed(seed))
    target = coef * u / u.norm()

    def hidden(model: Any, q: str, a: str) -> torch.Tensor:
        ids, _ = _ids(setup["tok"], qa_prompt(q), qa_target(a))
        with torch.no_grad():
            # the output of block 2
            return model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[3][0]

    f_sum, f_n = 0.0, 0
    for q, a in FORGET:
        h = hidden(setup["model"], q, a)
        f_sum += float(((h - target) ** 2).sum())
        f_n += h.numel()
    r_sum, r_n = 0.0, 0
    for q, a in RETAIN:
        h, h_ref = hidden(setup["model"], q, a), hidden(setup["ref"], q, a)
        r_sum += float(((h - h_ref) ** 2).sum())
        r_n += h.numel()
    assert float(terms["forget_loss"].detach()) == pytest.approx(f_sum / f_n, rel=1e-5)
    assert float(terms["retain_loss"].detach()) == pytest.approx(r_sum / r_n, rel=1e-5)
    assert float(terms["loss"].detach()) == pytest.approx(f_sum / f_n + weight * r_sum / r_n, rel=1e-5)
