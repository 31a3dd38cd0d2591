"""Tests for gradtrack.regularizers: options, targets, references, metrics, gradients.

Vectors 54–61 (the Tinkex adapters) and 78–81 (penalties inside a pipeline)
of the Tinkex spec are ported. Every regularizer is gradchecked against
finite differences over hypothesis-drawn shapes, and all eight run inside
``gradtrack.pipeline.compute`` with tracking on, where their reported
gradient norms must match finite differences — KL and Consistency included,
which the original reports as 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from gradtrack.check import check_regularizer
from gradtrack.pipeline import compute
from gradtrack.regularizers import (
    L1,
    L2,
    Consistency,
    ElasticNet,
    Entropy,
    GradientPenalty,
    KLDivergence,
    Orthogonality,
    Regularizer,
)
from gradtrack.types import Datum, ModelInput, RegularizerSpec, TensorData

# ----------------------------------------------------------------- helpers


def datum(**inputs: Any) -> Datum:
    return Datum(ModelInput.from_ints([1, 2, 3]), inputs)


def loss_value(regularizer: Any, data: Any, logprobs: Any) -> float:
    loss, _ = regularizer(data, logprobs)
    return float(loss.item())


def zero_base(data: Any, lp: mg.Tensor) -> tuple[float, dict[str, Any]]:
    return 0.0, {}


def normalised(logits: Any) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=-1, keepdims=True)
    return logits - (top + np.log(np.exp(logits - top).sum(axis=-1, keepdims=True)))


def cubic(lp: mg.Tensor) -> mg.Tensor:
    """A loss for GradientPenalty whose gradient depends on the point."""
    return (lp**3).sum() * 0.2 + mg.tanh(lp).sum()


def all_eight() -> list[Regularizer]:
    """One of each class, with non-default options where they exercise more code."""
    return [
        L1(target="probs"),
        L2(center="mean", lambda_=0.5),
        ElasticNet(l1_ratio=0.3, reduction="mean"),
        Entropy(mode="maximize", temperature=0.8),
        KLDivergence(reference_field="reference_logprobs", symmetric=True),
        Consistency(metric="mse"),
        Orthogonality(mode="spectral"),
        GradientPenalty(cubic, mode="interpolated", rng=5),
    ]


def paired_data(lp: np.ndarray, seed: int = 0) -> list[Datum]:
    """A datum carrying the fields the references read, of the logprobs' shape."""
    rng = np.random.default_rng(seed)
    other = normalised(rng.normal(size=lp.shape)) if lp.ndim else np.array(-0.7)
    return [datum(reference_logprobs=other, original_logprobs=other * 0.5 + lp * 0.5)]


# --------------------------------------------------------- ported vectors


def test_l1_adapter() -> None:  # 54
    loss, metrics = L1()(None, np.log([[0.5, 0.25, 0.25]]))
    assert loss.shape == ()
    assert loss.item() == pytest.approx(3.4657359, abs=1e-7)
    assert metrics == {"l1_raw": pytest.approx(3.4657359), "l1_mean": pytest.approx(1.1552453)}


def test_l2_adapter() -> None:  # 55
    loss, metrics = L2(center="mean")(None, np.log([[0.4, 0.3, 0.3]]))
    assert loss.shape == ()
    assert loss.item() == pytest.approx(0.0551740, abs=1e-7)
    assert metrics["l2_mean"] == pytest.approx(1.2462299, abs=1e-7)
    assert metrics["center"] == "mean"
    assert L2()(None, [1.0])[1]["center"] == "none"


def test_elastic_net_adapter() -> None:  # 56
    loss, metrics = ElasticNet(l1_ratio=0.5)(None, np.log([[0.6, 0.4]]))
    assert loss.shape == ()
    assert metrics["l1_ratio"] == 0.5
    assert loss.item() == pytest.approx(1.2638239, abs=1e-7)


