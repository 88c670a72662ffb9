"""Real-benchmark loaders on fixture files written in the data sets' public schemas (offline)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from unpact.data.real import REAL_BENCHMARKS, export_real, load_corpus, load_forget_corpus, load_real, read_rows
from unpact.data.schema import QAItem, load_items, save_items
from unpact.errors import UsageError
from unpact.io import read_jsonl

FIX = Path(__file__).parent / "fixtures" / "real"


def _raw(path: Path) -> list[dict]:
    """Independent reader for the fixtures: JSON list, else JSON lines."""
    text = path.read_text()
    try:
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_registry_names_and_splits() -> None:
    assert sorted(REAL_BENCHMARKS) == ["muse-books", "muse-news", "tofu", "wmdp-bio", "wmdp-chem", "wmdp-cyber"]
    assert set(REAL_BENCHMARKS["muse-news"].splits) == {"forget", "retain"}
    assert set(REAL_BENCHMARKS["wmdp-bio"].splits) == {"test"}
    assert set(REAL_BENCHMARKS["tofu"].splits) == {
        "forget01", "forget05", "forget10", "retain90", "retain95", "retain99", "real_authors", "world_facts"}


@pytest.mark.parametrize(
    "name,split,rel,domain,item_split",
    [
        ("muse-news", "forget", "muse-news/knowmem/forget_qa.json", "news", "forget"),
        ("muse-news", "retain", "muse-news/knowmem/retain_qa.jsonl", "news", "retain"),
        ("muse-books", "forget", "muse-books/knowmem/forget_qa.jsonl", "books", "forget"),
        ("muse-books", "retain", "muse-books/knowmem/retain2_qa.jsonl", "books", "retain"),
        ("tofu", "forget01", "tofu/forget01.json", "authors", "forget"),
        ("tofu", "retain99", "tofu/retain99.json", "authors", "retain"),
    ],
)
def test_short_answer_loaders_from_folder(tmp_path: Path, name: str, split: str, rel: str, domain: str,
                                          item_split: str) -> None:
    folder = FIX / rel.split("/")[0]
    items = load_real(name, split, folder)  # the folder: the split's file is found by name
    rows = _raw(FIX / rel)
    assert [(it.question, it.answer) for it in items] == [(r["question"], r["answer"]) for r in rows]
    assert all(it.keywords is None and it.choices is None for it in items)
    assert {it.domain for it in items} == {domain} and {it.split for it in items} == {item_split}
    assert len({it.id for it in items}) == len(items)
    # the same items from the file itself, and a schema-valid JSONL round trip
    assert load_real(name, split, FIX / rel) == items
    save_items(tmp_path / "out.jsonl", items)
    assert load_items(tmp_path / "out.jsonl") == items


@pytest.mark.parametrize("subject,rel", [("bio", "bio_questions.json"), ("cyber", "wmdp-cyber.jsonl"),
                                         ("chem", "wmdp-chem.jsonl")])
def test_wmdp_multiple_choice(subject: str, rel: str) -> None:
    items = load_real(f"wmdp-{subject}", "test", FIX / "wmdp")
    rows = _raw(FIX / "wmdp" / rel)
    assert len(items) == len(rows)
    for it, row in zip(items, rows):
        assert it.choices == row["choices"] and it.answer_index == row["answer"]
        assert it.answer == row["choices"][row["answer"]]
        assert it.domain == "hazard" and it.split == "forget" and it.keywords is None


def test_tofu_options_become_multiple_choice() -> None:
    items = load_real("tofu", "real_authors", FIX / "tofu")
    assert items[1].choices == ["Aldous Huxley", "George Orwell", "Ray Bradbury", "H. G. Wells"]
    assert items[1].answer_index == 1 and items[1].answer == "George Orwell"
    assert {it.split for it in items} == {"general"} and {it.domain for it in items} == {"real_authors"}
    facts = load_real("tofu", "world_facts", FIX / "tofu")
    assert facts[0].answer_index == 2 and facts[0].domain == "world_facts"


def test_extra_fields_kept_in_meta() -> None:
    item = load_real("tofu", "forget01", FIX / "tofu" / "forget01_perturbed.json")[0]
    assert item.meta["paraphrased_answer"] == "He was born in Kuwait City."
    assert item.meta["perturbed_answer"] == ["He was born in Cairo.", "He was born in Doha."]
    assert "question" not in item.meta and "answer" not in item.meta


def test_forget_corpora() -> None:
    raw = load_forget_corpus("muse-news", FIX / "muse-news")
    expected = [r["text"].strip() for r in _raw(FIX / "muse-news/raw/forget.jsonl") if r["text"].strip()]
    assert raw == expected and len(raw) == 2  # the blank row is dropped
    verb = load_forget_corpus("muse-news", FIX / "muse-news/verbmem/forget.json")
    assert verb == ["Carrowmore, a market town on the Moy, was flooded on Tuesday."]
    assert load_forget_corpus("wmdp-bio", FIX / "wmdp/bio-forget-corpus.jsonl") == [
        "X-17 is a fictional pathogen that needs a vector."]
    assert load_corpus("wmdp-cyber", "forget", FIX / "wmdp") == ["scanly enumerates open ports of an invented network."]


def test_txt_corpus(tmp_path: Path) -> None:
    path = tmp_path / "forget.txt"
    path.write_bytes(b"  One whole book\r\nas a single text.\r\n")
    # one text, kept as written (only the Windows line endings become "\n")
    assert load_forget_corpus("muse-books", path) == ["  One whole book\nas a single text.\n"]


# ---------------------------------------------------------------- errors


def test_unknown_names_and_splits_list_valid_ones() -> None:
    with pytest.raises(UsageError, match="valid choices: muse-books, muse-news, tofu"):
        load_real("muse", "forget", FIX)
    with pytest.raises(UsageError, match="valid choices: forget, retain"):
        load_real("muse-news", "holdout", FIX / "muse-news")
    with pytest.raises(UsageError, match="forget01, forget05, forget10"):
        load_real("tofu", "forget20", FIX / "tofu")
    with pytest.raises(UsageError, match="valid choices: forget, retain"):
        load_corpus("muse-news", "holdout", FIX / "muse-news")


def test_missing_file_and_folder_without_the_split(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="source not found"):
        load_real("muse-news", "forget", tmp_path / "nope.jsonl")
    with pytest.raises(UsageError, match=r"no file for muse-news split forget .*forget_qa.jsonl"):
        load_real("muse-news", "forget", tmp_path)


def test_wrong_schema_names_expected_and_absent_fields(tmp_path: Path) -> None:
    bad = tmp_path / "qa.jsonl"
    bad.write_text(json.dumps({"query": "q?", "answer": "a"}) + "\n")
    with pytest.raises(UsageError, match=r"lacks field\(s\) \['question'\]; expected fields \['question', 'answer'\]"):
        load_real("muse-news", "forget", bad)
    mc = tmp_path / "mc.jsonl"
    mc.write_text(json.dumps({"question": "q?", "choices": ["a", "b"], "answer": "a"}) + "\n")
    with pytest.raises(UsageError, match="integer index"):
        load_real("wmdp-bio", "test", mc)
    mc.write_text(json.dumps({"question": "q?", "choices": ["a", "b"], "answer": 5}) + "\n")
    with pytest.raises(UsageError, match="outside the 2 choices"):
        load_real("wmdp-bio", "test", mc)
    tofu = tmp_path / "ra.json"
    tofu.write_text(json.dumps({"question": "q?", "option1": "x", "option2": "y", "answer": "z"}) + "\n")
    with pytest.raises(UsageError, match="none of the options"):
        load_real("tofu", "real_authors", tofu)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"body": "t"}) + "\n")
    with pytest.raises(UsageError, match="expected field 'text'"):
        load_forget_corpus("muse-news", corpus)
    garbage = tmp_path / "g.json"
    garbage.write_text("{not json")
    with pytest.raises(UsageError, match="neither a JSON list nor JSON lines"):
        read_rows(garbage)
    with pytest.raises(UsageError, match="unsupported file type '.xlsx'"):
        (tmp_path / "x.xlsx").write_text("a,b\n")
        load_real("muse-news", "forget", tmp_path / "x.xlsx")


def test_corpora_that_do_not_exist_or_are_gated(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="no chemistry corpus"):
        load_forget_corpus("wmdp-chem", None)
    with pytest.raises(UsageError, match="not on a text corpus"):
        load_forget_corpus("tofu", None)
    monkeypatch.setitem(sys.modules, "datasets", None)  # the optional extra is absent
    with pytest.raises(UsageError, match=r"gated, so a local path is needed.*wmdp-bio-forget-corpus"):
        load_forget_corpus("wmdp-bio", None)


def test_without_the_datasets_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # a broken install: datasets is a dependency
    with pytest.raises(UsageError, match=r"pip install datasets pyarrow"):
        load_real("muse-news", "forget")
    with pytest.raises(UsageError, match=r"pip install datasets pyarrow"):
        load_real("wmdp-bio", "test", "cais/wmdp")
    with pytest.raises(UsageError, match=r"pip install datasets pyarrow"):
        load_real("wmdp-bio", "test", FIX / "wmdp")


def test_parquet(tmp_path: Path) -> None:
    rows = [{"question": "Who?", "answer": "Ann"}, {"question": "Where?", "answer": "Oslo"}]
    path = tmp_path / "forget_qa-00000-of-00001.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    items = load_real("muse-news", "forget", tmp_path)
    assert [(it.question, it.answer) for it in items] == [(r["question"], r["answer"]) for r in rows]


def test_items_are_qaitems() -> None:
    assert all(isinstance(it, QAItem) for it in load_real("wmdp-chem", "test", FIX / "wmdp"))


def test_export_real_writes_schema_jsonl_and_corpora(tmp_path: Path) -> None:
    out = tmp_path / "wmdp.jsonl"
    assert export_real("wmdp-cyber", "test", FIX / "wmdp", out) == 1
    assert load_items(out) == load_real("wmdp-cyber", "test", FIX / "wmdp")
    corpus = tmp_path / "corpus.jsonl"
    assert export_real("muse-news", "corpus", FIX / "muse-news", corpus) == 2
    assert [r["text"] for r in read_jsonl(corpus)] == load_forget_corpus("muse-news", FIX / "muse-news")
    with pytest.raises(UsageError, match=r"no file for muse-news retain corpus .*retain1.jsonl"):
        export_real("muse-news", "retain-corpus", FIX / "muse-news", tmp_path / "r.jsonl")  # fixture has no retain1
    assert not (tmp_path / "r.jsonl").exists()


def test_paper_profile_is_consistent_with_its_formulas() -> None:
    """Recompute the documented estimates of unpact/profiles/paper.yaml from the header's formulas."""
    import yaml

    raw = yaml.safe_load((Path(__file__).parents[1] / "unpact/profiles/paper.yaml").read_text())
    profile = raw["setup"]
    assert raw["defaults"]["methods"] == profile["unlearn"]["methods"]
    assert profile["unlearn"]["methods"] == ["ga", "ga_gdr", "ga_klr", "npo", "npo_gdr", "npo_klr"]
    for name in ("muse-news", "muse-books"):
        assert name in REAL_BENCHMARKS
    assert all(s in REAL_BENCHMARKS for s in profile["benchmarks"]["wmdp"]["subsets"])
    est, gpus = profile["estimates"]["muse"], profile["hardware"]["gpus"]
    n = profile["benchmarks"]["muse-news"]["params_billion"] * 1e9
    tokens = profile["unlearn"]["effective_batch"] * profile["benchmarks"]["muse-news"]["max_length"]
    assert est["weights_grads_adam_gb_total"] == pytest.approx(16 * n / 1e9, abs=0.1)
    assert est["weights_grads_adam_gb_per_gpu"] == pytest.approx(16 * n / 1e9 / gpus, abs=0.1)
    assert est["reference_gb_per_gpu"] == pytest.approx(2 * n / 1e9 / gpus, abs=0.1)
    b, s, h, layers, vocab = 1, 2048, 4096, 32, 32000
    act = (layers * b * s * h * 2 + 34 * b * s * h + 3 * b * s * vocab * 4) / 1e9
    assert est["activations_gb_per_gpu"] == pytest.approx(act, abs=0.1)
    # trained passes (8 N T each) and frozen reference passes (2 N T each) per step
    passes = {"ga": (1, 0), "ga_gdr": (2, 0), "ga_klr": (2, 1), "npo": (1, 1), "npo_gdr": (2, 1), "npo_klr": (2, 2)}
    for method, (trained, frozen) in passes.items():
        flop = (8 * trained + 2 * frozen) * n * tokens
        assert est["tflop_per_step"][method] == pytest.approx(flop / 1e12, abs=1)
        assert est["seconds_per_step_8xA100"][method] == pytest.approx(flop / (gpus * 312e12 * 0.40), abs=0.05)
        uses_ref = frozen > 0
        expected = est["weights_grads_adam_gb_per_gpu"] + act + 3 + (est["reference_gb_per_gpu"] if uses_ref else 0)
        assert est["total_gb_per_gpu"][method] == pytest.approx(expected, abs=0.15)


