"""Tests for gradtrack.executor: dispatch, async, timeouts, ordering, telemetry.

Vectors 23–33 of the Tinkex spec are ported here, with the original's error
tuples replaced by the exception contract.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from gradtrack import telemetry
from gradtrack.errors import RegularizerError, RegularizerTimeoutError
from gradtrack.executor import execute_all, execute_one, run_regularizers
from gradtrack.types import RegularizerSpec
from minigrad.engine import defvjp
from minigrad.tensor import record

LP = [1.0, 2.0, 3.0]
SHORT = 0.3  # seconds: the timeout used for regularizers that never finish


def sum_reg(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
    return lp.sum(), {"sum": True}


def spec(fn: Any = sum_reg, weight: float = 0.1, name: str = "sum", **kwargs: Any):
    return RegularizerSpec(fn, weight=weight, name=name, **kwargs)


def raising(data: Any, lp: mg.Tensor) -> Any:
    raise RuntimeError("boom")


@pytest.fixture
def never() -> Iterator[threading.Event]:
    """An event no regularizer sees set during the test; set afterwards to free the threads."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def events() -> Iterator[list[tuple[Any, dict[str, Any], dict[str, Any]]]]:
    seen: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []

    def handler(event: Any, measurements: Any, metadata: Any, config: Any) -> None:
        seen.append((event, dict(measurements), dict(metadata)))

    telemetry.attach("test-gt-executor", telemetry.EVENTS, handler)
    try:
        yield seen
    finally:
        telemetry.detach("test-gt-executor")


# ------------------------------------------------------------ ported vectors


def test_empty_list_returns_empty_without_events(events: list[Any]) -> None:  # 23
    assert execute_all([], [], LP) == []
    assert events == []


def test_sequential_sum_regularizer() -> None:  # 24
    [out] = execute_all([spec()], [], LP, parallel=False)
    assert out.value == 6.0
    assert out.weight == 0.1
    assert out.contribution == pytest.approx(0.6, abs=1e-3)
    assert out.custom == {"sum": True}


def test_sequential_outputs_in_spec_order() -> None:  # 25
    outs = execute_all([spec(name="reg_a"), spec(name="reg_b")], [], LP, parallel=False)
    assert [out.name for out in outs] == ["reg_a", "reg_b"]


@pytest.mark.parametrize("parallel", [True, False])
def test_grad_norm_tracked_or_none(parallel: bool) -> None:  # 26
    [on] = execute_all([spec()], [], LP, parallel=parallel, track_grad_norms=True)
    [off] = execute_all([spec()], [], LP, parallel=parallel)
    assert on.grad_norm == pytest.approx(math.sqrt(3))
    assert on.grad_norm_weighted == pytest.approx(0.1 * math.sqrt(3))
    assert off.grad_norm is None


def test_coroutine_regularizer_is_awaited() -> None:  # 27
    async def remote(data: Any, lp: mg.Tensor) -> tuple[float, dict[str, Any]]:
        await asyncio.sleep(0)
        return 42.0, {"async": True}

    [out] = execute_all([spec(remote, 0.5, "remote")], [], LP, timeout=5.0)
    assert out.value == 42.0
    assert out.custom == {"async": True}
    assert out.contribution == 21.0


def test_is_async_future_is_awaited() -> None:  # 27, with a concurrent.futures.Future
    def remote(data: Any, lp: mg.Tensor) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        threading.Thread(target=lambda: future.set_result((42.0, {"async": True}))).start()
        return future

    [out] = execute_all([spec(remote, 0.5, "remote", is_async=True)], [], LP, parallel=False)
    assert (out.value, out.contribution, out.custom) == (42.0, 21.0, {"async": True})


def test_execute_one_mean() -> None:  # 28
    mean = spec(lambda data, lp: (lp.mean(), {"mean": True}), 0.5, "mean")
    out = execute_one(mean, [], [2.0, 4.0, 6.0])
    assert (out.value, out.contribution, out.custom) == (4.0, 2.0, {"mean": True})