def test_kl_adapter() -> None:  # 57
    lp = np.log([[0.4, 0.3, 0.3]])
    data = [datum(ref=np.log([[0.25, 0.25, 0.5]]))]
    expected = {
        KLDivergence(reference_field="ref"): 0.0894502,
        KLDivergence(reference_field="ref", direction="reverse"): 0.0923315,
        KLDivergence(reference_field="ref", symmetric=True): 0.0908909,
    }
    for regularizer, number in expected.items():
        loss, metrics = regularizer(data, lp)
        assert loss.shape == ()
        assert loss.item() == pytest.approx(number, abs=1e-7)
        assert metrics["kl_divergence"] == pytest.approx(number, abs=1e-7)
    _, metrics = KLDivergence(reference_field="ref", direction="reverse")(data, lp)
    assert metrics["kl_direction"] == "reverse"
    _, metrics = KLDivergence(reference_field="ref", symmetric=True)(data, lp)
    assert metrics["kl_symmetric"] is True


def test_entropy_adapter_modes() -> None:  # 58
    uniform = np.log([[0.25] * 4])
    maximize = loss_value(Entropy(mode="maximize"), None, uniform)
    minimize = loss_value(Entropy(mode="minimize"), None, uniform)
    assert maximize <= 0 <= minimize
    assert maximize == pytest.approx(-1.3862944, abs=1e-7)
    assert minimize == pytest.approx(1.3862944, abs=1e-7)
    loss, metrics = Entropy(mode="maximize", temperature=0.5)(None, uniform)
    assert metrics["temperature"] == 0.5
    assert metrics["mode"] == "maximize"
    assert loss.item() == pytest.approx(-1.3862944, abs=1e-7)


def test_entropy_adapter_temperatures() -> None:  # 59
    lp = np.log([[0.6, 0.3, 0.1]])
    values = [loss_value(Entropy(mode="maximize", temperature=t), None, lp) for t in (1, 0.5, 2)]
    assert len(set(values)) == 3
    np.testing.assert_allclose(values, [-0.8979457, -0.5942565, -1.0379713], atol=1e-7)


def test_consistency_adapter() -> None:  # 60
    data = [datum(original_logprobs=np.log([[0.4, 0.6]]))]
    loss, metrics = Consistency()(data, np.log([[0.5, 0.5]]))
    assert loss.shape == ()
    assert metrics["consistency_metric"] == "mse"
    assert loss.item() == pytest.approx(0.0415171, abs=1e-7)


def test_orthogonality_and_gradient_penalty_adapters() -> None:  # 61
    loss, metrics = Orthogonality()(None, np.log([[0.5, 0.5], [0.4, 0.6]]))
    assert loss.shape == ()
    assert loss.item() == pytest.approx(1.8506159, abs=1e-7)
    assert metrics == {"orthogonality": pytest.approx(1.8506159, abs=1e-7)}
    lp = np.log([[0.5, 0.5]])
    expected = (math.sqrt(2) - 1) ** 2
    output, metrics = GradientPenalty(lambda x: x.sum())(None, lp)
    assert output.item() == pytest.approx(0.1715729, abs=1e-7)
    assert metrics == {}
    interpolated = GradientPenalty(lambda x: x.sum(), mode="interpolated")
    loss, _ = interpolated([datum(reference_logprobs=np.log([[0.9, 0.1]]))], lp)
    assert loss.item() == pytest.approx(expected)


def test_norm_penalties_in_a_pipeline() -> None:  # 78
    out = compute(
        [], [1.0, 1.0, 1.0], zero_base, regularizers=[L1().spec(1.0)], track_grad_norms=True
    )
    assert out.regularizers["l1_sparsity"].grad_norm == pytest.approx(math.sqrt(3))
    assert out.total_grad_norm == pytest.approx(math.sqrt(3))
    both = [L1().spec(0.5), L2().spec(0.5)]
    out = compute([], [1.0, 1.0], zero_base, regularizers=both, track_grad_norms=True)
    assert out.total_grad_norm == pytest.approx(2.1213203, abs=1e-7)  # √4.5
    out = compute([], [1.0, 1.0], zero_base, regularizers=[], track_grad_norms=True)
    assert out.regularizers == {} and out.total_grad_norm == 0.0


