"""Tests for gradtrack.pipeline.compute: composition, validation, gradients, telemetry.

Vectors 10–22 and the worked example (82) of the Tinkex spec are ported here,
with the original's error tuples replaced by the exception contract.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from gradtrack import telemetry
from gradtrack.errors import PipelineError, RegularizerError, RegularizerTimeoutError
from gradtrack.pipeline import compute
from gradtrack.types import RegularizerSpec
from minigrad.engine import defvjp
from minigrad.tensor import record

LP = [1.0, 2.0, 3.0]


def reg(fn: Callable[..., Any], weight: float = 1.0, name: str = "reg") -> RegularizerSpec:
    return RegularizerSpec(fn, weight=weight, name=name)


def const(value: float) -> Callable[..., Any]:
    return lambda data, lp: (mg.Tensor(value), {})


def base_sum(data: Any, lp: mg.Tensor) -> Any:
    return lp.sum(), {}


def sum_of_squares(data: Any, lp: mg.Tensor) -> Any:
    return (lp * lp).sum(), {}


def gradtrack_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "gradtrack" and r.levelno == logging.WARNING
    ]


@pytest.fixture
def events() -> Iterator[list[tuple[Any, dict[str, Any], dict[str, Any]]]]:
    seen: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []

    def handler(event: Any, measurements: Any, metadata: Any, config: Any) -> None:
        seen.append((event, dict(measurements), dict(metadata)))

    telemetry.attach("test-gt-pipeline", telemetry.EVENTS, handler)
    try:
        yield seen
    finally:
        telemetry.detach("test-gt-pipeline")


def without_derivative(x: mg.Tensor) -> mg.Tensor:
    """An identity primitive whose derivative rule fails: the value works, the gradient not."""
    return record("identity_without_derivative", x.data, (x,))


def _no_derivative(g: mg.Tensor, ans: mg.Tensor, x: mg.Tensor) -> mg.Tensor:
    raise RuntimeError("no derivative for this op")


defvjp("identity_without_derivative", _no_derivative)


# ------------------------------------------------------------ ported vectors


def test_base_only_with_metrics() -> None:  # 10
    out = compute([], [-1.0, -2.0, -3.0], lambda d, lp: (-lp.mean(), {"mean_nll": 2.0}))
    assert out.loss_total == 2.0
    assert out.base_loss == {"value": 2.0, "grad_norm": None, "custom": {"mean_nll": 2.0}}
    assert out.regularizer_total == 0.0
    assert out.regularizers == {}
    assert out.total_grad_norm is None
    assert out.grad_alignment is None


def test_base_sum_with_empty_regularizers() -> None:  # 11
    out = compute([], LP, base_sum, regularizers=[])
    assert (out.loss_total, out.regularizer_total) == (6.0, 0.0)


def test_one_constant_regularizer() -> None:  # 12
    out = compute([], LP, const(1.0), regularizers=[reg(const(10.0), 0.1, "reg_a")])
    assert out.loss_total == pytest.approx(2.0)
    assert out.regularizer_total == pytest.approx(1.0)
    assert out.regularizers["reg_a"].contribution == pytest.approx(1.0)


def test_two_constant_regularizers() -> None:  # 13
    specs = [reg(const(10.0), 0.1, "reg_a"), reg(const(20.0), 0.5, "reg_b")]
    out = compute([], LP, const(1.0), regularizers=specs)
    assert out.loss_total == pytest.approx(12.0)
    assert out.regularizer_total == pytest.approx(11.0)
    assert out.regularizers["reg_a"].contribution == pytest.approx(1.0)
    assert out.regularizers["reg_b"].contribution == pytest.approx(10.0)
    assert list(out.regularizers) == ["reg_a", "reg_b"]


def test_tracking_without_regularizers() -> None:  # 14
    out = compute([], LP, base_sum, track_grad_norms=True)
    assert out.base_loss["grad_norm"] == pytest.approx(math.sqrt(3))
    assert out.total_grad_norm == pytest.approx(math.sqrt(3))
    assert out.grad_alignment == {"base": pytest.approx(1.0)}


def test_tracking_with_l2() -> None:  # 15
    out = compute(
        [], LP, base_sum, regularizers=[reg(sum_of_squares, 0.5, "l2")], track_grad_norms=True
    )
    l2 = out.regularizers["l2"]
    assert out.total_grad_norm == pytest.approx(math.sqrt(29))
    assert l2.grad_norm == pytest.approx(7.4833148)
    assert l2.grad_norm_weighted == pytest.approx(3.7416574)


def test_base_loss_not_callable() -> None:  # 16
    with pytest.raises(TypeError, match="base_loss_fn"):
        compute([], LP, "not a function")  # type: ignore[arg-type]


def test_regularizer_not_a_spec() -> None:  # 17
    with pytest.raises(TypeError, match=r"regularizers\[0\].*dict"):
        compute([], LP, base_sum, regularizers=[{"invalid": True}])


def test_duplicate_names() -> None:  # 18
    with pytest.raises(ValueError, match=r"Duplicate regularizer names: \['dup'\]"):
        compute([], LP, base_sum, regularizers=[reg(base_sum, name="dup")] * 2)
    with pytest.raises(ValueError, match=r"Duplicate regularizer names: \['a', 'a'\]"):
        compute([], LP, base_sum, regularizers=[reg(base_sum, name="a")] * 3)


def test_parallel_and_sequential_agree() -> None:  # 19
    specs = [reg(const(5.0), 0.1, "a"), reg(const(10.0), 0.2, "b")]
    parallel = compute([], LP, base_sum, regularizers=specs, parallel=True)
    sequential = compute([], LP, base_sum, regularizers=specs, parallel=False)
    assert parallel.loss_total == sequential.loss_total == pytest.approx(8.5)
    assert parallel.regularizer_total == sequential.regularizer_total == pytest.approx(2.5)


def test_base_loss_raising_is_pipeline_error() -> None:  # 20
    def broken(data: Any, lp: mg.Tensor) -> Any:
        raise RuntimeError("base broke")

    with pytest.raises(PipelineError, match="base broke") as info:
        compute([], LP, broken)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_regularizer_raising_is_raised_unwrapped() -> None:  # 21
    def bad(data: Any, lp: mg.Tensor) -> Any:
        raise RuntimeError("reg broke")

    with pytest.raises(RegularizerError) as info:
        compute([], LP, base_sum, regularizers=[reg(bad, name="bad_reg")])
    assert type(info.value) is RegularizerError
    assert info.value.name == "bad_reg"
    assert isinstance(info.value.__cause__, RuntimeError)


def test_telemetry_start_then_stop(events: list[Any]) -> None:  # 22
    out = compute([], LP, base_sum, regularizers=[reg(sum_of_squares, 0.5, "l2")])
    assert [event for event, _, _ in events] == [
        telemetry.PIPELINE_START,
        telemetry.REGULARIZER_START,
        telemetry.REGULARIZER_STOP,
        telemetry.PIPELINE_STOP,
    ]
    start, stop = events[0], events[-1]
    assert set(start[1]) == {"system_time"}
    assert start[2] == {"regularizer_count": 1, "track_grad_norms": False}
    assert set(stop[1]) == {"duration", "loss_total", "regularizer_total", "total_grad_norm"}
    assert stop[1]["loss_total"] == out.loss_total == 13.0
    assert stop[1]["regularizer_total"] == 7.0
    assert stop[1]["total_grad_norm"] is None  # not tracked
    assert stop[2] == {"regularizer_count": 1}


def test_telemetry_stop_carries_the_total_grad_norm(events: list[Any]) -> None:
    out = compute(
        [], LP, base_sum, regularizers=[reg(sum_of_squares, 0.5, "l2")], track_grad_norms=True
    )
    stop = events[-1]
    assert stop[0] == telemetry.PIPELINE_STOP
    assert stop[1]["total_grad_norm"] == out.total_grad_norm == pytest.approx(math.sqrt(29))


def test_worked_example_from_the_guide() -> None:  # 82
    logprobs = [-0.5, -1.2, -0.8, -2.1, -0.3]
    specs = [
        reg(lambda d, lp: (lp.abs().sum(), {}), 0.01, "l1"),
        reg(sum_of_squares, 0.005, "l2"),
        reg(lambda d, lp: ((mg.exp(lp) * lp).sum(), {}), 0.001, "entropy"),
    ]
    out = compute(
        [], logprobs, lambda d, lp: (-lp.mean(), {}), regularizers=specs, track_grad_norms=True
    )
    regs = out.regularizers
    assert out.base_loss["value"] == pytest.approx(0.98)
    assert regs["l1"].value == pytest.approx(4.9)
    assert regs["l2"].value == pytest.approx(6.83)
    assert regs["entropy"].value == pytest.approx(-1.5035655)
    assert out.regularizer_total == pytest.approx(0.0816464)
    assert out.loss_total == pytest.approx(1.0616464)
    assert out.base_loss["grad_norm"] == pytest.approx(0.4472136)
    assert regs["l1"].grad_norm == pytest.approx(2.2360680)
    assert regs["l2"].grad_norm == pytest.approx(5.2268537)
    assert regs["entropy"].grad_norm == pytest.approx(0.6250894)
    assert out.total_grad_norm == pytest.approx(0.4913877)


# ------------------------------------------------------------ one backward per term


def test_each_term_is_evaluated_once_under_tracking() -> None:
    calls: dict[str, int] = {}

    def counted(name: str, term: Callable[..., Any]) -> Callable[..., Any]:
        def fn(data: Any, lp: mg.Tensor) -> Any:
            calls[name] = calls.get(name, 0) + 1
            return term(data, lp)

        return fn

    specs = [reg(counted("l2", sum_of_squares), 0.5, "l2"), reg(counted("s", base_sum), 2, "s")]
    out = compute([], LP, counted("base", base_sum), regularizers=specs, track_grad_norms=True)
    assert calls == {"base": 1, "l2": 1, "s": 1}
    assert out.total_grad_norm == pytest.approx(np.linalg.norm(3 + np.array(LP)))


def test_grad_alignment_of_opposing_terms() -> None:
    specs = [reg(lambda d, lp: (-lp.sum(), {}), 0.5, "down"), reg(const(1.0), 1.0, "flat")]
    out = compute([], LP, base_sum, regularizers=specs, track_grad_norms=True)
    # g_total = 1 - 0.5 = 0.5 per element: the base agrees with it, "down" opposes it.
    assert out.grad_alignment == {
        "base": pytest.approx(1.0),
        "down": pytest.approx(-1.0),
        "flat": None,  # a constant has no gradient, hence no direction
    }
    assert out.regularizers["down"].grad_alignment == pytest.approx(-1.0)
    assert out.to_dict()["grad_alignment"]["down"] == pytest.approx(-1.0)


def test_regularizer_gradient_failure_zeroes_the_total(caplog: pytest.LogCaptureFixture) -> None:
    broken = reg(lambda d, lp: (without_derivative(lp).sum(), {}), 1.0, "broken")
    with caplog.at_level(logging.WARNING, logger="gradtrack"):
        out = compute([], LP, base_sum, regularizers=[broken], track_grad_norms=True)
    assert out.loss_total == 12.0
    assert out.base_loss["grad_norm"] == pytest.approx(math.sqrt(3))
    assert out.regularizers["broken"].grad_norm == 0.0
    assert out.total_grad_norm == 0.0
    assert out.grad_alignment is None
    messages = gradtrack_warnings(caplog)
    assert any("'broken'" in m for m in messages)
    assert any("'total'" in m for m in messages)


def test_base_gradient_failure_is_none_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    def base(data: Any, lp: mg.Tensor) -> Any:
        return without_derivative(lp).sum(), {}

    with caplog.at_level(logging.WARNING, logger="gradtrack"):
        alone = compute([], LP, base, track_grad_norms=True)
        with_reg = compute(
            [], LP, base, regularizers=[reg(sum_of_squares, 1.0, "l2")], track_grad_norms=True
        )
    assert alone.base_loss["grad_norm"] is None
    assert alone.total_grad_norm is None
    assert with_reg.base_loss["grad_norm"] is None
    assert with_reg.total_grad_norm == 0.0
    assert with_reg.regularizers["l2"].grad_norm == pytest.approx(math.sqrt(56))
    messages = gradtrack_warnings(caplog)
    assert sum(m.startswith("Gradient computation failed for 'base'") for m in messages) == 2
    assert sum(m.startswith("Gradient computation failed for 'total'") for m in messages) == 1


# ------------------------------------------------------------ validation before anything runs


@pytest.mark.parametrize(
    ("logprobs", "words"),
    [
        ([0.0, math.nan, -1.0], "1 NaN or +inf values (the first at index 1)"),
        ([[0.0, -1.0], [math.inf, math.nan]], "2 NaN or +inf values (the first at index (1, 0))"),
        (np.array([math.inf], dtype=np.float32), "first at index 0"),
        (mg.Tensor([-1.0, math.nan]), "first at index 1"),
    ],
)
def test_nan_and_positive_inf_logprobs_are_rejected(
    logprobs: Any, words: str, events: list[Any]
) -> None:
    calls: list[int] = []

    def base(data: Any, lp: mg.Tensor) -> Any:
        calls.append(1)
        return lp.sum(), {}

    with pytest.raises(ValueError, match="logprobs") as info:
        compute([], logprobs, base)
    assert words in str(info.value)
    assert calls == [] and events == []


def test_negative_infinity_is_a_legal_logprob() -> None:
    out = compute([], [0.0, -math.inf], lambda d, lp: (mg.exp(lp).sum(), {}))
    assert out.loss_total == 1.0


@pytest.mark.parametrize(
    "regularizers",
    [5, None, reg(base_sum), [reg(base_sum), "l2"]],
)
def test_regularizers_of_the_wrong_type(regularizers: Any, events: list[Any]) -> None:
    with pytest.raises(TypeError, match="RegularizerSpec"):
        compute([], LP, base_sum, regularizers=regularizers)
    assert events == []


def test_specs_are_revalidated() -> None:
    spec = reg(base_sum, 1.0, "changed")
    spec.weight = -1.0
    with pytest.raises(ValueError, match="weight"):
        compute([], LP, base_sum, regularizers=[spec])


@pytest.mark.parametrize(("option", "value"), [("timeout", 0), ("max_concurrency", 0)])
def test_bad_options(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=option):
        compute([], LP, base_sum, **{option: value})


@pytest.mark.parametrize(
    ("base", "words"),
    [
        (lambda d, lp: (lp, {}), "loss of shape (3,)"),
        (lambda d, lp: lp.sum(), "pair"),
        (lambda d, lp: ("2.0", {}), "'2.0' (str) as its loss"),
    ],
)
def test_bad_base_results(base: Any, words: str) -> None:
    with pytest.raises(PipelineError, match="base loss") as info:
        compute([], LP, base)
    assert words in str(info.value)


def test_regularizer_returning_garbage_names_it() -> None:
    specs = [reg(lambda d, lp: "nope", name="garbage")]
    with pytest.raises(RegularizerError, match=r"'garbage'.*'nope' \(str\)"):
        compute([], LP, base_sum, regularizers=specs)


def test_hung_regularizer_times_out_quickly() -> None:
    never = threading.Event()

    def hung(data: Any, lp: mg.Tensor) -> Any:
        never.wait()

    try:
        for parallel in (True, False):
            started = time.perf_counter()
            with pytest.raises(RegularizerTimeoutError, match="'hung'"):
                compute(
                    [],
                    LP,
                    base_sum,
                    regularizers=[reg(hung, name="hung")],
                    parallel=parallel,
                    timeout=0.2,
                )
            assert time.perf_counter() - started < 0.7
    finally:
        never.set()


# ------------------------------------------------------------ telemetry on failure


def test_exception_event_carries_the_real_exception(events: list[Any]) -> None:
    def bad(data: Any, lp: mg.Tensor) -> Any:
        raise RuntimeError("reg broke")

    with pytest.raises(RegularizerError) as info:
        compute([], LP, base_sum, regularizers=[reg(bad, name="bad")])
    assert [event for event, _, _ in events] == [
        telemetry.PIPELINE_START,
        telemetry.REGULARIZER_START,
        telemetry.REGULARIZER_EXCEPTION,
        telemetry.PIPELINE_EXCEPTION,
    ]
    assert events[-1][2] == {"reason": info.value}
    assert set(events[-1][1]) == {"duration"}

    events.clear()
    with pytest.raises(PipelineError) as base_info:
        compute([], LP, lambda d, lp: 1 / 0)
    assert [event for event, _, _ in events] == [
        telemetry.PIPELINE_START,
        telemetry.PIPELINE_EXCEPTION,
    ]
    assert events[-1][2]["reason"] is base_info.value


def test_tracking_flag_in_start_event(events: list[Any]) -> None:
    compute([], LP, base_sum, track_grad_norms=True)
    assert events[0][2] == {"regularizer_count": 0, "track_grad_norms": True}


# ------------------------------------------------------------ properties

TERMS: dict[str, Callable[[mg.Tensor], mg.Tensor]] = {
    "sum": lambda lp: lp.sum(),
    "squares": lambda lp: (lp * lp).sum(),
    "abs_mean": lambda lp: lp.abs().mean(),
    "neg_entropy": lambda lp: (mg.exp(lp) * lp).sum(),
    "logsumexp": lambda lp: lp.logsumexp(),
    "softmax_sq": lambda lp: (mg.softmax(lp) ** 2).sum(),
}

logprob_arrays = hnp.arrays(
    st.sampled_from([np.float64, np.float32]),
    hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
    elements=st.floats(-8.0, 0.0, allow_nan=False, width=32),
)
term_lists = st.lists(
    st.tuples(st.sampled_from(sorted(TERMS)), st.floats(0.0, 5.0, allow_nan=False)),
    max_size=4,
)


def build_specs(terms: list[tuple[str, float]]) -> list[RegularizerSpec]:
    def fn_for(name: str) -> Callable[..., Any]:
        return lambda data, lp: (TERMS[name](lp), {"term": name})

    return [reg(fn_for(name), weight, f"{name}_{i}") for i, (name, weight) in enumerate(terms)]


def base_fn_for(name: str) -> Callable[..., Any]:
    return lambda data, lp: (TERMS[name](lp), {"base": name})


@given(st.sampled_from(sorted(TERMS)), term_lists, logprob_arrays)
@example("sum", [("squares", 0.5)], np.array([1.0, 2.0, 3.0]))
def test_loss_total_is_base_plus_contributions(
    base: str, terms: list[tuple[str, float]], logprobs: np.ndarray
) -> None:
    out = compute([], logprobs, base_fn_for(base), regularizers=build_specs(terms))
    contributions = [r.contribution for r in out.regularizers.values()]
    assert out.loss_total == pytest.approx(out.base_loss["value"] + sum(contributions))
    for (_, weight), output in zip(terms, out.regularizers.values(), strict=True):
        assert output.contribution == pytest.approx(weight * output.value)


@given(st.sampled_from(sorted(TERMS)), term_lists, logprob_arrays, st.booleans())
def test_parallel_and_sequential_outputs_are_identical(
    base: str, terms: list[tuple[str, float]], logprobs: np.ndarray, track: bool
) -> None:
    specs = build_specs(terms)
    kwargs = {"regularizers": specs, "track_grad_norms": track}
    parallel = compute([], logprobs, base_fn_for(base), parallel=True, **kwargs)
    sequential = compute([], logprobs, base_fn_for(base), parallel=False, **kwargs)
    assert parallel.to_dict() == sequential.to_dict()


@given(st.sampled_from(sorted(TERMS)), term_lists, logprob_arrays)
@example("sum", [("squares", 0.5)], np.array([1.0, 2.0, 3.0]))
def test_single_pass_total_norm_equals_composite_gradient(
    base: str, terms: list[tuple[str, float]], logprobs: np.ndarray
) -> None:
    out = compute(
        [], logprobs, base_fn_for(base), regularizers=build_specs(terms), track_grad_norms=True
    )
    # From scratch: total(lp) = base + Σ w_i reg_i as one minigrad function, one backward.
    leaf = mg.Tensor(logprobs, requires_grad=True)
    total = TERMS[base](leaf)
    for name, weight in terms:
        total = total + weight * TERMS[name](leaf)
    total.backward()
    expected = np.linalg.norm(np.asarray(leaf.grad.data, dtype=np.float64))
    tolerance = 1e-9 if logprobs.dtype == np.float64 else 1e-5
    assert out.total_grad_norm == pytest.approx(expected, rel=tolerance, abs=tolerance)
    assert out.grad_alignment is not None
    assert all(-1.0 <= cosine <= 1.0 for cosine in out.grad_alignment.values())
