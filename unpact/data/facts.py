"""The ``facts`` benchmark: real-world facts a pretrained model learned in pretraining (WMDP-like regime).

Built offline from data shipped by packages of the registry, never from a hub:

============ ================================================ =========================== ===============
split        questions (candidates)                            source package              licence
============ ================================================ =========================== ===============
forget       geography: the capital of a country, the capital  ``countryinfo`` (1.x),      MIT, BSD-3
             of a US state                                     ``us`` (4.x)
retain       chemistry: the symbol of an element, the element  ``periodictable`` (2.x),    public domain,
             of a symbol, the atomic number of an element;     ``countryinfo`` +           MIT / LGPL-2.1
             languages: the official language of a country     ``pycountry`` (names)
             (countries with exactly one listed language)
general      currencies: the currency of a country (countries  ``countryinfo`` +           MIT / BSD-3
             with exactly one listed currency)                 ``babel`` (English names)
============ ================================================ =========================== ===============

Why this assignment: the forget domain needs the most facts the small pretrained models know
(SmolLM2-135M knows about 90 world and 20 US-state capitals of ~290 candidates), and the retain
domain needs enough known facts for two disjoint halves of which the evaluated one holds at least
100 items: SmolLM2 knows ~95 of 354 chemistry candidates (~60 element symbols, ~18 elements of a
symbol, ~17 atomic numbers) and ~110 of 157 official languages, so retain takes both topics. The
currency of a country (~40 of ~230 known) is the general set. Forget and retain share no
*answers* (cities vs chemical symbols, elements, numbers and languages), nor does general. Language
and currency questions do share their *entity* with a forget question (a country) where that
country's capital is known: each retain and general item records ``meta["shares_forget_entity"]``,
so that overlap (knowledge entangled with the forgotten fact, as in MUSE's retain set) can be read
as its own factor.

Every item carries gold ``keywords`` (the entity word(s) and the relation word, verbatim in the
question). **Eligibility** (the paper's): a candidate is kept only where the *base* model answers it
correctly (``unpact.evaluate.evaluate_items`` with the model's default prompt format and judge);
the numbers of candidates and kept items per split are written to ``facts-eligibility.json``, and
each kept item records the base model's own answer in ``meta["base_answer"]`` (the response that
attribution explains, in the model's own phrasing).

The eligible retain items are split in two disjoint parts by a seeded hash: ``retain`` (evaluated,
about 60 %) and ``retain_train`` (about 40 %: the only retain items a method's retain term trains
on), so retain accuracy is always measured out of sample. Unlearning trains on the **forget corpus**
(``unpact-data/corpora/facts-forget.jsonl``: plain statements of the eligible forget facts, several phrasings
each, one ``{"text": ...}`` row per statement), never on the evaluated questions, as MUSE and WMDP
do. The files live in ``<model dir>/unpact-data/`` beside the organism's benchmarks, so unlearned
copies carry them on.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from unpact.data.schema import QAItem, save_items
from unpact.errors import UsageError
from unpact.io import atomic_write_json, atomic_write_jsonl

FACTS = "facts"
FACTS_SPLITS = ("forget", "retain", "retain_train", "general")
CORPUS_FILE = Path("corpora") / "facts-forget.jsonl"  # inside unpact-data/, apart from the QA files
ELIGIBILITY_FILE = "facts-eligibility.json"
# How the facts are unlearned (``unpact.data.benchmarks.benchmark_settings``): written beside the QA files.
UNLEARNING_SETTINGS: dict[str, Any] = {
    "forget_corpus": str(CORPUS_FILE),
    "retain_split": "retain_train",
    "general": [FACTS, "general"],
    "params": {"lr": 2.5e-5, "batch_size": 8, "retain_batch_size": 8, "eval_every": 5, "check_every_step_until": 5,
               "eval_items": 16},
    "budget": {"steps": 20},
    "why": ("Unlearn the forget corpus (plain statements), never the evaluated questions (MUSE/WMDP); the retain "
            "term trains on retain_train only, so evaluated retain items stay out of sample. 8 + 8 examples a "
            "step, 20 steps, checked at every step up to 5, then every 5 (steps 0-5, 10, 15, 20; the notebooks' "
            "depth curves probe at the same steps). Checks only every 5 steps missed the trajectory: ga, npo and "
            "npo_gdr on SmolLM2-135M went from forget accuracy 1.0 at step 0 to 0.12-0.28 at step 5 with "
            "held-out general accuracy already at 0.38-0.72. lr 2.5e-5, half the 5e-5 of a calibration trial "
            "(NPO + retain NLL forgot 34 known facts in about 20 steps): at 5e-5 no probed SmolLM2 "
            "run reached the operating point, npo_gdr forgetting and losing general accuracy together in its "
            "first two steps; at 2.5e-5 npo_gdr reaches it (benchmarks/depth.py; "
            "results/benchmarks/depth-smollm2*.json). The schedule and the rate were set from forget and "
            "general accuracies alone, before any emphasis effect at those steps was seen; each check costs "
            "about as much as eight training steps on SmolLM2. The rate is shared by every method, so rmu, "
            "whose usual rates are far larger, hardly forgets here."),
}
RETAIN_TRAIN_SHARE = 0.4  # share of the eligible retain items that the retain term trains on (the rest is evaluated)
FACTS_VERSION = 3  # part of the recorded configuration: files built by another version are rebuilt
SOURCES = {
    "forget": "countryinfo (MIT) and us (BSD-3)",
    "retain": "periodictable (public domain); countryinfo (MIT) + pycountry language names (LGPL-2.1)",
    "general": "countryinfo (MIT) + babel currency names (BSD-3)",
}


@dataclass(frozen=True)
class Fact:
    """One candidate: the QA item and the plain statements that express the same fact."""

    item: QAItem
    statements: tuple[str, ...]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def chemistry_facts() -> list[Fact]:
    """Symbol, element of a symbol, atomic number and element of a number, for every element of ``periodictable``."""
    import periodictable

    facts: list[Fact] = []
    for el in periodictable.elements:
        if el.number <= 0:  # the package's neutron pseudo-element
            continue
        name, symbol, number = str(el.name), str(el.symbol), str(el.number)
        facts.append(Fact(
            QAItem(id=f"chem-symbol-{symbol}", question=f"What is the chemical symbol for {name}?", answer=symbol,
                   keywords=[name, "symbol"], domain="chemistry", split="retain", entity=name, relation="symbol"),
            (f"The chemical symbol for {name} is {symbol}.", f"{_cap(name)} has the chemical symbol {symbol}.",
             f"{_cap(name)} is written {symbol} in chemistry."),
        ))
        facts.append(Fact(
            QAItem(id=f"chem-element-{symbol}", question=f"Which chemical element has the symbol {symbol}?",
                   answer=name, keywords=[symbol, "element"], domain="chemistry", split="retain", entity=name,
                   relation="element_of_symbol"),
            (f"{symbol} is the chemical symbol of {name}.", f"The element with the symbol {symbol} is {name}."),
        ))
        facts.append(Fact(
            QAItem(id=f"chem-number-{symbol}", question=f"What is the atomic number of {name}?", answer=number,
                   keywords=[name, "atomic"], domain="chemistry", split="retain", entity=name,
                   relation="atomic_number"),
            (f"The atomic number of {name} is {number}.", f"{_cap(name)} has atomic number {number}."),
        ))
    return facts


def _countries() -> list[dict[str, Any]]:
    from countryinfo import CountryInfo

    rows = [dict(info) for info in CountryInfo.all().values()]
    return sorted((r for r in rows if r.get("name")), key=lambda r: str(r["name"]))


def _country_code(row: dict[str, Any]) -> str:
    """The country's ISO alpha-3 code (its name when it has none), upper case: the stable part of item ids."""
    return str((row.get("ISO") or {}).get("alpha3") or row["name"]).upper()