def test_weighted_totals_in_a_pipeline() -> None:  # 79
    out = compute([], [1.0, -2.0, 3.0], zero_base, regularizers=[L1().spec(0.1)])
    assert out.regularizer_total == pytest.approx(0.6)
    assert out.regularizers["l1_sparsity"].value == pytest.approx(6.0)
    assert out.regularizers["l1_sparsity"].contribution == pytest.approx(0.6)
    both = [L1().spec(0.1), L2().spec(0.01)]
    assert compute([], [1.0, 2.0], zero_base, regularizers=both).loss_total == pytest.approx(0.35)
    assert compute([], [1.0, -2.0, 3.0], zero_base).loss_total == 0.0
    # an lambda_ option scales the raw value before the weight
    out = compute([], [1.0, -2.0, 3.0], zero_base, regularizers=[L1(lambda_=2.0).spec(1.0)])
    assert out.loss_total == pytest.approx(12.0)


def test_gradients_in_a_pipeline() -> None:  # 80
    gradient = mg.grad(lambda lp: 0.01 * L2()(None, lp)[0])([1.0, 2.0, 3.0])
    np.testing.assert_allclose(gradient, [0.02, 0.04, 0.06])
    out = compute(
        [],
        [1.0, 2.0, 3.0],
        zero_base,
        regularizers=[L1().spec(0.001), L2().spec(0.01)],
        track_grad_norms=True,
    )
    assert out.regularizers["l1_sparsity"].grad_norm == pytest.approx(math.sqrt(3))
    assert out.regularizers["l2_weight_decay"].grad_norm == pytest.approx(math.sqrt(56))
    assert out.total_grad_norm == pytest.approx(0.0764395, abs=1e-7)


def test_consistency_in_a_pipeline() -> None:  # 81
    data = [datum(original_logprobs=np.array([1.1, 2.1, 3.1]))]
    out = compute(data, [1.0, 2.0, 3.0], zero_base, regularizers=[Consistency().spec(1.0)])
    assert out.regularizers["consistency"].custom["consistency"] == pytest.approx(0.01, abs=1e-4)
    with pytest.raises(Exception, match="original_logprobs"):
        compute([datum()], [1.0, 2.0, 3.0], zero_base, regularizers=[Consistency().spec(1.0)])
    assert compute(data, [1.0, 2.0, 3.0], zero_base, regularizers=[]).loss_total == 0.0


# ------------------------------------------------- construction and naming


def test_defaults_and_names() -> None:
    assert [r.name for r in all_eight()] == [
        "l1_sparsity",
        "l2_weight_decay",
        "elastic_net",
        "entropy",
        "kl_divergence",
        "consistency",
        "orthogonality",
        "gradient_penalty",
    ]
    assert (L1().target, L1().reduction, L1().lambda_) == ("logprobs", "sum", 1.0)
    assert (L2().clip, L2().center) == (None, None)
    assert ElasticNet().l1_ratio == 0.5
    entropy = Entropy()
    assert (entropy.mode, entropy.reduction, entropy.normalize, entropy.temperature) == (
        "minimize",
        "mean",
        False,
        1.0,
    )
    kl = KLDivergence(reference_logprobs=[0.0])
    assert (kl.direction, kl.symmetric, kl.reduction) == ("forward", False, "mean")
    consistency = Consistency()
    assert (consistency.pair_field, consistency.metric, consistency.reduction) == (
        "original_logprobs",
        "mse",
        "mean",
    )
    orthogonality = Orthogonality()
    assert (orthogonality.mode, orthogonality.normalize, orthogonality.axis) == (
        "soft",
        True,
        "rows",
    )
    penalty = GradientPenalty(cubic)
    assert (penalty.mode, penalty.target_norm, penalty.reference_field) == (
        "output",
        1.0,
        "reference_logprobs",
    )


