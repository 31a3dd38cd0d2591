"""The demo acting on its diagnosis: --conflict pcgrad, --target-share, and what they record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradtrack import pipeline
from gradtrack.cli import main
from gradtrack.demo.acting import (
    average_conflicts,
    conflict_window,
    resolve_target_shares,
    step_conflicts,
    weight_history,
)
from gradtrack.demo.data import REFERENCE_FIELD
from gradtrack.demo.regularizers import parse_regularizers
from gradtrack.demo.run import DemoConfig, DemoSettingsError, nll_loss, run_demo
from gradtrack.types import Datum, ForwardBackwardOutput, ModelInput, TensorData

STEPS = 30


def demo(out: Path, *options: str) -> int:
    return main(["demo", "--out", str(out), "--quiet", "--steps", str(STEPS), *options])


def read_rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def read_summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same seed and steps three ways: plain, PCGrad, and a KL share target."""
    root = tmp_path_factory.mktemp("acting")
    options = {
        "plain": ["--no-plot"],
        "pcgrad": ["--conflict", "pcgrad"],
        "share": ["--target-share", "kl=0.1", "--no-plot"],
    }
    for name, extra in options.items():
        assert demo(root / name, *extra) == 0
    return {name: root / name for name in options}


def test_pcgrad_trains_on_the_projected_total(runs: dict[str, Path]) -> None:
    plain, pcgrad = read_rows(runs["plain"]), read_rows(runs["pcgrad"])
    for row in pcgrad:
        assert row["total_grad_norm_projected"] > 0
        # The KL term pulls against the NLL: projection removes part of the total.
        assert row["total_grad_norm_projected"] <= row["total_grad_norm"] * (1 + 1e-9)
    assert all("total_grad_norm_projected" not in row for row in plain)
    # Step 1 is computed before any update: identical losses, different updates after it.
    assert pcgrad[0]["loss_total"] == plain[0]["loss_total"]
    assert pcgrad[-1]["loss_total"] != plain[-1]["loss_total"]
    assert read_summary(runs["pcgrad"])["conflicts"]["mode"] == "pcgrad"
    assert read_summary(runs["plain"])["conflicts"]["mode"] == "none"


def test_the_conflict_matrix_of_the_last_steps(runs: dict[str, Path]) -> None:
    rows = read_rows(runs["plain"])
    window = conflict_window(STEPS)
    with_matrix = [row["step"] for row in rows if "grad_conflicts" in row]
    assert with_matrix == list(range(STEPS - window + 1, STEPS + 1))
    summary = read_summary(runs["plain"])["conflicts"]
    names = ["base", "entropy", "kl_divergence", "l2_weight_decay"]
    assert summary["terms"] == names
    assert summary["steps"] == [STEPS - window + 1, STEPS] and summary["count"] == window
    matrix = np.array(summary["cosines"])
    expected = np.mean([row["grad_conflicts"]["cosines"] for row in rows[-window:]], axis=0)
    np.testing.assert_allclose(matrix, expected, atol=1e-6)
    np.testing.assert_allclose(matrix, matrix.T)
    assert np.all(np.abs(matrix) <= 1.0)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    # The KL to the initial model pulls the logprobs back to where they started.
    assert rows[-1]["grad_conflicts"]["cosines"][0][names.index("kl_divergence")] < 0


def test_target_share_moves_the_weight_towards_the_share(runs: dict[str, Path]) -> None:
    share = read_rows(runs["share"])
    weights = weight_history(share)
    kl = weights["kl_divergence"]
    assert kl[0] == pytest.approx(0.0002)  # the first step trains with the given weight
    assert len(set(kl)) > 1 and kl[-1] > kl[0]  # the KL's share starts at 0: its weight grows
    assert set(weights["entropy"]) == {0.001} and set(weights["l2_weight_decay"]) == {0.02}
    summary = read_summary(runs["share"])
    assert summary["weights"]["targets"] == {"kl_divergence": 0.1}
    assert summary["weights"]["initial"]["kl_divergence"] == 0.0002
    assert summary["weights"]["final"]["kl_divergence"] == kl[-1]
    assert summary["config"]["target_shares"] == {"kl_divergence": 0.1}
    plain_summary = read_summary(runs["plain"])
    assert plain_summary["weights"]["initial"] == plain_summary["weights"]["final"]
    assert plain_summary["weights"]["targets"] == {}
    # Each step's weight is the controller's update from the previous step's shares.
    first = share[0]
    base = first["base_loss"]["grad_norm"]
    total = base + sum(r["grad_norm_weighted"] for r in first["regularizers"].values())
    measured = first["regularizers"]["kl_divergence"]["grad_norm_weighted"] / total
    if measured > 0:
        assert kl[1] == pytest.approx(kl[0] * (0.1 / measured) ** 0.1, rel=1e-9)
    else:
        assert kl[1] == kl[0]


def test_report_is_drawn_with_the_new_panels(runs: dict[str, Path]) -> None:
    report = runs["pcgrad"] / "report.png"
    assert report.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert read_summary(runs["pcgrad"])["files"]["report"] == "report.png"