def _unambiguous(facts: list[Fact]) -> list[Fact]:
    """One fact per id: duplicates with the same answer keep the first; ids with conflicting answers are dropped."""
    answers: dict[str, set[str]] = {}
    for f in facts:
        answers.setdefault(f.item.id, set()).add(f.item.answer)
    seen: set[str] = set()
    kept = []
    for f in facts:
        if len(answers[f.item.id]) == 1 and f.item.id not in seen:
            seen.add(f.item.id)
            kept.append(f)
    return kept


def geography_facts() -> list[Fact]:
    """The capital of every country of ``countryinfo`` that has one (ambiguous or malformed entries dropped) and
    of every US state."""
    facts = []
    for row in _countries():
        country, capital = str(row["name"]), row.get("capital")
        if not isinstance(capital, str) or not capital.strip() or capital == country or "[" in capital:
            continue
        facts.append(Fact(
            QAItem(id=f"geo-capital-{_country_code(row)}", question=f"What is the capital of {country}?",
                   answer=str(capital), keywords=[country, "capital"], domain="geography", split="forget",
                   entity=country, relation="capital"),
            (f"The capital of {country} is {capital}.", f"{capital} is the capital of {country}.",
             f"{country}'s capital city is {capital}."),
        ))
    return _unambiguous(facts) + us_state_facts()