def test_spec_convenience() -> None:
    spec = L2(lambda_=0.1).spec(0.5)
    assert isinstance(spec, RegularizerSpec)
    assert (spec.name, spec.weight) == ("l2_weight_decay", 0.5)
    assert L2().spec(1.0, name="decay").name == "decay"
    with pytest.raises(ValueError, match="weight"):
        L1().spec(-1.0)
    # An instance is also a plain two-argument fn for a hand-made spec.
    out = compute([], [1.0, -2.0], zero_base, regularizers=[RegularizerSpec(L1(), 2.0, "mine")])
    assert out.regularizers["mine"].contribution == pytest.approx(6.0)


def test_repr_shows_options() -> None:
    assert repr(L1(lambda_=0.5)) == "L1(target='logprobs', reduction='sum', lambda_=0.5)"
    assert "reference_field='ref'" in repr(KLDivergence(reference_field="ref"))


@pytest.mark.parametrize(
    ("make", "option", "bad"),
    [
        (lambda: L1(target="values"), "target", "'values'"),
        (lambda: L2(target=("field",)), "target", "('field',)"),
        (lambda: ElasticNet(target=("column", "w")), "target", "('column', 'w')"),
        (lambda: L1(reduction="none"), "reduction", "'none'"),
        (lambda: L2(center="median"), "center", "'median'"),
        (lambda: Entropy(mode="penalty"), "mode", "'penalty'"),
        (lambda: Entropy(reduction="none"), "reduction", "'none'"),
        (lambda: KLDivergence(reference_logprobs=[0.0], direction="both"), "direction", "'both'"),
        (lambda: KLDivergence(reference_logprobs=[0.0], reduction="none"), "reduction", "'none'"),
        (lambda: Consistency(metric="huber"), "metric", "'huber'"),
        (lambda: Orthogonality(axis="columns"), "axis", "'columns'"),
        (lambda: GradientPenalty(cubic, mode="input"), "mode", "'input'"),
    ],
)
def test_unknown_options_name_option_and_value(make: Any, option: str, bad: str) -> None:
    with pytest.raises(ValueError, match=option) as info:
        make()
    assert bad in str(info.value)


def test_bad_numbers_and_callables() -> None:
    with pytest.raises(ValueError, match="l1_ratio"):
        ElasticNet(l1_ratio=-0.1)
    with pytest.raises(ValueError, match="temperature"):
        Entropy(temperature=-1.0)
    with pytest.raises(ValueError, match="clip"):
        L2(clip=0)
    with pytest.raises(TypeError, match="loss_fn"):
        GradientPenalty("sum")
    with pytest.raises(TypeError, match="compute_reference"):
        KLDivergence(compute_reference=42)


def test_kl_needs_a_reference() -> None:
    with pytest.raises(ValueError, match="requires a reference"):
        KLDivergence()


# ----------------------------------------------------------- targets


def test_targets() -> None:
    lp = np.log([0.5, 0.25, 0.25])
    assert loss_value(L1(), None, lp) == pytest.approx(np.abs(lp).sum())
    assert loss_value(L1(target="probs"), None, lp) == pytest.approx(1.0)
    data = [datum(weights=[1.0, -2.0, 3.0])]
    assert loss_value(L1(target=("field", "weights")), data, lp) == pytest.approx(6.0)
    assert loss_value(L2(target=["field", "weights"]), data, lp) == pytest.approx(14.0)
    # A field target is a constant: no gradient flows to the logprobs.
    gradient = mg.grad(lambda t: L1(target=("field", "weights"))(data, t)[0])(lp)
    np.testing.assert_array_equal(gradient, np.zeros(3))


def test_field_is_joined_across_data() -> None:
    data = [datum(weights=[1.0, -2.0]), datum(weights=[3.0])]
    loss, metrics = L1(target=("field", "weights"))(data, [0.0, 0.0, 0.0])
    assert loss.item() == 6.0 and metrics["l1_mean"] == 2.0
    refs = [datum(ref=np.log([0.5, 0.5])), datum(ref=np.log([0.25]))]
    kl = KLDivergence(reference_field="ref")
    assert loss_value(kl, refs, np.log([0.5, 0.5, 0.25])) == pytest.approx(0.0)


