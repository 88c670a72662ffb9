"""Teacher-forced gold scores and greedy answers on a pretrained model: ``unpact.scoring`` against the stock way.

    python benchmarks/scoring.py [--model smollm2-135m] [--n 160] [--threads 2] [--json FILE]

Every check of a probed unlearning run (``unpact.unlearn.probes.ForgetProbe``) scores each forget question
teacher forced (gold log-prob and first-token rank) and greedily answers it, under every probe condition,
and the plain evaluations do the same; on a pretrained model in its chat format that dominates the
``quick`` book's time. This script times both on the same ``--n`` chat prompts (the model's ``facts``
questions: forget, retain and general, in that order) side by side in one process:

- *scores*: the reference is one right-padded pass per batch of 64 that projects every position onto the
  vocabulary and log-softmaxes all of it (what ``gold_measures`` did before); unpact's
  ``target_scores`` left-pads, runs a prefix shared by the batch once (the chat template's system
  prompt), batches by length and projects only the answer positions (``unpact.scoring.teacher_forced``).
- *greedy*: the reference is ``transformers``' ``generate`` (greedy, left-padded batches of 64, stops when
  every row has ended); unpact's ``greedy_answers`` also runs the shared prefix once, projects only the
  last prompt position, and drops a row from the batch at its EOS or newline.

Both must agree: the largest gold log-prob difference, equal first ranks and identical answers (after
the same cut at EOS and the first newline) are printed beside the speed ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unpact.evaluate import DEFAULT_MAX_NEW_TOKENS  # noqa: E402
from unpact.prompts import format_prompt, format_target  # noqa: E402
from unpact.report import write_benchmark  # noqa: E402
from unpact.scoring import encode_prompt, encode_target, greedy_answers, pad_id, target_scores  # noqa: E402
from unpact.study import Study, StudyConfig  # noqa: E402

CODE = ("benchmarks/scoring.py", "unpact/scoring.py")
BATCH = 64


@torch.no_grad()
def reference_scores(model: Any, prompts: Sequence[list[int]], targets: Sequence[list[int]],
                     pad: int) -> list[tuple[float, int]]:
    """(mean gold log-prob, first-token rank) from right-padded full-vocabulary passes."""
    out = []
    for start in range(0, len(prompts), BATCH):
        chunk = list(zip(prompts[start:start + BATCH], targets[start:start + BATCH]))
        width = max(len(p) + len(t) for p, t in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, (p, t) in enumerate(chunk):
            ids[row, :len(p) + len(t)] = torch.tensor(p + t)
            mask[row, :len(p) + len(t)] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        for row, (p, t) in enumerate(chunk):
            pos = torch.arange(len(p) - 1, len(p) + len(t) - 1)
            first = logits[row, len(p) - 1]
            out.append((float(logp[row, pos, torch.tensor(t)].mean()), int((first > first[t[0]]).sum()) + 1))
    return out


@torch.no_grad()
def reference_greedy(model: Any, tokenizer: Any, prompts: Sequence[list[int]], new_tokens: int) -> list[str]:
    """``model.generate`` (greedy) on left-padded batches, cut at EOS and the first newline."""
    pad, eos = pad_id(tokenizer), tokenizer.eos_token_id
    answers = []
    for start in range(0, len(prompts), BATCH):
        chunk = prompts[start:start + BATCH]
        width = max(len(p) for p in chunk)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        generated = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False,
                                   pad_token_id=pad, eos_token_id=eos)[:, width:]
        for row in generated.tolist():
            row = row[:row.index(eos)] if eos in row else row
            answers.append(tokenizer.decode(row, skip_special_tokens=True).split("\n", 1)[0].strip())
    return answers


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="a name of `unpact models` or a model folder")
    parser.add_argument("--n", type=int, default=160, help="chat prompts (facts questions: forget, retain, general)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the table for the book's Performance page here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    study = Study(StudyConfig(base_model=args.model, domains=("facts",), methods=("npo",)))
    items = list(study.items("facts"))[:args.n]
    model, tok = study.load(study.base_dir)
    fmt = study.prompt_format
    prompts = [encode_prompt(tok, format_prompt(tok, it.question, fmt))[0] for it in items]
    targets = [encode_target(tok, format_target(it.answer, fmt)) for it in items]
    new_tokens = DEFAULT_MAX_NEW_TOKENS[fmt]
    model(input_ids=torch.tensor([prompts[0]]))  # warm-up
    ref_scores, ref_s = timed(lambda: reference_scores(model, prompts, targets, pad_id(tok)))
    our_scores, our_s = timed(lambda: target_scores(model, prompts, targets, pad_id(tok), BATCH))
    texts = [format_prompt(tok, it.question, fmt) for it in items]
    ref_answers, ref_g = timed(lambda: reference_greedy(model, tok, prompts, new_tokens))
    our_answers, our_g = timed(lambda: greedy_answers(model, tok, texts, new_tokens, BATCH))
    rows = [
        {"measure": "gold log-prob and first rank (teacher forced)", "prompts": len(items),
         "reference": "right-padded full-vocabulary pass", "reference_s": round(ref_s, 2), "unpact_s": round(our_s, 2),
         "speedup": round(ref_s / our_s, 2),
         "max_abs_diff": max(abs(a[0] - b[0]) for a, b in zip(ref_scores, our_scores)),
         "identical": sum(a[1] == b[1] for a, b in zip(ref_scores, our_scores))},
        {"measure": f"greedy answers ({new_tokens} new tokens at most)", "prompts": len(items),
         "reference": "transformers generate (greedy)", "reference_s": round(ref_g, 2), "unpact_s": round(our_g, 2),
         "speedup": round(ref_g / our_g, 2), "max_abs_diff": None,
         "identical": sum(a == b for a, b in zip(ref_answers, our_answers))},
    ]
    for r in rows:
        print(r)
    if args.json:
        command = (f"python benchmarks/scoring.py --model {args.model} --n {args.n} --threads {args.threads} "
                   f"--json {args.json}")
        write_benchmark(args.json, f"Scoring and greedy answers: {args.model}, {fmt} prompts, side by side", command,
                        rows, "identical = first ranks (scores) or answers (greedy) equal to the reference's, of "
                        "`prompts`; max_abs_diff = largest gold log-prob difference (nats per token).", code=CODE)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