def test_same_seed_same_numbers_with_both_options(tmp_path: Path) -> None:
    options = ["--no-plot", "--conflict", "pcgrad", "--target-share", "kl_divergence=0.1"]
    assert demo(tmp_path / "a", *options) == 0
    assert demo(tmp_path / "b", *options) == 0

    def strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != "wall_time"} for row in rows]

    assert strip(read_rows(tmp_path / "a")) == strip(read_rows(tmp_path / "b"))


@pytest.mark.parametrize(
    ("options", "culprit"),
    [
        (["--conflict", "mgda"], "--conflict"),
        (["--target-share", "kl"], "NAME=SHARE"),
        (["--target-share", "kl=abc"], "'abc'"),
        (["--target-share", "kl=1.5"], "between 0 and 1"),
        (["--target-share", "kl=0"], "between 0 and 1"),
        (["--target-share", "consistency=0.1"], "'consistency' is not a regularizer of this run"),
        (["--target-share", "kl=0.1", "--regularizers", "l2"], "its regularizers are"),
        (["--target-share", "kl=0.1", "--target-share", "kl=0.2"], "given twice"),
        (["--target-share", "kl=0.1", "--target-share", "kl_divergence=0.2"], "twice"),
        (["--target-share", "kl=0.6", "--target-share", "l2=0.5"], "add up to"),
        (["--target-share", "kl=0.1", "--no-track"], "--no-track"),
    ],
)
def test_bad_acting_options_fail_in_one_line_before_training(
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
    assert not out.exists()


def test_help_lists_the_acting_options(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert "--conflict" in text and "--target-share" in text and "NAME=SHARE" in text


# ------------------------------------------------------------ from Python


def test_demo_config_checks_the_acting_fields() -> None:
    with pytest.raises(ValueError, match="conflict"):
        DemoConfig(conflict="PCGrad")
    with pytest.raises(ValueError, match="target_shares"):
        DemoConfig(target_shares={"kl": 1.0})
    with pytest.raises(ValueError, match="target_shares"):
        DemoConfig(target_shares=[("kl", 0.1)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="track=True"):
        DemoConfig(target_shares={"kl": 0.1}, track=False)


def test_run_demo_names_an_unknown_target_before_writing(tmp_path: Path) -> None:
    config = DemoConfig(steps=2, out=tmp_path / "run", target_shares={"dropout": 0.1})
    with pytest.raises(DemoSettingsError, match="'dropout'"):
        run_demo(config)
    assert not (tmp_path / "run").exists()


def test_resolve_target_shares_accepts_both_names() -> None:
    specs = parse_regularizers("entropy,kl,l2")
    assert resolve_target_shares({"KL": 0.1, "l2_weight_decay": 0.2}, specs) == {
        "kl_divergence": 0.1,
        "l2_weight_decay": 0.2,
    }
    assert resolve_target_shares({}, specs) == {}


def test_average_conflicts_keeps_only_rows_with_the_last_terms() -> None:
    rows = [
        {"step": 1, "grad_conflicts": {"terms": ["base"], "cosines": [[1.0]]}},
        {"step": 2, "grad_conflicts": {"terms": ["base", "kl"], "cosines": [[1, -1], [-1, 1]]}},
        {"step": 3},
    ]
    averaged = average_conflicts(rows)
    assert averaged is not None
    assert averaged["steps"] == [2, 2] and averaged["count"] == 1
    assert average_conflicts([{"step": 1}]) is None


def test_step_conflicts_are_the_cosines_of_the_weighted_term_gradients() -> None:
    rng = np.random.default_rng(0)
    lengths = (5, 3)
    logprobs = [-rng.random(n) * 3 for n in lengths]
    data = [
        Datum(
            ModelInput.from_ints(list(range(n))),
            {
                "target_tokens": list(range(1, n + 1)),
                REFERENCE_FIELD: TensorData.from_numpy(lp - rng.random(n)),
            },
        )
        for n, lp in zip(lengths, logprobs, strict=True)
    ]
    entries = [{"logprobs": TensorData.from_numpy(lp)} for lp in logprobs]
    output = ForwardBackwardOutput("cross_entropy", entries, {})
    specs = parse_regularizers("entropy:0.01,kl:0.5,l2:0.02")
    got = step_conflicts(nll_loss, data, output, specs)

    # By hand: every term's gradient on the joined logprobs, weighted, then plain cosines.
    run = pipeline.evaluate(
        data, np.concatenate(logprobs), lambda d, lp: nll_loss(d, [lp]), regularizers=specs
    )
    weighted = [run.base_gradient] + [s.weight * run.gradients[s.name] for s in specs]
    norms = [np.linalg.norm(g) for g in weighted]
    expected = [
        [float(a @ b) / (na * nb) for b, nb in zip(weighted, norms, strict=True)]
        for a, na in zip(weighted, norms, strict=True)
    ]
    assert got["terms"] == ["base", *(s.name for s in specs)]
    np.testing.assert_allclose(got["cosines"], expected, atol=2e-6)
    assert got["cosines"][0][2] < 0  # the KL to a lower reference pulls the logprobs down