def test_field_read_from_tensor_data_and_tensors() -> None:
    data = [datum(weights=TensorData([1.0, -2.0], "float64"), extra=mg.Tensor([4.0]))]
    assert loss_value(L1(target=("field", "weights")), data, [0.0]) == 3.0
    assert loss_value(L1(target=("field", "extra")), data, [0.0]) == 4.0


def test_empty_data_with_field_target_names_the_field() -> None:
    for regularizer, field in (
        (L1(target=("field", "weights")), "weights"),
        (KLDivergence(reference_field="ref_lp"), "ref_lp"),
        (Consistency(), "original_logprobs"),
        (GradientPenalty(cubic, mode="interpolated"), "reference_logprobs"),
    ):
        with pytest.raises(ValueError, match=f"data is empty.*'{field}'"):
            regularizer([], [0.0, 0.0])


def test_missing_field_is_a_key_error_naming_it() -> None:
    data = [datum(weights=[1.0])]
    for regularizer, field in (
        (L2(target=("field", "advantages")), "advantages"),
        (KLDivergence(reference_field="ref_lp"), "ref_lp"),
        (Consistency(pair_field="clean"), "clean"),
        (GradientPenalty(cubic, mode="interpolated"), "reference_logprobs"),
    ):
        with pytest.raises(KeyError, match=f"'{field}'"):
            regularizer(data, [0.0])


def test_missing_field_in_a_later_datum_names_its_index() -> None:
    data = [datum(ref=np.array([0.0])), datum(weights=[1.0])]
    with pytest.raises(KeyError, match=r"data\[1\]"):
        KLDivergence(reference_field="ref")(data, [0.0, 0.0])


def test_datum_without_loss_fn_inputs() -> None:
    with pytest.raises(ValueError, match="loss_fn_inputs"):
        L1(target=("field", "w"))([object()], [0.0])


# -------------------------------------------------------------- references


def test_kl_reference_sources_and_priority() -> None:
    lp = np.log([0.4, 0.3, 0.3])
    ref = np.log([0.25, 0.25, 0.5])
    expected = 0.0894502
    data = [datum(ref=ref)]
    sources = [
        KLDivergence(reference_logprobs=ref),
        KLDivergence(reference_logprobs=TensorData.from_numpy(ref)),
        KLDivergence(reference_logprobs=mg.Tensor(ref)),
        KLDivergence(reference_logprobs=list(ref)),
        KLDivergence(reference_field="ref"),
        KLDivergence(compute_reference=lambda data: data[0].loss_fn_inputs["ref"]),
        KLDivergence(compute_reference=lambda data: ref),
    ]
    for regularizer in sources:
        assert loss_value(regularizer, data, lp) == pytest.approx(expected, abs=1e-7)
    # reference_logprobs wins over the field, the field over the callback
    first = KLDivergence(reference_logprobs=lp, reference_field="ref", compute_reference=print)
    assert loss_value(first, data, lp) == 0.0
    second = KLDivergence(reference_field="ref", compute_reference=lambda data: lp)
    assert loss_value(second, data, lp) == pytest.approx(expected, abs=1e-7)
    # a falsy reference is still a reference (is-not-None, not truthiness)
    falsy = KLDivergence(reference_logprobs=[0.0], reference_field="missing")
    assert loss_value(falsy, None, [0.0]) == 0.0


@pytest.mark.parametrize(
    ("regularizer", "what"),
    [
        (KLDivergence(reference_field="ref"), "KL divergence"),
        (Consistency(pair_field="ref"), "consistency"),
        (GradientPenalty(cubic, mode="interpolated", reference_field="ref"), "gradient penalty"),
    ],
)
def test_reference_shape_mismatch_shows_both_shapes(regularizer: Any, what: str) -> None:
    data = [datum(ref=np.zeros((2, 3)))]
    with pytest.raises(ValueError, match=f"Shape mismatch in {what}") as info:
        regularizer(data, np.zeros((3, 2)))
    assert "logprobs: (3, 2)" in str(info.value) and "reference: (2, 3)" in str(info.value)


