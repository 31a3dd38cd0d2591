"""Tests for gradtrack.loggers and CustomLossOutput.to_scalars."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from gradtrack import loggers
from gradtrack.pipeline import compute
from gradtrack.types import CustomLossOutput, RegularizerOutput, RegularizerSpec

ROOT = Path(__file__).resolve().parent.parent


def tracked_output() -> CustomLossOutput:
    def base(data: Any, lp: mg.Tensor) -> Any:
        return -lp.mean(), {"nll": -lp.mean(), "nested": {"tokens": 3}, "note": "text"}

    def l2(data: Any, lp: mg.Tensor) -> Any:
        return (lp * lp).sum(), {"l2_raw": (lp * lp).sum(), "value": 99.0}

    spec = RegularizerSpec(l2, 0.5, "l2")
    return compute([], [-1.0, -2.0, -0.5], base, regularizers=[spec], track_grad_norms=True)


def test_to_scalars_has_the_keys_of_the_contract() -> None:
    out = tracked_output()
    scalars = out.to_scalars()
    assert scalars["loss/total"] == out.loss_total
    assert scalars["loss/base"] == out.base_loss["value"]
    assert scalars["loss/regularizers"] == out.regularizer_total
    assert scalars["grad/total_norm"] == out.total_grad_norm
    assert scalars["base/grad_norm"] == out.base_loss["grad_norm"]
    assert scalars["base/alignment"] == out.grad_alignment["base"]
    reg = out.regularizers["l2"]
    assert scalars["reg/l2/value"] == reg.value
    assert scalars["reg/l2/contribution"] == reg.contribution
    assert scalars["reg/l2/grad_norm"] == reg.grad_norm
    assert scalars["reg/l2/grad_norm_weighted"] == reg.grad_norm_weighted
    assert scalars["reg/l2/alignment"] == reg.grad_alignment
    # Metrics: Tensors read as numbers, nested mappings joined, text left out, collisions moved.
    assert scalars["base/nll"] == pytest.approx(7 / 6)
    assert scalars["base/nested/tokens"] == 3.0
    assert "base/note" not in scalars
    assert scalars["reg/l2/l2_raw"] == pytest.approx(5.25)
    assert scalars["reg/l2/metric/value"] == 99.0
    assert all(isinstance(v, float) for v in scalars.values())
    prefixed = out.to_scalars(prefix="train/")
    assert prefixed == {f"train/{k}": v for k, v in scalars.items()}
    assert loggers.to_scalars(out) == scalars


def test_to_scalars_leaves_out_what_was_not_computed() -> None:
    reg = RegularizerOutput.from_computation("kl", 1.0, 0.1, {})
    scalars = CustomLossOutput.build(2.0, {}, [reg]).to_scalars()
    assert set(scalars) == {
        "loss/total",
        "loss/base",
        "loss/regularizers",
        "reg/kl/value",
        "reg/kl/contribution",
    }
    with pytest.raises(TypeError, match="prefix"):
        CustomLossOutput.build(2.0, {}, []).to_scalars(prefix=3)  # type: ignore[arg-type]


def test_param_norms_are_scalars_too() -> None:
    reg = RegularizerOutput.from_computation("kl", 1.0, 0.1, {}, grad_norm=2.0)
    reg.param_grad_norm = 4.0
    out = CustomLossOutput.build(2.0, {}, [reg], base_grad_norm=1.0, total_grad_norm=3.0)
    out.base_loss["param_grad_norm"] = 5.0
    out.total_param_grad_norm = 6.0
    scalars = out.to_scalars()
    assert scalars["reg/kl/param_grad_norm"] == 4.0
    assert scalars["base/param_grad_norm"] == 5.0
    assert scalars["grad/total_param_norm"] == 6.0


def nan_output() -> CustomLossOutput:
    reg = RegularizerOutput.from_computation("r", 1.0, 1.0, {"inf": math.inf}, grad_norm=math.nan)
    return CustomLossOutput.build(1.0, {"bad": -math.inf}, [reg])


def strict_json(line: str) -> dict[str, Any]:
    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(line, parse_constant=refuse)


def test_jsonl_is_strict_json_and_flushed_every_step(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "metrics.jsonl"
    logger = loggers.JSONLLogger(path, prefix="train/")
    logger.log(tracked_output(), step=0)
    logger.log(nan_output(), step=1)
    lines = path.read_text().splitlines()  # read before close: already on disk
    assert len(lines) == 2
    first, second = (strict_json(line) for line in lines)
    assert first["step"] == 0 and first["train/loss/total"] == tracked_output().loss_total
    assert second["train/reg/r/grad_norm"] is None
    assert second["train/reg/r/inf"] is None
    assert second["train/base/bad"] is None
    logger.close()
    logger.close()
    with pytest.raises(ValueError, match="closed"):
        logger.log(tracked_output(), step=2)


def test_csv_columns_grow_and_rows_keep_their_values(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    with loggers.CSVLogger(path) as logger:
        logger.log(CustomLossOutput.build(1.0, {}, []), step=0)
        assert path.read_text().splitlines()[1] == "0,1.0,1.0,0.0"  # flushed
        logger.log(tracked_output(), step=1)
        logger.log(nan_output(), step=2)
    rows = read_csv(path)
    assert [row["step"] for row in rows] == ["0", "1", "2"]
    assert rows[0]["loss/total"] == "1.0" and rows[0]["reg/l2/value"] == ""
    assert float(rows[1]["reg/l2/grad_norm"]) == tracked_output().regularizers["l2"].grad_norm
    assert math.isnan(float(rows[2]["reg/r/grad_norm"]))
    assert float(rows[2]["base/bad"]) == -math.inf
    assert list(rows[0])[:4] == ["step", "loss/total", "loss/base", "loss/regularizers"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_log_checks_its_arguments(tmp_path: Path) -> None:
    with loggers.JSONLLogger(tmp_path / "m.jsonl") as logger:
        with pytest.raises(TypeError, match="CustomLossOutput"):
            logger.log({"loss_total": 1.0}, step=0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="step must be an int"):
            logger.log(tracked_output(), step=True)
        with pytest.raises(ValueError, match="step must be >= 0"):
            logger.log(tracked_output(), step=-1)
    assert (tmp_path / "m.jsonl").read_text() == ""


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from gradtrack import loggers
    from gradtrack.types import CustomLossOutput

    kind, target = sys.argv[1], sys.argv[2]
    logger = {"jsonl": loggers.JSONLLogger, "csv": loggers.CSVLogger,
              "tensorboard": loggers.TensorBoardLogger}[kind](target)
    for step in range(3):
        logger.log(CustomLossOutput.build(float(step), {}, []), step=step)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no interpreter shutdown
    """
)


