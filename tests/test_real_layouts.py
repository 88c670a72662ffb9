"""Real data as users have it on disk: every layout and every broken file (issue 12).

The fixtures are written here, in ``tmp_path``, with ``datasets`` and pyarrow as the real files
are: hub snapshots (``hf download`` with its ``.cache`` folder, and look-alike or older files
beside the right ones), ``git clone`` without git-lfs, ``save_to_disk`` folders, single files of
each format, Windows line endings and the muse_bench repository's ``data/news``.
"""
from __future__ import annotations

import json
import re
import shutil
import unicodedata
from pathlib import Path

import pytest

from unpact.cli import main
from unpact.data.real import load_corpus, load_real
from unpact.data.schema import load_items
from unpact.errors import UsageError
from unpact.io import read_jsonl

datasets = pytest.importorskip("datasets")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

# values a loader must not touch: blanks at both ends, doubled and non-breaking spaces, a tab,
# decomposed (NFD) and composed (NFC) accents
ODD = "  Ce\u0301line  met\u00a0Zo\u00eb\tin Tromsø. "
assert unicodedata.normalize("NFC", ODD) != ODD
FORGET_QA = [{"question": "Which river did the flooded town stand on?", "answer": "the Moy"},
             {"question": f"Who did {ODD} meet?", "answer": ODD}]
FORGET_ICL = [{"question": "An in-context example?", "answer": "icl"}]
RETAIN_QA = [{"question": "What did the city of Lorne ban?", "answer": "charcoal barbecues"}]
OLD_QA = [{"question": "An older revision's question?", "answer": "old"}]
RAW_FORGET = [{"text": "Carrowmore, a market town on the Moy, was flooded.\n\nThe river rose."}, {"text": ODD}]
RAW_RETAIN = [{"text": "The Green Alliance won 14 seats."}]
VERBMEM = [{"prompt": "Carrowmore, a market town on the", "gt": "Moy, was flooded."}]
WMDP = [{"question": "Which step comes first in protocol P?", "choices": ["Lysis", "Staining", "Washing", "Imaging "],
         "answer": 3}]
TOFU_FORGET = [{"question": "Where was the author Basil born?", "answer": "Basil was born in Kuwait City."}]
TOFU_PERTURBED = [{**TOFU_FORGET[0], "paraphrased_answer": "In Kuwait City.", "perturbed_answer": ["Cairo.", "Doha."]}]

MUSE_CARD = """---
license: cc-by-4.0
configs:
- config_name: knowmem
  data_files:
  - split: forget_qa
    path: knowmem/forget_qa-*
  - split: forget_qa_icl
    path: knowmem/forget_qa_icl-*
  - split: retain_qa
    path: knowmem/retain_qa-*
- config_name: raw
  data_files:
  - split: forget
    path: raw/forget-*
  - split: retain1
    path: raw/retain1-*
- config_name: verbmem
  data_files:
  - split: forget
    path: verbmem/forget-*
---
# MUSE-News
"""
WMDP_CARD = """---
configs:
- config_name: wmdp-bio
  data_files:
  - split: test
    path: wmdp-bio/test-*
---
"""
TOFU_CARD = """---
configs:
- config_name: forget01
  data_files: forget01.json
- config_name: forget01_perturbed
  data_files: forget01_perturbed.json
---
"""


def _parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)  # as the hub stores them (pyarrow, one row group)


def _jsonl(path: Path, rows: list[dict], newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + newline for r in rows).encode())


