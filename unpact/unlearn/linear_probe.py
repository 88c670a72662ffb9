"""Is the forgotten answer still linearly readable from the hidden states? A ridge probe per layer.

Design (a *transfer* probe, so that a high score cannot come from memorising the test facts):

- features: h_l(x), the hidden state of layer l (0 = embeddings, L = the last block's output as the
  model returns it) at the **last prompt token** of the question x in the model's prompt format
  (``unpact.prompts.format_prompt``): the position whose next-token distribution starts the answer;
- the probe is fitted on the model's **retain** items (same benchmark and relations, other entities:
  the model is meant to keep them) and tested on its **forget** items, which it never sees. The
  readout of "which value of this relation" learned on kept facts must then transfer to the
  forgotten facts: on the base model it does when the answers are encoded linearly (the LM head
  itself is linear), and an unlearned model whose greedy answer is gone but whose probe accuracy
  stays far above chance *hides* the knowledge rather than erasing it;
- classifier: ridge regression onto one-hot answers (a linear classifier probe, Alain & Bengio 2016,
  "Understanding intermediate layers using linear classifier probes"; latent-knowledge probes for
  unlearning: Patil et al. 2023, "Can sensitive information be deleted from LLMs?", Lynch et al. 2024,
  "Eight methods to evaluate robust unlearning"). With Z the train features standardised by their
  own mean and standard deviation, Y the one-hot answers and K = Z Z^T,
      alpha = (K + lambda I)^{-1} (Y - mean(Y)),   score(z) = z Z^T alpha + mean(Y),
  lambda chosen in ``LAMBDAS`` x d by leave-one-out accuracy on the train items (closed form:
  loo_i = y_i - e_i / (1 - H_ii) with H = K (K + lambda I)^{-1}, e the train residuals; ties go to the
  larger lambda);
- prediction: the argmax of the score over the **candidates** of the item: the train answers of the
  same relation (``QAItem.relation``; all train answers when items carry none), so knowing the
  relation earns nothing. Test items whose gold answer is not among their candidates cannot be
  scored and are left out (``n_unscorable``). Chance = mean over the scored items of 1 / #candidates.
  A benchmark whose forget answers are never retain answers of the same relation (``facts``: each
  capital belongs to one country) leaves nothing to score: every layer's accuracy is NaN with
  ``n_test`` 0, and the relearning probe (``unpact.unlearn.probes.relearn_probe``) is its test of
  hidden vs erased.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from unpact.data.schema import QAItem
from unpact.errors import UsageError
from unpact.modeling import model_device
from unpact.prompts import format_prompt, resolve_prompt_format
from unpact.scoring import encode_prompt, pad_id

LAMBDAS = (0.01, 0.1, 1.0, 10.0)
PROBE_COLUMNS = ("layer", "accuracy", "chance", "n_train", "n_test", "n_unscorable", "lam")


@torch.no_grad()
def last_token_states(model: Any, tokenizer: Any, questions: Sequence[str], prompt_format: str = "auto",
                      batch_size: int = 64) -> np.ndarray:
    """Hidden states at the last prompt token: an array (layers + 1, len(questions), width), float64."""
    fmt = resolve_prompt_format(tokenizer, prompt_format)
    prompts = [encode_prompt(tokenizer, format_prompt(tokenizer, q, fmt))[0] for q in questions]
    device, pad = model_device(model), pad_id(tokenizer)
    parts = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        ids = torch.full((len(chunk), max(map(len, chunk))), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, p in enumerate(chunk):
            ids[row, :len(p)] = torch.tensor(list(p))
            mask[row, :len(p)] = 1
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True)
        last = torch.tensor([len(p) - 1 for p in chunk])
        parts.append(torch.stack([h.float().cpu()[torch.arange(len(chunk)), last] for h in out.hidden_states]))
    return torch.cat(parts, dim=1).double().numpy()


def _candidates(train: Sequence[QAItem], item: QAItem, classes: list[str]) -> list[int]:
    same = {it.answer for it in train if item.relation is None or it.relation == item.relation}
    return [k for k, c in enumerate(classes) if c in same]


def _restricted_argmax(scores: np.ndarray, candidates: list[list[int]]) -> np.ndarray:
    return np.array([cand[int(np.argmax(s[cand]))] for s, cand in zip(scores, candidates)])


def ridge_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, train_candidates: list[list[int]],
                test_candidates: list[list[int]], n_classes: int) -> tuple[np.ndarray, float]:
    """Class predictions for ``test_x`` and the chosen lambda (module docstring: dual ridge, LOO-chosen lambda)."""
    mean, std = train_x.mean(0), train_x.std(0)
    std[std < 1e-8] = 1.0
    z, zt = (train_x - mean) / std, (test_x - mean) / std
    onehot = np.eye(n_classes)[train_y]
    y_mean = onehot.mean(0)
    centred = onehot - y_mean
    kernel = z @ z.T
    n, width = z.shape
    best: tuple[float, float, np.ndarray] | None = None
    for lam in (c * width for c in LAMBDAS):
        inverse = np.linalg.inv(kernel + lam * np.eye(n))
        alpha = inverse @ centred
        hat = kernel @ inverse
        residual = centred - hat @ centred
        loo = centred - residual / np.clip(1.0 - np.diag(hat), 1e-8, None)[:, None]
        score = float((_restricted_argmax(loo, train_candidates) == train_y).mean()) if n > 1 else 0.0
        if best is None or score >= best[0]:
            best = (score, lam, alpha)
    assert best is not None
    _, lam, alpha = best
    return _restricted_argmax(zt @ z.T @ alpha + y_mean, test_candidates), lam


def probe_accuracy(model: Any, tokenizer: Any, train_items: Sequence[QAItem], test_items: Sequence[QAItem],
                   prompt_format: str = "auto") -> pd.DataFrame:
    """Per layer (``PROBE_COLUMNS``): the transfer probe's accuracy on ``test_items`` (fitted on ``train_items``)
    and its chance level (module docstring)."""
    if len(train_items) < 2 or not test_items:
        raise UsageError(f"the linear probe needs at least 2 train items and 1 test item, got {len(train_items)} "
                         f"and {len(test_items)}")
    classes = sorted({it.answer for it in train_items})
    train_y = np.array([classes.index(it.answer) for it in train_items])
    train_cand = [_candidates(train_items, it, classes) for it in train_items]
    test_cand = [_candidates(train_items, it, classes) for it in test_items]
    scorable = [k for k, (it, cand) in enumerate(zip(test_items, test_cand))
                if it.answer in classes and classes.index(it.answer) in cand]
    n = len(train_items)
    if not scorable:  # e.g. facts: every capital is one country's, no retain item shares it; nothing to fit for
        layers = int(model.config.get_text_config().num_hidden_layers) + 1
        return pd.DataFrame([{"layer": layer, "accuracy": float("nan"), "chance": float("nan"), "n_train": n,
                              "n_test": 0, "n_unscorable": len(test_items), "lam": float("nan")}
                             for layer in range(layers)], columns=list(PROBE_COLUMNS))
    states = last_token_states(model, tokenizer, [it.question for it in train_items] +
                               [test_items[k].question for k in scorable], prompt_format)
    rows = []
    for layer, h in enumerate(states):
        pred, lam = ridge_probe(h[:n], train_y, h[n:], train_cand, [test_cand[k] for k in scorable], len(classes))
        gold = np.array([classes.index(test_items[k].answer) for k in scorable])
        accuracy, chance = float((pred == gold).mean()), float(np.mean([1 / len(test_cand[k]) for k in scorable]))
        rows.append({"layer": layer, "accuracy": accuracy, "chance": chance, "n_train": n, "n_test": len(scorable),
                     "n_unscorable": len(test_items) - len(scorable), "lam": lam})
    return pd.DataFrame(rows, columns=list(PROBE_COLUMNS))