@pytest.mark.parametrize("kind", ["jsonl", "csv", "tensorboard"])
def test_a_killed_process_loses_nothing_logged(tmp_path: Path, kind: str) -> None:
    if kind == "tensorboard":
        pytest.importorskip("tensorboard")
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    target = tmp_path / ("run" if kind == "tensorboard" else f"m.{kind}")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, str(script), kind, str(target)], env=env, timeout=120, capture_output=True
    )
    assert done.returncode == -9, done.stderr
    if kind == "jsonl":
        steps = [strict_json(line)["loss/total"] for line in target.read_text().splitlines()]
    elif kind == "csv":
        steps = [float(row["loss/total"]) for row in read_csv(target)]
    else:
        steps = [event.value for event in tensorboard_scalars(target)["loss/total"]]
    assert steps == [0.0, 1.0, 2.0]


def tensorboard_scalars(logdir: Path) -> dict[str, Any]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(logdir))
    accumulator.Reload()
    return {tag: accumulator.Scalars(tag) for tag in accumulator.Tags()["scalars"]}


def test_tensorboard_reads_back_what_was_logged(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    outputs = [tracked_output(), nan_output()]
    with loggers.TensorBoardLogger(tmp_path / "tb", prefix="train/") as logger:
        for step, out in enumerate(outputs):
            logger.log(out, step=step * 10)
        assert "train/loss/total" in tensorboard_scalars(tmp_path / "tb")  # before close
    scalars = tensorboard_scalars(tmp_path / "tb")
    assert [e.step for e in scalars["train/loss/total"]] == [0, 10]
    expected = outputs[0].to_scalars("train/")
    for key, value in expected.items():
        assert scalars[key][0].value == pytest.approx(value, rel=1e-6), key  # stored as float32
    assert math.isnan(scalars["train/reg/r/grad_norm"][0].value)


def test_mlflow_reads_back_what_was_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri = (tmp_path / "mlruns").as_uri()
    outputs = [tracked_output(), nan_output()]
    logger = loggers.MLflowLogger(uri, run_name="gradtrack-test", experiment_name="tests")
    for step, out in enumerate(outputs):
        logger.log(out, step=step)
    client = MlflowClient(uri)
    history = client.get_metric_history(logger.run_id, "loss/total")  # before close
    assert [(m.step, m.value) for m in history] == [(0, outputs[0].loss_total), (1, 1.0 + 1.0)]
    logger.close()
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "gradtrack-test"
    assert client.get_experiment(run.info.experiment_id).name == "tests"
    for key, value in outputs[0].to_scalars().items():
        assert client.get_metric_history(logger.run_id, key)[0].value == pytest.approx(value)
    nan_history = client.get_metric_history(logger.run_id, "reg/r/grad_norm")
    assert np.isnan(nan_history[0].value)


def test_mlflow_names_it_cannot_take_are_made_safe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri = (tmp_path / "mlruns").as_uri()
    reg = RegularizerOutput.from_computation("kl(ref)", 1.0, 0.5, {})
    with loggers.MLflowLogger(uri) as logger:
        logger.log(CustomLossOutput.build(1.0, {}, [reg]), step=0)
    history = MlflowClient(uri).get_metric_history(logger.run_id, "reg/kl_ref_/contribution")
    assert [m.value for m in history] == [0.5]
