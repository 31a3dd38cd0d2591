"""The examples of real training runs, run as users run them, on tiny sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    environment = {**os.environ, "PYTHONPATH": path, **env}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def losses(metrics: Path) -> list[float]:
    return [json.loads(line)["loss/total"] for line in metrics.read_text().splitlines()]


def test_torch_loop(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    metrics = tmp_path / "loop.jsonl"
    done = run(
        [
            str(EXAMPLES / "torch_loop.py"),
            "--steps",
            "15",
            "--batch-size",
            "8",
            "--metrics",
            str(metrics),
        ]
    )
    assert done.returncode == 0, done.stderr
    values = losses(metrics)
    assert len(values) == 15
    assert values[-1] < 0.5 * values[0]
    row = json.loads(metrics.read_text().splitlines()[-1])
    assert row["base/param_grad_norm"] > 0 and row["grad/total_param_norm"] > 0
    assert "loss went from" in done.stdout


def test_torch_ddp_under_torchrun(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.distributed.is_available():
        pytest.skip("this torch build has no torch.distributed")
    metrics = tmp_path / "ddp.jsonl"
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    example = [str(EXAMPLES / "torch_ddp.py"), "--steps", "15", "--metrics", str(metrics)]
    done = run([*torchrun, *example], OMP_NUM_THREADS="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every rank saw the same: True" in done.stdout
    values = losses(metrics)
    assert len(values) == 15
    assert values[-1] < 0.5 * values[0]


def test_hf_gpt2(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    metrics = tmp_path / "gpt2.jsonl"
    options = ["--steps", "8", "--batch-size", "4", "--width", "32", "--metrics", str(metrics)]
    done = run([str(EXAMPLES / "hf_gpt2.py"), *options])
    assert done.returncode == 0, done.stderr
    values = losses(metrics)
    assert len(values) == 8
    assert values[-1] < values[0]
    assert json.loads(metrics.read_text().splitlines()[0])["reg/entropy/grad_norm"] > 0


def test_tinker_sft_says_what_it_needs_without_a_key() -> None:
    done = run([str(EXAMPLES / "tinker_sft.py")], TINKER_API_KEY="")
    assert done.returncode == 2
    assert "TINKER_API_KEY" in done.stderr
    assert "pip install 'gradtrack[tinker]'" in done.stderr