def test_execute_one_raising_names_regularizer() -> None:  # 29
    with pytest.raises(RegularizerError, match="error_reg") as info:
        execute_one(spec(raising, name="error_reg"), [], LP)
    assert info.value.name == "error_reg"
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "boom" in str(info.value)


def test_sequential_and_parallel_failures_name_regularizer() -> None:  # 30
    specs = [spec(name="ok_reg"), spec(raising, name="bad_reg")]
    with pytest.raises(RegularizerError) as info:
        execute_all(specs, [], LP, parallel=False)
    assert info.value.name == "bad_reg"
    with pytest.raises(RegularizerError) as info:
        execute_all([spec(raising, name="bad_parallel_reg")], [], LP)
    assert info.value.name == "bad_parallel_reg"


@pytest.mark.parametrize("parallel", [True, False])
def test_blocked_regularizer_times_out_naming_it(never: threading.Event, parallel: bool) -> None:
    # 31: the original returns a bare :timeout, and only in parallel mode.
    def blocked(data: Any, lp: mg.Tensor) -> Any:
        never.wait()
        return lp.sum(), {}

    started = time.perf_counter()
    with pytest.raises(RegularizerTimeoutError, match="'blocked'") as info:
        execute_all([spec(blocked, name="blocked")], [], LP, parallel=parallel, timeout=SHORT)
    elapsed = time.perf_counter() - started
    assert info.value.name == "blocked"
    assert isinstance(info.value, TimeoutError)
    assert SHORT <= elapsed < SHORT + 0.5


def test_two_and_three_argument_functions() -> None:  # 32
    def scaled(data: Any, lp: mg.Tensor, opts: dict[str, Any]) -> Any:
        return lp.sum() * opts["multiplier"], {}

    two, three = execute_all(
        [spec(name="two"), spec(scaled, 1.0, "three", opts={"multiplier": 2.0})], [], LP
    )
    assert (two.value, two.custom) == (6.0, {"sum": True})
    assert three.value == 12.0


def test_objects_with_compute() -> None:  # 33
    class L1:
        def name(self) -> str:
            return "l1"

        def compute(self, data: Any, lp: mg.Tensor, opts: dict[str, Any]) -> Any:
            loss = lp.abs().sum()
            return loss, {"l1_value": loss.item()}

    class Mean:  # no name(): the spec carries it
        def compute(self, data: Any, lp: mg.Tensor, opts: dict[str, Any]) -> Any:
            return lp.mean(), {}

    l1, mean = execute_all([spec(L1(), 1.0, "l1"), spec(Mean(), 1.0, "mean")], [], LP)
    assert execute_one(spec(L1(), 1.0, "l1"), [], [-1.0, 2.0, -3.0]).custom == {"l1_value": 6.0}
    assert (l1.value, mean.value, mean.custom) == (6.0, 2.0, {})


def test_compute_receives_spec_opts() -> None:
    class Scaled:
        def compute(self, data: Any, lp: mg.Tensor, opts: dict[str, Any]) -> Any:
            return lp.sum() * opts.get("scale", 1.0), {"opts": dict(opts)}

    out = execute_one(spec(Scaled(), 1.0, "scaled", opts={"scale": 3.0}), [], LP)
    assert (out.value, out.custom) == (18.0, {"opts": {"scale": 3.0}})
    assert execute_one(spec(Scaled(), 1.0, "plain"), [], LP).custom == {"opts": {}}


# ------------------------------------------------------------ bad results


@pytest.mark.parametrize(
    ("fn", "words"),
    [
        (lambda data, lp: lp.sum(), "expected a (loss, metrics) pair"),
        (lambda data, lp: None, "None"),
        (lambda data, lp: (lp.sum(), {}, 1), "expected a (loss, metrics) pair"),
        (lambda data, lp: ("0.5", {}), "'0.5' (str) as its loss"),
        (lambda data, lp: (None, {}), "None (NoneType) as its loss"),
        (lambda data, lp: (True, {}), "True (bool) as its loss"),
        (lambda data, lp: (lp, {}), "loss of shape (3,)"),
    ],
)
@pytest.mark.parametrize("track", [False, True])
def test_bad_results_name_regularizer(fn: Any, words: str, track: bool) -> None:
    with pytest.raises(RegularizerError, match="'odd'") as info:
        execute_all([spec(fn, name="odd")], [], LP, track_grad_norms=track)
    assert words in str(info.value)
    assert not isinstance(info.value, RegularizerTimeoutError)


