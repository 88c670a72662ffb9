"""``benchmarks/gpu_check.sh --dry-run`` runs every stage on the CPU at small sizes (so the GPU check cannot rot)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_gpu_check_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PY": sys.executable, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("\t") for line in (out / "stages.tsv").read_text().splitlines()[1:]]
    codes = {name: rc for name, rc, _, _ in rows}
    required = ["organism", "unlearn", "attribute", "eval_plain", "eval_emph", "attr_bench_1b"]
    try:
        import unpact.pretrained  # noqa: F401  (the pretrained stages run where the module exists)

        required += ["convert_smollm2", "attr_smollm2"]
    except ImportError:
        pass
    failed = {name: codes.get(name) for name in required if codes.get(name) != "0"}
    assert not failed, (
        failed,
        {n: (out / f"{n}.log").read_text()[-1500:] for n in failed if (out / f"{n}.log").exists()},
    )
    assert "dry_run 1" in (out / "gpu.txt").read_text()
    table = json.loads((out / "attribution-1b.json").read_text())
    assert table["rows"] and table["rows"][0]["prompts_per_s"] > 0
    card = json.loads((out / "gpu-check.json").read_text())  # the stage table for the Performance page
    assert {row["stage"]: row["rc"] for row in card["rows"]}["organism"] == "0"
    assert card["machine"] == table["machine"] and card["code"]["digest"]
    assert (out / "attribution_npo.csv").stat().st_size > 0
    if (
        "attr_smollm2" in required
    ):  # a BPE tokenizer: captum's text deletion and native id deletion score the same inputs
        rows = json.loads((out / "attribution-smollm2.json").read_text())["rows"]
        assert max(r["max_abs_difference"] for r in rows) <= 1e-4


def test_gpu_card_merges_runs(tmp_path: Path) -> None:
    """A stage re-run alone (the others skipped) replaces its row; skipped rows never replace a run one."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gpu_card import stage_rows

    header = "stage\trc\tseconds\tpeak_mib\n"
    first, second = tmp_path / "run1", tmp_path / "run2"
    first.mkdir()
    second.mkdir()
    (first / "stages.tsv").write_text(header + "organism\t0\t58.5\t4\nunlearn\t1\t11.0\t543\nattr\t0\t33.8\t2149\n")
    (second / "stages.tsv").write_text(header + "organism\t0\t58.7\t4\nunlearn\t0\t15.6\t881\nattr\tskipped\t0\tNA\n")
    rows = {r["stage"]: r for r in stage_rows([first, second])}
    assert list(rows) == ["organism", "unlearn", "attr"]
    assert (rows["unlearn"]["rc"], rows["unlearn"]["run"], rows["unlearn"]["peak_gpu_mib"]) == ("0", 2, 881)
    assert (rows["attr"]["rc"], rows["attr"]["run"], rows["attr"]["seconds"]) == ("0", 1, 33.8)
    with pytest.raises(SystemExit, match="no stages.tsv"):
        stage_rows([tmp_path])
