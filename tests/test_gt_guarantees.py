"""gradtrack's errors and guarantees (docs/errors.md): no fake number, every bad input named.

Each test is one promise: a number that would look real but is not is marked
or refused, and a bad argument is refused, naming itself, before anything runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from gradtrack import penalties, telemetry
from gradtrack.custom_loss import forward_backward_custom
from gradtrack.demo.table import NO_GRADIENT_MARK, format_table, summarize_terms
from gradtrack.errors import NonFiniteError
from gradtrack.executor import execute_all, execute_one, run_regularizers
from gradtrack.pipeline import compute
from gradtrack.regularizers import KLDivergence
from gradtrack.tracker import (
    compute_grad_norm,
    grad_conflicts,
    grad_norm_for_regularizer,
    total_grad_norm,
)
from gradtrack.types import Datum, ForwardBackwardOutput, ModelInput, RegularizerSpec, TensorData

LP = [-1.0, -2.0, -0.5]
_names = itertools.count()


def unique(prefix: str) -> str:
    """A regularizer name no other test uses: the no-gradient warning is once per name."""
    return f"{prefix}-{next(_names)}"


def base(data: Any, lp: mg.Tensor) -> Any:
    return -lp.sum(), {}


def l2(weight: float = 0.5, name: str = "l2") -> RegularizerSpec:
    return RegularizerSpec(lambda data, lp: ((lp * lp).sum(), {}), weight, name)


def numpy_l2(name: str) -> RegularizerSpec:
    """The right value, computed where autodiff cannot see it."""
    return RegularizerSpec(lambda data, lp: (float(np.sum(lp.data**2)), {}), 0.5, name)


def strict_loads(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, as every non-Python parser does."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def warnings_naming(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and repr(name) in r.getMessage()
    ]


# ------------------------------------------------------- numbers that look real


def test_numpy_regularizer_is_marked_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    name = unique("numpy-l2")
    caplog.set_level(logging.WARNING, logger="gradtrack")
    specs = [l2(), numpy_l2(name)]
    first = compute([], LP, base, regularizers=specs, track_grad_norms=True)
    second = compute([], LP, base, regularizers=specs, track_grad_norms=True)

    term = first.regularizers[name]
    assert term.value == pytest.approx(sum(x * x for x in LP))  # the value is right...
    assert term.grad_norm is None and term.grad_norm_weighted is None  # ...no fake 0.0
    assert term.grad_status == "no_gradient"
    assert first.regularizers["l2"].grad_status == "ok"
    row = strict_loads(first.to_json())["regularizers"][name]
    assert row["grad_status"] == "no_gradient" and "grad_norm" not in row
    # It adds nothing to the total: the total is base + l2 alone.
    expected = np.linalg.norm(-1 + 0.5 * 2 * np.array(LP))
    assert first.total_grad_norm == pytest.approx(expected)
    assert first.grad_alignment is not None and first.grad_alignment[name] is None
    assert second.regularizers[name].grad_status == "no_gradient"
    messages = warnings_naming(caplog, name)
    assert len(messages) == 1  # once per name, not once per step
    assert "not connected" in messages[0] and "NumPy" in messages[0]


def test_connected_zero_gradient_is_still_a_real_zero(caplog: pytest.LogCaptureFixture) -> None:
    name = unique("zero")
    caplog.set_level(logging.WARNING, logger="gradtrack")
    zero = RegularizerSpec(lambda data, lp: ((lp * 0.0).sum(), {}), 1.0, name)
    out = execute_one(zero, [], LP, track_grad_norms=True)
    assert out.grad_norm == 0.0 and out.grad_status == "ok"
    assert warnings_naming(caplog, name) == []


def test_numpy_regularizer_in_the_tracker_and_custom_loss_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gradtrack")
    name = unique("tracked")
    assert grad_norm_for_regularizer(numpy_l2(name), [], LP) == 0.0
    assert len(warnings_naming(caplog, name)) == 1

    name = unique("custom")
    out = forward_backward_custom(
        FixedClient([-1.0, -2.0]),
        [datum(2)],
        lambda data, lps: (-lps[0].sum(), {}),
        regularizers=[numpy_l2(name)],
        track_grad_norms=True,
    )
    assert out.custom_loss is not None
    assert out.custom_loss.regularizers[name].grad_status == "no_gradient"
    assert len(warnings_naming(caplog, name)) == 1


def test_the_demo_table_marks_a_term_without_gradient() -> None:
    name = unique("table")
    out = compute([], LP, base, regularizers=[l2(), numpy_l2(name)], track_grad_norms=True)
    summary = summarize_terms([out.to_dict()])
    [row] = [line for line in format_table(summary).splitlines() if line.startswith(name)]
    assert NO_GRADIENT_MARK in row
    assert "0.000" not in row.split()[4:5]  # the grad norm column is the mark, not a number


def test_non_finite_total_has_no_alignment_and_json_stays_strict() -> None:
    # d sqrt(|x|)/dx is infinite at 0: the total gradient is not finite.
    steep = RegularizerSpec(lambda data, lp: (mg.sqrt(mg.abs(lp)).sum(), {}), 1.0, "steep")
    out = compute([], [0.0, -1.0], base, regularizers=[l2(), steep], track_grad_norms=True)
    assert not math.isfinite(out.total_grad_norm or 0.0)
    assert out.grad_alignment == {"base": None, "l2": None, "steep": None}
    assert all(term.grad_alignment is None for term in out.regularizers.values())
    parsed = strict_loads(out.to_json())
    assert parsed["total_grad_norm"] is None
    assert parsed["regularizers"]["steep"]["grad_norm"] is None


def test_non_finite_values_are_null_in_json() -> None:
    huge = RegularizerSpec(lambda data, lp: (mg.Tensor(math.inf), {"m": math.nan}), 1.0, "huge")
    out = compute([], LP, base, regularizers=[huge])
    parsed = strict_loads(out.to_json())
    assert parsed["loss_total"] is None
    assert parsed["regularizers"]["huge"]["value"] is None
    assert parsed["regularizers"]["huge"]["custom"] == {"m": None}
    assert out.loss_total == math.inf  # the object itself keeps the real float


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: KLDivergence(reference_logprobs=[0.0, math.inf]), "reference_logprobs"),
        (lambda: KLDivergence(reference_logprobs=[math.nan, 0.0]), "reference_logprobs"),
    ],
)
def test_kl_refuses_a_bad_fixed_reference_at_construction(
    make: Callable[[], Any], field: str
) -> None:
    with pytest.raises(ValueError, match=f"KLDivergence: {field} has 1 NaN or \\+inf"):
        make()


def test_kl_refuses_bad_references_from_a_field_or_a_function() -> None:
    lp = np.log([0.5, 0.5])
    data = [Datum(ModelInput.from_ints([1, 2]), {"ref": np.array([0.0, math.inf])})]
    with pytest.raises(ValueError, match="KLDivergence: reference_field 'ref' has 1 NaN"):
        KLDivergence(reference_field="ref")(data, lp)
    computed = KLDivergence(compute_reference=lambda data: np.array([math.nan, 0.0]))
    with pytest.raises(ValueError, match="KLDivergence: compute_reference has 1 NaN"):
        computed([], lp)
    with pytest.raises(ValueError, match="kl_divergence: q has 1 NaN"):
        penalties.kl_divergence(lp, [0.0, math.inf])
    # -inf is a zero probability, not an error; the KL stays >= 0.
    assert KLDivergence(reference_logprobs=[0.0, -math.inf])(None, lp)[0].item() >= 0


# ---------------------------------------------- every entry point checks logprobs


def entry_points(spec: RegularizerSpec) -> dict[str, Callable[[Any], Any]]:
    return {
        "compute": lambda lp: compute([], lp, base, regularizers=[spec]),
        "execute_one": lambda lp: execute_one(spec, [], lp),
        "execute_all": lambda lp: execute_all([spec], [], lp),
        "execute_all sequential": lambda lp: execute_all([spec], [], lp, parallel=False),
        "run_regularizers": lambda lp: run_regularizers([spec], [], lp),
        "compute_grad_norm": lambda lp: compute_grad_norm(lambda x: spec.fn([], x)[0], lp),
        "grad_norm_for_regularizer": lambda lp: grad_norm_for_regularizer(spec, [], lp),
        "total_grad_norm": lambda lp: total_grad_norm(base, [spec], [], lp),
        "grad_conflicts": lambda lp: grad_conflicts(base, [spec], [], lp),
    }


@pytest.mark.parametrize("entry", list(entry_points(l2())))
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_every_entry_point_refuses_nan_and_inf_logprobs_before_running(
    entry: str, bad: float
) -> None:
    calls = []

    def counted(data: Any, lp: mg.Tensor) -> Any:
        calls.append(1)
        return (lp * lp).sum(), {}

    run = entry_points(RegularizerSpec(counted, 1.0, "counted"))[entry]
    with pytest.raises(ValueError, match="logprobs has 1 NaN or \\+inf values"):
        run([-1.0, bad])
    assert calls == []
    run([-1.0, -math.inf, -2.0])  # -inf is a legal logprob
    assert calls


# --------------------------------------------------------------- timeouts


def async_l2(data: Any, lp: mg.Tensor) -> Any:
    async def later() -> Any:
        await asyncio.sleep(0)
        return (lp * lp).sum(), {}

    return later()


def future_l2(data: Any, lp: mg.Tensor) -> Any:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_result(((lp * lp).sum(), {}))
    return future


@pytest.mark.parametrize("fn", [lambda d, lp: ((lp * lp).sum(), {}), async_l2, future_l2])
@pytest.mark.parametrize("parallel", [True, False])
def test_huge_finite_timeouts_work(fn: Callable[..., Any], parallel: bool) -> None:
    spec = RegularizerSpec(fn, 1.0, "l2")
    out = compute([], LP, base, regularizers=[spec], timeout=1e10, parallel=parallel)
    assert out.regularizers["l2"].value == pytest.approx(5.25)
    assert execute_one(spec, [], LP, timeout=1e300).value == pytest.approx(5.25)


# ----------------------------------------------------------- booleans are booleans


@pytest.mark.parametrize("value", ["no", "yes", 0, 1, None])
@pytest.mark.parametrize(
    ("argument", "call"),
    [
        ("parallel", lambda flag, spec: compute([], LP, base, regularizers=[spec], parallel=flag)),
        (
            "track_grad_norms",
            lambda flag, spec: compute([], LP, base, regularizers=[spec], track_grad_norms=flag),
        ),
        ("parallel", lambda flag, spec: execute_all([spec], [], LP, parallel=flag)),
        ("track_grad_norms", lambda flag, spec: execute_all([spec], [], LP, track_grad_norms=flag)),
        ("track_grad_norms", lambda flag, spec: execute_one(spec, [], LP, track_grad_norms=flag)),
        (
            "parallel",
            lambda flag, spec: forward_backward_custom(
                FixedClient([-1.0]), [datum(1)], base_list, regularizers=[spec], parallel=flag
            ),
        ),
        (
            "track_grad_norms",
            lambda flag, spec: forward_backward_custom(
                FixedClient([-1.0]), [datum(1)], base_list, track_grad_norms=flag
            ),
        ),
    ],
)
def test_flags_must_be_booleans(argument: str, call: Callable[..., Any], value: Any) -> None:
    calls = []

    def counted(data: Any, lp: mg.Tensor) -> Any:
        calls.append(1)
        return lp.sum(), {}

    with pytest.raises(TypeError, match=f"{argument} must be True or False, got {value!r}"):
        call(value, RegularizerSpec(counted, 1.0, "counted"))
    assert calls == []


@pytest.mark.parametrize("flag", ["sequential", "track", "plot", "quiet"])
def test_demo_config_flags_must_be_booleans(flag: str) -> None:
    from gradtrack.demo.run import DemoConfig

    with pytest.raises(TypeError, match=f"DemoConfig {flag} must be True or False, got 'no'"):
        DemoConfig(**{flag: "no"})


def test_numpy_booleans_are_booleans() -> None:
    out = compute([], LP, base, regularizers=[l2()], parallel=np.bool_(False))
    assert out.regularizers["l2"].value == pytest.approx(5.25)


# ---------------------------------------------------------------- telemetry


def test_attach_logger_accepts_level_names(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gradtrack.telemetry")
    handler_id = telemetry.attach_logger(level="INFO")
    try:
        compute([], LP, base, regularizers=[l2()])
    finally:
        assert telemetry.detach(handler_id)  # still attached: it did not fail on an event
    lines = [r.getMessage() for r in caplog.records if r.name == "gradtrack.telemetry"]
    assert any(line.startswith("pipeline finished") for line in lines)


@pytest.mark.parametrize(
    ("level", "error"), [("LOUD", ValueError), ("info", ValueError), (None, TypeError)]
)
def test_attach_logger_refuses_other_levels_at_attach_time(level: Any, error: type) -> None:
    before = dict(telemetry._attachments)
    with pytest.raises(error, match="level"):
        telemetry.attach_logger(level=level)
    assert telemetry._attachments == before


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("event", [telemetry.REGULARIZER_START, telemetry.REGULARIZER_STOP])
def test_ctrl_c_in_a_handler_reaches_the_caller_in_sequential_mode(
    stop: type[BaseException], event: telemetry.Event
) -> None:
    def handler(*args: Any) -> None:
        raise stop()

    telemetry.attach("stop-handler", event, handler)
    try:
        with pytest.raises(stop):
            compute([], LP, base, regularizers=[l2(), l2(name="b")], parallel=False)
    finally:
        telemetry.detach("stop-handler")
    # The next run works, in both modes, and no thread was left dead or hanging.
    for parallel in (False, True):
        out = compute([], LP, base, regularizers=[l2(), l2(name="b")], parallel=parallel)
        assert out.regularizer_total == pytest.approx(2 * 0.5 * 5.25)
    assert all(t.is_alive() for t in threading.enumerate())


# ------------------------------------------------------------------ custom loss


class FixedClient:
    """A client whose forward returns the same logprobs for every datum."""

    def __init__(self, logprobs: list[float]) -> None:
        self.logprobs = logprobs
        self.forwards = 0

    def forward(self, data: Any, loss_fn: str) -> ForwardBackwardOutput:
        self.forwards += 1
        entries = [{"logprobs": TensorData(self.logprobs, "float32")} for _ in data]
        return ForwardBackwardOutput(loss_fn, entries, {})

    def forward_backward(self, data: Any, loss_fn: str) -> ForwardBackwardOutput:
        return ForwardBackwardOutput(loss_fn, [], {"loss": 0.0})


def datum(tokens: int) -> Datum:
    return Datum(ModelInput.from_ints(list(range(tokens))), {"target_tokens": list(range(tokens))})


def base_list(data: Any, logprobs: list[mg.Tensor]) -> Any:
    return -sum(lp.sum() for lp in logprobs), {}


def test_custom_loss_names_a_datum_without_tokens() -> None:
    client = FixedClient([-1.0, -2.0])
    with pytest.raises(ValueError, match=r"data\[1\] has no tokens"):
        forward_backward_custom(client, [datum(2), datum(0)], base_list)
    assert client.forwards == 0  # found before any request


def test_custom_loss_checks_options_before_any_request() -> None:
    client = FixedClient([-1.0])
    with pytest.raises(ValueError, match="timeout must be a positive finite number"):
        forward_backward_custom(client, [datum(1)], base_list, regularizers=[l2()], timeout=-1)
    assert client.forwards == 0


def test_custom_loss_names_the_term_whose_gradient_is_not_finite() -> None:
    huge = l2(weight=1e308, name="huge")
    with pytest.raises(NonFiniteError, match="regularizer 'huge'") as caught:
        forward_backward_custom(
            FixedClient([-10.0, -20.0]), [datum(2)], base_list, regularizers=[huge]
        )
    assert caught.value.term == "huge" and caught.value.datum == 0
    assert caught.value.output is not None
