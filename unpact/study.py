"""The paper's experimental grid on one base model: unlearn, evaluate, attribute and emphasise.

A ``Study`` ties the package together for the notebooks (and for users' own models):

1. the **base model**: the organism (``unpact.organism.train_organism``), a named pretrained model
   (``unpact models``: ``smollm2-135m``, ``gemma3-270m``), or any causal LM folder that carries QA
   sets (``unpact-data/``) or is given QA files. With the ``facts`` benchmark among the domains, the
   facts are built for the base model first (``unpact.data.facts``: the candidates it answers);
2. one **unlearned model** per (method, benchmark): ``unpact.unlearn.unlearn_to_dir`` (cached),
   or the user's own checkpoints;
3. **outcomes**: greedy correctness of the base and unlearned models on the benchmark's
   ``forget`` and ``retain`` items and on the ``general`` items (plain questions);
4. **contributions**: unPact's leave-one-word-out map of the gold answer on every item, before
   and after unlearning, with the base model's KeyTokens;
5. **emphasis**: every forget question re-asked to the unlearned model with words emphasised in
   each style, the words coming from each token source: ``base_key`` (KeyTokens of the base
   model), ``unlearned_key`` (KeyTokens of the unlearned model: an attacker without the original),
   ``gold_keywords`` and the ``control`` (as many random non-key content words of the question).

Every model is prompted in its own format (``prompt_format``: ``auto`` = its chat template when it
has one, else the plain template) and judged by the format's default judge unless ``judge`` is
given. Attribution explains a fixed response: the base model's own answer sentence where the items
record one (``meta["base_answer"]``, the facts benchmark), else the gold answer (``attribution_target``
``gold``: always the gold answer).

The frames use ``domain`` for the *unlearned benchmark* and ``split`` in {forget, retain,
general}, the layout ``unpact.findings`` expects; items are matched by id everywhere. Models are
cached on disk (``unpact.cache``); evaluations and attribution maps are kept by a ``StudyCache``,
an explicit object a Study is given (``make_studies`` shares one across its studies), in memory and
on disk, keyed by content (see ``StudyCache``).
"""
from __future__ import annotations