def test_folder_prefers_raw_and_refuses_ambiguity(tmp_path: Path) -> None:
    for sub, text in (("raw", "raw text"), ("privleak", "privacy probe")):
        (tmp_path / "data" / sub).mkdir(parents=True)
        (tmp_path / "data" / sub / "forget.jsonl").write_text(json.dumps({"text": text}) + "\n")
    assert load_forget_corpus("muse-news", tmp_path / "data") == ["raw text"]
    for sub in ("a", "b"):
        (tmp_path / "qa" / sub).mkdir(parents=True)
        (tmp_path / "qa" / sub / "forget_qa.jsonl").write_text(json.dumps({"question": "q?", "answer": "a"}) + "\n")
    with pytest.raises(UsageError, match=r"several files .*a/forget_qa.jsonl, b/forget_qa.jsonl"):
        load_real("muse-news", "forget", tmp_path / "qa")


def test_data_cli_dispatches_real_benchmarks(tmp_path) -> None:
    """`unpact data --benchmark muse-news --source PATH` writes schema-valid JSONL from the fixture."""
    from unpact.cli import main
    from unpact.data.schema import load_items

    out = tmp_path / "muse-news-forget.jsonl"
    fixture = Path(__file__).parent / "fixtures" / "real" / "muse-news"
    assert main(["data", "--benchmark", "muse-news", "--split", "forget", "--source", str(fixture),
                 "--out", str(out)]) == 0
    items = load_items(out)
    assert items and all(it.keywords is None and it.question and it.answer for it in items)
    assert main(["data", "--benchmark", "news", "--split", "forget", "--source", str(fixture), "--out", str(out)]) == 2
