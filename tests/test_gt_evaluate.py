"""Tests for gradtrack.pipeline.evaluate: the gradients behind a pipeline run."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from gradtrack import custom_loss, pipeline, terms, tracker
from gradtrack.errors import PipelineError, RegularizerError
from gradtrack.regularizers import L2, Entropy
from gradtrack.types import Datum, ForwardBackwardOutput, ModelInput, RegularizerSpec, TensorData
from minigrad.engine import defvjp
from minigrad.tensor import record


def base_nll(data: Any, lp: mg.Tensor) -> Any:
    return -lp.mean(), {"nll": -lp.mean()}


def cube(data: Any, lp: mg.Tensor) -> Any:
    return (lp * lp * lp).sum() / 10.0, {}


def specs() -> list[RegularizerSpec]:
    return [
        RegularizerSpec(cube, weight=0.3, name="cube"),
        L2().spec(0.05),
        Entropy().spec(0.2),
    ]


def numerical(fn: Any, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (fn(up) - fn(down)) / (2 * eps)
    return grad


shapes = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5)
logprobs = shapes.flatmap(
    lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(-4.0, -0.05))
)


@given(logprobs, st.booleans())
def test_gradients_match_central_differences(lp: np.ndarray, track: bool) -> None:
    run = pipeline.evaluate([], lp, base_nll, regularizers=specs(), track_grad_norms=track)

    def total(x: np.ndarray) -> float:
        return pipeline.compute([], x, base_nll, regularizers=specs()).loss_total

    assert run.total_gradient.shape == lp.shape
    assert run.total_gradient.dtype == np.float64
    np.testing.assert_allclose(run.total_gradient, numerical(total, lp), rtol=1e-5, atol=1e-6)
    base = numerical(lambda x: pipeline.compute([], x, base_nll).loss_total, lp)
    np.testing.assert_allclose(run.base_gradient, base, rtol=1e-5, atol=1e-7)
    for spec in specs():
        alone = numerical(
            lambda x, spec=spec: (
                pipeline.compute(
                    [], x, lambda d, t: (0.0, {}), regularizers=[spec]
                ).regularizer_total
                / spec.weight
            ),
            lp,
        )
        np.testing.assert_allclose(run.gradients[spec.name], alone, rtol=1e-5, atol=1e-6)
    assert list(run.gradients) == [spec.name for spec in specs()]


@pytest.mark.parametrize("track", [False, True])
@pytest.mark.parametrize("parallel", [False, True])
def test_output_is_what_compute_returns(track: bool, parallel: bool) -> None:
    lp = np.array([[-1.0, -0.5, -2.0], [-0.25, -3.0, -1.5]])
    options = {"regularizers": specs(), "track_grad_norms": track, "parallel": parallel}
    run = pipeline.evaluate([], lp, base_nll, **options)
    assert run.output.to_dict() == pipeline.compute([], lp, base_nll, **options).to_dict()
    if track:
        assert run.output.total_grad_norm == pytest.approx(np.linalg.norm(run.total_gradient))


def test_float32_gradients_keep_their_dtype_and_the_total_is_float64() -> None:
    lp = np.array([-1.0, -0.5, -2.0], dtype=np.float32)
    run = pipeline.evaluate([], lp, base_nll, regularizers=specs())
    assert run.base_gradient.dtype == np.float32
    assert all(g.dtype == np.float32 for g in run.gradients.values())
    assert run.total_gradient.dtype == np.float64


def test_the_total_is_the_weighted_sum() -> None:
    lp = np.array([-1.0, -0.5, -2.0])
    run = pipeline.evaluate([], lp, base_nll, regularizers=specs())
    expected = run.base_gradient + sum(spec.weight * run.gradients[spec.name] for spec in specs())
    np.testing.assert_allclose(run.total_gradient, expected, rtol=1e-12)


def _no_derivative(x: mg.Tensor) -> mg.Tensor:
    """An identity primitive whose derivative rule fails: the value works, the gradient not."""
    return record("identity_without_derivative_in_evaluate", x.data, (x,))


def _failing_rule(g: mg.Tensor, ans: mg.Tensor, x: mg.Tensor) -> mg.Tensor:
    raise RuntimeError("no derivative for this op")


defvjp("identity_without_derivative_in_evaluate", _failing_rule)


def test_a_failed_regularizer_gradient_is_an_error_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = RegularizerSpec(lambda d, lp: (_no_derivative(lp).sum(), {}), 1.0, "broken")
    with (
        caplog.at_level(logging.WARNING, logger="gradtrack"),
        pytest.raises(RegularizerError, match=r"'broken'.*gradient") as info,
    ):
        pipeline.evaluate([], [-1.0, -2.0], base_nll, regularizers=[broken])
    assert info.value.name == "broken"
    assert info.value.__cause__ is not None
    # compute with tracking keeps the original's fallback: a warning and 0.0.
    out = pipeline.compute([], [-1.0, -2.0], base_nll, regularizers=[broken], track_grad_norms=True)
    assert out.regularizers["broken"].grad_norm == 0.0


def test_a_failed_base_gradient_is_a_pipeline_error() -> None:
    with pytest.raises(PipelineError, match="gradient of the base loss"):
        pipeline.evaluate([], [-1.0, -2.0], lambda d, lp: (_no_derivative(lp).sum(), {}))


def test_one_duplicate_check_for_every_entry_point() -> None:
    spec = L2().spec(1.0)
    message = r"Duplicate regularizer names: \['l2_weight_decay', 'l2_weight_decay'\]"
    with pytest.raises(ValueError, match=message):
        pipeline.compute([], [-1.0], base_nll, regularizers=[spec, spec, spec])
    with pytest.raises(ValueError, match=message):
        pipeline.evaluate([], [-1.0], base_nll, regularizers=[spec, spec, spec])

    class Client:
        def forward(self, data: Any, loss_fn: str) -> ForwardBackwardOutput:
            raise AssertionError("nothing may run before the check")

        forward_backward = forward

    datum = Datum(ModelInput.from_ints([1]), {"target_tokens": [2]})
    with pytest.raises(ValueError, match=message):
        custom_loss.forward_backward_custom(
            Client(), [datum], lambda d, lps: (lps[0].sum(), {}), regularizers=[spec] * 3
        )


def test_warning_helpers_live_in_terms(caplog: pytest.LogCaptureFixture) -> None:
    assert "warn_gradient_failed" not in tracker.__all__
    with caplog.at_level(logging.WARNING, logger="gradtrack"):
        terms.warn_gradient_failed("l1", ValueError("boom"))
        failed = terms.TermEvaluation(1.0, {}, None, ValueError("no grad"))
        assert terms.gradient_or_warn(failed, "l2") is None
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "Gradient computation failed for 'l1': boom",
        "Gradient computation failed for 'l2': no grad",
    ]


def test_custom_loss_sends_the_total_gradient_of_evaluate() -> None:
    sent: list[list[float]] = []
    per_datum = [np.array([-1.0, -2.0, -0.5]), np.array([-0.25])]

    class Client:
        def forward(self, data: Any, loss_fn: str) -> ForwardBackwardOutput:
            entries = [{"logprobs": TensorData.from_numpy(lp)} for lp in per_datum]
            return ForwardBackwardOutput(loss_fn, entries, {})

        def forward_backward(self, data: Any, loss_fn: str) -> ForwardBackwardOutput:
            sent.extend(d.loss_fn_inputs["weights"].data for d in data)
            return ForwardBackwardOutput(loss_fn, [], {"loss": 0.0})

    def loss_fn(data: Any, lps: list[mg.Tensor]) -> Any:
        return -(lps[0].sum() * 2.0 + lps[1].sum()), {}

    data = [
        Datum(ModelInput.from_ints([1, 2, 3]), {"target_tokens": [2, 3, 4]}),
        Datum(ModelInput.from_ints([5]), {"target_tokens": [6]}),
    ]
    out = custom_loss.forward_backward_custom(Client(), data, loss_fn, regularizers=specs())
    joined = np.concatenate(per_datum)

    def joined_loss(data: Any, lp: mg.Tensor) -> Any:
        return -(lp[:3].sum() * 2.0 + lp[3:].sum()), {}

    run = pipeline.evaluate(data, joined, joined_loss, regularizers=specs())
    np.testing.assert_allclose(np.concatenate(sent), -run.total_gradient, rtol=1e-12)
    assert out.custom_loss is not None
    assert out.custom_loss.loss_total == pytest.approx(run.output.loss_total)
