"""Heat-text (HTML, PNG, ANSI) and the `unpact attribute` command."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from unpact.attribution.attributor import PromptAttribution
from unpact.attribution.heat import heat_ansi, heat_html, save_heat_png, symmetric_scale, unit_colour
from unpact.attribution.keytokens import KeyRule
from unpact.cli import main


def _item(words: list[str], scores: list[float], prefix: str = "Q: ") -> PromptAttribution:
    text, spans, cursor = prefix, [], len(prefix)
    for w in words:
        spans.append((cursor, cursor + len(w)))
        text += w + " "
        cursor += len(w) + 1
    return PromptAttribution("0", text.rstrip(), " <b>", words, spans, np.array(scores), -1.5, "loo", "word")


def test_html_escapes_every_word_and_shares_one_scale() -> None:
    before = _item(["<script>", "a&b", "Mira"], [0.2, -0.1, 0.05])
    after = _item(["<script>", "a&b", "Mira"], [0.0, -0.4, 0.05])
    out = heat_html([("before", before), ("after", after)])
    for w in before.units:
        assert out.count(html.escape(w)) == 2
    assert "<script>" not in out and "&lt;b&gt;" in out
    assert symmetric_scale([("b", before), ("a", after)]) == pytest.approx(0.4)
    assert unit_colour(-0.4, 0.4)[0] in out  # the most negative word has the scale's end colour
    assert "+0.4" in out and "-0.4" in out  # legend


def test_colours_are_symmetric_and_white_at_zero() -> None:
    lo, hi, mid = unit_colour(-1, 1)[0], unit_colour(1, 1)[0], unit_colour(0, 1)[0]
    assert lo != hi
    assert all(int(mid[i : i + 2], 16) > 230 for i in (1, 3, 5))


@pytest.mark.parametrize("n_words", [20, 200])
def test_png_wraps_short_and_long_prompts(tmp_path: Path, n_words: int) -> None:
    from PIL import Image

    item = _item([f"word{i}" for i in range(n_words)], list(np.linspace(-1, 1, n_words)))
    path = tmp_path / "heat.png"
    save_heat_png([("before", item), ("after", item)], str(path))
    width, height = Image.open(path).size
    assert width == 1000
    assert height > 200 and (n_words == 20 or height > 600)  # long prompts wrap onto more lines


def test_ansi_colours_each_unit() -> None:
    out = heat_ansi(_item(["Mira", "born"], [0.1, -0.1]))
    assert out.count("\x1b[48;2;") == 2 and "Mira" in out


def test_cli_json_is_the_loo_score(saved_tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from unpact import Attributor
    from unpact.modeling import load_model_and_tokenizer

    rc = main(["attribute", "--model", str(saved_tiny_model), "--prompt", "what city was Mira born in ?",
               "--target", " Paris", "--granularity", "token", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"] == "what city was Mira born in ?".split()
    model, tok = load_model_and_tokenizer(saved_tiny_model)
    ref = Attributor(model, tok, granularity="token").attribute(["what city was Mira born in ?"], [" Paris"])[0]
    np.testing.assert_allclose(out["contributions"], ref.contributions, atol=1e-6)
    assert out["lp"] == pytest.approx(ref.lp)


def test_cli_batch_writes_csv(saved_tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "qa.jsonl"
    rows = [{"id": "a", "question": "what city was Mira born in ?", "answer": "Paris", "keywords": ["Mira"]},
            {"id": "b", "question": "the father of Tolan won which award ?", "answer": "the prize"}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "attr.csv"
    assert main(["attribute", "--model", str(saved_tiny_model), "--data", str(data), "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 7 + 8
    assert frame.loc[frame["item_id"] == "a", "unit"].tolist() == rows[0]["question"].split()  # template not attributed
    assert frame.loc[(frame["item_id"] == "a") & frame["gold_keyword"].astype(bool), "unit"].tolist() == ["Mira"]
    assert frame.loc[frame["item_id"] == "b", "gold_keyword"].isna().all()
    a = frame[frame["item_id"] == "a"]
    hits = int((a["key"] & a["gold_keyword"].astype(bool)).sum())
    assert f"precision {hits}/{int(a['key'].sum())}, recall {hits}/1" in capsys.readouterr().err
    for _, rows_of_item in frame.groupby("item_id"):  # the shared KeyToken rule, as in the book
        assert rows_of_item["key"].tolist() == KeyRule().mask(rows_of_item["contribution"].to_numpy()).tolist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "", "--target", " x"], "empty prompt"),
        (["--prompt", "Mira", "--target", " "], "empty target"),
        (["--data", "x.jsonl"], "--out"),
        (["--data", "x.jsonl", "--out", "y.csv", "--target", "Paris"], "gold, greedy"),
    ],
)
def test_cli_bad_input_exits_2(
    saved_tiny_model: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["attribute", "--model", str(saved_tiny_model), *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_plain_text_when_not_a_terminal(saved_tiny_model: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attribute", "--model", str(saved_tiny_model), "--prompt", "Mira born", "--target", " Paris"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[1] for line in lines[:2]] == ["Mira", "born"] and lines[-1].startswith("LP\t")
