"""Tests for the ``gradtrack`` command: the demo end to end, its option errors, and gradcheck."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gradtrack.cli import main
from gradtrack.local import LocalTrainingClient

REPO = Path(__file__).resolve().parents[1]
TERM_KEYS = {"value", "weight", "contribution", "custom", "name"}
TRACKED_KEYS = {"grad_norm", "grad_norm_weighted", "grad_alignment"}


def demo(out: Path, *options: str) -> int:
    return main(["demo", "--out", str(out), "--quiet", *options])


def read_rows(out: Path) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def without_time(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "wall_time"} for row in rows]


# ---------------------------------------------------------------- the demo


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One short run with the default regularizers and the printed output."""
    out = tmp_path_factory.mktemp("demo") / "run"
    capture = subprocess.run(
        [sys.executable, "-m", "gradtrack", "demo", "--steps", "60", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
        check=False,
    )
    assert capture.returncode == 0, capture.stderr
    return out, capture.stdout


def test_demo_writes_the_three_files(default_run: tuple[Path, str]) -> None:
    out, _ = default_run
    assert sorted(p.name for p in out.iterdir()) == ["metrics.jsonl", "report.png", "summary.json"]
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.png").stat().st_size > 50_000


def test_metrics_rows_follow_the_schema(default_run: tuple[Path, str]) -> None:
    out, _ = default_run
    rows = read_rows(out)
    assert [row["step"] for row in rows] == list(range(1, 61))
    names = ["entropy", "kl_divergence", "l2_weight_decay"]
    for row in rows:
        assert {"loss_total", "regularizer_total", "base_loss", "regularizers"} <= set(row)
        assert isinstance(row["wall_time"], float) and row["wall_time"] >= 0
        assert set(row["base_loss"]) == {"value", "grad_norm", "custom"}
        assert {"nll", "bits_per_char"} <= set(row["base_loss"]["custom"])
        assert list(row["regularizers"]) == names
        for term in row["regularizers"].values():
            assert set(term) >= TERM_KEYS | TRACKED_KEYS
        assert row["total_grad_norm"] > 0
        assert set(row["grad_alignment"]) == {"base", *names}
        contributions = sum(t["contribution"] for t in row["regularizers"].values())
        assert row["loss_total"] == pytest.approx(row["base_loss"]["value"] + contributions)
    assert [row["step"] for row in rows if "val_nll" in row] == [50, 60]
    assert rows[0]["wall_time"] <= rows[-1]["wall_time"]


def test_the_loss_falls(default_run: tuple[Path, str]) -> None:
    out, _ = default_run
    nll = [row["base_loss"]["value"] for row in read_rows(out)]
    assert sum(nll[-10:]) / 10 < 0.8 * sum(nll[:10]) / 10
    summary = json.loads((out / "summary.json").read_text())
    assert summary["validation_nll"]["final"] < summary["validation_nll"]["initial"]


def test_summary_describes_the_run(default_run: tuple[Path, str]) -> None:
    out, _ = default_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is False
    assert summary["steps_completed"] == 60
    assert summary["config"]["steps"] == 60 and summary["config"]["seed"] == 0
    assert summary["files"] == {
        "metrics": "metrics.jsonl",
        "summary": "summary.json",
        "report": "report.png",
    }
    terms = summary["final_terms"]["terms"]
    assert [t["term"] for t in terms] == ["base", "entropy", "kl_divergence", "l2_weight_decay"]
    assert sum(t["share"] for t in terms) == pytest.approx(1.0)
    assert len(summary["samples"]["before"]) == len(summary["samples"]["after"]) == 3
    assert summary["model"]["parameters"] > 1000


def test_demo_prints_samples_and_the_table(default_run: tuple[Path, str]) -> None:
    _, printed = default_run
    assert "Before training, the model writes:" in printed
    assert "After training, the model writes:" in printed
    header = next(line for line in printed.splitlines() if line.startswith("term"))
    assert header.split() == [
        "term", "value", "weight", "contribution", "grad", "norm", "norm", "share", "alignment"
    ]  # fmt: skip
    assert "kl_divergence" in printed and "total" in printed


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    assert demo(tmp_path / "a", "--steps", "12", "--no-plot", "--seed", "3") == 0
    assert demo(tmp_path / "b", "--steps", "12", "--no-plot", "--seed", "3") == 0
    assert demo(tmp_path / "c", "--steps", "12", "--no-plot", "--seed", "4") == 0
    a, b, c = (without_time(read_rows(tmp_path / name)) for name in "abc")
    assert a == b
    assert a != c


def test_sequential_gives_the_same_numbers(tmp_path: Path) -> None:
    assert demo(tmp_path / "a", "--steps", "8", "--no-plot") == 0
    assert demo(tmp_path / "b", "--steps", "8", "--no-plot", "--sequential") == 0
    assert without_time(read_rows(tmp_path / "a")) == without_time(read_rows(tmp_path / "b"))


def test_no_track_records_no_gradients(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert main(["demo", "--out", str(out), "--steps", "5", "--no-track", "--no-plot"]) == 0
    for row in read_rows(out):
        assert row["base_loss"]["grad_norm"] is None
        assert "total_grad_norm" not in row
        assert not TRACKED_KEYS & set(row["regularizers"]["entropy"])
    assert "gradient tracking off" in capsys.readouterr().out


def test_plain_nll_without_regularizers_or_tracking(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert demo(out, "--steps", "5", "--regularizers", "none", "--no-track") == 0
    rows = read_rows(out)
    assert all(row["regularizers"] == {} for row in rows)
    assert all(row["loss_total"] == row["base_loss"]["value"] for row in rows)
    assert (out / "report.png").exists()


def test_log_to_sends_every_step_to_each_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    destinations = [f"csv:{tmp_path / 'steps.csv'}", f"jsonl:{tmp_path / 'steps.jsonl'}"]
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    mlflow = importlib.util.find_spec("mlflow") is not None
    if tensorboard:
        destinations.append(f"tensorboard:{tmp_path / 'tb'}")
    if mlflow:
        monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
        destinations.append(f"mlflow:{(tmp_path / 'mlruns').as_uri()}")
    assert demo(out, "--steps", "3", "--no-plot", "--log-to", ",".join(destinations)) == 0
    rows = read_rows(out)
    totals = [row["loss_total"] for row in rows]
    with (tmp_path / "steps.csv").open(newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert [float(row["loss/total"]) for row in csv_rows] == totals
    assert [int(row["step"]) for row in csv_rows] == [1, 2, 3]
    lines = (tmp_path / "steps.jsonl").read_text().splitlines()
    assert [json.loads(line)["grad/total_norm"] for line in lines] == [
        row["total_grad_norm"] for row in rows
    ]
    if tensorboard:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(tmp_path / "tb"))
        events.Reload()
        scalars = events.Scalars("loss/total")
        assert [e.step for e in scalars] == [1, 2, 3]
        assert [e.value for e in scalars] == pytest.approx(totals, rel=1e-6)
    if mlflow:
        from mlflow import MlflowClient

        client = MlflowClient((tmp_path / "mlruns").as_uri())
        [run] = client.search_runs(["0"])
        assert run.info.run_name == "run" and run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "reg/entropy/grad_norm")
        assert [m.value for m in history] == pytest.approx(
            [row["regularizers"]["entropy"]["grad_norm"] for row in rows]
        )


def test_log_to_a_missing_package_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "tensorboard" else real(name, *args),
    )
    out = tmp_path / "run"
    assert demo(out, "--log-to", f"tensorboard:{tmp_path / 'tb'}") == 2
    assert "tensorboard is not installed" in capsys.readouterr().err
    assert not out.exists()


def test_log_to_mlflow_without_a_usable_default_store_says_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")  # without it, the missing package is reported first
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "sqlalchemy" else real(name, *args),
    )
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "run"
    assert demo(out, "--log-to", "mlflow") == 2
    assert "mlflow:file:./mlruns" in capsys.readouterr().err
    assert not out.exists()