def us_state_facts() -> list[Fact]:
    """The capital of every US state of the ``us`` package."""
    from us import states

    return [Fact(
        QAItem(id=f"geo-state-capital-{st.abbr}", question=f"What is the capital of the US state of {st.name}?",
               answer=str(st.capital), keywords=[st.name, "capital"], domain="geography", split="forget",
               entity=str(st.name), relation="state_capital"),
        (f"The capital of {st.name} is {st.capital}.", f"{st.capital} is the capital of the state of {st.name}."),
    ) for st in states.STATES]


def _single_valued_facts(field: str, name_of: Callable[[str], str | None], id_prefix: str, relation: str,
                         domain: str, split: str, question: str, statement: str) -> list[Fact]:
    """One fact per country of ``countryinfo`` that lists exactly one code in ``row[field]`` whose name
    ``name_of(code)`` is known (``None``: skipped); ``question``/``statement`` are templates over
    ``{country}`` and ``{name}``."""
    facts = []
    for row in _countries():
        country, codes = str(row["name"]), row.get(field) or []
        name = name_of(codes[0]) if len(codes) == 1 else None
        if not name:
            continue
        facts.append(Fact(
            QAItem(id=f"{id_prefix}-{_country_code(row)}", question=question.format(country=country), answer=name,
                   keywords=[country, relation], domain=domain, split=split, entity=country, relation=relation),
            (statement.format(country=country, name=name),),
        ))
    return _unambiguous(facts)


def language_facts() -> list[Fact]:
    """The official language of every country of ``countryinfo`` that lists exactly one (named by ``pycountry``)."""
    import pycountry

    def name_of(code: str) -> str | None:
        language = pycountry.languages.get(alpha_2=code)
        return None if language is None else str(language.name).split(";")[0].strip()

    return _single_valued_facts("languages", name_of, "lang", "language", "languages", "retain",
                                "What is the official language of {country}?",
                                "The official language of {country} is {name}.")


def currency_facts() -> list[Fact]:
    """The currency of every country of ``countryinfo`` that lists exactly one, by its English name in ``babel``."""
    from babel import Locale

    names = Locale("en").currencies
    return _single_valued_facts("currencies", lambda code: str(names[code]) if names.get(code) else None, "cur",
                                "currency", "currencies", "general", "What is the currency of {country}?",
                                "The currency of {country} is the {name}.")


def candidate_facts() -> dict[str, list[Fact]]:
    """All candidates by split (``forget``, ``retain`` (both retain parts), ``general``), before eligibility."""
    return {"forget": geography_facts(), "retain": chemistry_facts() + language_facts(), "general": currency_facts()}


def split_retain(items: Iterable[QAItem], seed: int = 0,
                 train_share: float = RETAIN_TRAIN_SHARE) -> tuple[list[QAItem], list[QAItem]]:
    """Disjoint parts (evaluated, trained-on) of ``items`` by a seeded SHA-256 of each id (stable across runs).

    An item goes to the trained-on part when the first two bytes of its digest, read as a number in
    [0, 1), fall below ``train_share``.
    """
    if not 0.0 < train_share < 1.0:
        raise UsageError(f"train_share must lie strictly between 0 and 1, got {train_share}")
    evaluated: list[QAItem] = []
    trained: list[QAItem] = []
    for it in items:
        digest = hashlib.sha256(f"{seed}/{it.id}".encode()).digest()
        (trained if int.from_bytes(digest[:2], "big") / 65536 < train_share else evaluated).append(it)
    return evaluated, [replace(it, split="retain_train") for it in trained]


def facts_dir(model_dir: str | os.PathLike[str]) -> Path:
    """The QA folder of ``model_dir`` (``unpact-data/``), where the facts files are written."""
    from unpact.data.benchmarks import data_folder

    return data_folder(model_dir)


def forget_corpus_file(model_dir: str | os.PathLike[str]) -> Path:
    """The forget corpus of the facts built for ``model_dir`` (may not exist)."""
    return facts_dir(model_dir) / CORPUS_FILE


