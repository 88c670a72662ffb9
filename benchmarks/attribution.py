"""Native leave-one-out vs captum ``LLMAttribution(FeatureAblation)`` (deletion semantics): same numbers, speed.

On the organism (CPU)::

    python benchmarks/attribution.py --model DIR [--data FILE.jsonl] [--n 50]

Without ``--data`` the model folder's first forget split (``DIR/unpact-data/*-forget.jsonl``)
is used; questions go through the QA template and only the question is attributed, target =
gold answer, token granularity. ``--random-model`` builds a random Llama the organism's size
(width 256, 4 layers, word vocabulary) instead, to develop without the organism.

On a GPU, a random ~1.1B Llama (TinyLlama shape) with ``--prompt-len``-token prompts::

    python benchmarks/attribution.py --random-llama-1b --device cuda --dtype bfloat16 \\
        --prompt-len 256 --n 50 --captum-n 5 --max-batch-tokens 65536 --compare-cache --peak-tflops 989

(989 TFLOP/s: the H100/H200 SXM dense bf16 peak; give your card's.) In bfloat16 the two methods
differ by bf16 rounding of different batch shapes (~1e-2 in LP units on a random model); the
1e-4 agreement is a float32 property.

On a pretrained model (SmolLM2-135M-Instruct; a name that ``unpact.modeling`` resolves, or a folder)::

    python benchmarks/attribution.py --model smollm2-135m --suites facts,news,tokens-16,tokens-64,tokens-256 \
        --n 10 --threads 2 --json results/benchmarks/attribution-smollm2.json

Suites: ``facts`` (the forget (capital) questions of the ``facts`` benchmark built for the model,
target its own answer; ``--facts candidates``: the first capital candidates without the eligibility
check, gold answers, for timing without building the benchmark), ``news`` (the forget questions of
the synthetic news benchmark, gold answers), both through the model's chat template with only the
question attributed; ``tokens-L``: ``--n-long`` prompts of at most L tokens of news prose (no
template, every word attributed; target a gold answer). For each suite the same prompts run through
native loo (prefix key/value reuse), native loo without reuse and captum, side by side in
one run; the table gives prompts/s, the speed ratios, the real tokens each method computed per
prompt, the max |difference| of the scores, times the FLOP floor and the peak resident memory of
the process after the suite (ru_maxrss, so it only grows).

``--compare-cache`` also times native loo with and without prefix key/value reuse.
Prints prompts/second for each method, the speed ratio, the max |difference| of the scores on
the prompts both methods ran, and the physical floor: the FLOPs of the n+1 forward passes per
prompt, 2 * params * tokens, at ``--peak-tflops`` (the card's dense bf16 matmul peak).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unpact.attribution import Attributor  # noqa: E402
from unpact.modeling import DTYPES, load_model_and_tokenizer, resolve_device  # noqa: E402
from unpact.organism import build_tokenizer  # noqa: E402
from unpact.prompts import QA_TEMPLATE, qa_target  # noqa: E402

LOAD_AT_START = os.getloadavg()[0]


def random_llama(vocab: int, big: bool, context: int, seed: int = 0) -> Any:
    """Random Llama: organism-sized (width 256, 4 layers) or TinyLlama-shaped (~1.1B parameters)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    shape = (
        dict(
            hidden_size=2048,
            intermediate_size=5632,
            num_hidden_layers=22,
            num_attention_heads=32,
            num_key_value_heads=4,
        )
        if big
        else dict(
            hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4
        )
    )
    cfg = LlamaConfig(
        vocab_size=vocab, max_position_embeddings=context, bos_token_id=1, eos_token_id=2, pad_token_id=0, **shape
    )
    return LlamaForCausalLM(cfg).eval()