def test_every_regularizer_choice_runs(tmp_path: Path) -> None:
    choices = "l1,l2,elastic_net,entropy,kl,consistency"
    assert demo(tmp_path / "run", "--steps", "3", "--no-plot", "--regularizers", choices) == 0
    names = list(read_rows(tmp_path / "run")[-1]["regularizers"])
    assert names == [
        "l1_sparsity", "l2_weight_decay", "elastic_net", "entropy", "kl_divergence", "consistency"
    ]  # fmt: skip


def test_ctrl_c_keeps_what_was_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = []
    original = LocalTrainingClient.optim_step

    def interrupted_at_step_4(self: LocalTrainingClient, params: Any = None) -> dict:
        steps.append(1)
        if len(steps) == 4:
            raise KeyboardInterrupt
        return original(self, params)

    monkeypatch.setattr(LocalTrainingClient, "optim_step", interrupted_at_step_4)
    out = tmp_path / "run"
    assert demo(out, "--steps", "50") == 130
    assert [row["step"] for row in read_rows(out)] == [1, 2, 3]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["steps_completed"] == 3
    assert summary["samples"]["after"] is None
    assert not (out / "report.png").exists()


def test_without_tqdm_progress_is_plain_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` now fails
    assert main(["demo", "--out", str(tmp_path / "run"), "--steps", "10", "--no-plot"]) == 0
    assert "step 10/10  loss" in capsys.readouterr().err


def test_no_plot_needs_no_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert demo(tmp_path / "run", "--steps", "2", "--no-plot") == 0
    assert not (tmp_path / "run" / "report.png").exists()


def test_plot_without_matplotlib_is_an_error_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert demo(tmp_path / "run", "--steps", "2") == 2
    assert "--no-plot" in capsys.readouterr().err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_default_out_folder_is_under_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--steps", "1", "--no-plot", "--quiet"]) == 0
    assert main(["demo", "--steps", "1", "--no-plot", "--quiet"]) == 0
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2  # a second run in the same second gets its own folder
    assert all((run / "summary.json").exists() for run in runs)


# ----------------------------------------------------------- option errors


@pytest.mark.parametrize(
    ("options", "culprit"),
    [
        (["--regularizers", "dropout:0.1"], "'dropout'"),
        (["--regularizers", "kl:-0.5"], "-0.5"),
        (["--regularizers", "kl:abc"], "'abc'"),
        (["--regularizers", "l2,l2"], "given twice"),
        (["--steps", "0"], "--steps"),
        (["--steps", "many"], "--steps"),
        (["--lr", "-1"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "100000"], "batch size 100000"),
        (["--seed", "-3"], "--seed"),
        (["--colour"], "--colour"),
        (["--log-to", "wandb:x"], "'wandb'"),
        (["--log-to", "csv"], "csv needs a target"),
        (["--log-to", "csv:a.csv,csv:b.csv"], "given twice"),
    ],
)
def test_bad_options_fail_in_one_line_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture, options: list[str], culprit: str
) -> None:
    out = tmp_path / "run"
    try:
        code = demo(out, *options)
    except SystemExit as exit_:  # argparse exits by itself
        code = exit_.code
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert error.startswith("gradtrack demo: error:")
    assert culprit in error
    assert not out.exists()  # nothing is written for a run that cannot start


def test_out_folder_that_cannot_be_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert demo(blocker / "run", "--steps", "1") == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(blocker / "run") in error
    assert demo(blocker, "--steps", "1") == 2
    assert "is not a folder" in capsys.readouterr().err


def test_out_folder_holding_a_run_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    assert demo(out, "--steps", "2", "--no-plot") == 0
    before = (out / "metrics.jsonl").read_text()
    assert demo(out, "--steps", "2", "--no-plot") == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "metrics.jsonl").read_text() == before


# ---------------------------------------------------------------- help


def test_help_explains_every_option(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--steps", "--seed", "--regularizers", "--lr", "--batch-size", "--model", "--sequential",
        "--no-track", "--no-plot", "--out", "--quiet",
    ):  # fmt: skip
        assert option in text
    for name in ("l1", "l2", "elastic_net", "entropy", "kl", "consistency"):
        assert f"\n  {name} " in text


def test_top_level_help_lists_the_commands() -> None:
    capture = subprocess.run(
        [sys.executable, "-m", "gradtrack", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert capture.returncode == 0
    assert "demo" in capture.stdout and "gradcheck" in capture.stdout


def test_no_command_prints_help(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 0
    assert "gradcheck" in capsys.readouterr().out


# ----------------------------------------------------------- gradcheck


REGULARIZERS = """
import numpy as np
import minigrad as mg

def sharpness(data, logprobs):
    probs = mg.exp(logprobs)
    return (probs * probs).sum(), {}

def via_numpy(data, logprobs):
    # Computed on the raw array: autodiff cannot see it.
    return mg.Tensor(float((np.exp(logprobs.data) ** 2).sum())), {}

def broken(data, logprobs):
    raise RuntimeError("no reference field")

class Margin:
    name = "margin"
    def __call__(self, data, logprobs):
        return mg.relu(logprobs + 1.0).sum(), {}

not_a_function = 3
"""


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "my_regularizers.py"
    path.write_text(textwrap.dedent(REGULARIZERS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return path


def test_gradcheck_passes(user_module: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["gradcheck", "my_regularizers:sharpness"]) == 0
    out = capsys.readouterr().out
    assert "shape (4, 8)" in out
    assert "PASS: regularizer 'sharpness': gradient matches finite differences" in out


def test_gradcheck_fails_and_says_why(user_module: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["gradcheck", "my_regularizers:via_numpy", "--shape", "3,5"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: regularizer 'via_numpy': gradient MISMATCH" in out
    assert "the autodiff gradient is all zeros" in out


def test_gradcheck_reports_a_raising_regularizer(
    user_module: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["gradcheck", "my_regularizers:broken"]) == 1
    assert "RuntimeError: no reference field" in capsys.readouterr().out


def test_gradcheck_instantiates_a_class_and_loads_a_file(
    user_module: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["gradcheck", "my_regularizers:Margin", "--seed", "1"]) == 0
    assert "regularizer 'margin'" in capsys.readouterr().out
    assert main(["gradcheck", f"{user_module}:sharpness", "--shape", "6"]) == 0


@pytest.mark.parametrize(
    ("target", "options", "culprit"),
    [
        ("my_regularizers:missing", [], "'missing'"),
        ("no_such_module:fn", [], "'no_such_module'"),
        ("my_regularizers", [], "MODULE:FUNCTION"),
        ("my_regularizers:not_a_function", [], "not a regularizer"),
        ("nowhere/regs.py:fn", [], "no such file"),
        ("my_regularizers:sharpness", ["--shape", "4,a"], "--shape"),
        ("my_regularizers:sharpness", ["--shape", "0"], "--shape"),
        ("my_regularizers:sharpness", ["--atol", "-1"], "atol"),
    ],
)
def test_gradcheck_bad_input(
    user_module: Path,
    capsys: pytest.CaptureFixture,
    target: str,
    options: list[str],
    culprit: str,
) -> None:
    try:
        code = main(["gradcheck", target, *options])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and culprit in error