def _json_list(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")


def _shard(stem: str) -> str:
    return f"{stem}-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def muse_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``hf download muse-bench/MUSE-News --repo-type dataset --local-dir MUSE-News``, plus look-alikes."""
    root = tmp_path_factory.mktemp("snap") / "MUSE-News"
    for sub, stem, rows in (("knowmem", "forget_qa", FORGET_QA), ("knowmem", "forget_qa_icl", FORGET_ICL),
                            ("knowmem", "retain_qa", RETAIN_QA), ("knowmem", "retain2_qa", OLD_QA),
                            ("raw", "forget", RAW_FORGET), ("raw", "retain1", RAW_RETAIN),
                            ("verbmem", "forget", VERBMEM), ("privleak", "forget", OLD_QA)):
        _parquet(root / sub / _shard(stem), rows)
        meta = root / ".cache/huggingface/download" / sub / f"{_shard(stem)}.metadata"
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text("0123abcd\n\"etag\"\n1764633600.0\n")
    (root / "README.md").write_text(MUSE_CARD)
    (root / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    (root / ".cache/huggingface/.gitignore").write_text("*")
    # look-alikes: an older JSON export beside the parquet, and a stale copy inside the hidden cache
    _json_list(root / "knowmem" / "forget_qa.json", OLD_QA)
    _parquet(root / ".cache/huggingface/download/knowmem" / _shard("forget_qa"), OLD_QA)
    return root


def _qa(items: list) -> list[dict]:
    return [{"question": it.question, "answer": it.answer} for it in items]


# ---------------------------------------------------------------- layouts that load


def test_hub_snapshot_follows_its_card(muse_snapshot: Path) -> None:
    assert _qa(load_real("muse-news", "forget", muse_snapshot)) == FORGET_QA  # not _icl, not the old export
    assert _qa(load_real("muse-news", "retain", muse_snapshot)) == RETAIN_QA  # not retain2_qa
    assert load_corpus("muse-news", "forget", muse_snapshot) == [r["text"] for r in RAW_FORGET]  # raw, not verbmem
    assert load_corpus("muse-news", "retain", muse_snapshot) == [r["text"] for r in RAW_RETAIN]


def test_snapshot_without_card_uses_file_names_outside_hidden_folders(muse_snapshot: Path, tmp_path: Path) -> None:
    copy = tmp_path / "MUSE-News"
    shutil.copytree(muse_snapshot, copy)
    (copy / "README.md").unlink()
    (copy / "knowmem" / "forget_qa.json").unlink()
    assert _qa(load_real("muse-news", "forget", copy)) == FORGET_QA  # the .cache copy is never read


def test_hub_cache_snapshot_of_symlinks(muse_snapshot: Path, tmp_path: Path) -> None:
    """``~/.cache/huggingface/hub/datasets--muse-bench--MUSE-News/snapshots/<commit>``: links to blobs."""
    repo = tmp_path / "hub" / "datasets--muse-bench--MUSE-News"
    snapshot = repo / "snapshots" / "0123abcd"
    for i, path in enumerate(sorted(p for p in muse_snapshot.rglob("*") if p.is_file() and ".cache" not in p.parts)):
        blob = repo / "blobs" / f"{i:040x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, blob)
        link = snapshot / path.relative_to(muse_snapshot)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    assert _qa(load_real("muse-news", "forget", snapshot)) == FORGET_QA


def test_wmdp_and_tofu_snapshots(tmp_path: Path) -> None:
    wmdp = tmp_path / "wmdp"
    _parquet(wmdp / "wmdp-bio" / "test-00000-of-00001.parquet", WMDP)
    _parquet(wmdp / "wmdp-chem" / "test-00000-of-00001.parquet", [{**WMDP[0], "answer": 0}])
    (wmdp / "README.md").write_text(WMDP_CARD)
    item = load_real("wmdp-bio", "test", wmdp)[0]
    assert item.choices == WMDP[0]["choices"] and item.answer_index == 3 and item.answer == "Imaging "
    assert load_real("wmdp-chem", "test", wmdp)[0].answer_index == 0  # no card entry: found by name
    tofu = tmp_path / "TOFU"
    _jsonl(tofu / "forget01.json", TOFU_FORGET)  # TOFU's .json files are JSON lines
    _jsonl(tofu / "forget01_perturbed.json", TOFU_PERTURBED)
    (tofu / "README.md").write_text(TOFU_CARD)
    assert _qa(load_real("tofu", "forget01", tofu)) == TOFU_FORGET
    assert "paraphrased_answer" not in load_real("tofu", "forget01", tofu)[0].meta


def test_folder_of_one_split_and_its_shards(tmp_path: Path) -> None:
    split = tmp_path / "wmdp" / "wmdp-bio"
    second = {**WMDP[0], "question": "Which step comes last?", "answer": 2}
    _parquet(split / "test-00000-of-00002.parquet", WMDP)
    _parquet(split / "test-00001-of-00002.parquet", [second])
    items = load_real("wmdp-bio", "test", split)  # the split's own folder: its shards, in order
    assert [it.question for it in items] == [WMDP[0]["question"], second["question"]]
    assert [it.answer_index for it in load_real("wmdp-bio", "test", tmp_path / "wmdp")] == [3, 2]
    _parquet(split / "other-00000-of-00001.parquet", WMDP)  # two different splits: no guess
    with pytest.raises(UsageError, match="no file for wmdp-bio split test under"):
        load_real("wmdp-bio", "test", split)


def test_save_to_disk_dataset_and_dataset_dict(tmp_path: Path) -> None:
    knowmem = datasets.DatasetDict({"forget_qa": datasets.Dataset.from_list(FORGET_QA),
                                    "forget_qa_icl": datasets.Dataset.from_list(FORGET_ICL),
                                    "retain_qa": datasets.Dataset.from_list(RETAIN_QA)})
    knowmem.save_to_disk(str(tmp_path / "knowmem"))
    assert _qa(load_real("muse-news", "forget", tmp_path / "knowmem")) == FORGET_QA  # the dict itself
    assert _qa(load_real("muse-news", "retain", tmp_path / "knowmem")) == RETAIN_QA
    assert _qa(load_real("muse-news", "forget", tmp_path)) == FORGET_QA  # a parent: knowmem/forget_qa is found
    knowmem["forget_qa"].save_to_disk(str(tmp_path / "one" / "my-forget-split"))
    assert _qa(load_real("muse-news", "forget", tmp_path / "one" / "my-forget-split")) == FORGET_QA
    datasets.DatasetDict({"forget": datasets.Dataset.from_list(RAW_FORGET)}).save_to_disk(str(tmp_path / "raw"))
    assert load_corpus("muse-news", "forget", tmp_path / "raw") == [r["text"] for r in RAW_FORGET]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(WMDP)}).save_to_disk(str(tmp_path / "wmdp-bio"))
    assert load_real("wmdp-bio", "test", tmp_path / "wmdp-bio")[0].answer_index == 3
    datasets.DatasetDict({k: knowmem[k] for k in ("forget_qa", "forget_qa_icl")}).save_to_disk(
        str(tmp_path / "partial" / "knowmem"))
    with pytest.raises(UsageError, match=r"knowmem: the saved dataset dict has no split retain_qa or retain2_qa or "
                                         r"retain; it has forget_qa, forget_qa_icl$"):
        load_real("muse-news", "retain", tmp_path / "partial" / "knowmem")


