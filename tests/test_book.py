"""The book: generated pages from results files, and (marked ``book``) the micro book checked like a reader would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from bookbuild import REPO, book_cache, built_book

from unpact.book.build import broken_internal_links
from unpact.book.consistency import restatement_problems
from unpact.book.pages import (
    FINDING_TITLES,
    api_markdown,
    finding_summaries,
    findings_markdown,
    measured_line,
    performance_markdown,
    read_summary,
    status_markdown,
    write_missing_notebook_stubs,
)
from unpact.book.provenance import (
    benchmark_status,
    code_digest,
    measurement_record,
    periodic_reason,
    stale_benchmarks,
)
from unpact.book.sphinx_docstrings import docutils_problems, escape_bars, readable_lines
from unpact.book.sphinx_sources import notebook_source_url
from unpact.book.verdict import PAGE_DPI, PAGE_WIDTH_IN, sig2, verdict_figure
from unpact.errors import UsageError
from unpact.report import write_summary

FINDINGS = ("01_keyword_focus", "02_recovery_by_emphasis", "03_indiscriminate_penalization")


def _summary(verdict: str = "partly") -> dict:
    return {
        "finding": "Recovery without weight change",
        "verdict": verdict,
        "headline": {
            "name": "recovery rate",
            "value": 0.4213,
            "ci_low": 0.35,
            "ci_high": 0.5,
            "n": 120,
            "direction": "higher = more knowledge left",
        },
    }


def test_status_table_reads_summaries_and_marks_missing_ones(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "p" / "02_recovery_by_emphasis"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(_summary()))
    text = status_markdown(tmp_path, "p")
    rows = [line for line in text.splitlines() if line.startswith("| {doc}")]
    assert len(rows) == 3  # one row per finding, one column per model family
    assert text.splitlines()[0] == "| Finding: headline measure | organism |"
    assert "not run yet" in rows[0] and "not run yet" in rows[2]
    assert rows[1].endswith(": recovery rate | **partly** 0.42 [0.35, 0.50]; n = 120 |")
    found = findings_markdown(tmp_path, "p")
    assert (
        "**Partly** on the organism: recovery rate = 0.42 [0.35, 0.50], n = 120 (higher = more knowledge left)."
        in found
    )


def test_status_table_shows_conditions_control_and_independent_questions(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "p" / "02_recovery_by_emphasis"
    folder.mkdir(parents=True)
    summary = {
        **_summary("not reproduced"),
        "n_questions": 72,
        "n_pairs": 1440,
        "control": {"name": "random non-key tokens", "value": 0.41, "ci_low": 0.00151, "ci_high": 0.437},
        "conditions": [
            {"name": "key recovery CI low > 0", "met": True, "value": 0.35},
            {"name": "key > control (McNemar p < 0.05)", "met": False, "value": 0.81},
        ],
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    row = next(line for line in status_markdown(tmp_path, "p").splitlines() if "02_recovery" in line)
    # conditions compact in the table, spelled out in the findings list below it
    assert row.endswith("| **not reproduced** 0.42 [0.35, 0.50]; (a) ✓ · (b) ✗; 72 questions (1,440 pairs) |")
    found = findings_markdown(tmp_path, "p")
    assert "control (random non-key tokens) = 0.41 [0.0015, 0.44]" in found
    assert "✓ met: key recovery CI low > 0 (0.35); ✗ not met: key > control (McNemar p < 0.05) (0.81)" in found
    figure = verdict_figure(finding_summaries(tmp_path, "p"), FINDING_TITLES, tmp_path / "verdict.png")
    width, _ = _png_size(figure)
    assert width == round(PAGE_WIDTH_IN * PAGE_DPI) and PAGE_WIDTH_IN <= 7.5 and 100 <= PAGE_DPI <= 150  # page fit


def test_write_summary_keeps_the_optional_fields_the_book_reads(tmp_path: Path) -> None:
    path = write_summary(
        tmp_path,
        "Recovery",
        "partly",
        {"name": "r", "value": 0.5, "ci_low": float("nan"), "ci_high": 1.0, "n": 8},
        control={"value": 0.1, "ci_low": 0.0, "ci_high": 0.2},
        conditions=[{"name": "CI low > 0", "met": False, "value": 0.0}],
        n_questions=8,
        n_pairs=16,
    )
    summary = read_summary(path)
    assert (
        summary["headline"]["ci_low"] is None and summary["n_pairs"] == 16 and summary["conditions"][0]["met"] is False
    )
    assert "control" not in json.loads(write_summary(tmp_path, "R", "partly", summary["headline"]).read_text())


def test_a_headline_stated_in_another_format_is_reported() -> None:
    headline = {"name": "share disrupted", "value": 0.9375, "ci_low": 0.84375, "ci_high": 1.0}
    text = "share 0.94 [0.84, 1.00] of KeyTokens; same as 0.94 [0.84, 1.0]; another rate 0.50 [0.15, 0.85]"
    [problem] = restatement_problems(headline, text, "page.ipynb")
    assert problem == "page.ipynb states 'share disrupted' as 0.94 [0.84, 1.00], the introduction as 0.94 [0.84, 1.0]"
    assert restatement_problems(headline, "not stated here: 0.93 [0.84, 1.0]", "p") == []


def test_two_significant_figures() -> None:
    assert [sig2(v) for v in (0.9375, 1.0, 0.00753, -0.0103, 123.4, 0, None, float("nan"))] == [
        "0.94",
        "1.0",
        "0.0075",
        "-0.010",
        "120",
        "0",
        "n/a",
        "n/a",
    ]


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[16:24]
    return int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")


@pytest.mark.parametrize(
    "change, drop, message",
    [
        ({"verdict": "yes"}, None, "verdict must be one of"),
        ({"headline": {"value": 1}}, None, "headline.name"),
        ({"conditions": [{"name": "a", "met": "yes"}]}, None, "conditions must"),
        ({"control": {"value": 1}}, None, "control must"),
        ({}, "finding", "finding"),
    ],
)
def test_malformed_summary_is_an_error_naming_the_file(
    tmp_path: Path, change: dict, drop: str | None, message: str
) -> None:
    data = {**_summary(), **change}
    if drop:
        del data[drop]
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=f"summary.json: malformed summary.*{message}"):
        read_summary(path)


def test_performance_page_shows_each_benchmark_with_its_machine(tmp_path: Path) -> None:
    (tmp_path / "book.json").write_text(
        json.dumps(
            {
                "title": "Book",
                "machine": "2-core box",
                "command": "python benchmarks/book.py",
                "rows": [{"phase": "cold", "seconds": 301.25}, {"phase": "warm", "seconds": 40.0}],
            }
        )
    )
    text = performance_markdown(tmp_path)
    assert "## Book" in text and "Machine: 2-core box." in text
    assert "| phase | seconds |" in text and "| cold | 301 |" in text and "| warm | 40 |" in text
    assert "No benchmark results yet" in performance_markdown(tmp_path / "none")


def _benchmark_repo(tmp_path: Path) -> Path:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.py").write_text("print(1)\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    return tmp_path


def test_benchmark_record_detects_a_code_change(tmp_path: Path) -> None:
    repo = _benchmark_repo(tmp_path)
    record = measurement_record(["benchmarks/b.py", "pkg"], root=repo)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["measured_utc"])
    assert record["commit"] is None  # not a git checkout
    assert record["code"] == {
        "paths": ["benchmarks/b.py", "pkg"],
        "digest": code_digest(repo, ["pkg", "benchmarks/b.py"]),
    }
    data = {"title": "B", "command": "python benchmarks/b.py", **record}
    assert benchmark_status(data, repo) == "current"
    folder = repo / "results"
    folder.mkdir()
    (folder / "b.json").write_text(json.dumps(data))
    (folder / "old.json").write_text(json.dumps({"title": "Old", "rows": []}))  # measured before commit tracking
    assert stale_benchmarks(folder, repo) == []
    (repo / "pkg" / "m.py").write_text("x = 2\n")
    assert benchmark_status(data, repo) == "stale"
    [message] = stale_benchmarks(folder, repo)
    assert (
        message.startswith("b.json is older than the code that made it") and "rerun: python benchmarks/b.py" in message
    )
    assert benchmark_status({"title": "Old"}, repo) == "untracked"


def test_periodic_benchmarks_are_marked_stale_but_do_not_fail_the_build(tmp_path: Path) -> None:
    repo = _benchmark_repo(tmp_path)
    record = measurement_record(["benchmarks/b.py", "pkg"], root=repo)
    folder = repo / "results"
    folder.mkdir()
    data = {"title": "Repro", "command": "python benchmarks/b.py", **record}
    (folder / "reproducibility-quick.json").write_text(json.dumps(data))
    (repo / "pkg" / "m.py").write_text("x = 3\n")
    assert periodic_reason("reproducibility-quick.json") and periodic_reason("depth-focus-smollm2-gold.json")
    assert periodic_reason("book.json") is None and periodic_reason("reproducibility-micro.json") is None
    assert stale_benchmarks(folder, repo) == []  # the build's check leaves it out
    [message] = stale_benchmarks(folder, repo, periodic=True)
    assert message.startswith("reproducibility-quick.json is older than the code")
    line = measured_line(data | {"code": {"paths": ["unpact/__init__.py"], "digest": "0" * 64}},
                         periodic_reason("reproducibility-quick.json"))
    assert "**Stale**" in line and "Re-measured periodically" in line and "second `quick` run" in line


def test_performance_page_states_commit_and_date_or_untracked(tmp_path: Path) -> None:
    record = measurement_record(["benchmarks/book.py"])
    (tmp_path / "new.json").write_text(json.dumps({"title": "New", "rows": [{"a": 1}], **record}))
    (tmp_path / "old.json").write_text(json.dumps({"title": "Old", "rows": [{"a": 1}]}))
    text = performance_markdown(tmp_path)
    assert f"Measured at commit `{record['commit'][:12]}" in text and record["measured_utc"][:10] in text
    assert "unchanged since" in text
    assert "**Measured before commit tracking**" in text
    assert record["code"]["digest"] not in text  # the record is shown as a sentence, not dumped as a table


def test_plain_text_docstrings_become_valid_restructuredtext() -> None:
    assert escape_bars("recall = |key & gold| / |gold|, ``a|b``") == r"recall = \|key & gold\| / \|gold\|, ``a|b``"
    assert escape_bars("| a | b |") == "| a | b |"
    doc = ["Rates:", "- ``wilson``: the interval", "      centre = p / n,", "  which covers.", "Then |x| text."]
    fixed = readable_lines(doc)
    assert fixed[0] == "Rates:" and fixed[1] == "" and docutils_problems("\n".join(fixed)) == []
    broken = ["Table:", "", "=== ===", "a   b", "=== ===", "toolong  x", "=== ==="]
    assert readable_lines(broken)[:2] == ["::", ""] and readable_lines(broken)[2] == "    Table:"


def test_notebook_source_button_points_at_the_text_notebook() -> None:
    url = "https://github.com/o/r/blob/main/book/executed/01_keyword_focus.ipynb?plain=1"
    assert (
        notebook_source_url(url, "book/executed/01_keyword_focus")
        == "https://github.com/o/r/blob/main/notebooks/01_keyword_focus.md?plain=1"
    )
    assert (
        notebook_source_url("https://x/blob/main/book/method.md", "book/method") == "https://x/blob/main/book/method.md"
    )


def test_api_page_has_one_autodoc_section_per_public_module() -> None:
    text = api_markdown(REPO / "unpact")
    assert "## unpact.io\n\n```{eval-rst}\n.. automodule:: unpact.io\n```" in text
    assert "automodule:: unpact.book.pages" in text
    assert "unpact.commands" not in text and "unpact.cli" not in text


def test_missing_executed_notebooks_get_a_stub_page(tmp_path: Path) -> None:
    (tmp_path / "book" / "executed").mkdir(parents=True)
    (tmp_path / "book" / "executed" / "00_organism.ipynb").write_text("{}")
    written = write_missing_notebook_stubs(tmp_path)
    assert [p.stem for p in written] == [
        "01_keyword_focus",
        "02_recovery_by_emphasis",
        "03_indiscriminate_penalization",
        "04_robustness",
        "05_unlearning_methods",
    ]
    stub = json.loads(written[0].read_text())
    assert stub["metadata"]["unpact_stub"]
    assert "unpact run --only 01_keyword_focus" in "".join(stub["cells"][0]["source"])
    assert (tmp_path / "book" / "executed" / "00_organism.ipynb").read_text() == "{}"


def test_link_check_finds_a_broken_relative_link(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(
        '<a href="b.html#x">b</a><img src="img/missing.png"><a href="https://x.org/">x</a>'
    )
    (tmp_path / "b.html").write_text('<a href="a.html">a</a>')
    assert broken_internal_links(tmp_path) == ["a.html: img/missing.png"]


class _Links(HTMLParser):
    """Collects ``href``/``src`` values and ``<img>`` sources of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("href", "src") and value:
                self.links.append(value)
                if tag == "img" and key == "src":
                    self.images.append(value)


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _toc_files() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