@pytest.mark.parametrize(
    "loss", [2.5, 3, np.float32(2.5), np.float64(2.5), np.array(2.5), np.array([2.5])]
)
def test_numeric_losses_are_accepted(loss: Any) -> None:
    out = execute_one(spec(lambda data, lp: (loss, None), 1.0, "const"), [], LP)
    assert out.value == float(np.asarray(loss).item())
    assert out.custom == {}


def test_constant_loss_is_marked_as_having_no_gradient() -> None:
    # Autodiff cannot tell a constant from a loss computed with NumPy: both are unknown,
    # so neither is reported as a measured 0.0.
    out = execute_one(spec(lambda d, lp: (1.0, {}), 1.0, "c"), [], LP, track_grad_norms=True)
    assert out.grad_norm is None and out.grad_status == "no_gradient"


# ------------------------------------------------------------ gradients


def test_tracking_evaluates_each_regularizer_once() -> None:
    calls: list[str] = []

    def counted(name: str) -> Any:
        def fn(data: Any, lp: mg.Tensor) -> Any:
            calls.append(name)
            return (lp * lp).sum(), {}

        return fn

    specs = [spec(counted("a"), 1.0, "a"), spec(counted("b"), 1.0, "b")]
    outs = execute_all(specs, [], LP, track_grad_norms=True)
    assert sorted(calls) == ["a", "b"]
    assert outs[0].grad_norm == pytest.approx(math.sqrt(4 + 16 + 36))


def test_regularizer_receives_tensor_requiring_grad_only_when_tracking() -> None:
    seen: list[tuple[bool, Any]] = []

    def probe(data: Any, lp: mg.Tensor) -> Any:
        seen.append((lp.requires_grad, lp.dtype))
        return lp.sum(), {}

    execute_one(spec(probe, 1.0, "probe"), [], np.array(LP, dtype=np.float32))
    execute_one(spec(probe, 1.0, "probe"), [], LP, track_grad_norms=True)
    assert seen == [(False, np.float32), (True, np.float64)]


def test_async_regularizer_gets_its_true_gradient() -> None:
    async def squares(data: Any, lp: mg.Tensor) -> Any:
        await asyncio.sleep(0)
        return (lp * lp).sum(), {}

    out = execute_one(spec(squares, 1.0, "squares"), [], LP, track_grad_norms=True)
    assert out.grad_norm == pytest.approx(math.sqrt(56))


def without_derivative(x: mg.Tensor) -> mg.Tensor:
    """An identity primitive whose derivative rule fails: the value works, the gradient not."""
    return record("identity_without_derivative", x.data, (x,))


def _no_derivative(g: mg.Tensor, ans: mg.Tensor, x: mg.Tensor) -> mg.Tensor:
    raise RuntimeError("no derivative for this op")


defvjp("identity_without_derivative", _no_derivative)


def test_gradient_failure_gives_zero_and_warning(caplog: pytest.LogCaptureFixture) -> None:
    broken = spec(lambda data, lp: (without_derivative(lp).sum(), {}), 1.0, "broken")
    with caplog.at_level(logging.WARNING, logger="gradtrack"):
        out = execute_one(broken, [], LP, track_grad_norms=True)
    assert (out.value, out.grad_norm, out.grad_norm_weighted) == (6.0, 0.0, 0.0)
    [record] = [r for r in caplog.records if r.name == "gradtrack"]
    assert record.levelno == logging.WARNING
    assert "'broken'" in record.getMessage()
    assert "no derivative for this op" in record.getMessage()