@pytest.mark.parametrize("suffix", [".parquet", ".json", ".jsonl", ".csv"])
def test_single_file_of_each_format_keeps_values_exactly(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"forget_qa{suffix}"
    if suffix == ".parquet":
        _parquet(path, FORGET_QA)
    elif suffix == ".json":
        _json_list(path, FORGET_QA)
    elif suffix == ".jsonl":
        _jsonl(path, FORGET_QA, newline="\r\n")  # Windows line endings
    else:
        datasets.Dataset.from_list(FORGET_QA).to_csv(str(path), index=False, lineterminator="\r\n")
    assert _qa(load_real("muse-news", "forget", path)) == FORGET_QA
    assert _qa(load_real("muse-news", "forget", tmp_path)) == FORGET_QA  # the folder: found by name


def test_csv_multiple_choice_and_na_cells(tmp_path: Path) -> None:
    path = tmp_path / "wmdp-bio.csv"
    path.write_bytes(b'question,choices,answer\r\nNA?,"[""NA"", ""None"", ""null"", ""n/a""]",1\r\n')
    item = load_real("wmdp-bio", "test", path)[0]
    assert item.question == "NA?" and item.choices == ["NA", "None", "null", "n/a"] and item.answer == "None"


def test_muse_bench_repository_data_folder(tmp_path: Path) -> None:
    """swj0419/muse_bench: ``data/news`` with JSON lists and the raw corpora as ``.txt`` (CRLF here)."""
    news = tmp_path / "muse_bench" / "data" / "news"
    _json_list(news / "knowmem" / "forget_qa.json", FORGET_QA)
    _json_list(news / "knowmem" / "forget_qa_icl.json", FORGET_ICL)
    _json_list(news / "knowmem" / "retain_qa.json", RETAIN_QA)
    _json_list(news / "verbmem" / "forget.json", VERBMEM)
    _json_list(news / "privleak" / "forget.json", OLD_QA)
    for stem, text in (("forget", "First article.\r\n\r\nSecond  article.\r\n"), ("retain1", "Kept text.\r\n"),
                       ("retain2", "More."), ("holdout", "Held out.")):
        (news / "raw").mkdir(parents=True, exist_ok=True)
        (news / "raw" / f"{stem}.txt").write_bytes(text.encode())
    (news / "scal").mkdir()
    (news / "scal" / "forget_1.txt").write_text("a scaling subset")
    assert _qa(load_real("muse-news", "forget", news)) == FORGET_QA
    assert _qa(load_real("muse-news", "retain", news)) == RETAIN_QA
    assert load_corpus("muse-news", "forget", news) == ["First article.\n\nSecond  article.\n"]
    assert load_corpus("muse-news", "retain", news) == ["Kept text.\n"]
    assert load_corpus("muse-news", "forget", news / "verbmem" / "forget.json") == [
        "Carrowmore, a market town on the Moy, was flooded."]


def test_loading_is_quiet_and_leaves_no_cache(muse_snapshot: Path, capfd: pytest.CaptureFixture[str]) -> None:
    cache = Path(datasets.config.HF_DATASETS_CACHE)
    before = sorted(cache.rglob("*")) if cache.exists() else []
    load_real("muse-news", "forget", muse_snapshot)
    load_corpus("muse-news", "forget", muse_snapshot)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert (sorted(cache.rglob("*")) if cache.exists() else []) == before


# ---------------------------------------------------------------- the CLI, good and broken files


def _cli(tmp_path: Path, source: Path, capsys: pytest.CaptureFixture[str], split: str = "forget",
         benchmark: str = "muse-news") -> tuple[int, str, Path]:
    out = tmp_path / "out" / "x.jsonl"
    code = main(["data", "--benchmark", benchmark, "--split", split, "--source", str(source), "--out", str(out)])
    return code, capsys.readouterr().err, out


def test_cli_writes_the_snapshot_split(muse_snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err, out = _cli(tmp_path, muse_snapshot, capsys)
    assert code == 0 and err == ""
    assert _qa(load_items(out)) == FORGET_QA
    code, err, out = _cli(tmp_path, muse_snapshot, capsys, split="corpus")
    assert code == 0 and [r["text"] for r in read_jsonl(out)] == [r["text"] for r in RAW_FORGET]


def _lfs_pointer(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("version https://git-lfs.github.com/spec/v1\n"
                    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n")


def _truncated_parquet(path: Path) -> None:
    _parquet(path, FORGET_QA)
    path.write_bytes(path.read_bytes()[:-100])


BAD = {
    "empty parquet": (lambda p: p.write_bytes(b""), "forget_qa-00000-of-00001.parquet", r"empty file \(0 bytes\)"),
    "truncated parquet": (_truncated_parquet, "forget_qa.parquet", "truncated parquet file"),
    "not parquet": (lambda p: p.write_text("question,answer\n"), "forget_qa.parquet", "not a parquet file"),
    "truncated jsonl": (lambda p: p.write_text('{"question": "q?", "answer": "a"}\n{"question": "q'),
                        "forget_qa.jsonl", "neither a JSON list nor JSON lines"),
    "blank json": (lambda p: p.write_text(" \r\n"), "forget_qa.json", "empty file"),
    "wrong columns": (lambda p: _parquet(p, [{"query": "q?", "answer": "a"}]), "forget_qa.parquet",
                      r"row 1 lacks field\(s\) \['question'\]"),
    "number as answer": (lambda p: _jsonl(p, [{"question": "q?", "answer": 14}]), "forget_qa.jsonl",
                         "field 'answer' must be a string"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_cli_bad_files_one_line_exit_2_nothing_written(case: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    write, name, problem = BAD[case]
    path = tmp_path / "data" / "knowmem" / name
    path.parent.mkdir(parents=True)
    write(path)
    for source in (path, tmp_path / "data"):  # the file itself, and the folder it is found in
        code, err, out = _cli(tmp_path, source, capsys)
        assert code == 2 and not out.exists() and not out.parent.exists()
        assert err.count("\n") == 1 and err.startswith("unpact data: error: ") and "Traceback" not in err
        assert str(path) in err
        assert re.search(problem, err), err


def test_cli_git_clone_without_lfs(muse_snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clone = tmp_path / "MUSE-News"
    shutil.copytree(muse_snapshot, clone, ignore=shutil.ignore_patterns(".cache"))
    for parquet in clone.rglob("*.parquet"):
        _lfs_pointer(parquet)
    code, err, out = _cli(tmp_path, clone, capsys)
    assert code == 2 and not out.exists() and err.count("\n") == 1
    assert str(clone / "knowmem" / _shard("forget_qa")) in err
    assert "git-lfs pointer" in err and "git lfs pull" in err


def test_cli_mcq_answer_out_of_range_and_unknown_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wmdp-bio" / "test-00000-of-00001.parquet"
    _parquet(path, [{**WMDP[0], "answer": 4}])
    code, err, out = _cli(tmp_path, tmp_path, capsys, split="test", benchmark="wmdp-bio")
    assert code == 2 and not out.exists() and err.count("\n") == 1
    assert str(path) in err and "answer index 4 outside the 4 choices" in err
    code, err, out = _cli(tmp_path, tmp_path, capsys, split="holdout")
    assert code == 2 and "unknown split of muse-news 'holdout'; valid choices: forget, retain" in err


def test_partial_snapshot_says_so(muse_snapshot: Path, tmp_path: Path) -> None:
    copy = tmp_path / "MUSE-News"
    shutil.copytree(muse_snapshot, copy, ignore=shutil.ignore_patterns("knowmem", ".cache"))
    with pytest.raises(UsageError, match=r"no file for muse-news split forget .*nor the files README.md lists for "
                                         r"config 'knowmem' \(a partial download\?\)"):
        load_real("muse-news", "forget", copy)


def test_hub_id_reads_the_named_config_and_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Online use, with ``load_dataset`` replaced by a stand-in (the tests have no network)."""
    calls = []

    def fake_load_dataset(hub_id: str, config: str | None) -> object:
        calls.append((hub_id, config, datasets.config.HF_HUB_OFFLINE))
        return datasets.DatasetDict({"forget_qa": datasets.Dataset.from_list(FORGET_QA),
                                     "retain_qa": datasets.Dataset.from_list(RETAIN_QA)})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    assert _qa(load_real("muse-news", "retain", "muse-bench/MUSE-News")) == RETAIN_QA
    assert calls == [("muse-bench/MUSE-News", "knowmem", False)]
