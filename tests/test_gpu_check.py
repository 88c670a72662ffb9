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
    assert (out / "attribution_npo.csv").stat().st_size > 0
    if (
        "attr_smollm2" in required
    ):  # a BPE tokenizer: captum's text deletion and native id deletion score the same inputs
        rows = json.loads((out / "attribution-smollm2.json").read_text())["rows"]
        assert max(r["max_abs_difference"] for r in rows) <= 1e-4