def test_run_regularizers_keeps_gradients() -> None:
    l2 = spec(lambda data, lp: ((lp * lp).sum(), {}), 0.5, "l2")
    [result] = run_regularizers([l2], [], LP, track_grad_norms=True)
    np.testing.assert_allclose(result.grad, [2.0, 4.0, 6.0])
    assert result.grad.dtype == np.float64
    [untracked] = run_regularizers([l2], [], LP)
    assert untracked.grad is None


# ------------------------------------------------------------ ordering and concurrency


def test_results_in_spec_order_whatever_the_finish_order() -> None:
    def slow(data: Any, lp: mg.Tensor) -> Any:
        time.sleep(0.05)
        return lp.sum(), {}

    specs = [spec(slow, 1.0, "slow"), spec(name="fast")]
    assert [out.name for out in execute_all(specs, [], LP, max_concurrency=2)] == ["slow", "fast"]


def test_parallel_runs_regularizers_at_the_same_time() -> None:
    barrier = threading.Barrier(2, timeout=2.0)

    def meet(data: Any, lp: mg.Tensor) -> Any:
        barrier.wait()  # only passes if both regularizers are running at once
        return lp.sum(), {}

    outs = execute_all([spec(meet, 1.0, "a"), spec(meet, 1.0, "b")], [], LP, max_concurrency=2)
    assert [out.value for out in outs] == [6.0, 6.0]


def test_parallel_raises_first_failure_in_spec_order() -> None:
    def late_failure(data: Any, lp: mg.Tensor) -> Any:
        time.sleep(0.05)
        raise ValueError("late")

    ran: list[str] = []

    def ok(data: Any, lp: mg.Tensor) -> Any:
        ran.append("ok")
        return lp.sum(), {}

    specs = [spec(ok, 1.0, "ok"), spec(late_failure, 1.0, "late"), spec(raising, 1.0, "early")]
    with pytest.raises(RegularizerError) as info:
        execute_all(specs, [], LP, max_concurrency=3)
    assert info.value.name == "late"
    assert ran == ["ok"]


def test_sequential_stops_at_first_failure() -> None:
    ran: list[str] = []

    def later(data: Any, lp: mg.Tensor) -> Any:
        ran.append("later")
        return lp.sum(), {}

    with pytest.raises(RegularizerError, match="'bad'"):
        execute_all([spec(raising, 1.0, "bad"), spec(later, 1.0, "later")], [], LP, parallel=False)
    assert ran == []


def test_timed_out_worker_frees_its_slot(never: threading.Event) -> None:
    def hung(data: Any, lp: mg.Tensor) -> Any:
        never.wait()
        return lp.sum(), {}

    ran: list[str] = []

    def after(data: Any, lp: mg.Tensor) -> Any:
        ran.append("after")
        return lp.sum(), {}

    started = time.perf_counter()
    with pytest.raises(RegularizerTimeoutError, match="'hung'"):
        execute_all(
            [spec(hung, 1.0, "hung"), spec(after, 1.0, "after")],
            [],
            LP,
            timeout=SHORT,
            max_concurrency=1,
        )
    assert ran == ["after"]
    assert time.perf_counter() - started < SHORT + 0.5


@pytest.mark.parametrize("parallel", [True, False])
def test_async_regularizers_time_out(parallel: bool) -> None:
    async def sleeper(data: Any, lp: mg.Tensor) -> Any:
        await asyncio.sleep(60)
        return lp.sum(), {}

    def pending(data: Any, lp: mg.Tensor) -> concurrent.futures.Future[Any]:
        return concurrent.futures.Future()  # never resolved

    for fn, is_async in ((sleeper, False), (pending, True)):
        started = time.perf_counter()
        with pytest.raises(RegularizerTimeoutError, match="'remote'"):
            execute_all(
                [spec(fn, 1.0, "remote", is_async=is_async)],
                [],
                LP,
                parallel=parallel,
                timeout=SHORT,
            )
        assert time.perf_counter() - started < SHORT + 0.5