import functools
import pickle
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from unpact.attribution import AttributionResult, Attributor, PromptAttribution
from unpact.attribution.keytokens import KeyRule, keyword_scores
from unpact.attribution.tracking import unit_changes
from unpact.cache import cached_artifact, config_hash, model_identity, source_digest
from unpact.data.benchmarks import benchmark_file, benchmark_items, benchmark_settings
from unpact.data.facts import FACTS, build_facts
from unpact.data.schema import QAItem
from unpact.emphasis import EMPHASIS_STYLES, emphasize
from unpact.errors import UsageError, check_choice
from unpact.evaluate import evaluate_items
from unpact.findings.assemble import contribution_frame, outcome_frame, recovery_frame
from unpact.findings.frames import pool
from unpact.findings.recovery import TOKEN_SOURCES
from unpact.findings.tokens import control_tokens
from unpact.io import atomic_write_bytes
from unpact.metrics import JUDGES
from unpact.modeling import load_model_and_tokenizer, load_tokenizer
from unpact.pretrained import REGISTRY, resolve_model
from unpact.prompts import (
    PROMPT_FORMATS,
    attribution_template,
    format_target,
    resolve_prompt_format,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["PAPER_METHODS", "KeyRule", "Study", "StudyCache", "StudyConfig", "collect", "keyword_scores_frame",
           "make_studies", "notebook_studies", "pool", "unlearning_runs"]

PAPER_METHODS = ("ga", "ga_gdr", "ga_klr", "npo", "npo_gdr", "npo_klr")
# base_model "finetuned:NAME": NAME fine-tuned on the synthetic world (``unpact organism --init NAME``), the
# MUSE/TOFU-like regime; the model is trained (cached) by the study.
FINETUNED_PREFIX = "finetuned:"
T = TypeVar("T")


ATTRIBUTION_TARGETS = ("base_answer", "gold")


def attribution_target(item: QAItem, prompt_format: str, source: str = "base_answer") -> str:
    """The fixed response attribution explains, as a target of ``prompt_format``: with ``source`` =
    ``base_answer`` the base model's own answer (``meta["base_answer"]``, recorded only where it was judged
    correct) when the item has one, else the gold answer; with ``gold`` the gold answer (the paper's y)."""
    check_choice("attribution target", source, ATTRIBUTION_TARGETS)
    own = item.meta.get("base_answer") if source == "base_answer" else None
    return format_target(str(own or item.answer), prompt_format)


def items_fingerprint(items: Sequence[QAItem]) -> str:
    """SHA-256 of the items' content (what attribution and evaluation read)."""
    return config_hash({"items": [it.to_dict() for it in items]}, length=32)


class StudyCache:
    """What studies remember: computed results (in memory and, for tables, on disk) and loaded models.

    A result is keyed by its content: the identity of the model's weights
    (``unpact.cache.model_identity``: a cached artifact's configuration hash, else the hash of the
    folder's files, computed once per folder), the items' content, the setting (method, judge,
    dtype, ...), and the digest of the unpact source (``unpact.cache.source_digest``, the one the
    book runner stamps notebooks with), so a code change recomputes instead of reusing stale tables.
    ``table`` results are also written to the on-disk cache (kind ``tables``) under ``root``, so a
    second run of a notebook reads them back; their marker records the seconds ``compute()`` took
    (``benchmarks/book.py`` sums them per kind: where a run's time went). Give several studies the
    same object to share results (a sweep over KeyToken rules computes each attribution map once).
    """

    def __init__(self, root: str | None = None, max_models: int = 4) -> None:
        self.root = root
        self.code = source_digest()
        self.max_models = max_models
        self._results: dict[str, Any] = {}
        self._identities: dict[str, str] = {}
        self._models: OrderedDict[tuple[str, str, str | None], tuple[Any, Any]] = OrderedDict()

    def model_key(self, folder: str | Path) -> str:
        """The content identity of the model in ``folder`` (computed once per folder)."""
        path = str(Path(folder).resolve()) if Path(folder).is_dir() else str(folder)
        if path not in self._identities:
            self._identities[path] = model_identity(path)
        return self._identities[path]

    def result(self, kind: str, key: Mapping[str, Any], compute: Callable[[], T], table: bool = False) -> T:
        """``compute()`` once per (``kind``, ``key``, code digest); with ``table`` also once per on-disk cache."""
        config = {"kind": kind, **key, "code": self.code}
        digest = config_hash(config, length=32)
        if digest not in self._results:
            if not table:
                self._results[digest] = compute()
            else:
                def build(tmp: Path) -> dict[str, float]:
                    start = time.perf_counter()
                    value = compute()
                    seconds = time.perf_counter() - start
                    atomic_write_bytes(tmp / "value.pkl", pickle.dumps(value))
                    return {"seconds": round(seconds, 3)}

                folder = cached_artifact("tables", kind, config, build, root=self.root)
                self._results[digest] = pickle.loads((folder / "value.pkl").read_bytes())
        value: T = self._results[digest]
        return value

    def load(self, folder: str | Path, dtype: str, device: str | None
             ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The model and tokenizer of ``folder`` (the ``max_models`` most recently used stay loaded)."""
        key = (str(folder), dtype, device)
        if key in self._models:
            self._models.move_to_end(key)
        else:
            self._models[key] = load_model_and_tokenizer(str(folder), dtype=dtype, device=device)
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        return self._models[key]


@dataclass(frozen=True)
class StudyConfig:
    """Everything a study depends on; each field is a parameter of the notebooks."""

    arch: str = "llama"
    organism_profile: str = "quick"
    seed: int = 0
    base_model: str | None = None
    data_dir: str | None = None
    organism_overrides: Mapping[str, Any] = field(default_factory=dict)
    methods: tuple[str, ...] = PAPER_METHODS
    domains: tuple[str, ...] = ("news", "books", "hazard")
    method_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    unlearned_models: Mapping[str, str] = field(default_factory=dict)
    steps: int | None = None
    stop_at: float | None = None
    attribution_method: str = "loo"
    key_rule: KeyRule = KeyRule()
    styles: tuple[str, ...] = tuple(EMPHASIS_STYLES)
    sources: tuple[str, ...] = TOKEN_SOURCES
    general: tuple[str, str] | None = None
    judge: str | None = None
    dtype: str = "float32"
    device: str | None = None
    cache_root: str | None = None
    prompt_format: str = "auto"
    max_items: int | None = None
    probe_style: str = "instruction"
    probe_every: int | None = None
    attribute_every: int = 20
    attribution_target: str = "base_answer"
    relearn_steps: int = 10

    def __post_init__(self) -> None:
        for style in self.styles:
            check_choice("emphasis style", style, EMPHASIS_STYLES)
        for source in self.sources:
            check_choice("token source", source, TOKEN_SOURCES)
        if self.judge is not None:
            check_choice("judge", self.judge, JUDGES)
        check_choice("prompt format", self.prompt_format, PROMPT_FORMATS)
        if self.max_items is not None and self.max_items < 1:
            raise UsageError(f"max_items must be a positive number of items per split, got {self.max_items}")
        if self.seed < 0:
            raise UsageError(f"seed must be >= 0, got {self.seed}")
        check_choice("probe emphasis style", self.probe_style, EMPHASIS_STYLES)
        check_choice("attribution target", self.attribution_target, ATTRIBUTION_TARGETS)
        if (self.probe_every is not None and self.probe_every < 1) or self.relearn_steps < 0 \
                or self.attribute_every < 1:
            raise UsageError(f"probe_every and attribute_every must be >= 1 and relearn_steps >= 0, got "
                             f"{self.probe_every}, {self.attribute_every}, {self.relearn_steps}")


class Study:
    """Lazily computed frames of one grid (see the module docstring); one object per configuration.

    ``cache`` holds what was computed (default: a new ``StudyCache`` on ``config.cache_root``);
    studies given the same cache share results.
    """

    def __init__(self, config: StudyConfig | None = None, cache: StudyCache | None = None, **overrides: Any) -> None:
        self.config = replace(config or StudyConfig(), **overrides)
        self.cache = cache if cache is not None else StudyCache(self.config.cache_root)
        self._questions: dict[tuple[str, str, str, str], tuple[str, ...]] = {}

    # -- models -----------------------------------------------------------------------------
    @property
    def label(self) -> str:
        """The base model's name in results: the organism's architecture, else the model name or folder name."""
        base = self.config.base_model
        if not base:
            return self.config.arch
        return base if base in REGISTRY or base.startswith(FINETUNED_PREFIX) else Path(base).name

    @property
    def family(self) -> str:
        """``organism`` (trained here from scratch) or ``pretrained`` (a named or user-given model)."""
        return "pretrained" if self.config.base_model else "organism"

    @functools.cached_property
    def base_dir(self) -> Path:
        cfg = self.config
        if cfg.base_model and cfg.base_model.startswith(FINETUNED_PREFIX):
            from unpact.finetuned import DEFAULT_INIT_PROFILE, finetune_organism

            return finetune_organism(cfg.base_model.removeprefix(FINETUNED_PREFIX), DEFAULT_INIT_PROFILE, cfg.seed,
                                     cache_root=cfg.cache_root, progress=False)
        if cfg.base_model:
            folder = Path(resolve_model(cfg.base_model))
            if FACTS in cfg.domains and not cfg.data_dir:
                build_facts(folder, prompt_format=cfg.prompt_format, device=cfg.device)
            return folder
        from unpact.organism import train_organism

        return train_organism(cfg.arch, cfg.organism_profile, cfg.seed, cache_root=cfg.cache_root,
                              **dict(cfg.organism_overrides))

    def unlearned_dir(self, method: str, domain: str) -> Path:
        """The unlearned model of ``method`` on ``domain``: the user's checkpoint if given, else trained (cached).
        Without a stop rule it is the model of ``trajectory_dir`` (the same weights: the probe only reads the
        model), so each method trains once; a study that differs only in what it analyses (KeyToken rule,
        attribution method, judge) reuses those weights without training again."""
        given = self.config.unlearned_models.get(f"{method}/{domain}")
        if given:
            return Path(given)
        if self.config.stop_at is None:  # the probed run's weights (unpact.unlearn.unlearn_to_dir): one run, not two
            return self.trajectory_dir(method, domain, weights_only=True)
        return self._unlearn(method, domain, self.config.steps, self.config.stop_at)

    def _unlearn(self, method: str, domain: str, steps: int | None, stop_at: float | None, probed: bool = False,
                 **extra: Any) -> Path:
        """``unpact.unlearn.unlearn_to_dir`` of ``method`` on ``domain`` with this study's method parameters,
        seed, device, dtype and data files, for ``steps`` (``None``: the method's budget) and ``stop_at``;
        ``probed`` checks every ``probe_every`` steps; ``extra`` adds keyword arguments (a probe, other files)."""
        from unpact.unlearn import unlearn_to_dir
        from unpact.unlearn.params import Budget

        cfg = self.config
        params = dict(cfg.method_params.get(method) or {})
        if probed:
            params["eval_every"] = self.probe_every(domain)
        files: dict[str, Any] = {}
        if cfg.data_dir:
            files = {f"{s}_file": benchmark_file(self.base_dir, domain, s, cfg.data_dir) for s in ("forget", "retain")}
        return unlearn_to_dir(self.base_dir, domain, method, params=params,
                              budget=Budget(steps=steps) if steps is not None else None, stop_at=stop_at,
                              seed=cfg.seed, cache_root=cfg.cache_root, progress=False, device=cfg.device,
                              bf16=cfg.dtype == "bfloat16", **{**files, **extra})

    def load(self, folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        return self.cache.load(folder, self.config.dtype, self.config.device)

    # -- items ------------------------------------------------------------------------------
    def general_set(self, domain: str) -> tuple[str, str]:
        """(benchmark, split) of the general items for ``domain``: the config's, else the benchmark's own
        unlearning settings (``facts``: ``facts/general``), else ``general/test``."""
        if self.config.general is not None:
            return self.config.general
        bench, split = benchmark_settings(self.base_dir, domain, self.config.data_dir).get("general",
                                                                                           ("general", "test"))
        return str(bench), str(split)

    def items(self, domain: str) -> tuple[QAItem, ...]:
        """Forget and retain items of ``domain`` and the general items, with ``domain``/``split`` relabelled
        (the first ``max_items`` of each split when set)."""
        bench, general_split = self.general_set(domain)
        data_dir = self.config.data_dir
        limit = self.config.max_items

        def read() -> tuple[QAItem, ...]:
            parts = [(s, benchmark_items(self.base_dir, domain, s, data_dir)) for s in ("forget", "retain")]
            parts.append(("general", benchmark_items(self.base_dir, bench, general_split, data_dir)))
            return tuple(replace(it, domain=domain, split=s) for s, its in parts for it in its[:limit])

        key = {"base": str(self.base_dir.resolve()), "domain": domain, "data_dir": data_dir,
               "general": [bench, general_split], "max_items": limit}
        return self.cache.result("items", key, read)

    def forget_items(self, domain: str) -> list[QAItem]:
        return [it for it in self.items(domain) if it.split == "forget"]

    # -- frames -----------------------------------------------------------------------------
    def _table_key(self, folder: Path, domain: str, **setting: Any) -> dict[str, Any]:
        return {"model": self.cache.model_key(folder), "items": items_fingerprint(self.items(domain)),
                "dtype": self.config.dtype, **setting}

    def evaluation(self, folder: Path, domain: str) -> pd.DataFrame:
        """Per-item evaluation (plain questions) of the model in ``folder`` on the items of ``domain``."""
        def run() -> pd.DataFrame:
            model, tok = self.load(folder)
            return evaluate_items(model, tok, list(self.items(domain)), judge=self.config.judge,
                                  prompt_format=self.config.prompt_format)

        key = self._table_key(folder, domain, judge=self.config.judge, prompt_format=self.config.prompt_format)
        return self.cache.result("evaluation", key, run, table=True)

    def emphasis_evaluation(self, folder: Path, domain: str, method: str) -> dict[tuple[str, str], pd.DataFrame]:
        """The forget items re-asked in every (style, source), evaluated in one batched call (a cached table)."""
        forget = self.forget_items(domain)
        keys = [(style, source) for style in self.config.styles for source in self.config.sources]
        questions = [q for style, source in keys for q in self.emphasized_questions(domain, method, style, source)]

        def run() -> dict[tuple[str, str], pd.DataFrame]:
            model, tok = self.load(folder)
            frame = evaluate_items(model, tok, forget * len(keys), questions=questions, judge=self.config.judge,
                                   prompt_format=self.config.prompt_format)
            variant = pd.Series([key for key in keys for _ in forget], index=frame.index)
            return {key: frame[variant == key].reset_index(drop=True) for key in keys}

        key = self._table_key(folder, domain, judge=self.config.judge, prompt_format=self.config.prompt_format,
                              variants=[list(k) for k in keys], questions=config_hash({"q": questions}, length=32))
        return self.cache.result("emphasis", key, run, table=True)

    def attribution(self, folder: Path, domain: str, computed: AttributionResult | None = None) -> AttributionResult:
        """unPact contributions (gold answer, question words only) of every item of ``domain``, keyed by item id.
        ``computed``: this very map, already made elsewhere (``trajectory_dir``: its probe's map of the model
        it saved), is cached as the result unless one is cached already."""
        method = self.config.attribution_method

        fmt = self.prompt_format

        def run() -> AttributionResult:
            model, tok = self.load(folder)
            items = self.items(domain)
            attributor = Attributor(model, tok, method=method, granularity="word", progress=False)
            targets = [attribution_target(it, fmt, self.config.attribution_target) for it in items]
            return attributor.attribute([it.question for it in items], targets, template=attribution_template(fmt),
                                        ids=[it.id for it in items])

        key = self._table_key(folder, domain, method=method, template=attribution_template(fmt),
                              target=self.config.attribution_target)
        return self.cache.result("attribution", key, run if computed is None else lambda: computed, table=True)

    @functools.cached_property
    def prompt_format(self) -> str:
        """The resolved prompt format (``chat`` or ``plain``) of the base model's tokenizer."""
        return resolve_prompt_format(load_tokenizer(self.base_dir), self.config.prompt_format)

    def key_words(self, attribution: PromptAttribution) -> list[str]:
        """The KeyToken words of one prompt's attribution, in question order."""
        mask = self.config.key_rule.mask(attribution.contributions)
        return [u.strip() for u, k in zip(attribution.units, mask) if k and u.strip()]

    def emphasis_words(self, domain: str, method: str, source: str) -> list[list[str]]:
        """For each forget item of ``domain``: the words to emphasise from ``source``."""
        forget = self.forget_items(domain)
        base = self.attribution(self.base_dir, domain).by_id()
        if source == "base_key":
            return [self.key_words(base[it.id]) for it in forget]
        if source == "unlearned_key":
            after = self.attribution(self.unlearned_dir(method, domain), domain).by_id()
            return [self.key_words(after[it.id]) for it in forget]
        if source == "gold_keywords":
            return [list(it.keywords or []) for it in forget]
        rng = np.random.default_rng([self.config.seed, len(domain), sum(map(ord, method))])
        return [control_tokens(it.question.split(), self.key_words(base[it.id]), rng) for it in forget]

    def emphasized_questions(self, domain: str, method: str, style: str, source: str) -> tuple[str, ...]:
        """The forget questions of ``domain`` with the ``source`` words emphasised in ``style``."""
        key = (domain, method, style, source)
        if key not in self._questions:
            words = self.emphasis_words(domain, method, source)
            self._questions[key] = tuple(emphasize(it.question, w, style)
                                         for it, w in zip(self.forget_items(domain), words))
        return self._questions[key]

    # -- the findings' inputs ---------------------------------------------------------------
    def grid(self) -> list[tuple[str, str]]:
        return [(m, d) for d in self.config.domains for m in self.config.methods]

    def outcomes(self) -> pd.DataFrame:
        """``item_id, method, domain, split, base_correct, unlearned_correct`` for the whole grid."""
        parts = []
        for method, domain in tqdm(self.grid(), desc="outcomes", leave=False):
            base = self.evaluation(self.base_dir, domain)
            parts.append(outcome_frame(base, {method: self.evaluation(self.unlearned_dir(method, domain), domain)}))
        return pd.concat(parts, ignore_index=True)

    def contributions(self) -> pd.DataFrame:
        """Per-word contributions before/after unlearning with base KeyTokens, for the whole grid."""
        parts = []
        for method, domain in tqdm(self.grid(), desc="contributions", leave=False):
            before = self.attribution(self.base_dir, domain)
            after = self.attribution(self.unlearned_dir(method, domain), domain)
            changes = unit_changes(before, after, **self.config.key_rule.as_kwargs())
            parts.append(contribution_frame(changes, list(self.items(domain)), method))
        return pd.concat(parts, ignore_index=True)

    def recovery(self) -> pd.DataFrame:
        """The recovery input (``unpact.findings.recovery``) for every method, domain, style and source."""
        parts = []
        for method, domain in tqdm(self.grid(), desc="emphasis", leave=False):
            folder = self.unlearned_dir(method, domain)
            emphasized = self.emphasis_evaluation(folder, domain, method)
            base = self.evaluation(self.base_dir, domain)
            unlearned = self.evaluation(folder, domain)
            forget_ids = {it.id for it in self.forget_items(domain)}
            parts.append(recovery_frame(base[base["id"].isin(forget_ids)], unlearned[unlearned["id"].isin(forget_ids)],
                                        emphasized, method).assign(domain=domain))
        return pd.concat(parts, ignore_index=True)

    # -- depth, paired log-prob effects, positive control, relearning (issue 11) --------------
    def probe_questions(self, domain: str, method: str) -> dict[str, tuple[str, ...]]:
        """The forget questions of ``domain`` per probe condition: ``plain``, ``key`` (base KeyTokens) and
        ``control`` (as many random non-key words) emphasised in ``probe_style``, and the positive control
        ``hint`` (``unpact.emphasis.oracle_hint``: adds the answer's first word)."""
        from unpact.emphasis import oracle_hint

        forget = self.forget_items(domain)
        style = self.config.probe_style
        return {"plain": tuple(it.question for it in forget),
                "key": self.emphasized_questions(domain, method, style, "base_key"),
                "control": self.emphasized_questions(domain, method, style, "control"),
                "hint": tuple(oracle_hint(it.question, it.answer) for it in forget)}

    def probe_every(self, domain: str) -> int:
        """Steps between the probe's checks: ``probe_every`` of the config, else the ``eval_every`` of the
        benchmark's own unlearning settings (``facts``: ``unpact.data.facts.UNLEARNING_SETTINGS``), else 2."""
        if self.config.probe_every is not None:
            return self.config.probe_every
        params = benchmark_settings(self.base_dir, domain, self.config.data_dir).get("params", {})
        return int(params.get("eval_every", 2))

    def attributed_items(self, domain: str) -> list[QAItem]:
        """The items the trajectory's attribution probe follows: every item of ``items`` (forget questions for
        finding 1; retain and general questions for finding 3, general ones being held out from every method)."""
        return list(self.items(domain))

    def trajectory_dir(self, method: str, domain: str, weights_only: bool = False) -> Path:
        """The unlearning run of ``method`` on ``domain`` probed every ``probe_every`` steps by a ``ForgetProbe``
        (kind ``forget``) and an ``AttributionProbe`` (kind ``attribution``, at step 0, powers of two and multiples
        of ``attribute_every``:
        the study's contributions of ``attributed_items``, same method, template and targets as ``attribution``);
        same data, budget, stop rule and seed as ``unlearned_dir``; cached as its own artifact. Step 0 takes the
        base model's ``attribution``; a trained run whose last step was attributed leaves that map as the saved
        model's ``attribution``.
        ``weights_only``: a cached run of the same weights, probed for another analysis or not, will do
        (``reuse_unprobed`` of ``unpact.unlearn.unlearn_to_dir``)."""
        from unpact.unlearn.probes import AttributionProbe, ForgetProbe, ProbeSet

        cfg = self.config
        questions = self.probe_questions(domain, method)
        utility = [it for it in self.items(domain) if it.split == "general"]
        fmt = getattr(cfg, "prompt_format", "auto")
        attributed = self.attributed_items(domain)
        targets = [attribution_target(it, self.prompt_format, cfg.attribution_target) for it in attributed]
        template = attribution_template(self.prompt_format)
        attribution = AttributionProbe([it.question for it in attributed], targets, [it.id for it in attributed],
                                       template, cfg.attribution_method, cfg.attribute_every,
                                       base=self.attribution(self.base_dir, domain))
        probe = ProbeSet({"forget": ForgetProbe(self.forget_items(domain), questions, utility, prompt_format=fmt,
                                                judge=cfg.judge), "attribution": attribution})
        key = config_hash({"questions": questions, "utility": items_fingerprint(utility), "format": fmt,
                           "judge": cfg.judge, "items": items_fingerprint(self.forget_items(domain)),
                           "attribution": {"items": items_fingerprint(attributed), "targets": targets,
                                           "template": template, "method": cfg.attribution_method,
                                           "every": cfg.attribute_every}}, length=32)
        folder = self._unlearn(method, domain, cfg.steps, cfg.stop_at, probed=True, probe=probe, probe_key=key,
                               reuse_unprobed=weights_only)
        final = attribution.final_result()
        if final is not None and cfg.dtype == "float32":
            # The run attributed its last step, the model it saved (float32 both: the same weights and inputs).
            self.attribution(folder, domain, computed=final)
            if cfg.stop_at is None and not weights_only:  # the same weights, entered as the unprobed run too
                self.attribution(self.trajectory_dir(method, domain, weights_only=True), domain, computed=final)
        return folder

    def trajectories(self) -> pd.DataFrame:
        """The ``forget`` probe rows of every (method, domain) run, with ``method`` and ``domain``
        (``unpact.findings.depth``)."""
        from unpact.unlearn.probes import probe_rows

        parts = [probe_rows(self.trajectory_dir(m, d), "forget").assign(method=m, domain=d)
                 for m, d in tqdm(self.grid(), desc="trajectories", leave=False)]
        return pd.concat(parts, ignore_index=True)

    def focus_trajectories(self) -> pd.DataFrame:
        """Contributions along every (method, domain) run against the base model's: ``unpact.findings.focus_depth.
        focus_frame`` of the ``attribution`` probe rows (the study's KeyToken rule at step 0), with ``method``."""
        from unpact.findings.focus_depth import focus_frame
        from unpact.unlearn.probes import probe_rows

        parts = [focus_frame(probe_rows(self.trajectory_dir(m, d), "attribution"), self.attributed_items(d),
                             self.config.key_rule).assign(method=m)
                 for m, d in tqdm(self.grid(), desc="focus along depth", leave=False)]
        return pd.concat(parts, ignore_index=True)

    def operating_dir(self, method: str, domain: str) -> Path | None:
        """The model of ``method`` on ``domain`` at its operating point (``unpact.findings.depth.operating_points``
        on its trajectory), or ``None`` when the run has none. The trajectory keeps only its last weights, so
        the run is repeated for ``op_step`` steps: same data, parameters and seed, no stop rule. The loop's
        learning rate is constant and its batch streams are seeded independently of the budget, so the first
        ``op_step`` steps are those of the trajectory (``tests/test_linear_probe.py`` checks the weights)."""
        from unpact.findings.depth import depth_curves, operating_points
        from unpact.unlearn.probes import probe_rows

        probes = probe_rows(self.trajectory_dir(method, domain), "forget")
        step = int(operating_points(depth_curves(probes.assign(method=method, domain=domain)))["op_step"].iloc[0])
        return self._unlearn(method, domain, step, None) if step >= 1 else None

    @functools.cached_property
    def _checkpoints(self) -> list[tuple[str, str, str, Path]]:
        """``(method, domain, point, folder)``: the base model (``method = "base"``, ``point = "base"``), and per
        run its end-of-budget model and its operating-point model when it has one (found once per study:
        relearning and the linear probe read the same models)."""
        out = [("base", d, "base", self.base_dir) for d in self.config.domains]
        for method, domain in self.grid():
            out.append((method, domain, "end of budget", self.unlearned_dir(method, domain)))
            at_point = self.operating_dir(method, domain)
            if at_point is not None:
                out.append((method, domain, "operating point", at_point))
        return out

    def relearning(self) -> pd.DataFrame:
        """``unpact.unlearn.probes.relearn_probe`` (``relearn_steps`` steps on half the forget items, accuracy on
        the other half) on the base model and on every unlearned model at the end of its budget and at its
        operating point (``point``; ``_checkpoints``). The relearning step size is the one the unlearning of
        that model trained with (``params.lr`` of its ``unlearning.json``, e.g. rmu's 1e-2 on the organism);
        the base model, and a given model without a record, take the benchmark's settings (e.g. 2.5e-5 for
        ``facts``), else the methods' default 1e-3: an attacker who can fine-tune as hard as the unlearning
        did, no harder."""
        from unpact.unlearn.artifact import RECORD_FILE, read_record
        from unpact.unlearn.params import CommonParams
        from unpact.unlearn.probes import relearn_probe

        fmt = getattr(self.config, "prompt_format", "auto")
        rows = []
        for method, domain, point, folder in self._checkpoints:
            settings = benchmark_settings(self.base_dir, domain, self.config.data_dir).get("params", {})
            record = folder / RECORD_FILE
            trained = read_record(folder).get("params", {}) if method != "base" and record.is_file() else {}
            lr = float(trained.get("lr", settings.get("lr", CommonParams.lr)))

            def run(folder: Path = folder, domain: str = domain, lr: float = lr) -> dict[str, Any]:
                model, tok = self.load(folder)
                return relearn_probe(model, tok, self.forget_items(domain), steps=self.config.relearn_steps,
                                     lr=lr, seed=self.config.seed, prompt_format=fmt, judge=self.config.judge)

            key = self._table_key(folder, domain, steps=self.config.relearn_steps, seed=self.config.seed,
                                  judge=self.config.judge, format=fmt, lr=lr)
            rows.append({"method": method, "domain": domain, "point": point, "lr": lr,
                         **self.cache.result("relearning", key, run, table=True)})
        return pd.DataFrame(rows)

    def linear_probe(self) -> pd.DataFrame:
        """``unpact.unlearn.linear_probe.probe_accuracy`` (a ridge probe fitted on the retain items' hidden
        states, tested on the forget items, per layer) on every model of ``_checkpoints``, with the greedy
        forget accuracy of the same model (``greedy``) for "hidden" vs "erased"."""
        from unpact.unlearn.linear_probe import probe_accuracy

        fmt = getattr(self.config, "prompt_format", "auto")
        parts = []
        for method, domain, point, folder in self._checkpoints:
            retain = [it for it in self.items(domain) if it.split == "retain"]

            def run(folder: Path = folder, domain: str = domain, retain: list[QAItem] = retain) -> pd.DataFrame:
                model, tok = self.load(folder)
                return probe_accuracy(model, tok, retain, self.forget_items(domain), prompt_format=fmt)

            key = self._table_key(folder, domain, format=fmt)
            greedy = self.evaluation(folder, domain)
            forget_ids = {it.id for it in self.forget_items(domain)}
            parts.append(self.cache.result("linear_probe", key, run, table=True).assign(
                method=method, domain=domain, point=point,
                greedy=float(greedy[greedy["id"].isin(forget_ids)]["correct"].mean())))
        return pd.concat(parts, ignore_index=True)

    def planted_trajectories(self, method: str) -> pd.DataFrame:
        """The planted positive control's runs (``unpact.findings.planted``): ``method`` unlearns each domain's
        forget facts through question phrasing ``UNLEARNED_PHRASING`` only (same retain set, budget, stop rule
        and seed as ``trajectory_dir``), probed under ``plain`` (that phrasing) and ``other_form`` (the canonical
        question). Probe rows with ``method`` and ``domain``; empty when the base model is not an organism
        (no record of its phrasings) or has a single phrasing."""
        from unpact.data.schema import save_items
        from unpact.findings.planted import REFERENCE, TREATMENT, UNLEARNED_PHRASING
        from unpact.organism import RECORD_FILE, organism_record, phrasing_items
        from unpact.unlearn.artifact import PROBES_FILE
        from unpact.unlearn.probes import PROBE_COLUMNS, ForgetProbe

        cfg = self.config
        if (cfg.data_dir or not (self.base_dir / RECORD_FILE).is_file()
                or organism_record(self.base_dir)["world"]["question_phrasings"] <= UNLEARNED_PHRASING):
            return pd.DataFrame(columns=[*PROBE_COLUMNS, "method", "domain"])
        fmt = getattr(cfg, "prompt_format", "auto")
        parts = []
        for domain in cfg.domains:
            canonical = self.forget_items(domain)
            reworded = {it.id: it for it in phrasing_items(self.base_dir, domain, "forget", UNLEARNED_PHRASING)}
            forget = [replace(it, question=reworded[it.id].question) for it in canonical]
            data = {"base": self.cache.model_key(self.base_dir), "items": [it.to_dict() for it in forget]}
            def write(tmp: Path, forget: list[QAItem] = forget) -> None:
                save_items(tmp / "forget.jsonl", forget)

            folder = cached_artifact("planted", domain, data, write, root=cfg.cache_root)
            utility = [it for it in self.items(domain) if it.split == "general"]
            questions = {REFERENCE: [it.question for it in forget], TREATMENT: [it.question for it in canonical]}
            probe = ForgetProbe(forget, questions, utility, prompt_format=fmt, judge=cfg.judge)
            key = config_hash({"questions": questions, "utility": items_fingerprint(utility), "format": fmt,
                               "judge": cfg.judge}, length=32)
            run = self._unlearn(method, domain, cfg.steps, cfg.stop_at, probed=True, probe=probe, probe_key=key,
                                forget_file=folder / "forget.jsonl",
                                retain_file=benchmark_file(self.base_dir, domain, "retain"))
            parts.append(pd.read_csv(run / PROBES_FILE, dtype={"item_id": str}).assign(method=method, domain=domain))
        return pd.concat(parts, ignore_index=True)

    def judged_outcomes(self) -> pd.DataFrame:
        """``unpact.findings.utility.judged_outcome_frame`` for the whole grid: outcomes under the exact,
        contains and ROUGE-L judges, with ``answer_shared`` (the gold answer is also a forget answer)."""
        from unpact.findings.utility import judged_outcome_frame

        parts = []
        for method, domain in self.grid():
            base = self.evaluation(self.base_dir, domain)
            forget_answers = [it.answer for it in self.forget_items(domain)]
            unlearned = {method: self.evaluation(self.unlearned_dir(method, domain), domain)}
            parts.append(judged_outcome_frame(base, unlearned, forget_answers))
        return pd.concat(parts, ignore_index=True)


def make_studies(archs: Sequence[str], seeds: Sequence[int], cache: StudyCache | None = None,
                 **config: Any) -> list[Study]:
    """One ``Study`` per (architecture, seed) with the other ``StudyConfig`` fields shared, and one
    ``StudyCache`` shared by all (``cache``, or a new one on ``config["cache_root"]``)."""
    if not archs or not seeds:
        raise UsageError("give at least one architecture and one seed")
    cache = cache if cache is not None else StudyCache(config.get("cache_root"))
    return [Study(StudyConfig(arch=a, seed=int(s), **config), cache=cache) for a in archs for s in seeds]


def notebook_studies(parameters: Mapping[str, Any], cache: StudyCache | None = None, **config: Any) -> list[Study]:
    """The studies a notebook's parameters describe (``make_studies``: one per architecture and seed,
    one shared cache). ``parameters`` is the notebook's namespace; the names it reads, when present:
    ``profile``, ``archs``, ``seeds``, ``methods``, ``domains``, ``styles``, ``token_sources``, ``top_k``
    and ``alpha`` (the KeyToken rule; ``alpha`` 0 = no threshold), ``attribution_method``, ``judge``,
    ``stop_at``, ``base_model`` and ``data_dir`` (empty = none), ``unlearned_models``, ``prompt_format``,
    ``attribute_every`` (besides step 0 and powers of two, a trajectory is attributed at its multiples);
    and for the pretrained models studied beside the organism: ``pretrained_models`` (names of
    ``unpact models`` or folders; one study each per seed), ``pretrained_domains`` (default ``facts``),
    ``pretrained_methods`` (default: ``methods``), ``pretrained_styles`` (default: ``styles``) and
    ``pretrained_max_items`` (items per split, 0 = all);
    ``finetuned_models`` (names fine-tuned on the synthetic world first, ``FINETUNED_PREFIX``) with
    ``finetuned_domains`` (default ``news``), sharing the pretrained methods and item limit.
    Other names are ignored. ``config`` sets further ``StudyConfig`` fields and wins over the parameters."""
    p = parameters
    fields: dict[str, Any] = {}
    if "profile" in p:
        fields["organism_profile"] = p["profile"]
    for name, target in (("methods", "methods"), ("domains", "domains"), ("styles", "styles"),
                         ("token_sources", "sources")):
        if name in p:
            fields[target] = tuple(p[name])
    if "top_k" in p or "alpha" in p:
        fields["key_rule"] = KeyRule(top_k=p.get("top_k"), alpha=p.get("alpha") or None)
    for name in ("attribution_method", "stop_at", "unlearned_models", "prompt_format", "attribute_every"):
        if name in p:
            fields[name] = p[name]
    for name in ("base_model", "data_dir", "judge"):
        if name in p:
            fields[name] = p[name] or None
    seeds = p.get("seeds", (0,))
    cache = cache if cache is not None else StudyCache(config.get("cache_root"))
    archs = p.get("archs", ("llama",))
    studies = make_studies(archs, seeds, cache=cache, **{**fields, **config}) if archs else []
    shared = {k: v for k, v in fields.items() if k != "base_model"}
    pretrained = {**shared, "domains": tuple(p.get("pretrained_domains", (FACTS,))),
                  "methods": tuple(p.get("pretrained_methods") or fields.get("methods", PAPER_METHODS)),
                  "styles": tuple(p.get("pretrained_styles") or fields.get("styles", EMPHASIS_STYLES)),
                  "max_items": p.get("pretrained_max_items") or None, "unlearned_models": {}, "data_dir": None,
                  **config}
    for name in p.get("pretrained_models", ()):
        studies += [Study(StudyConfig(base_model=name, seed=int(s), **pretrained), cache=cache) for s in seeds]
    finetuned = {**pretrained, "domains": tuple(p.get("finetuned_domains", ("news",)))}
    for name in p.get("finetuned_models", ()):
        studies += [Study(StudyConfig(base_model=FINETUNED_PREFIX + name, seed=int(s), **finetuned), cache=cache)
                    for s in seeds]
    if not studies:
        raise UsageError("nothing to study: give at least one organism architecture (archs) or pretrained model")
    return studies


def keyword_scores_frame(studies: Sequence[Study]) -> pd.DataFrame:
    """Per item with gold keywords, of every study and domain: the base model's KeyTokens (the study's
    rule) against the keywords (``unpact.attribution.keytokens.keyword_scores`` columns) with ``arch``,
    ``seed``, ``domain`` and ``split``, matched by item id."""
    parts = []
    for s in studies:
        for domain in s.config.domains:
            items = s.items(domain)
            scores = keyword_scores(s.attribution(s.base_dir, domain), {it.id: it.keywords for it in items},
                                    **s.config.key_rule.as_kwargs())
            split = {it.id: it.split for it in items}
            parts.append(scores.assign(arch=s.label, family=s.family, seed=s.config.seed, domain=domain,
                                       split=scores["item_id"].map(split)))
    return pd.concat(parts, ignore_index=True)


def unlearning_runs(studies: Sequence[Study]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The record of every unlearning run of the grids (``arch, seed, method, domain, steps,
    stop_reason, seconds, final_*``) and their per-step logs (``unlearning-log.csv`` plus the same keys)."""
    from unpact.unlearn.artifact import LOG_FILE, read_record

    records, curves = [], []
    for s in studies:
        for method, domain in s.grid():
            folder = s.unlearned_dir(method, domain)
            rec = read_record(folder)
            keys = dict(arch=s.label, family=s.family, seed=s.config.seed, method=method, domain=domain)
            records.append(dict(**keys, steps=rec["steps"], stop_reason=rec["stop_reason"], seconds=rec["duration_s"],
                                **{f"final_{k}": v for k, v in rec["metrics"].items()}))
            curves.append(pd.read_csv(folder / LOG_FILE).assign(**keys))
    return pd.DataFrame(records), pd.concat(curves, ignore_index=True)


def collect(studies: Sequence[Study], what: str) -> pd.DataFrame:
    """Concatenate ``study.<what>()`` over studies, adding ``arch``/``seed`` and making ``item_id``
    unique per organism (``arch/seed/id``), so pooled statistics treat each organism's item as its own."""
    check_choice("study frame", what, ("outcomes", "contributions", "recovery", "trajectories", "judged_outcomes",
                                       "focus_trajectories"))
    parts = []
    for s in studies:
        frame = getattr(s, what)()
        tag = f"{s.label}/{s.config.seed}/"
        parts.append(frame.assign(arch=s.label, family=s.family, seed=s.config.seed,
                                  item_id=tag + frame["item_id"].astype(str)))
    return pd.concat(parts, ignore_index=True)
