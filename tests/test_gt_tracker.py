"""Tests for gradtrack.tracker: gradient norms, the total, conflicts, term evaluation.

Vectors 1–9 of the Tinkex spec are ported here.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from gradtrack.errors import PipelineError, RegularizerError
from gradtrack.terms import evaluate_term
from gradtrack.tracker import (
    compute_grad_norm,
    grad_conflicts,
    grad_norm_for_regularizer,
    total_grad_norm,
)
from gradtrack.types import RegularizerSpec
from gradtrack.vectors import cosine_matrix

LP = [1.0, 2.0, 3.0]


def reg(fn: Callable[..., Any], weight: float = 1.0, name: str = "reg") -> RegularizerSpec:
    return RegularizerSpec(fn, weight=weight, name=name)


def base_sum(data: Any, lp: mg.Tensor) -> Any:
    return lp.sum(), {}


def gradtrack_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "gradtrack" and r.levelno == logging.WARNING
    ]


# ------------------------------------------------------------ ported vectors


def test_norm_of_sum() -> None:  # 1
    assert compute_grad_norm(lambda lp: lp.sum(), LP) == pytest.approx(math.sqrt(3), abs=1e-3)


def test_norm_of_sum_of_squares() -> None:  # 2
    assert compute_grad_norm(lambda lp: (lp * lp).sum(), LP) == pytest.approx(7.4833148)


def test_norm_of_mean() -> None:  # 3
    assert compute_grad_norm(lambda lp: lp.mean(), LP) == pytest.approx(0.5773503)


def test_norm_of_scalar_and_matrix_inputs() -> None:  # 4
    assert compute_grad_norm(lambda x: 2 * x, 5.0) == pytest.approx(2.0)
    assert compute_grad_norm(lambda x: x.sum(), [[1.0, 2.0], [3.0, 4.0]]) == pytest.approx(2.0)


def test_regularizer_norm_and_summed_nonscalar_loss() -> None:  # 5
    l1 = reg(lambda data, lp: (lp.abs().sum(), {}), name="l1")
    elementwise = reg(lambda data, lp: (lp.abs(), {}), name="abs")
    assert grad_norm_for_regularizer(l1, [], [1.0, -2.0, 3.0]) == pytest.approx(math.sqrt(3))
    assert grad_norm_for_regularizer(elementwise, [], LP) == pytest.approx(math.sqrt(3))


def test_constant_regularizer_has_zero_norm() -> None:  # 6
    assert grad_norm_for_regularizer(reg(lambda data, lp: (1.0, {})), [], LP) == 0.0


def test_total_with_weighted_regularizer() -> None:  # 7
    l2 = reg(lambda data, lp: ((lp * lp).sum(), {}), weight=0.5)
    assert total_grad_norm(base_sum, [l2], [], LP) == pytest.approx(math.sqrt(29))


def test_total_without_regularizers() -> None:  # 8
    assert total_grad_norm(base_sum, [], [], LP) == pytest.approx(math.sqrt(3))


def test_total_of_mean_and_two_sums() -> None:  # 9
    specs = [reg(lambda d, lp: (lp.sum(), {}), name=n) for n in ("a", "b")]
    total = total_grad_norm(lambda d, lp: (lp.mean(), {}), specs, [], LP)
    assert total == pytest.approx(7 / 3 * math.sqrt(3), abs=1e-2)
    assert total == pytest.approx(4.0414519)


# ------------------------------------------------------------ inputs and dtypes


@pytest.mark.parametrize(
    "logprobs",
    [
        LP,
        np.array(LP),
        np.array(LP, dtype=np.float32),
        np.array([1, 2, 3]),
        mg.Tensor(LP),
        mg.Tensor(np.array(LP, dtype=np.float32)),
        mg.Tensor(LP, requires_grad=True),
    ],
)
def test_logprobs_of_any_kind(logprobs: Any) -> None:
    assert compute_grad_norm(lambda lp: (lp * lp).sum(), logprobs) == pytest.approx(math.sqrt(56))


def test_float32_terms_are_accumulated_in_float64() -> None:
    # 1e5 equal float32 components: the norm is still exact to float64 rounding.
    logprobs = np.full(100_000, 0.5, dtype=np.float32)
    assert compute_grad_norm(lambda lp: lp.sum(), logprobs) == pytest.approx(math.sqrt(1e5))


def test_loss_independent_of_input_is_zero() -> None:
    assert compute_grad_norm(lambda lp: mg.Tensor(3.0), LP) == 0.0
    assert compute_grad_norm(lambda lp: 3.0, LP) == 0.0


def test_compute_grad_norm_propagates_errors() -> None:
    with pytest.raises(ValueError, match="shape"):
        compute_grad_norm(lambda lp: lp * 2, LP)
    with pytest.raises(ZeroDivisionError):
        compute_grad_norm(lambda lp: 1 / 0, LP)


# ------------------------------------------------------------ failures


@pytest.mark.parametrize(
    "fn",
    [
        lambda data, lp: 1 / 0,
        lambda data, lp: lp.sum(),
        lambda data, lp: ("loss", {}),
    ],
)
def test_regularizer_failure_is_zero_with_warning(
    fn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gradtrack"):
        assert grad_norm_for_regularizer(reg(fn, name="fragile"), [], LP) == 0.0
    [message] = gradtrack_warnings(caplog)
    assert "'fragile'" in message


def test_total_failure_is_zero_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    elementwise = reg(lambda data, lp: (lp * lp, {}), name="elementwise")
    with caplog.at_level(logging.WARNING, logger="gradtrack"):
        assert total_grad_norm(base_sum, [elementwise], [], LP) == 0.0
        assert total_grad_norm(lambda d, lp: 1 / 0, [], [], LP) == 0.0
    messages = gradtrack_warnings(caplog)
    assert len(messages) == 2
    assert all("'total'" in message for message in messages)


# ------------------------------------------------------------ dispatch in the tracker


def test_three_argument_and_async_regularizers() -> None:
    def scaled(data: Any, lp: mg.Tensor, opts: dict[str, Any]) -> Any:
        return (lp * opts["scale"]).sum(), {}

    async def squares(data: Any, lp: mg.Tensor) -> Any:
        await asyncio.sleep(0)
        return (lp * lp).sum(), {}

    three = RegularizerSpec(scaled, 1.0, "scaled", opts={"scale": 2.0})
    assert grad_norm_for_regularizer(three, [], LP) == pytest.approx(2 * math.sqrt(3))
    assert grad_norm_for_regularizer(reg(squares), [], LP) == pytest.approx(math.sqrt(56))


def test_async_regularizer_inside_a_running_event_loop() -> None:
    async def squares(data: Any, lp: mg.Tensor) -> Any:
        return (lp * lp).sum(), {}

    async def main() -> float:  # as in a notebook, where a loop is already running
        return grad_norm_for_regularizer(reg(squares), [], LP)

    assert asyncio.run(main()) == pytest.approx(math.sqrt(56))


# ------------------------------------------------------------ evaluate_term


def test_evaluate_term_calls_once_and_keeps_value() -> None:
    calls = []

    def term(data: Any, lp: mg.Tensor) -> Any:
        calls.append(lp.requires_grad)
        return (lp * lp).sum(), {"m": 1}

    evaluation = evaluate_term(term, None, LP, track=True)
    assert calls == [True]
    assert (evaluation.value, evaluation.metrics) == (14.0, {"m": 1})
    np.testing.assert_allclose(evaluation.grad, [2.0, 4.0, 6.0])
    assert evaluation.grad.dtype == np.float64


def test_evaluate_term_leaves_closure_gradients_alone() -> None:
    weights = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    evaluation = evaluate_term(lambda d, lp: ((lp * weights).sum(), {}), None, LP, track=True)
    np.testing.assert_allclose(evaluation.grad, [1.0, 2.0, 3.0])
    assert weights.grad is None


@pytest.mark.parametrize("track", [False, True])
def test_a_term_cannot_change_the_shared_logprobs(track: bool) -> None:
    # Terms share one read-only view of the logprobs (no per-term copy).
    logprobs = np.array(LP)

    def mutating(data: Any, lp: mg.Tensor) -> Any:
        lp.data[0] = 100.0
        return lp.sum(), {}

    with pytest.raises(ValueError, match="read-only"):
        evaluate_term(mutating, None, logprobs, track=track)
    np.testing.assert_array_equal(logprobs, LP)
    assert logprobs.flags.writeable


def test_evaluate_term_result_errors() -> None:
    with pytest.raises(TypeError, match="pair"):
        evaluate_term(lambda d, lp: lp.sum(), None, LP, track=False)
    with pytest.raises(TypeError, match="as its loss"):
        evaluate_term(lambda d, lp: ([1.0], {}), None, LP, track=False)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        evaluate_term(lambda d, lp: (lp, {}), None, LP, track=True)
    summed = evaluate_term(lambda d, lp: (lp, {}), None, LP, track=True, sum_nonscalar=True)
    assert summed.value == 6.0


# ------------------------------------------------------------ grad_conflicts


def test_grad_conflicts_matrix() -> None:
    down = reg(lambda d, lp: (-lp.sum(), {}), weight=0.1, name="down")
    first = reg(lambda d, lp: (lp[0], {}), weight=2.0, name="first")
    flat = reg(lambda d, lp: (1.0, {}), weight=1.0, name="flat")
    off = reg(lambda d, lp: (lp.sum(), {}), weight=0.0, name="off")
    names, cosines = grad_conflicts(base_sum, [down, first, flat, off], [], LP)
    assert names == ["base", "down", "first", "flat", "off"]
    assert cosines.dtype == np.float64
    np.testing.assert_allclose(cosines, cosines.T)
    assert cosines[0, 1] == pytest.approx(-1.0)
    assert cosines[0, 2] == pytest.approx(1 / math.sqrt(3))
    # A zero gradient (flat loss or zero weight) has cosine 0 with everything, itself included.
    np.testing.assert_array_equal(cosines[3], 0.0)
    np.testing.assert_array_equal(cosines[:, 4], 0.0)
    np.testing.assert_allclose(np.diag(cosines)[:3], 1.0)


def test_grad_conflicts_raises_naming_the_failing_term() -> None:
    with pytest.raises(RegularizerError, match="'bad'"):
        grad_conflicts(base_sum, [reg(lambda d, lp: 1 / 0, name="bad")], [], LP)
    with pytest.raises(PipelineError, match="base loss"):
        grad_conflicts(lambda d, lp: 1 / 0, [], [], LP)
    with pytest.raises(TypeError, match=r"regularizers\[0\]"):
        grad_conflicts(base_sum, ["not a spec"], [], LP)


def test_cosine_matrix_of_nothing() -> None:
    assert cosine_matrix([]).shape == (0, 0)


# ------------------------------------------------------------ property: one pass == from scratch

TERMS: dict[str, Callable[[mg.Tensor], mg.Tensor]] = {
    "sum": lambda lp: lp.sum(),
    "squares": lambda lp: (lp * lp).sum(),
    "abs_mean": lambda lp: lp.abs().mean(),
    "neg_entropy": lambda lp: (mg.exp(lp) * lp).sum(),
    "logsumexp": lambda lp: lp.logsumexp(),
    "tanh": lambda lp: mg.tanh(lp).sum(),
}

logprob_arrays = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
    elements=st.floats(-8.0, 0.0, allow_nan=False),
)
term_lists = st.lists(
    st.tuples(st.sampled_from(sorted(TERMS)), st.floats(0.0, 10.0, allow_nan=False)),
    max_size=4,
)


def from_scratch_norm(base: str, terms: list[tuple[str, float]], logprobs: np.ndarray) -> float:
    """Build total(lp) = base + Σ w_i reg_i as one minigrad function; backward once."""
    leaf = mg.Tensor(logprobs, requires_grad=True)
    total = TERMS[base](leaf)
    for name, weight in terms:
        total = total + weight * TERMS[name](leaf)
    total.backward()
    return float(np.linalg.norm(leaf.grad.data)) if leaf.grad is not None else 0.0


def as_specs(terms: list[tuple[str, float]]) -> list[RegularizerSpec]:
    def fn_for(name: str) -> Callable[..., Any]:
        return lambda data, lp: (TERMS[name](lp), {})

    return [reg(fn_for(name), weight, f"{name}_{i}") for i, (name, weight) in enumerate(terms)]


@given(st.sampled_from(sorted(TERMS)), term_lists, logprob_arrays)
@example("sum", [("squares", 0.5)], np.array([1.0, 2.0, 3.0]))
def test_total_grad_norm_equals_composite_gradient(
    base: str, terms: list[tuple[str, float]], logprobs: np.ndarray
) -> None:
    def base_fn(data: Any, lp: mg.Tensor) -> Any:
        return TERMS[base](lp), {}

    expected = from_scratch_norm(base, terms, logprobs)
    actual = total_grad_norm(base_fn, as_specs(terms), [], logprobs)
    assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12)
