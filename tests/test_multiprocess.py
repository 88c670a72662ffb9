"""Two-process data-parallel unlearning on the CPU (gloo) gives the single-process run.

The command is the *Adapt* chapter's: ``accelerate launch --multi_gpu --num_processes 2 -m unpact.cli
unlearn --device cpu ...`` (accelerate's ``--cpu`` flag alone starts one process; ``--multi_gpu``
selects its torch.distributed launcher, and ``--device cpu`` makes the processes use gloo). Both
processes draw the same global batch and train on their halves (``unpact.unlearn.batches.shard``);
the losses logged and the final weights must equal those of one process with the same global batch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

# The micro organism's news benchmark has 4 forget items: at batch 3 every second global batch has one row,
# so one process gets none (a stand-in row with zero weight).
SETTINGS = [
    "--set",
    "batch_size=3",
    "--set",
    "retain_batch_size=4",
    "--set",
    "eval_every=2",
    "--set",
    "eval_items=2",
    "--set",
    "lr=1e-3",
    "--steps",
    "4",
    "--device",
    "cpu",
]
TOLERANCE = 1e-5  # float32 sums in another order (two half batches, then gloo's all-reduce)


def launch_command(processes: int) -> list[str]:
    """The launcher prefix: ``accelerate launch`` with ``processes`` gloo processes, or plain python for one."""
    if processes == 1:
        return [sys.executable, "-m", "unpact.cli"]
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    return [
        accelerate,
        "launch",
        "--multi_gpu",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "unpact.cli",
    ]


def _run(base: Path, method: str, processes: int, out: Path, cache: Path) -> None:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "UNPACT_CACHE": str(cache),
        "PYTHONPATH": str(Path(__file__).parents[1]),
    }
    cmd = [
        *launch_command(processes),
        "unlearn",
        "--model",
        str(base),
        "--benchmark",
        "news",
        "--method",
        method,
        *SETTINGS,
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-8000:]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


@pytest.fixture(scope="module")
def micro_organism(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from unpact.organism import train_organism

    return train_organism("llama", "micro", 0, cache_root=tmp_path_factory.mktemp("cache"), progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["npo_klr", "task_vector", "rmu"])
def test_two_processes_match_one(micro_organism: Path, tmp_path: Path, method: str) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    _run(micro_organism, method, 1, one, tmp_path / "cache1")
    _run(micro_organism, method, 2, two, tmp_path / "cache2")
    log1, log2 = pd.read_csv(one / "unlearning-log.csv"), pd.read_csv(two / "unlearning-log.csv")
    assert len(log1) == len(log2) == 5
    for column in ("loss", "forget_loss", "grad_norm", "forget_accuracy", "retain_accuracy"):
        gap = (log1[column] - log2[column]).abs().max()
        assert gap <= TOLERANCE * max(1.0, log1[column].abs().max()), (column, gap)
    assert log1["loss"].iloc[1:].nunique() == 4  # the loss moved at every step: something was trained
    w1, w2 = _weights(one), _weights(two)
    base = _weights(micro_organism)
    assert set(w1) == set(w2)
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) <= TOLERANCE
    assert max(float((w1[k] - base[k]).abs().max()) for k in w1 if k in base) > 100 * TOLERANCE
    record = json.loads((two / "unlearning.json").read_text())
    assert record["processes"] == 2 and json.loads((one / "unlearning.json").read_text())["processes"] == 1
    # rank 0 alone wrote: no leftover temporary folders next to the output
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("two")) == ["two"]
    shutil.rmtree(tmp_path / "cache1", ignore_errors=True)