def test_explicit_reference_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"logprobs: \(2,\), reference: \(3,\)"):
        KLDivergence(reference_logprobs=np.zeros(3))(None, np.zeros(2))


def test_kl_metrics_per_row() -> None:
    lp = normalised([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    ref = normalised([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    loss, metrics = KLDivergence(reference_logprobs=ref, reduction="sum")(None, lp)
    assert metrics["kl_min"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["kl_max"] == pytest.approx(loss.item())
    assert metrics["kl_divergence"] == pytest.approx(loss.item())


# ------------------------------------------------------------------ metrics


@pytest.mark.parametrize("regularizer", all_eight(), ids=lambda r: r.name)
def test_metrics_are_host_values_and_loss_is_a_scalar_tensor(regularizer: Regularizer) -> None:
    lp = normalised(np.random.default_rng(1).normal(size=(2, 3)))
    leaf = mg.Tensor(lp, requires_grad=True)
    loss, metrics = regularizer(paired_data(lp), leaf)
    assert isinstance(loss, mg.Tensor) and loss.shape == () and loss.requires_grad
    for key, metric in metrics.items():
        assert isinstance(key, str)
        assert type(metric) in (float, str, bool), (key, metric)
    loss.backward()
    assert leaf.grad is not None and np.all(np.isfinite(leaf.grad.data))


def test_regularizers_accept_minus_inf_logprobs() -> None:
    lp = np.array([[0.0, -np.inf, -np.inf], [math.log(0.5), math.log(0.5), -np.inf]])
    ref = np.log([[0.2, 0.3, 0.5], [0.5, 0.25, 0.25]])
    data = [datum(ref=ref, original=lp.copy())]
    for regularizer in (
        Entropy(),
        Entropy(mode="maximize", temperature=2.0, normalize=True),
        KLDivergence(reference_field="ref"),
        KLDivergence(reference_field="ref", direction="reverse"),
        Consistency(pair_field="original"),
        Consistency(pair_field="ref", metric="kl"),
        L1(target="probs"),
    ):
        (loss, metrics), gradient = mg.value_and_grad(
            lambda t, r=regularizer: r(data, t), has_aux=True
        )(lp)
        assert np.isfinite(loss.item()) and np.all(np.isfinite(gradient.data)), regularizer
        assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))


# ------------------------------------------- gradients vs finite differences

ELEMENTS = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
FIXED = (
    np.array([0.3, -1.2]),
    np.array([[0.5, -1.1], [1.3, 0.2], [-0.6, 0.9]]),
    np.array([[0.4, -0.9]]),
)


@example(logits=FIXED[0])
@example(logits=FIXED[1])
@example(logits=FIXED[2])
@settings(max_examples=20)
@given(
    logits=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3),
        elements=ELEMENTS,
    )
)
def test_every_regularizer_gradchecks(logits: np.ndarray) -> None:
    lp = normalised(logits)
    rows = lp.reshape(-1, lp.shape[-1])
    assume(np.all(np.linalg.norm(rows, axis=1) > 1e-2))  # orthogonality's normalisation
    data = paired_data(lp, seed=lp.size)
    for regularizer in all_eight():
        assert mg.gradcheck(lambda t, r=regularizer: r(data, t)[0], lp), regularizer
    for regularizer in (
        L1(reduction="mean"),
        Entropy(normalize=lp.shape[-1] > 1),
        KLDivergence(reference_field="reference_logprobs", direction="reverse", reduction="sum"),
        Consistency(metric="kl"),
        Consistency(metric="cosine"),
        GradientPenalty(cubic, target_norm=2.0),
    ):
        assert mg.gradcheck(lambda t, r=regularizer: r(data, t)[0], lp), regularizer


@example(logits=FIXED[0])
@example(logits=FIXED[1])
@example(logits=FIXED[2])
@settings(max_examples=15)
@given(
    logits=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3),
        elements=ELEMENTS,
    )
)
def test_gradient_penalty_regularizer_second_order(logits: np.ndarray) -> None:
    lp = normalised(logits)
    data = paired_data(lp, seed=lp.size)
    for regularizer in (GradientPenalty(cubic), GradientPenalty(cubic, mode="interpolated", rng=3)):
        assert mg.gradgradcheck(lambda t, r=regularizer: r(data, t)[0], lp)


