"""Tests for gradtrack.check: autodiff versus finite differences, in plain words."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from gradtrack.check import CheckReport, check_regularizer
from gradtrack.errors import RegularizerError
from gradtrack.types import RegularizerSpec

LOGPROBS = np.log([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3]])


def spec(fn: Any, name: str = "reg", **kwargs: Any) -> RegularizerSpec:
    return RegularizerSpec(fn, weight=1.0, name=name, **kwargs)


def entropy(data: Any, lp: mg.Tensor) -> Any:
    return -(mg.exp(lp) * lp).sum(axis=-1).mean(), {}


def half_numpy(data: Any, lp: mg.Tensor) -> Any:
    # exp(lp) is taken on the raw array, so autodiff treats it as a constant: it
    # misses the d exp(lp) / d lp part of the product rule.
    probs = mg.Tensor(np.exp(lp.data))
    return -(probs * lp).sum(), {}


@pytest.mark.parametrize(
    "fn",
    [
        entropy,
        lambda data, lp: ((lp * lp).sum(), {}),
        lambda data, lp: (mg.log_softmax(lp * 2.0).sum(), {}),
        lambda data, lp: (mg.exp(lp), {}),  # non-scalar: summed
    ],
)
def test_correct_regularizers_pass(fn: Any) -> None:
    report = check_regularizer(spec(fn, "good"), [], LOGPROBS)
    assert report.passed
    assert report.max_abs_error < 1e-6
    assert report.analytic.shape == report.numerical.shape == LOGPROBS.shape
    assert str(report).startswith("regularizer 'good': gradient matches finite differences")
    assert "max abs error" in str(report)
    report.raise_for_failure()  # does nothing


def test_wrong_gradient_fails_at_the_worst_index() -> None:
    report = check_regularizer(spec(half_numpy, "half_numpy"), [], LOGPROBS)
    true_grad = -np.exp(LOGPROBS) * (1.0 + LOGPROBS)
    np.testing.assert_allclose(report.numerical, true_grad, atol=1e-6)
    np.testing.assert_allclose(report.analytic, -np.exp(LOGPROBS))
    # The missing term exp(lp) * lp is largest in magnitude where p * |ln p| is largest.
    flat_worst = np.argmax(np.abs(np.exp(LOGPROBS) * LOGPROBS))
    expected = tuple(int(i) for i in np.unravel_index(flat_worst, LOGPROBS.shape))
    assert expected == (1, 2)  # p = 0.3
    assert not report.passed
    assert report.worst_index == expected
    assert report.max_abs_error == pytest.approx(np.max(np.abs(np.exp(LOGPROBS) * LOGPROBS)))
    text = str(report)
    assert text.startswith(f"regularizer 'half_numpy': gradient MISMATCH at index {expected}")
    assert "autodiff says" in text and "finite differences say" in text
    assert "hint" not in text  # the gradient is wrong, not missing


def test_raise_for_failure_raises_gradcheck_error() -> None:
    report = check_regularizer(spec(half_numpy, "half_numpy"), [], LOGPROBS)
    with pytest.raises(mg.GradcheckError, match="MISMATCH") as info:
        report.raise_for_failure()
    assert info.value.index == report.worst_index
    assert info.value.analytic == pytest.approx(report.analytic[report.worst_index])
    assert info.value.numerical == pytest.approx(report.numerical[report.worst_index])


def test_all_zero_gradient_gets_a_hint() -> None:
    def numpy_only(data: Any, lp: mg.Tensor) -> Any:
        return float(np.sum(np.asarray(lp) ** 2)), {}

    report = check_regularizer(spec(numpy_only, "numpy_only"), [], [1.0, -2.0, 0.5])
    assert not report.passed
    assert report.worst_index == (1,)
    assert "hint: the autodiff gradient is all zeros" in str(report)
    assert "NumPy" in str(report)


def test_tolerances_decide() -> None:
    loose = check_regularizer(spec(half_numpy), [], LOGPROBS, atol=1.0)
    assert loose.passed
    assert (loose.atol, loose.rtol) == (1.0, 1e-3)


def test_three_argument_regularizer_gets_opts() -> None:
    def scaled(data: Any, lp: mg.Tensor, opts: dict[str, Any]) -> Any:
        return (lp * lp).sum() * opts["scale"], {}

    report = check_regularizer(spec(scaled, opts={"scale": 3.0}), [], [1.0, 2.0])
    assert report.passed
    np.testing.assert_allclose(report.analytic, [6.0, 12.0])


def test_float32_logprobs_are_checked_in_float64() -> None:
    seen: list[Any] = []

    def probe(data: Any, lp: mg.Tensor) -> Any:
        seen.append(lp.dtype)
        return (lp * lp).sum(), {}

    report = check_regularizer(spec(probe), [], np.array([0.3, -0.7], dtype=np.float32))
    assert report.passed
    assert set(seen) == {np.dtype(np.float64)}


def test_scalar_logprobs() -> None:
    report = check_regularizer(spec(lambda d, lp: (lp * lp * lp, {})), [], 2.0)
    assert report.passed
    assert report.worst_index == ()
    assert report.analytic == pytest.approx(12.0)


def test_failing_regularizer_is_named() -> None:
    with pytest.raises(RegularizerError, match="'broken'"):
        check_regularizer(spec(lambda d, lp: 1 / 0, "broken"), [], [1.0])


@pytest.mark.parametrize("logprobs", [[0.0, math.nan], [math.inf], [-math.inf, 0.0]])
def test_non_finite_logprobs_are_rejected(logprobs: list[float]) -> None:
    with pytest.raises(ValueError, match="logprobs"):
        check_regularizer(spec(entropy), [], logprobs)


@pytest.mark.parametrize(("option", "value"), [("eps", 0.0), ("atol", -1.0), ("rtol", math.nan)])
def test_bad_tolerances(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        check_regularizer(spec(entropy), [], [0.0], **{option: value})


def test_non_spec_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="RegularizerSpec"):
        check_regularizer(entropy, [], [0.0])  # type: ignore[arg-type]


def test_report_prints_nan_as_mismatch() -> None:
    report = CheckReport(
        "nan", False, math.nan, (0,), np.array([math.nan]), np.array([1.0]), 1e-5, 1e-3
    )
    assert "MISMATCH at index (0,): autodiff says nan" in str(report)