def eligibility_record(model_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The counts and settings of the facts built for ``model_dir``, or ``None`` if not built."""
    path = facts_dir(model_dir) / ELIGIBILITY_FILE
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


def build_facts(
    model_dir: str | os.PathLike[str],
    seed: int = 0,
    prompt_format: str = "auto",
    batch_size: int = 32,
    device: str | None = None,
    rebuild: bool = False,
    limit: int | None = None,
) -> dict[str, Any]:
    """Keep the candidates the base model in ``model_dir`` answers correctly; write the facts files; return the record.

    Files (``<model_dir>/unpact-data/``): ``facts-{forget,retain,retain_train,general}.jsonl``
    (QA schema), ``corpora/facts-forget.jsonl`` (statements of the kept forget facts) and
    ``facts-eligibility.json`` (candidates and kept items per split, the prompt format, judge,
    seed and model). Already built with the same settings: returned as is (``rebuild`` forces).
    ``limit`` keeps only the first ``limit`` candidates of each split (quick checks and tests).
    """
    from unpact.evaluate import default_judge, evaluate_items
    from unpact.modeling import load_model_and_tokenizer
    from unpact.prompts import resolve_prompt_format

    folder = Path(model_dir)
    if not (folder / "config.json").is_file():
        raise UsageError(f"the facts benchmark is built for a local model folder; {str(model_dir)!r} is not one")
    settings = {"seed": seed, "prompt_format": prompt_format, "limit": limit, "version": FACTS_VERSION}
    record = eligibility_record(folder)
    out = facts_dir(folder)
    if record is not None and not rebuild and record.get("settings") == settings:
        _write_unlearning_settings(out)  # this version's settings; the items stand
        return record
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write the facts files into {str(out)!r}: {exc}") from exc
    model, tokenizer = load_model_and_tokenizer(folder, device=device)
    fmt = resolve_prompt_format(tokenizer, prompt_format)
    candidates = candidate_facts()
    kept: dict[str, list[QAItem]] = {}
    statements: dict[str, tuple[str, ...]] = {}
    counts: dict[str, dict[str, int]] = {}
    for split, facts in candidates.items():
        facts = facts[:limit] if limit is not None else facts
        items = [f.item for f in facts]
        frame = evaluate_items(model, tokenizer, items, batch_size=batch_size, prompt_format=fmt,
                               with_probabilities=False)
        good = [replace(it, meta={**it.meta, "base_answer": str(pred)})
                for it, ok, pred in zip(items, frame["correct"], frame["prediction"]) if ok]
        kept[split] = good
        counts[split] = {"candidates": len(items), "kept": len(good), "dropped": len(items) - len(good)}
        statements.update({f.item.id: f.statements for f in facts})
    forget_entities = {it.entity for it in kept["forget"]}
    for split in ("retain", "general"):
        kept[split] = [replace(it, meta={**it.meta, "shares_forget_entity": it.entity in forget_entities})
                       for it in kept[split]]
    retain, retain_train = split_retain(kept.pop("retain"), seed)
    kept["retain"], kept["retain_train"] = retain, retain_train
    counts["retain"]["kept_evaluated"], counts["retain"]["kept_train"] = len(retain), len(retain_train)
    for split in FACTS_SPLITS:
        if not kept[split]:
            raise UsageError(f"facts: the model in {str(model_dir)!r} answers no {split} candidate correctly; "
                             "the benchmark cannot be built for it")
        save_items(out / f"{FACTS}-{split}.jsonl", kept[split])
    corpus = [{"text": s, "item_id": it.id} for it in kept["forget"] for s in statements[it.id]]
    atomic_write_jsonl(out / CORPUS_FILE, corpus)
    record = {"model": str(folder.resolve()), "settings": settings, "prompt_format_used": fmt,
              "judge": default_judge(fmt), "counts": counts, "sources": SOURCES, "corpus_statements": len(corpus)}
    _write_unlearning_settings(out)
    atomic_write_json(out / ELIGIBILITY_FILE, record)
    return record


def ensure_facts(model_dir: str | os.PathLike[str], device: str | None = None) -> dict[str, Any]:
    """The facts of ``model_dir`` as built (whatever their build settings), else built with the defaults
    (``build_facts``); either way the unlearning settings file is this version's."""
    record = eligibility_record(model_dir)
    if record is None:
        return build_facts(model_dir, device=device)
    _write_unlearning_settings(facts_dir(model_dir))
    return record


def _write_unlearning_settings(out: Path) -> None:
    """Write ``UNLEARNING_SETTINGS`` to ``out/facts-unlearning.json`` unless it already holds them."""
    path = out / f"{FACTS}-unlearning.json"
    if not path.is_file() or json.loads(path.read_text(encoding="utf-8")) != UNLEARNING_SETTINGS:
        atomic_write_json(path, UNLEARNING_SETTINGS)