def test_execute_one_times_out(never: threading.Event) -> None:
    def hung(data: Any, lp: mg.Tensor) -> Any:
        never.wait()
        return lp.sum(), {}

    with pytest.raises(RegularizerTimeoutError, match="'hung'"):
        execute_one(spec(hung, 1.0, "hung"), [], LP, timeout=SHORT)


# ------------------------------------------------------------ invalid arguments


@pytest.mark.parametrize("timeout", [0, -1.0, math.inf, math.nan, "1", True, None])
def test_invalid_timeout(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        execute_all([spec()], [], LP, timeout=timeout)
    with pytest.raises(ValueError, match="timeout"):
        execute_one(spec(), [], LP, timeout=timeout)


@pytest.mark.parametrize("max_concurrency", [0, -2, 1.5, True, "4"])
def test_invalid_max_concurrency(max_concurrency: Any) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        execute_all([spec()], [], LP, max_concurrency=max_concurrency)


def test_non_spec_is_a_type_error_naming_its_index(events: list[Any]) -> None:
    with pytest.raises(TypeError, match=r"regularizers\[1\].*dict"):
        execute_all([spec(), {"fn": sum_reg, "weight": 1.0, "name": "x"}], [], LP)
    with pytest.raises(TypeError, match="RegularizerSpec"):
        execute_one({"fn": sum_reg}, [], LP)  # type: ignore[arg-type]
    assert events == []


# ------------------------------------------------------------ telemetry


def _names(events: list[Any]) -> list[tuple[str, str]]:
    return [(event[2], metadata["regularizer_name"]) for event, _, metadata in events]


def test_parallel_telemetry_starts_all_first(events: list[Any]) -> None:
    execute_all([spec(name="a"), spec(name="b")], [], LP, track_grad_norms=True)
    assert _names(events)[:2] == [("start", "a"), ("start", "b")]
    assert sorted(_names(events)[2:]) == [("stop", "a"), ("stop", "b")]
    for event, measurements, metadata in events:
        assert set(metadata) == {"regularizer_name", "weight", "is_async"}
        if event == telemetry.REGULARIZER_START:
            assert set(measurements) == {"system_time"}
        else:
            assert set(measurements) == {"duration", "value", "contribution", "grad_norm"}
            assert measurements["value"] == 6.0
            assert measurements["contribution"] == pytest.approx(0.6)
            assert measurements["grad_norm"] == pytest.approx(math.sqrt(3))
            assert measurements["duration"] >= 0.0


def test_sequential_telemetry_interleaves(events: list[Any]) -> None:
    execute_all([spec(name="a"), spec(name="b")], [], LP, parallel=False)
    assert _names(events) == [("start", "a"), ("stop", "a"), ("start", "b"), ("stop", "b")]
    assert events[1][1]["grad_norm"] is None


def test_exception_telemetry_carries_reason(events: list[Any]) -> None:
    with pytest.raises(RegularizerError) as info:
        execute_one(spec(raising, 0.5, "bad"), [], LP)
    assert _names(events) == [("start", "bad"), ("exception", "bad")]
    _, measurements, metadata = events[1]
    assert set(measurements) == {"duration"}
    assert metadata == {"regularizer_name": "bad", "weight": 0.5, "reason": info.value}


def test_async_flag_in_telemetry(events: list[Any]) -> None:
    async def remote(data: Any, lp: mg.Tensor) -> Any:
        return 1.0, {}

    execute_one(spec(remote, 1.0, "remote"), [], LP)
    assert [metadata["is_async"] for _, _, metadata in events] == [True, True]


def test_timeout_telemetry(events: list[Any], never: threading.Event) -> None:
    def hung(data: Any, lp: mg.Tensor) -> Any:
        never.wait()

    with pytest.raises(RegularizerTimeoutError):
        execute_all([spec(hung, 1.0, "hung")], [], LP, timeout=SHORT)
    assert _names(events) == [("start", "hung"), ("exception", "hung")]
    assert isinstance(events[1][2]["reason"], RegularizerTimeoutError)
    assert events[1][1]["duration"] >= SHORT