@pytest.fixture(scope="session")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_book(tmp_path_factory)


@pytest.mark.book
def test_every_toc_page_is_built(book: Path) -> None:
    html = book / "_build" / "html"
    assert (html / "index.html").is_file()
    missing = [f for f in _toc_files() if not (html / f"{f}.html").is_file()]
    assert not missing
    for name in FINDINGS + ("00_organism", "04_robustness", "05_unlearning_methods"):  # executed, not stubs
        nb = json.loads((book / "book" / "executed" / f"{name}.ipynb").read_text())
        assert not nb["metadata"].get("unpact_stub"), name


@pytest.mark.book
def test_finding_pages_show_their_figures_and_intro_shows_the_status_table(book: Path) -> None:
    html = book / "_build" / "html"
    for name in FINDINGS:
        page = html / "book" / "executed" / f"{name}.html"
        images = _parse(page).images
        assert images, f"{name}: no figure"
        for src in images:
            assert (page.parent / unquote(urlsplit(src).path)).stat().st_size > 0
    intro = (html / "book" / "intro.html").read_text(encoding="utf-8")
    table = re.search(r"<table.*?</table>", intro, re.S)
    assert table and all(f"executed/{name}.html" in table.group(0) for name in FINDINGS)


@pytest.mark.book
def test_no_broken_internal_links(book: Path) -> None:
    html = book / "_build" / "html"
    broken = []
    for page in html.rglob("*.html"):
        if page.relative_to(html).parts[0] in ("_static", "_sources"):
            continue
        for link in _parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("#") or not parts.path:
                continue
            if not (page.parent / unquote(parts.path)).exists():
                broken.append(f"{page.relative_to(html)} -> {link}")
    assert not broken