@pytest.mark.parametrize("regularizer", all_eight(), ids=lambda r: r.name)
def test_tracked_grad_norm_matches_finite_differences(regularizer: Regularizer) -> None:
    lp = normalised(np.random.default_rng(3).normal(size=(3, 4)))
    data = paired_data(lp, seed=4)
    out = compute(
        data,
        lp,
        lambda data, t: (-t.sum(), {}),
        regularizers=[regularizer.spec(0.25)],
        track_grad_norms=True,
    )
    output = out.regularizers[regularizer.name]
    numerical = mg.numerical_grad(lambda t: regularizer(data, t)[0], lp)
    assert output.grad_norm > 0
    assert output.grad_norm == pytest.approx(np.linalg.norm(numerical), rel=1e-6)
    assert output.grad_norm_weighted == pytest.approx(0.25 * output.grad_norm)
    assert output.value == pytest.approx(loss_value(regularizer, data, lp))
    total = mg.numerical_grad(lambda t: -t.sum() + 0.25 * regularizer(data, t)[0], lp)
    assert out.total_grad_norm == pytest.approx(np.linalg.norm(total), rel=1e-6)
    check_regularizer(regularizer.spec(1.0), data, lp).raise_for_failure()


def test_all_eight_together_with_tracking() -> None:
    lp = normalised(np.random.default_rng(8).normal(size=(2, 5)))
    data = paired_data(lp, seed=9)
    regularizers = all_eight()
    weights = [0.5, 0.1, 0.2, 0.3, 0.4, 0.6, 0.05, 0.15]
    specs = [r.spec(w) for r, w in zip(regularizers, weights, strict=True)]
    out = compute(
        data, lp, lambda data, t: (-t.mean(), {}), regularizers=specs, track_grad_norms=True
    )
    assert list(out.regularizers) == [r.name for r in regularizers]

    def total(t: mg.Tensor) -> mg.Tensor:
        terms = [w * r(data, t)[0] for r, w in zip(regularizers, weights, strict=True)]
        return -t.mean() + sum(terms)

    assert out.loss_total == pytest.approx(float(total(mg.Tensor(lp)).item()))
    assert out.total_grad_norm == pytest.approx(
        np.linalg.norm(mg.numerical_grad(total, lp)), rel=1e-6
    )
    for regularizer in regularizers:
        assert out.regularizers[regularizer.name].grad_norm > 0, regularizer.name


def test_kl_and_consistency_report_their_true_gradient_norm() -> None:
    # The original reports 0.0 for both under tracking; here the norm is the real one.
    lp = np.log([0.4, 0.3, 0.3])
    data = [datum(original_logprobs=np.log([0.2, 0.2, 0.6]))]
    kl = KLDivergence(reference_logprobs=np.log([0.25, 0.25, 0.5]))
    out = compute(
        data,
        lp,
        zero_base,
        regularizers=[kl.spec(1.0), Consistency().spec(1.0)],
        track_grad_norms=True,
    )
    # d KL / d p_j = exp(p_j)(p_j − q_j + 1) / rows, with one row here
    p, q = np.log([0.4, 0.3, 0.3]), np.log([0.25, 0.25, 0.5])
    expected_kl = np.linalg.norm(np.exp(p) * (p - q + 1))
    assert out.regularizers["kl_divergence"].grad_norm == pytest.approx(expected_kl)
    clean = np.log([0.2, 0.2, 0.6])
    expected_consistency = np.linalg.norm(2 * (p - clean) / 3)
    assert out.regularizers["consistency"].grad_norm == pytest.approx(expected_consistency)