def random_prompts(words: list[str], n: int, length: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` prompts of ``length`` random words and 3-word targets (a word tokenizer: one token per word)."""
    rng = random.Random(seed)
    prompts = [" ".join(rng.choice(words) for _ in range(length)) for _ in range(n)]
    targets = [" " + " ".join(rng.choice(words) for _ in range(3)) for _ in range(n)]
    return prompts, targets


def setup(args: argparse.Namespace) -> tuple[Any, Any, list[str], list[str], str | None, str]:
    """(model, tokenizer, prompts, targets, template, description)."""
    device, dtype = resolve_device(args.device), DTYPES[args.dtype]
    if args.random_llama_1b or args.random_model:
        words = [f"w{i}" for i in range(32000 - 4)] if args.random_llama_1b else [f"w{i}" for i in range(170)]
        tok = build_tokenizer([" ".join(words)])
        with torch.device(device):  # initialise on the device (a 1.1B model initialises much faster on a GPU)
            model = random_llama(len(tok), args.random_llama_1b, context=max(512, args.prompt_len + 16))
        model = model.to(dtype=dtype)
        prompts, targets = random_prompts(words, args.n, args.prompt_len)
        name = "random ~1.1B Llama" if args.random_llama_1b else "random organism-sized Llama"
        return model, tok, prompts, targets, None, f"{name}, {args.prompt_len}-word prompts"
    if args.organism:
        from unpact.organism import train_organism

        args.model = str(train_organism(args.organism, "quick"))
    if not args.model:
        raise SystemExit("give --model DIR, --organism ARCH, --random-model or --random-llama-1b")
    model, tok = load_model_and_tokenizer(args.model, dtype=args.dtype, device=str(device))
    files = [Path(args.data)] if args.data else sorted((Path(args.model) / "unpact-data").glob("*-forget.jsonl"))
    if not files:
        raise SystemExit(f"{args.model} carries no forget split; pass --data FILE.jsonl")
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()][: args.n]
    name = f"quick {args.organism} organism" if args.organism else Path(args.model).name
    what = f"{name}, {len(rows)} questions from {', '.join(f.stem for f in files)}"
    return model, tok, [r["question"] for r in rows], [qa_target(r["answer"]) for r in rows], QA_TEMPLATE, what


def measured_peak_tflops(device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """Achieved TFLOP/s of a large square matmul on ``device``/``dtype``: a practical matmul ceiling."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    _, seconds = timed(lambda: [a @ b for _ in range(repeats)])
    return 2 * size**3 * repeats / seconds / 1e12


def n_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def timed(fn: Any) -> tuple[Any, float]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def facts_suite(model: str, n: int, source: str) -> tuple[list[str], list[str], str]:
    """The forget (capital) questions of the ``facts`` benchmark and their attribution targets, and what they are.

    ``source="built"``: the benchmark built for ``model`` (``unpact.data.facts.build_facts``: the
    candidates the model answers correctly), as it is when one was built, else built into the model
    folder with the default settings (minutes of CPU); target the model's own answer.
    ``"candidates"``: the first ``n`` capital candidates without the eligibility check, target the
    gold answer (timing only).
    """
    from unpact.data.facts import FACTS, build_facts, eligibility_record, facts_dir, geography_facts
    from unpact.data.schema import load_items
    from unpact.pretrained import resolve_model
    from unpact.study import attribution_target

    if source == "candidates":
        items = [f.item for f in geography_facts()[:n]]
        what = "facts forget candidates (capitals, no eligibility check), gold answers"
    else:
        folder = resolve_model(model)
        if eligibility_record(folder) is None:
            build_facts(folder)
        items = load_items(facts_dir(folder) / f"{FACTS}-forget.jsonl")[:n]
        what = "facts forget questions (built for the model), its own answers"
    return [it.question for it in items], [attribution_target(it, "chat") for it in items], what


def news_suite(n: int) -> tuple[list[str], list[str], str]:
    """The synthetic news benchmark's forget questions and gold answers (chat targets), and what they are."""
    from unpact.data.synthetic import build_world
    from unpact.study import attribution_target

    items = build_world().items("news", "forget")[:n]
    return [it.question for it in items], [attribution_target(it, "chat") for it in items], "news forget questions"


def prose_suite(tok: Any, n: int, length: int) -> tuple[list[str], list[str], str]:
    """``n`` prompts of whole words of news prose with at most ``length`` tokens each, gold answers as targets."""
    from unpact.data.synthetic import build_world

    facts = [f for f in build_world().facts if f.domain == "news"]
    words = " ".join(sentence.replace("{v}", f.value) for f in facts for sentence in f.prose).split()
    prompts, start = [], 0
    for _ in range(n):
        taken: list[str] = []
        while len(tok(" ".join([*taken, words[start % len(words)]]), add_special_tokens=False)["input_ids"]) <= length:
            taken.append(words[start % len(words)])
            start += 1
        prompts.append(" ".join(taken))
    return prompts, [" " + f.value for f in facts[:n]], f"news prose of <= {length} tokens, no template"


def floor_seconds(model: Any, tok: Any, result: Any, targets: list[str], peak: float) -> float:
    """Seconds of the n+1 forward passes per prompt (2 x params x tokens FLOPs) at ``peak`` TFLOP/s."""
    tokens = 0
    for item, target in zip(result.items, targets):
        n_prompt = len(tok(item.prompt)["input_ids"])
        n_target = len(tok(target, add_special_tokens=False)["input_ids"])
        tokens += (len(item.units) + 1) * (n_prompt + n_target) - len(item.units)  # each deletion drops one token
    return 2 * n_params(model) * tokens / (peak * 1e12)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB; Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TokenCounter:
    """Counts the real (unpadded) tokens the model computes, over every forward call while active.

    The hook sits on the base model (``model.base_model``), which captum reaches through ``model.forward``.
    """

    def __init__(self, model: Any) -> None:
        self.model, self.tokens = model, 0

    def hook(self, _module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        self.tokens += int(ids.numel() if mask is None else mask[:, -ids.shape[1] :].sum())

    def __enter__(self) -> TokenCounter:
        self.handle = self.model.base_model.register_forward_pre_hook(self.hook, with_kwargs=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()


def compare_suite(model: Any, tok: Any, suite: str, what: str, prompts: list[str], targets: list[str],
                  template: str | None, args: argparse.Namespace, peak: float) -> dict[str, Any]:
    """Native loo (reuse), native loo without reuse and captum on the same prompts: one table row."""
    def run(method: str, cache: bool) -> tuple[Any, float, int]:
        attr = Attributor(model, tok, method=method, granularity="word", max_batch_tokens=args.max_batch_tokens,
                          progress=False, prefix_cache=cache)
        attr.attribute([" ".join(prompts[0].split()[:8])], targets[:1], template=template)  # warm-up (short)
        with TokenCounter(model) as counter:
            result, seconds = timed(lambda: attr.attribute(prompts, targets, template=template))
        return result, seconds, counter.tokens

    (fast, t_reuse, n_reuse), (plain, t_plain, _), (slow, t_captum, n_captum) = (
        run("loo", True), run("loo", False), run("captum", True))
    diff = max(float(np.max(np.abs(a.contributions - b.contributions)))
               for pair in ((fast, slow), (plain, slow)) for a, b in zip(*pair))
    floor = floor_seconds(model, tok, fast, targets, peak)
    row = {"suite": suite, "questions": what, "prompts": len(prompts),
           "mean_words_attributed": round(float(np.mean([len(x.units) for x in fast.items])), 1),
           "native_prompts_per_s": round(len(prompts) / t_reuse, 3),
           "native_no_reuse_prompts_per_s": round(len(prompts) / t_plain, 3),
           "captum_prompts_per_s": round(len(prompts) / t_captum, 3),
           "native_vs_captum": round(t_captum / t_reuse, 2), "no_reuse_vs_captum": round(t_captum / t_plain, 2),
           "native_tokens_per_prompt": round(n_reuse / len(prompts)),
           "captum_tokens_per_prompt": round(n_captum / len(prompts)),
           "max_abs_difference": float(f"{diff:.2g}"),
           "native_times_floor": round(t_reuse / floor, 1), "captum_times_floor": round(t_captum / floor, 1),
           "peak_rss_mib": round(peak_rss_mib())}
    print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return row


def pretrained_main(args: argparse.Namespace) -> None:
    """The suites of the module docstring on one pretrained model, written as one table."""
    device = resolve_device(args.device)
    model, tok = load_model_and_tokenizer(args.model, dtype=args.dtype, device=str(device))
    peak = args.peak_tflops or measured_peak_tflops(device, DTYPES[args.dtype])
    rows = []
    for suite in args.suites.split(","):
        if suite == "facts":
            prompts, targets, what, template = *facts_suite(args.model, args.n, args.facts), "chat"
        elif suite == "news":
            prompts, targets, what, template = *news_suite(args.n), "chat"
        elif suite.startswith("tokens-") and suite[len("tokens-"):].isdigit():
            prompts, targets, what, template = *prose_suite(tok, args.n_long, int(suite[len("tokens-"):])), None
        else:
            raise SystemExit(f"unknown suite {suite!r}; valid: facts, news, tokens-L (e.g. tokens-256)")
        rows.append(compare_suite(model, tok, suite, what, prompts, targets, template, args, peak))
        if args.json:  # after every suite, so an interrupted sweep keeps what it measured
            write_pretrained_table(args, model, device, peak, rows)


def write_pretrained_table(args: argparse.Namespace, model: Any, device: torch.device, peak: float,
                           rows: list[dict[str, Any]]) -> None:
    """The suites' rows as one Performance-page table (``unpact.report.write_benchmark``)."""
    from unpact.report import write_benchmark

    worst = min(r["native_vs_captum"] for r in rows)
    write_benchmark(args.json, f"Attribution on a pretrained model: native leave-one-out vs captum ({args.model})",
                    "python benchmarks/attribution.py " + " ".join(sys.argv[1:]), rows,
                    f"{n_params(model) / 1e6:.0f}M parameters, {args.dtype} on {device}, "
                    f"{torch.get_num_threads()} CPU threads; "
                    f"every suite's three methods ran side by side on the same prompts (word granularity); "
                    f"native = prefix key/value reuse (unpact.attribution.loo: the shared template prefix once, each "
                    f"deletion recomputes only the prompt from the deleted word on and the target), no_reuse = "
                    f"padded batches of all full deletion sequences; captum = LLMAttribution(FeatureAblation), one "
                    f"forward per deletion with logits at every position. tokens_per_prompt = real tokens through "
                    f"the model's forward passes. "
                    f"Slowest native/captum ratio {worst}x (targets: >= 6x on the questions, >= 4x at 256 tokens, "
                    f">= 1x everywhere). Floor = FLOPs of the n+1 forward passes at {peak:.3g} TFLOP/s (measured "
                    f"square matmul); reuse computes fewer tokens than n+1 full passes, so native can be below 1x "
                    f"the floor. Load average (1 min) when the run started: {LOAD_AT_START:.1f}. "
                    f"peak_rss_mib is the process's peak so far (it only grows).",
                    code=("benchmarks/attribution.py", "unpact/attribution"))




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument(
        "--organism",
        choices=("llama", "gpt2", "qwen2"),
        help="use the quick organism of this architecture (trained or cached)",
    )
    parser.add_argument("--data")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument(
        "--captum-n", type=int, default=None, help="run captum on the first N prompts only (default: all)"
    )
    parser.add_argument("--random-model", action="store_true")
    parser.add_argument("--random-llama-1b", action="store_true")
    parser.add_argument("--prompt-len", type=int, default=12)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--max-batch-tokens", type=int, default=4096)
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's dense matmul peak for the floor (default: measured with a square matmul)",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--cache", choices=("on", "off"), default="on", help="native loo prefix key/value reuse"
    )
    parser.add_argument("--compare-cache", action="store_true", help="also time native loo without the prefix cache")
    parser.add_argument("--json", default=None, help="also write the result for the book's Performance page here")
    parser.add_argument("--suites", default=None,
                        help="pretrained-model suites, comma-separated: facts, news, tokens-L (module docstring)")
    parser.add_argument("--n-long", type=int, default=1, help="prompts per tokens-L suite")
    parser.add_argument("--facts", choices=("built", "candidates"), default="built",
                        help="facts suite: the benchmark built for the model, or the first candidates (timing only)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.suites:
        pretrained_main(args)
        return

    model, tok, prompts, targets, template, what = setup(args)
    m = len(prompts) if args.captum_n is None else min(args.captum_n, len(prompts))
    native = Attributor(
        model,
        tok,
        method="loo",
        granularity="token",
        max_batch_tokens=args.max_batch_tokens,
        progress=False,
        prefix_cache=args.cache == "on",
    )
    reference = Attributor(model, tok, method="captum", granularity="token", progress=False)
    native.attribute(prompts[:1], targets[:1], template=template)  # warm-up
    fast, t_native = timed(lambda: native.attribute(prompts, targets, template=template))
    if args.compare_cache:
        times, scores = {}, {}
        for flag in (False, True):
            variant = Attributor(
                model,
                tok,
                method="loo",
                granularity="token",
                max_batch_tokens=args.max_batch_tokens,
                progress=False,
                prefix_cache=flag,
            )
            scores[flag], times[flag] = timed(lambda v=variant: v.attribute(prompts, targets, template=template))
        gap = max(
            float(np.max(np.abs(a.contributions - b.contributions)))
            for a, b in zip(scores[False].items, scores[True].items)
        )
        print(
            f"prefix cache: off {times[False]:.2f} s, on {times[True]:.2f} s "
            f"(speed-up {times[False] / times[True]:.2f}x), max |difference| {gap:.3g}"
        )
    slow, t_captum = timed(lambda: reference.attribute(prompts[:m], targets[:m], template=template))
    diff = max(float(np.max(np.abs(a.contributions - b.contributions))) for a, b in zip(fast.items, slow.items))
    native_rate, captum_rate = len(prompts) / t_native, m / t_captum
    print(
        f"model: {what}; {n_params(model) / 1e6:.1f}M parameters; device {args.device}, {args.dtype}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    print(
        f"prompts: native {len(prompts)}, captum {m}; mean attributed tokens "
        f"{np.mean([len(x.units) for x in fast.items]):.1f}"
    )
    print(f"native loo : {native_rate:10.2f} prompts/s  ({t_native:.2f} s)")
    print(f"captum FA  : {captum_rate:10.2f} prompts/s  ({t_captum:.2f} s)")
    print(f"speed ratio: {native_rate / captum_rate:.1f}x (target >= 20x)")
    print(f"max |native - captum| = {diff:.3g} (mean log-prob units)")
    peak = args.peak_tflops or measured_peak_tflops(resolve_device(args.device), DTYPES[args.dtype])
    source = "given" if args.peak_tflops else "measured square matmul"
    tokens = 0
    for item, target in zip(fast.items, targets):
        n_prompt = len(tok(item.prompt)["input_ids"])
        n_target = len(tok(target, add_special_tokens=False)["input_ids"])
        tokens += (len(item.units) + 1) * (n_prompt + n_target) - len(item.units)  # each deletion drops one token
    flops = 2 * n_params(model) * tokens
    floor = flops / (peak * 1e12)
    print(
        f"physical floor: n+1 forward passes = {tokens} tokens x 2 x params = {flops:.3g} FLOP -> {floor:.3f} s "
        f"at {peak:.3g} TFLOP/s ({source}); native is {t_native / floor:.1f}x the floor, captum "
        f"{t_captum * len(prompts) / m / floor:.1f}x (so no method without fewer FLOPs beats captum by more than "
        f"{t_captum * len(prompts) / m / floor:.1f}x here)"
    )
    if args.json:
        from unpact.report import write_benchmark

        write_benchmark(
            args.json,
            f"Attribution: native leave-one-out vs captum FeatureAblation ({what})",
            "python benchmarks/attribution.py " + " ".join(sys.argv[1:]),
            [
                {
                    "method": "native loo",
                    "prompts_per_s": round(native_rate, 2),
                    "seconds": round(t_native, 2),
                    "times_physical_floor": round(t_native / floor, 1),
                },
                {
                    "method": "captum FeatureAblation (deletion)",
                    "prompts_per_s": round(captum_rate, 2),
                    "seconds": round(t_captum, 2),
                    "times_physical_floor": round(t_captum * len(prompts) / m / floor, 1),
                },
            ],
            f"Speed ratio {native_rate / captum_rate:.1f}x (target >= 20x); max |native - captum| = {diff:.2g}; "
            f"{len(prompts)} prompts, {torch.get_num_threads()} CPU threads; floor = FLOPs of n+1 forward passes "
            f"at {peak:.3g} TFLOP/s ({source}).",
            code=("benchmarks/attribution.py", "unpact/attribution"),
        )


if __name__ == "__main__":
    main()