@pytest.mark.book
def test_reproduce_papermill_command_runs_as_written(book: Path) -> None:
    """The Reproduce chapter's papermill command, copied as is (plus the micro organism), writes its results."""
    text = (REPO / "book" / "reproduce.md").read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if "papermill" in b)
    out = re.search(r"-p out_dir (\S+)", block).group(1)
    proc = subprocess.run(
        ["bash", "-c", block.strip() + " -p profile micro"],
        cwd=book,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "PATH": _venv_path(), "UNPACT_CACHE": str(book_cache(book))},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert any((book / out).iterdir())


def _venv_path() -> str:
    """PATH with this interpreter's bin folder first (where jupytext and papermill are installed)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def test_status_table_has_a_row_per_model_family(tmp_path: Path) -> None:
    from unpact.report import family_summary

    pretrained = family_summary("not testable", {"name": "key - control log-prob", "value": 0.1, "ci_low": -0.2,
                                                 "ci_high": 0.4, "n": 30}, "no positive control",
                                family="pretrained", models=["smollm2-135m"], n_questions=30, n_pairs=90)
    write_summary(tmp_path / "results" / "p" / "02_recovery_by_emphasis", "Recovery", "not reproduced",
                  {"name": "key - control log-prob", "value": 0.01, "ci_low": -0.02, "ci_high": 0.03, "n": 72},
                  family="organism", models=["llama"], by_family={"pretrained": pretrained})
    text = status_markdown(tmp_path, "p")
    assert text.splitlines()[0] == "| Finding: headline measure | organism (llama) | pretrained (smollm2-135m) |"
    rows = [line for line in text.splitlines() if "02_recovery" in line]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split(" | ")]
    assert cells[1] == "**not reproduced** 0.010 [-0.020, 0.030]; n = 72"
    assert cells[2] == "**not testable** 0.10 [-0.20, 0.40]; 30 questions (90 pairs)"
    first = next(line for line in text.splitlines() if "01_keyword" in line)
    assert first.count("not run yet") == 2
    found = findings_markdown(tmp_path, "p")
    assert "on the pretrained models (smollm2-135m): key - control log-prob = 0.10 [-0.20, 0.40]" in found
    figure = verdict_figure(finding_summaries(tmp_path, "p"), FINDING_TITLES, tmp_path / "verdict.png")
    assert figure.is_file()
    untested = family_summary("not testable", {"name": "key - control log-prob", "value": None, "ci_low": None,
                                                  "ci_high": None, "n": 0},
                              "no operating point", family="pretrained", models=["smollm2-135m"])
    write_summary(tmp_path / "results" / "p" / "02_recovery_by_emphasis", "Recovery", "not reproduced",
                  {"name": "key - control log-prob", "value": 0.01, "ci_low": -0.02, "ci_high": 0.03, "n": 72},
                  family="organism", models=["llama"], by_family={"pretrained": untested})
    row = next(line for line in status_markdown(tmp_path, "p").splitlines() if "02_recovery" in line)
    assert row.endswith("| **not testable**; n = 0 |")  # no "n/a [n/a, n/a]" where nothing was measured


def test_glossary_words_are_collected_from_csv_headers_and_shown_tables(tmp_path: Path) -> None:
    from unpact.book.glossary import glossary_terms, is_defined, undefined_words

    terms = glossary_terms(REPO / "book" / "glossary.md")
    assert {"KeyToken", "top1_rate", "prob_change", "gold_lp", "first_rank", "key_minus_control", "operating point",
            "destructive rate", "family", "prompt_format", "contains", "rouge_l_recall"} <= terms
    assert is_defined("prob_change_ci_low", terms) and not is_defined("prob_change_lo", terms)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "glossary.md").write_text("# G\n\n```{glossary}\nrate\n  A share.\n\nci_low\n  Low.\n```\n")
    (tmp_path / "results" / "p" / "nb").mkdir(parents=True)
    (tmp_path / "results" / "p" / "nb" / "t.csv").write_text("rate,rate_ci_low,mystery\n0.5,0.4,1\n")
    (tmp_path / "book" / "executed").mkdir()
    html = ("<table><thead><tr><th>rate</th><th>odd_word [95% CI]</th><th>3</th></tr></thead>"
            "<tbody><tr><th>x</th></tr></tbody></table>")  # body cells are values, not words to define
    (tmp_path / "book" / "executed" / "nb.ipynb").write_text(json.dumps(
        {"cells": [{"cell_type": "code", "outputs": [{"data": {"text/html": [html]}}]}]}))
    assert undefined_words(tmp_path, "p") == ["CI (book/executed/nb.ipynb)", "mystery (results/p/nb/t.csv)",
                                             "odd_word (book/executed/nb.ipynb)"]


def _table_rows(page: Path) -> list[int]:
    """Body rows of every HTML table an executed notebook shows."""
    rows = []
    for cell in json.loads(page.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            html = "".join(output.get("data", {}).get("text/html", []))
            rows += [body.count("<tr") for body in re.findall(r"<tbody>.*?</tbody>", html, re.S)]
    return rows


@pytest.mark.book
def test_every_table_word_is_in_the_glossary_and_no_table_is_long(book: Path) -> None:
    """Every column of every results CSV and every word of a shown table's header is defined in
    book/glossary.md; no notebook shows a table of more than 25 rows (long ones are summarised, unpact.tables)."""
    from unpact.book.glossary import undefined_words
    from unpact.tables import MAX_ROWS

    assert undefined_words(book, "micro") == []
    long = {page.name: [n for n in _table_rows(page) if n > MAX_ROWS]
            for page in (book / "book" / "executed").glob("*.ipynb")}
    assert not any(long.values()), long
