"""Tests for gradtrack.penalties: the NxPenalties vectors, -inf handling, bad options, gradients.

Vectors 61–76 and 81 of the Tinkex spec are ported (the "(d)" numbers are
derived from the formulas and checked too). Every primitive is gradchecked
against central finite differences over hypothesis-drawn shapes; the
gradient penalties are also checked at second order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from gradtrack import penalties as P

SQRT2 = math.sqrt(2.0)

# ----------------------------------------------------------------- helpers


def value(t: mg.Tensor) -> float:
    return float(t.item())


def normalised(logits: Any) -> np.ndarray:
    """Logits minus their logsumexp over the last axis: log-probabilities."""
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=-1, keepdims=True)
    return logits - (top + np.log(np.exp(logits - top).sum(axis=-1, keepdims=True)))


# The fixed shapes every property test also runs on (STYLE.md).
FIXED = (
    np.array(0.7),
    np.array([0.3, -1.2]),
    np.array([[0.5, -1.1], [1.3, 0.2], [-0.6, 0.9]]),
    np.array([[0.4, -0.9]]),
)
ELEMENTS = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
# For |x|: values at least 0.01 away from its kink at 0.
NONZERO = st.floats(0.01, 3.0) | st.floats(-3.0, -0.01)


def shapes(min_dims: int = 0, max_dims: int = 3, max_side: int = 4) -> st.SearchStrategy:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


def arrays(
    min_dims: int = 0, max_dims: int = 3, max_side: int = 4, elements: Any = ELEMENTS
) -> st.SearchStrategy:
    return hnp.arrays(np.float64, shapes(min_dims, max_dims, max_side), elements=elements)


def array_pairs(min_dims: int = 0, max_dims: int = 3) -> st.SearchStrategy:
    return shapes(min_dims, max_dims).flatmap(
        lambda shape: st.tuples(
            hnp.arrays(np.float64, shape, elements=ELEMENTS),
            hnp.arrays(np.float64, shape, elements=ELEMENTS),
        )
    )


def on_fixed_shapes(min_dims: int = 0, pairs: bool = False) -> Callable[[Any], Any]:
    """Add the fixed shapes as explicit examples (as ``x``, or as a pair ``xy``)."""

    def decorate(test: Any) -> Any:
        for fixed in FIXED:
            if fixed.ndim < min_dims:
                continue
            if pairs:
                partner = np.flip(fixed) * 0.5 - 0.25
                test = example(xy=(fixed, partner))(test)
            else:
                test = example(x=fixed)(test)
        return test

    return decorate


def assert_finite(*tensors: mg.Tensor) -> None:
    for t in tensors:
        assert np.all(np.isfinite(np.asarray(t))), t


# --------------------------------------------------------- ported vectors


def test_l1_vectors() -> None:  # 62
    assert value(P.l1([1.0, -2.0, 3.0])) == pytest.approx(6.0)
    assert value(P.l1([1.0, -1.0], lambda_=0.5)) == pytest.approx(1.0)
    assert value(P.l1([0.0, 0.0, 1.0])) == pytest.approx(1.0)
    assert value(P.l1([1.0, 2.0, 3.0], reduction="mean")) == pytest.approx(2.0)
    assert value(P.l1([[1.0, -2.0], [-3.0, 4.0]], lambda_=0.1)) == pytest.approx(1.0)
    gradient = mg.grad(lambda x: P.l1(x))([2.0, -3.0, 0.5])
    np.testing.assert_allclose(gradient, [1.0, -1.0, 1.0])


def test_l2_vectors() -> None:  # 63
    assert value(P.l2([1.0, 2.0, 3.0], lambda_=0.1)) == pytest.approx(1.4)
    assert value(P.l2([-2.0, -3.0], lambda_=0.1)) == pytest.approx(1.3)
    assert value(P.l2([1000.0, 2000.0], lambda_=0.01, clip=100.0)) == pytest.approx(200.0)
    assert value(P.l2([1.0, 2.0], reduction="mean")) == pytest.approx(2.5)
    gradient = mg.grad(lambda x: P.l2(x, lambda_=0.5))([1.0, 2.0, 3.0])
    np.testing.assert_allclose(gradient, [1.0, 2.0, 3.0])


def test_l2_center_vectors() -> None:  # 64
    assert value(P.l2([1.0, 2.0, 3.0], center="mean")) == pytest.approx(2.0)
    assert value(P.l2([1.0, 2.0, 3.0], center=1.0)) == pytest.approx(5.0)
    assert value(P.l2([1.0, 2.0, 3.0], center="mean", reduction="mean")) == pytest.approx(2 / 3)
    big = [100.0, 200.0, 300.0]
    assert value(P.l2(big, center=200.0, clip=50.0)) == pytest.approx(5000.0)
    assert value(P.l2(big, center=200.0, clip=50.0, reduction="mean")) == pytest.approx(
        1666.667, abs=1e-3
    )
    assert value(P.l2([10.0, 20.0, 30.0, 40.0, 50.0], center="mean")) == pytest.approx(1000.0)
    assert value(P.l2([1.0, 2.0, 3.0], center=-1.0)) == pytest.approx(29.0)
    assert value(P.l2([[1.0, 2.0], [3.0, 4.0]], center="mean")) == pytest.approx(5.0)


def test_l2_center_array_broadcasts() -> None:
    assert value(P.l2([[1.0, 2.0], [3.0, 4.0]], center=[1.0, 2.0])) == pytest.approx(8.0)


def test_elastic_net_vectors() -> None:  # 65
    x = [1.0, -2.0, 3.0]
    assert value(P.elastic_net(x, lambda_=0.1, l1_ratio=1.0)) == pytest.approx(0.6)
    assert value(P.elastic_net(x, lambda_=0.1, l1_ratio=1.0)) == pytest.approx(
        value(P.l1(x, lambda_=0.1))
    )
    assert value(P.elastic_net(x, lambda_=0.1, l1_ratio=0.0)) == pytest.approx(1.4)
    assert value(P.elastic_net(x, lambda_=0.1, l1_ratio=0.0)) == pytest.approx(
        value(P.l2(x, lambda_=0.1))
    )
    assert value(P.elastic_net([1.0, 2.0], lambda_=1.0)) == pytest.approx(4.0)
    np.testing.assert_allclose(mg.grad(lambda t: P.elastic_net(t))([2.0, -3.0]), [2.5, -3.5])
    assert value(P.elastic_net([1.0, 2.0, 3.0], reduction="mean")) == pytest.approx(10 / 3)


def test_validate_vectors() -> None:  # 66
    np.testing.assert_array_equal(P.validate([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="NaN"):
        P.validate([1.0, float("nan")])
    with pytest.raises(ValueError, match="infinite"):
        P.validate([1.0, float("inf")])
    with pytest.raises(ValueError, match="infinite"):
        P.validate([1.0, float("-inf")])
    with pytest.raises(ValueError, match="NaN"):  # NaN is reported first
        P.validate([float("inf"), float("nan")])


def test_kl_vectors() -> None:  # 67
    p = normalised([-0.1, -1.5, -3.0, -4.0])
    q = normalised([-2.0, -0.5, -2.0, -3.0])
    forward, backward = value(P.kl_divergence(p, q)), value(P.kl_divergence(q, p))
    assert forward != pytest.approx(backward)
    assert forward == pytest.approx(0.9390191, abs=1e-6)
    assert value(P.kl_divergence(p, q, direction="reverse")) == pytest.approx(backward)
    assert backward == pytest.approx(0.8314714, abs=1e-6)
    symmetric = value(P.kl_divergence(p, q, symmetric=True))
    assert symmetric == pytest.approx((forward + backward) / 2)
    assert symmetric == pytest.approx(0.8852453, abs=1e-6)
    # symmetric ignores direction
    assert value(P.kl_divergence(p, q, symmetric=True, direction="reverse")) == symmetric


def test_entropy_vectors() -> None:  # 68
    assert value(P.entropy(np.log(np.full(4, 0.25)))) == pytest.approx(1.3862944, abs=1e-4)
    assert value(P.entropy(np.log(np.full(10, 0.1)), normalize=True)) == pytest.approx(1.0)
    assert value(P.entropy([[0.0, -100.0, -100.0, -100.0]], normalize=True)) == pytest.approx(0.0)
    assert value(P.entropy(np.log(np.full(8, 0.125)))) == pytest.approx(2.0794415, abs=1e-4)


def test_entropy_temperature_vectors() -> None:  # 69
    sharp = normalised([-0.5, -1.0, -2.0, -3.0])
    assert value(P.entropy(sharp)) == pytest.approx(1.0890656, abs=1e-6)
    assert value(P.entropy(sharp, temperature=0.5)) == pytest.approx(0.7405333, abs=1e-6)
    flat = normalised([0.0, -3.0, -5.0, -8.0])
    assert value(P.entropy(flat)) == pytest.approx(0.2310446, abs=1e-6)
    assert value(P.entropy(flat, temperature=2.0)) == pytest.approx(0.7435867, abs=1e-6)


def test_orthogonality_vectors() -> None:  # 70
    assert value(P.orthogonality(np.eye(3), mode="hard")) == pytest.approx(0.0)
    assert value(P.orthogonality(np.eye(4))) == pytest.approx(0.0)
    assert value(P.orthogonality(np.tile([1.0, 0.0, 0.0, 0.0], (4, 1)))) == pytest.approx(12.0)
    diagonal = [[2.0, 0.0], [0.0, 1.0]]
    assert value(P.orthogonality(diagonal, mode="hard")) == pytest.approx(0.0)
    assert value(P.orthogonality(diagonal, mode="hard", normalize=False)) == pytest.approx(9.0)
    assert value(P.orthogonality([[1.0, 2.0, 3.0]])) == pytest.approx(0.0)
    assert value(P.orthogonality([[1.0]])) == pytest.approx(0.0)


def test_orthogonality_spectral_vectors() -> None:  # 71
    assert value(P.orthogonality(np.eye(4), mode="spectral")) == pytest.approx(0.0)
    assert value(P.orthogonality(np.ones((3, 4)), mode="spectral")) == pytest.approx(6.0)
    scaled = np.diag([2.0, 3.0, 4.0])
    assert value(P.orthogonality(scaled, mode="spectral")) == pytest.approx(0.0)
    assert value(P.orthogonality(scaled, mode="spectral", normalize=False)) == pytest.approx(676.0)
    slight = value(P.orthogonality([[1.0, 0.1], [0.1, 1.0]], mode="spectral"))
    high = value(P.orthogonality([[1.0, 0.9], [0.9, 1.0]], mode="spectral"))
    assert slight == pytest.approx(0.0784237, abs=1e-6)
    assert high == pytest.approx(1.9779616, abs=1e-6)


def test_orthogonality_soft_vectors() -> None:  # 72
    low = value(P.orthogonality([[1.0, 0.0], [0.1, 0.99]]))
    high = value(P.orthogonality([[1.0, 0.0], [0.9, 0.1]]))
    assert low < high
    assert low == pytest.approx(0.0202000, abs=1e-6)
    assert high == pytest.approx(1.9756098, abs=1e-6)


def test_consistency_vectors() -> None:  # 73
    a, b = [1.0, 2.0], [2.0, 4.0]
    assert value(P.consistency(a, b)) == pytest.approx(2.5)
    assert value(P.consistency(a, b, metric="l1")) == pytest.approx(1.5)
    assert value(P.consistency(a, b, reduction="sum")) == pytest.approx(5.0)
    np.testing.assert_allclose(P.consistency(a, b, reduction="none"), [1.0, 4.0])
    assert value(P.consistency(a, b, metric="cosine")) == pytest.approx(0.0, abs=1e-12)
    assert value(P.consistency([1.0, 0.0], [0.0, 1.0], metric="cosine")) == pytest.approx(1.0)
    assert value(P.consistency([1.0, 0.0], [-1.0, 0.0], metric="cosine")) == pytest.approx(2.0)
    assert value(P.consistency(1.0, 2.0)) == pytest.approx(1.0)


def test_consistency_cosine_ignores_reduction() -> None:
    a, b = [1.0, 0.0], [0.0, 1.0]
    assert P.consistency(a, b, metric="cosine", reduction="none").shape == ()


def test_consistency_kl_vector() -> None:  # 74
    result = value(P.consistency([[0.0, -50.0, -50.0, -50.0]], [[-1.386] * 4], metric="kl"))
    assert math.isfinite(result) and result > 0
    assert result == pytest.approx(18.755316, abs=1e-5)


def test_gradient_penalty_vectors() -> None:  # 75
    assert value(
        P.gradient_penalty(lambda x: x.sum(), [1.0, 2.0, 3.0], target_norm=math.sqrt(3))
    ) == pytest.approx(0.0, abs=1e-12)
    square_sum = value(
        P.gradient_penalty(lambda x: (x * x).sum(), [1.0, 2.0], target_norm=math.sqrt(20))
    )
    assert square_sum == pytest.approx(0.0, abs=1e-12)
    near = value(P.gradient_penalty(lambda x: x.sum(), np.ones(4), target_norm=2.0))
    far = value(P.gradient_penalty(lambda x: x.sum(), np.ones(4), target_norm=10.0))
    assert near == pytest.approx(0.0) and far == pytest.approx(64.0)


def test_output_magnitude_vectors() -> None:  # 76
    assert value(P.output_magnitude_penalty([1.0, 0.0, 0.0], reduction="sum")) == 0.0
    assert value(P.output_magnitude_penalty([2.0, 2.0, 2.0, 2.0], target=2.0)) == 0.0
    assert value(P.output_magnitude_penalty([3.0, 4.0], target=5.0, reduction="sum")) == 0.0
    near = value(P.output_magnitude_penalty([3.0, 4.0], target=3.5))
    far = value(P.output_magnitude_penalty([3.0, 4.0], target=10.0))
    assert near == pytest.approx(0.0012627, abs=1e-6)
    assert far == pytest.approx(41.789322, abs=1e-5)


def test_gradient_penalty_of_a_sum_ignores_epsilon() -> None:  # 61 (primitive side)
    lp = np.log([[0.5, 0.5]])
    expected = (SQRT2 - 1.0) ** 2
    assert value(P.gradient_penalty(lambda x: x.sum(), lp)) == pytest.approx(0.1715729, abs=1e-7)
    for seed in range(3):
        interpolated = P.interpolated_gradient_penalty(lambda x: x.sum(), lp, lp * 2, rng=seed)
        assert value(interpolated) == pytest.approx(expected)


def test_consistency_mse_clean_vs_noisy() -> None:  # 81 (the metric's value)
    result = value(P.consistency([1.0, 2.0, 3.0], [1.1, 2.1, 3.1]))
    assert result == pytest.approx(0.01, abs=1e-4)


def test_kl_and_entropy_adapter_numbers() -> None:  # 57, 58, 59 (primitive side)
    p, q = np.log([[0.4, 0.3, 0.3]]), np.log([[0.25, 0.25, 0.5]])
    assert value(P.kl_divergence(p, q)) == pytest.approx(0.0894502, abs=1e-7)
    assert value(P.kl_divergence(p, q, direction="reverse")) == pytest.approx(0.0923315, abs=1e-7)
    assert value(P.kl_divergence(p, q, symmetric=True)) == pytest.approx(0.0908909, abs=1e-7)
    lp = np.log([[0.6, 0.3, 0.1]])
    expected = {1.0: 0.8979457, 0.5: 0.5942565, 2.0: 1.0379713}
    for temperature, entropy in expected.items():
        result = value(P.entropy(lp, mode="penalty", temperature=temperature))
        assert result == pytest.approx(-entropy, abs=1e-7)


def test_js_divergence_bounds() -> None:
    p, q = normalised([0.3, -1.0, 2.0]), normalised([-2.0, 0.5, 0.1])
    js = value(P.js_divergence(p, q))
    assert 0 < js < math.log(2)
    assert js == pytest.approx(value(P.js_divergence(q, p)))
    assert value(P.js_divergence(p, p)) == pytest.approx(0.0, abs=1e-12)
    rows = P.js_divergence(np.stack([p, q]), np.stack([q, p]), reduction="none")
    assert rows.shape == (2,)


# ---------------------------------------------------- -inf: zero probability


NEG_INF = float("-inf")


@pytest.mark.parametrize(
    "penalty",
    [
        pytest.param(lambda lp, ref: P.entropy(lp), id="entropy"),
        pytest.param(lambda lp, ref: P.entropy(lp, temperature=0.5), id="entropy-T"),
        pytest.param(lambda lp, ref: P.entropy(lp, normalize=True), id="entropy-normalized"),
        pytest.param(lambda lp, ref: P.kl_divergence(lp, ref), id="kl-forward"),
        pytest.param(lambda lp, ref: P.kl_divergence(lp, ref, direction="reverse"), id="kl-rev"),
        pytest.param(lambda lp, ref: P.kl_divergence(lp, ref, symmetric=True), id="kl-sym"),
        pytest.param(lambda lp, ref: P.js_divergence(lp, ref), id="js"),
        pytest.param(lambda lp, ref: P.consistency(lp, ref, metric="kl"), id="consistency-kl"),
        pytest.param(lambda lp, ref: P.consistency(lp, lp.detach()), id="consistency-mse-self"),
        pytest.param(lambda lp, ref: P.l1(mg.exp(lp)), id="l1-probs"),
    ],
)
def test_minus_inf_logprobs_keep_value_and_gradient_finite(penalty: Any) -> None:
    lp = np.array([[0.0, NEG_INF, NEG_INF], [math.log(0.5), math.log(0.5), NEG_INF]])
    ref = np.log([[0.2, 0.3, 0.5], [0.5, 0.25, 0.25]])
    result, gradient = mg.value_and_grad(lambda x: penalty(x, ref))(lp)
    assert_finite(result, gradient)


def test_zero_probability_class_contributes_nothing_to_entropy() -> None:
    with_zero = P.entropy([math.log(0.5), math.log(0.5), NEG_INF])
    without = P.entropy([math.log(0.5), math.log(0.5)])
    assert value(with_zero) == pytest.approx(value(without))
    gradient = mg.grad(lambda x: P.entropy(x))([math.log(0.5), math.log(0.5), NEG_INF])
    # dH/dp_j = −exp(p_j)(1 + p_j); 0 for the impossible class.
    expected = -0.5 * (1 + math.log(0.5))
    np.testing.assert_allclose(gradient, [expected, expected, 0.0])


def test_kl_with_zero_probability_classes() -> None:
    # P puts no mass where Q does: those classes add 0 (0 · log 0 = 0).
    assert value(P.kl_divergence([0.0, NEG_INF], np.log([0.5, 0.5]))) == pytest.approx(math.log(2))
    # Q forbids a class P allows: the clipped log-ratio gives 100 · p instead of ∞.
    clipped = value(P.kl_divergence(np.log([0.5, 0.5]), [0.0, NEG_INF]))
    assert clipped == pytest.approx(0.5 * 0.0 + 0.5 * 100.0 - 0.5 * math.log(2))
    # Both forbid it: nothing at all.
    both = value(P.kl_divergence([0.0, NEG_INF], [0.0, NEG_INF], symmetric=True))
    assert both == 0.0


def test_entropy_of_a_row_without_probability_is_zero_at_any_temperature() -> None:
    result, gradient = mg.value_and_grad(lambda x: P.entropy(x, temperature=2.0))(
        [[NEG_INF, NEG_INF], [0.0, NEG_INF]]
    )
    assert value(result) == 0.0
    assert_finite(gradient)


def test_consistency_both_minus_inf_agree() -> None:
    assert value(P.consistency([NEG_INF, -1.0], [NEG_INF, -1.5])) == pytest.approx(0.125)


def test_zero_norm_gradients_are_zero_not_nan() -> None:
    zeros = np.zeros((2, 3))
    for penalty in (
        lambda x: P.orthogonality(x),
        lambda x: P.output_magnitude_penalty(x),
        lambda x: P.gradient_penalty(lambda z: (z * 0.0).sum(), x),
    ):
        result, gradient = mg.value_and_grad(penalty)(zeros)
        assert_finite(result, gradient)


# ------------------------------------------------------- options and shapes


@pytest.mark.parametrize(
    ("call", "option", "bad"),
    [
        (lambda: P.l1([1.0], reduction="none"), "reduction", "'none'"),
        (lambda: P.l2([1.0], reduction="avg"), "reduction", "'avg'"),
        (lambda: P.l2([1.0], center="median"), "center", "'median'"),
        (lambda: P.elastic_net([1.0], reduction="max"), "reduction", "'max'"),
        (lambda: P.kl_divergence([0.0], [0.0], reduction="max"), "reduction", "'max'"),
        (lambda: P.kl_divergence([0.0], [0.0], direction="both"), "direction", "'both'"),
        (lambda: P.js_divergence([0.0], [0.0], reduction="avg"), "reduction", "'avg'"),
        (lambda: P.entropy([0.0], mode="maximize"), "mode", "'maximize'"),
        (lambda: P.entropy([0.0], reduction="avg"), "reduction", "'avg'"),
        (lambda: P.consistency([0.0], [0.0], metric="huber"), "metric", "'huber'"),
        (lambda: P.consistency([0.0], [0.0], reduction="avg"), "reduction", "'avg'"),
        (lambda: P.orthogonality([[1.0]], mode="strict"), "mode", "'strict'"),
        (lambda: P.orthogonality([[1.0]], axis="columns"), "axis", "'columns'"),
        (lambda: P.output_magnitude_penalty([1.0], reduction="none"), "reduction", "'none'"),
    ],
)
def test_unknown_option_values_name_option_and_value(call: Any, option: str, bad: str) -> None:
    with pytest.raises(ValueError, match=option) as info:
        call()
    assert bad in str(info.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: P.l1([1.0], lambda_="big"), "lambda_"),
        (lambda: P.l2([1.0], clip=0.0), "clip"),
        (lambda: P.l2([1.0], clip=-1.0), "clip"),
        (lambda: P.elastic_net([1.0], l1_ratio=1.5), "l1_ratio"),
        (lambda: P.entropy([0.0], temperature=0.0), "temperature"),
        (lambda: P.entropy([0.0], normalize="yes"), "normalize"),
        (lambda: P.kl_divergence([0.0], [0.0], symmetric=1), "symmetric"),
        (lambda: P.gradient_penalty(lambda x: x.sum(), [1.0], target_norm=math.nan), "target_norm"),
        (lambda: P.orthogonality([[1.0]], normalize=None), "normalize"),
    ],
)
def test_bad_option_numbers_are_value_errors(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_normalized_entropy_needs_two_classes() -> None:
    with pytest.raises(ValueError, match="at least 2 classes"):
        P.entropy([[0.0], [0.0]], normalize=True)


@pytest.mark.parametrize(
    "call",
    [
        lambda: P.kl_divergence(np.zeros((2, 3)), np.zeros((3, 2))),
        lambda: P.js_divergence(np.zeros((2, 3)), np.zeros((3, 2))),
        lambda: P.consistency(np.zeros((2, 3)), np.zeros((3, 2))),
        lambda: P.interpolated_gradient_penalty(lambda x: x.sum(), np.zeros((2, 3)), np.zeros(6)),
    ],
)
def test_shape_mismatch_names_both_shapes(call: Any) -> None:
    with pytest.raises(ValueError, match="shape mismatch") as info:
        call()
    text = str(info.value)
    assert "(2, 3)" in text and ("(3, 2)" in text or "(6,)" in text)


def test_class_axis_required() -> None:
    with pytest.raises(ValueError, match="class axis"):
        P.entropy(0.0)
    with pytest.raises(ValueError, match="class axis"):
        P.kl_divergence(0.0, 0.0)


def test_gradient_penalty_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        P.gradient_penalty("sum", [1.0])


def test_results_are_tensors_and_keep_float32() -> None:
    x = np.array([[0.1, -0.2], [0.3, 0.4]], dtype=np.float32)
    lp = normalised(x).astype(np.float32)
    for result in (
        P.l1(x),
        P.l2(x, center="mean", clip=0.2),
        P.elastic_net(x),
        P.kl_divergence(lp, lp[::-1]),
        P.entropy(lp, temperature=0.5),
        P.consistency(x, x[::-1]),
        P.orthogonality(x),
    ):
        assert isinstance(result, mg.Tensor)
        assert result.dtype == np.float32


def test_none_reduction_shapes() -> None:
    lp = normalised(np.arange(24.0).reshape(2, 3, 4) / 10)
    assert P.kl_divergence(lp, lp, reduction="none").shape == (2, 3)
    assert P.entropy(lp, reduction="none").shape == (2, 3)
    assert P.consistency(lp, lp, reduction="none").shape == (2, 3, 4)
    assert P.consistency(lp, lp, metric="kl", reduction="none").shape == (2, 3)


@pytest.mark.parametrize(("axis", "rows"), [("rows", 6), ("sequence", 3), ("vocabulary", 4)])
def test_orthogonality_axes_pick_the_rows(axis: str, rows: int) -> None:
    # With unit-free rows that all overlap fully, soft orthogonality is n(n − 1).
    x = np.ones((2, 3, 4))
    assert value(P.orthogonality(x, axis=axis)) == pytest.approx(rows * (rows - 1))


def test_interpolated_gradient_penalty_rng() -> None:
    def f(z: mg.Tensor) -> mg.Tensor:
        return (z**3).sum()

    x, ref = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    same = [value(P.interpolated_gradient_penalty(f, x, ref, rng=7)) for _ in range(2)]
    assert same[0] == same[1]
    generator = np.random.default_rng(7)
    first = value(P.interpolated_gradient_penalty(f, x, ref, rng=generator))
    second = value(P.interpolated_gradient_penalty(f, x, ref, rng=generator))
    assert first == same[0] and second != first
    epsilon = np.random.default_rng(7).random()
    z = epsilon * x + (1 - epsilon) * ref
    expected = (np.linalg.norm(3 * z**2) - 1.0) ** 2
    assert first == pytest.approx(expected)


def test_gradient_penalty_second_derivative_by_hand() -> None:
    # P(x) = (‖∇f‖ − 1)² with f = Σ x³: ∇f = 3x², dP/dx = 2(‖3x²‖ − 1) · 6x ⊙ 3x² / ‖3x²‖.
    x = np.array([0.5, -1.5, 2.0])
    gradient = mg.grad(lambda t: P.gradient_penalty(lambda z: (z**3).sum(), t))(x)
    inner = 3 * x**2
    norm = np.linalg.norm(inner)
    np.testing.assert_allclose(gradient, 2 * (norm - 1) * 6 * x * inner / norm, rtol=1e-12)


# ---------------------------------- gradients against finite differences


@on_fixed_shapes()
@given(x=arrays(elements=NONZERO))
def test_l1_gradcheck(x: np.ndarray) -> None:
    assume(np.all(np.abs(x) > 1e-3))  # the fixed examples too  # away from the kink of |x|
    assert mg.gradcheck(lambda t: P.l1(t, lambda_=0.3), x)
    assert mg.gradcheck(lambda t: P.l1(t, reduction="mean"), x)


@on_fixed_shapes()
@given(x=arrays())
def test_l2_gradcheck(x: np.ndarray) -> None:
    assert mg.gradcheck(lambda t: P.l2(t, lambda_=0.7), x)
    assert mg.gradcheck(lambda t: P.l2(t, center="mean", reduction="mean"), x)
    centred = x - 0.25
    assume(np.all(np.abs(np.abs(centred) - 1.0) > 1e-3))  # away from the clip bounds
    assert mg.gradcheck(lambda t: P.l2(t, center=0.25, clip=1.0), x)


@on_fixed_shapes()
@given(x=arrays(elements=NONZERO))
def test_elastic_net_gradcheck(x: np.ndarray) -> None:
    assume(np.all(np.abs(x) > 1e-3))  # the fixed examples too
    assert mg.gradcheck(lambda t: P.elastic_net(t, lambda_=0.5, l1_ratio=0.3), x)


@on_fixed_shapes(min_dims=1, pairs=True)
@given(xy=array_pairs(min_dims=1))
def test_kl_and_js_gradcheck(xy: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = normalised(xy[0]), normalised(xy[1])
    for options in ({}, {"direction": "reverse"}, {"symmetric": True, "reduction": "sum"}):
        assert mg.gradcheck(lambda t, o=options: P.kl_divergence(t, q, **o), p)
    assert mg.gradcheck(lambda t: P.kl_divergence(p, t), q)  # in the reference too
    assert mg.gradcheck(lambda t: P.js_divergence(t, q), p)


@on_fixed_shapes(min_dims=1)
@given(x=arrays(min_dims=1))
def test_entropy_gradcheck(x: np.ndarray) -> None:
    lp = normalised(x)
    assert mg.gradcheck(lambda t: P.entropy(t), lp)
    assert mg.gradcheck(lambda t: P.entropy(t, mode="penalty", reduction="sum"), lp)
    assert mg.gradcheck(lambda t: P.entropy(t, temperature=0.7), lp)
    if lp.shape[-1] > 1:
        assert mg.gradcheck(lambda t: P.entropy(t, normalize=True), lp)


@on_fixed_shapes(pairs=True)
@given(xy=array_pairs())
def test_consistency_gradcheck(xy: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = xy
    assert mg.gradcheck(lambda t: P.consistency(t, b), a)
    assert mg.gradcheck(lambda t: P.consistency(a, t, reduction="sum"), b)
    assume(np.linalg.norm(a) > 1e-2 and np.linalg.norm(b) > 1e-2)
    assert mg.gradcheck(lambda t: P.consistency(t, b, metric="cosine"), a)
    if a.ndim:
        assert mg.gradcheck(lambda t: P.consistency(t, normalised(b), metric="kl"), normalised(a))
    assume(np.all(np.abs(a - b) > 1e-3))
    assert mg.gradcheck(lambda t: P.consistency(t, b, metric="l1"), a)


@on_fixed_shapes()
@given(x=arrays())
def test_orthogonality_gradcheck(x: np.ndarray) -> None:
    matrix = x.reshape(-1, x.shape[-1] if x.ndim else 1)
    assume(np.all(np.linalg.norm(matrix, axis=1) > 1e-2))
    for mode in ("soft", "hard", "spectral"):
        assert mg.gradcheck(lambda t, m=mode: P.orthogonality(t, mode=m), x)
    assert mg.gradcheck(lambda t: P.orthogonality(t, normalize=False, mode="hard"), x)
    if x.ndim == 3:
        by_position = np.transpose(x, (1, 0, 2)).reshape(x.shape[1], -1)
        assume(np.all(np.linalg.norm(by_position, axis=1) > 1e-2))
        assert mg.gradcheck(lambda t: P.orthogonality(t, axis="sequence"), x)
        assert mg.gradcheck(lambda t: P.orthogonality(t, axis="vocabulary", normalize=False), x)


@on_fixed_shapes()
@given(x=arrays())
def test_output_magnitude_gradcheck(x: np.ndarray) -> None:
    assume(np.linalg.norm(x) > 1e-2)
    assert mg.gradcheck(lambda t: P.output_magnitude_penalty(t, target=0.5), x)
    assert mg.gradcheck(lambda t: P.output_magnitude_penalty(t, reduction="sum"), x)


def smooth(z: mg.Tensor) -> mg.Tensor:
    """A function whose derivatives of every order are non-trivial."""
    return (mg.tanh(z) * 0.8).sum() + (z**3).sum() * 0.1 + mg.sin(z).sum() * 0.3


def smooth_gradient_norm(x: np.ndarray) -> float:
    gradient = 0.8 * (1 - np.tanh(x) ** 2) + 0.3 * x**2 + 0.3 * np.cos(x)
    return float(np.linalg.norm(gradient))


@on_fixed_shapes()
@settings(max_examples=25)
@given(x=arrays(max_dims=2, max_side=3))
def test_gradient_penalty_first_and_second_order(x: np.ndarray) -> None:
    assume(abs(smooth_gradient_norm(x) - 0.0) > 1e-3)
    penalty = lambda t: P.gradient_penalty(smooth, t, target_norm=0.5)  # noqa: E731
    assert mg.gradcheck(penalty, x)
    assert mg.gradgradcheck(penalty, x)


@on_fixed_shapes(pairs=True)
@settings(max_examples=25)
@given(xy=array_pairs(max_dims=2))
def test_interpolated_gradient_penalty_first_and_second_order(
    xy: tuple[np.ndarray, np.ndarray],
) -> None:
    x, ref = xy
    epsilon = np.random.default_rng(11).random()
    assume(smooth_gradient_norm(epsilon * x + (1 - epsilon) * ref) > 1e-3)
    penalty = lambda t, r: P.interpolated_gradient_penalty(smooth, t, r, rng=11)  # noqa: E731
    assert mg.gradcheck(penalty, x, ref)  # with respect to both endpoints
    assert mg.gradgradcheck(lambda t: penalty(t, ref), x)
