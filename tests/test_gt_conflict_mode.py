"""conflict="pcgrad" through every entry point, against a direct NumPy rendering of PCGrad."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from gradtrack import pipeline
from gradtrack.conflicts import pcgrad, pcgrad_coefficients, weighted_gram
from gradtrack.custom_loss import forward_backward_custom, forward_backward_custom_async
from gradtrack.errors import RegularizerError
from gradtrack.local import CharLM, LocalTrainingClient
from gradtrack.types import Datum, ModelInput, RegularizerSpec
from minigrad.engine import defvjp
from minigrad.tensor import record


def reference_projected_total(gradients: list[np.ndarray]) -> np.ndarray:
    """PCGrad as API.md writes it, one line per step, in plain float64 NumPy."""
    flat = [np.asarray(g, dtype=np.float64).ravel() for g in gradients]
    total = np.zeros_like(flat[0])
    for i, g_i in enumerate(flat):
        p = g_i.copy()
        for j, g_j in enumerate(flat):
            if j == i or not np.any(g_j):
                continue
            dot = float(p @ g_j)
            if dot < 0:
                p = p - dot / float(g_j @ g_j) * g_j
        total += p
    return total.reshape(np.shape(gradients[0]))


def linear_term(direction: np.ndarray) -> Any:
    """A term whose gradient with respect to the logprobs is exactly ``direction``."""
    constant = mg.Tensor(direction)
    return lambda data, lp: ((lp * constant).sum(), {})


def quadratic_base(data: Any, lp: mg.Tensor) -> Any:
    return (lp * lp).sum() / 2.0, {}  # gradient: lp itself


LOGPROBS = np.array([-1.0, -2.0, -0.5])


# ------------------------------------------------------------ compute / evaluate


def test_without_conflicts_nothing_changes() -> None:
    agree = RegularizerSpec(linear_term(np.array([-1.0, -1.0, 0.0])), 0.5, "agree")
    plain = pipeline.evaluate([], LOGPROBS, quadratic_base, regularizers=[agree])
    projected = pipeline.evaluate(
        [], LOGPROBS, quadratic_base, regularizers=[agree], conflict="pcgrad", track_grad_norms=True
    )
    np.testing.assert_array_equal(projected.total_gradient, plain.total_gradient)
    out = projected.output
    assert out.total_grad_norm_projected == pytest.approx(out.total_grad_norm, rel=1e-15)


def test_two_way_conflict_matches_the_definition() -> None:
    oppose = RegularizerSpec(linear_term(np.array([2.0, 1.0, -3.0])), 0.7, "oppose")
    run = pipeline.evaluate([], LOGPROBS, quadratic_base, regularizers=[oppose], conflict="pcgrad")
    expected = reference_projected_total([LOGPROBS, 0.7 * np.array([2.0, 1.0, -3.0])])
    assert float(LOGPROBS @ np.array([2.0, 1.0, -3.0])) < 0  # they do conflict
    np.testing.assert_allclose(run.total_gradient, expected, rtol=1e-13, atol=1e-15)
    unprojected = LOGPROBS + 0.7 * np.array([2.0, 1.0, -3.0])
    assert not np.allclose(run.total_gradient, unprojected)
    assert run.output.total_grad_norm_projected == pytest.approx(np.linalg.norm(expected))
    # The per-term gradients handed out are the terms' own, untouched.
    np.testing.assert_array_equal(run.gradients["oppose"], [2.0, 1.0, -3.0])
    # compute reports the same norm without handing out gradients, with or without tracking.
    for track in (False, True):
        out = pipeline.compute(
            [],
            LOGPROBS,
            quadratic_base,
            regularizers=[oppose],
            conflict="pcgrad",
            track_grad_norms=track,
        )
        assert out.total_grad_norm_projected == run.output.total_grad_norm_projected
        if track:  # the loss's own gradient is still what total_grad_norm measures
            assert out.total_grad_norm == pytest.approx(np.linalg.norm(unprojected))


def test_zero_terms_count_as_zero() -> None:
    oppose = np.array([1.0, 1.0, 1.0])
    specs = [
        RegularizerSpec(linear_term(oppose), 0.3, "oppose"),
        RegularizerSpec(linear_term(np.array([-5.0, 2.0, 1.0])), 0.0, "weight_zero"),
        # computed from the array: not connected to the logprobs, no gradient
        RegularizerSpec(lambda data, lp: (float(np.sum(lp.data)), {}), 2.0, "detached"),
    ]
    run = pipeline.evaluate(
        [], LOGPROBS, quadratic_base, regularizers=specs, conflict="pcgrad", track_grad_norms=True
    )
    assert run.output.regularizers["detached"].grad_status == "no_gradient"
    expected = reference_projected_total([LOGPROBS, 0.3 * oppose, np.zeros(3), np.zeros(3)])
    np.testing.assert_allclose(run.total_gradient, expected, rtol=1e-13)
    assert math.isfinite(run.output.total_grad_norm_projected)


def test_nothing_connected_projects_to_zero() -> None:
    run = pipeline.evaluate(
        [], LOGPROBS, lambda data, lp: (float(lp.data.sum()), {}), conflict="pcgrad"
    )
    np.testing.assert_array_equal(run.total_gradient, np.zeros(3))
    assert run.output.total_grad_norm_projected == 0.0


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 7),
    st.integers(0, 2**32 - 1),
    st.sampled_from([np.float64, np.float32]),
)
def test_random_terms_match_the_definition(terms: int, size: int, seed: int, dtype: Any) -> None:
    rng = np.random.default_rng(seed)
    logprobs = -rng.random(size).astype(dtype)
    directions = [rng.standard_normal(size) for _ in range(terms)]
    weights = [float(w) for w in rng.random(terms) * 2]
    specs = [
        RegularizerSpec(linear_term(d.astype(dtype)), w, f"t{k}")
        for k, (d, w) in enumerate(zip(directions, weights, strict=True))
    ]
    run = pipeline.evaluate([], logprobs, quadratic_base, regularizers=specs, conflict="pcgrad")
    weighted = [logprobs.astype(np.float64)] + [
        w * d.astype(dtype).astype(np.float64) for d, w in zip(directions, weights, strict=True)
    ]
    expected = reference_projected_total(weighted)
    assert run.total_gradient.dtype == np.float64
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(run.total_gradient, expected, rtol=tolerance, atol=tolerance)
    assert run.output.total_grad_norm_projected == pytest.approx(
        np.linalg.norm(expected), rel=tolerance, abs=tolerance
    )


@given(st.integers(2, 5), st.integers(1, 6), st.integers(0, 2**32 - 1), st.booleans())
def test_coefficients_give_the_same_total_as_the_vectors(
    terms: int, size: int, seed: int, with_zero: bool
) -> None:
    rng = np.random.default_rng(seed)
    gradients = [rng.standard_normal(size) for _ in range(terms)]
    if with_zero:
        gradients[int(rng.integers(terms))] = np.zeros(size)
    coefficients = pcgrad_coefficients(weighted_gram([1.0] * terms, gradients))
    np.testing.assert_allclose(
        coefficients @ np.array(gradients), np.sum(pcgrad(gradients), axis=0), atol=1e-10
    )


def test_two_terms_conflict_no_more_after_projection_through_the_pipeline() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        base, other = rng.standard_normal(5), rng.standard_normal(5)
        spec = RegularizerSpec(linear_term(other), 1.0, "other")
        run = pipeline.evaluate([], base, quadratic_base, regularizers=[spec], conflict="pcgrad")
        p_base, p_other = pcgrad([base, other])  # the terms whose sum the pipeline returned
        np.testing.assert_allclose(run.total_gradient, p_base + p_other, atol=1e-12)
        assert p_base @ p_other >= min(0.0, base @ other) - 1e-12


@pytest.mark.parametrize(("mode", "error"), [("PCGrad", ValueError), (None, TypeError)])
def test_a_bad_conflict_is_named_before_anything_runs(mode: Any, error: type) -> None:
    calls = []

    def base(data: Any, lp: mg.Tensor) -> Any:
        calls.append(1)
        return lp.sum(), {}

    for entry in (pipeline.compute, pipeline.evaluate):
        with pytest.raises(error, match="conflict"):
            entry([], LOGPROBS, base, conflict=mode)
    assert calls == []


def _no_derivative(g: mg.Tensor, ans: mg.Tensor, x: mg.Tensor) -> mg.Tensor:
    raise RuntimeError("no derivative for this op")


defvjp("identity_failing_for_pcgrad", _no_derivative)


def _raising_gradient(data: Any, lp: mg.Tensor) -> Any:
    # The value works, the gradient raises.
    return record("identity_failing_for_pcgrad", lp.data, (lp,)).sum(), {}


def test_a_failed_gradient_leaves_the_projection_unknown(caplog: Any) -> None:
    failing = RegularizerSpec(_raising_gradient, 1.0, "fails")
    with caplog.at_level(logging.WARNING, logger="gradtrack"):
        out = pipeline.compute(
            [], LOGPROBS, quadratic_base, regularizers=[failing], conflict="pcgrad"
        )
    assert out.total_grad_norm_projected is None  # unknown, not a made-up number
    assert "total (projected)" in caplog.text and "fails" in caplog.text
    with pytest.raises(RegularizerError, match="fails"):  # evaluate hands out nothing
        pipeline.evaluate([], LOGPROBS, quadratic_base, regularizers=[failing], conflict="pcgrad")


# ----------------------------------------------------------------- outputs


def test_the_projected_norm_is_in_every_output_form() -> None:
    oppose = RegularizerSpec(linear_term(np.array([2.0, 1.0, -3.0])), 0.7, "oppose")
    out = pipeline.compute([], LOGPROBS, quadratic_base, regularizers=[oppose], conflict="pcgrad")
    assert out.to_dict()["total_grad_norm_projected"] == out.total_grad_norm_projected
    assert json.loads(out.to_json())["total_grad_norm_projected"] == out.total_grad_norm_projected
    assert out.to_scalars()["grad/total_norm_projected"] == out.total_grad_norm_projected
    plain = pipeline.compute([], LOGPROBS, quadratic_base, regularizers=[oppose])
    assert "total_grad_norm_projected" not in plain.to_dict()
    assert "grad/total_norm_projected" not in plain.to_scalars()
    # Strict JSON: an overflowing norm is written as null, never as Infinity.
    out.total_grad_norm_projected = math.inf
    assert json.loads(out.to_json())["total_grad_norm_projected"] is None


# ------------------------------------------------------ forward_backward_custom


def tiny_client(seed: int = 0) -> LocalTrainingClient:
    return LocalTrainingClient(CharLM(6, context=2, embed_dim=3, hidden=5, rng=seed))


DATA = [
    Datum(ModelInput.from_ints([0, 1, 2, 3]), {"target_tokens": [1, 2, 3, 4]}),
    Datum(ModelInput.from_ints([4, 5]), {"target_tokens": [5, 0]}),
]


def mean_nll(data: Any, logprobs: list[mg.Tensor]) -> Any:
    joined = mg.concatenate([lp.reshape(-1) for lp in logprobs])
    return -joined.mean(), {}


def confidence(data: Any, lp: mg.Tensor) -> Any:
    return mg.exp(lp).mean(), {}  # pushes every logprob down: conflicts with the NLL


def reference_sent_weights(client: LocalTrainingClient, weight: float) -> np.ndarray:
    """What PCGrad says the server should be trained on, with the gradients done by hand."""
    forward = client.forward(DATA, "cross_entropy")
    lp = np.concatenate(
        [e["logprobs"].to_numpy().astype(np.float64) for e in forward.loss_fn_outputs]
    )
    n = lp.size
    base = np.full(n, -1.0 / n)
    reg = weight * np.exp(lp) / n
    return -reference_projected_total([base, reg])


class Recording(LocalTrainingClient):
    def forward_backward(self, data: Any, loss_fn: str = "cross_entropy") -> Any:
        self.sent = np.concatenate([d.loss_fn_inputs["weights"].to_numpy() for d in data])
        return super().forward_backward(data, loss_fn)


def recording_client() -> Recording:
    return Recording(CharLM(6, context=2, embed_dim=3, hidden=5, rng=0))


@pytest.mark.parametrize("asynchronous", [False, True])
def test_forward_backward_custom_trains_on_the_projected_total(asynchronous: bool) -> None:
    client = recording_client()
    expected = reference_sent_weights(client, 2.0)
    spec = RegularizerSpec(confidence, 2.0, "confidence")
    if asynchronous:
        future = forward_backward_custom_async(
            client, DATA, mean_nll, regularizers=[spec], conflict="pcgrad"
        )
        result = future.result(timeout=60)
    else:
        result = forward_backward_custom(
            client, DATA, mean_nll, regularizers=[spec], conflict="pcgrad"
        )
    np.testing.assert_allclose(client.sent, expected, rtol=1e-5, atol=1e-7)
    assert result.custom_loss.total_grad_norm_projected == pytest.approx(
        np.linalg.norm(expected), rel=1e-5
    )
    # The parameters got the gradient of exactly those weights.
    twin = recording_client()
    weighted = [
        Datum(d.model_input, {"target_tokens": d.loss_fn_inputs["target_tokens"], "weights": w})
        for d, w in zip(DATA, np.split(expected.astype(np.float32), [4]), strict=True)
    ]
    twin.forward_backward(weighted)
    for got, want in zip(client.model.parameters(), twin.model.parameters(), strict=True):
        np.testing.assert_allclose(got.grad.data, want.grad.data, rtol=1e-5, atol=1e-7)


def test_forward_backward_custom_without_conflict_is_unchanged() -> None:
    client = recording_client()
    spec = RegularizerSpec(lambda data, lp: ((lp * lp).mean(), {}), 0.1, "square")
    forward_backward_custom(client, DATA, mean_nll, regularizers=[spec], conflict="pcgrad")
    projected = client.sent.copy()
    forward_backward_custom(client, DATA, mean_nll, regularizers=[spec])
    # The NLL's and the square's gradients both push every logprob up: nothing conflicts.
    np.testing.assert_array_equal(projected, client.sent)


def test_forward_backward_custom_with_pcgrad_alone_reports_the_norm() -> None:
    result = forward_backward_custom(recording_client(), DATA, mean_nll, conflict="pcgrad")
    assert result.custom_loss is not None
    assert result.custom_loss.total_grad_norm_projected == pytest.approx(1 / math.sqrt(6), rel=1e-6)


@pytest.mark.parametrize("entry", [forward_backward_custom, forward_backward_custom_async])
def test_forward_backward_custom_checks_conflict_before_any_request(entry: Any) -> None:
    client = recording_client()
    with pytest.raises(ValueError, match="conflict"):
        entry(client, DATA, mean_nll, conflict="projected")
    assert not hasattr(client, "sent")


def test_an_overflowing_term_is_named_with_pcgrad_too() -> None:
    from gradtrack.errors import NonFiniteError

    huge = RegularizerSpec(lambda data, lp: ((lp * lp).sum(), {}), 1e308, "huge")
    with pytest.raises(NonFiniteError, match="regularizer 'huge'") as caught:
        forward_backward_custom(
            recording_client(), DATA, mean_nll, regularizers=[huge], conflict="pcgrad"
        )
    assert caught.value.term == "huge"
    out = pipeline.compute(
        [], LOGPROBS, quadratic_base, regularizers=[huge], conflict="pcgrad", track_grad_norms=True
    )
    assert not math.isfinite(out.total_grad_norm_projected)
    assert json.loads(out.to_json())["total_grad_norm_projected"] is None
