"""gradtrack with ``jit=True``: the same outputs as eager, one compilation per signature."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from gradtrack import pipeline, terms
from gradtrack.custom_loss import forward_backward_custom
from gradtrack.regularizers import L2, Entropy, KLDivergence
from gradtrack.tracker import compute_grad_norm
from gradtrack.types import RegularizerSpec
from minigrad import kernels
from tests.test_gt_custom_loss import TinyLM, model_data, nll

COMPILING = not kernels.JIT_DISABLED and kernels.backend() == "numba"


def _w1_like(seed: int, shape: tuple[int, ...] = (4, 9)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lp = (-np.abs(rng.standard_normal(shape)) * 2).astype(np.float32)
    return {
        "lp": lp,
        "mask": (rng.uniform(size=shape) < 0.8).astype(np.float32),
        "ref": (-np.abs(rng.standard_normal(shape)) * 2).astype(np.float32),
    }


def _terms(d: dict[str, np.ndarray]) -> tuple[Any, list[RegularizerSpec]]:
    def base(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        return -(lp * d["mask"]).sum() / float(d["mask"].sum()), {"kind": "nll"}

    def entropy(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        return (-(mg.exp(lp) * lp).sum(axis=1)).mean(), {}

    def kl(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        return (mg.exp(d["ref"]) * (d["ref"] - lp)).mean(), {}

    def metric_reader(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        loss = mg.abs(lp).sum()
        return loss, {"value": loss.item()}  # reads a traced value: runs eagerly

    specs = [
        RegularizerSpec(entropy, 0.001, "entropy"),
        RegularizerSpec(kl, 0.01, "kl"),
        RegularizerSpec(metric_reader, 0.01, "l1"),
        RegularizerSpec(lambda data, lp: ((lp * lp).sum(), {}), 0.005, "l2"),
    ]
    return base, specs


@pytest.mark.parametrize("parallel", [True, False])
def test_compute_with_jit_equals_eager_on_new_values(parallel: bool) -> None:
    d = _w1_like(0)
    base, specs = _terms(d)
    for seed in (0, 1, 2):  # the same data object, new logprobs of the same shape
        d["lp"][...] = _w1_like(seed)["lp"]
        options = {"regularizers": specs, "track_grad_norms": True, "parallel": parallel}
        want = pipeline.compute([], d["lp"], base, **options)
        got = pipeline.compute([], d["lp"], base, jit=True, **options)
        assert got.loss_total == pytest.approx(want.loss_total, rel=1e-6)
        assert got.total_grad_norm == pytest.approx(want.total_grad_norm, rel=1e-6)
        assert got.base_loss["custom"] == {"kind": "nll"}
        for name, output in want.regularizers.items():
            assert got.regularizers[name].value == pytest.approx(output.value, rel=1e-6)
            assert got.regularizers[name].grad_norm == pytest.approx(output.grad_norm, rel=1e-6)
            assert got.regularizers[name].custom == output.custom


def test_each_term_is_traced_once_per_signature() -> None:
    calls = []

    def l2(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        calls.append(lp.shape)
        return (lp * lp).sum(), {}

    spec = RegularizerSpec(l2, 0.5, "l2")
    for values in ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [1.0, 2.0, 3.0]):
        out = pipeline.compute(
            [], values, lambda data, lp: (lp.sum(), {}), regularizers=[spec], jit=True
        )
        assert out.regularizers["l2"].value == pytest.approx(sum(v * v for v in values))
    assert len(calls) == (2 if COMPILING else 4)


def test_compute_grad_norm_with_jit_is_exact() -> None:
    x = np.random.default_rng(3).standard_normal(50_000).astype(np.float32)

    def loss(t: mg.Tensor) -> mg.Tensor:
        return (t * t).sum()

    for scale in (1.0, 3.0):
        want = compute_grad_norm(loss, x * scale)
        assert compute_grad_norm(loss, x * scale, jit=True) == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="scalar"):
        compute_grad_norm(lambda t: t * 2, x, jit=True)


def test_forward_backward_custom_with_jit_equals_eager() -> None:
    specs = [
        L2(lambda_=0.5).spec(0.1),
        KLDivergence(reference_field="ref", direction="reverse").spec(0.3),
        Entropy(mode="maximize").spec(0.2),
    ]
    data = model_data()
    outputs = []
    for jit in (False, True, True):
        client = TinyLM()
        out = forward_backward_custom(
            client, data, nll, regularizers=specs, track_grad_norms=True, jit=jit
        )
        outputs.append((out, [g.copy() for g in client.grads]))
    (want, want_grads), *compiled = outputs
    for got, grads in compiled:
        assert got.custom_loss.loss_total == pytest.approx(want.custom_loss.loss_total, rel=1e-9)
        assert got.custom_loss.total_grad_norm == pytest.approx(
            want.custom_loss.total_grad_norm, rel=1e-9
        )
        assert got.metrics == pytest.approx(want.metrics, rel=1e-9)
        for g, w in zip(grads, want_grads, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def test_a_term_that_cannot_be_traced_runs_eagerly(caplog: pytest.LogCaptureFixture) -> None:
    d = _w1_like(1)
    _, specs = _terms(d)
    reader = next(s for s in specs if s.name == "l1")
    with caplog.at_level(logging.INFO):
        evaluation = terms.evaluate_regularizer(reader, [], d["lp"], track=True, jit=True)
    assert evaluation.metrics == {"value": pytest.approx(float(np.abs(d["lp"]).sum()))}
    np.testing.assert_array_equal(evaluation.grad, -np.ones_like(d["lp"]))
    if COMPILING:
        assert "runs eagerly" in caplog.text


def test_cache_holds_the_data_and_tells_lists_apart() -> None:
    first = terms.compiled_for("key", [1, 2], lambda: lambda lp: lp)
    assert terms.compiled_for("key", [1, 2], lambda: lambda lp: lp) is first
    assert terms.compiled_for("key", [object()], lambda: lambda lp: lp) is not first

    @dataclasses.dataclass(eq=False)
    class Batch:
        mask: np.ndarray

    batch = Batch(np.ones(3))
    spec = RegularizerSpec(lambda data, lp: ((lp * data.mask).sum(), {}), 1.0, "masked")
    values = np.array([1.0, 2.0, 3.0])
    assert terms.evaluate_regularizer(spec, batch, values, track=False, jit=True).value == 6.0
    other = Batch(np.array([1.0, 0.0, 0.0]))  # new data: never the old batch's constants
    assert terms.evaluate_regularizer(spec, other, values, track=False, jit=True).value == 1.0


def test_a_term_meeting_new_data_at_every_call_goes_eager() -> None:
    traced = []

    def term(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        traced.append(1)
        return (lp * data[0]).sum(), {}

    for step in range(8):  # a fresh batch object at every step, as in a training loop
        batch = [float(step)]
        value = terms.evaluate_term(term, batch, [1.0, 2.0], track=True, jit=True).value
        assert value == 3.0 * step
    assert len(traced) == 8  # traced (or evaluated) once per step, never more
