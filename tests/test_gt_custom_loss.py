"""Tests for gradtrack.custom_loss: the pieces, vectors 50–53, and the linearisation proof.

The proof: a small minigrad language model serves as the training client.
``forward_backward_custom`` sends it synthetic cross-entropy data with
weights ``−∂L/∂ℓ``; the parameter gradient the model accumulates from that
must equal the gradient of ``L(ℓ(θ))`` taken directly through the model, to
1e-10 in float64 — for an NLL, a DPO-style pairwise loss over two data of
different lengths, and an NLL with three regularizers.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from gradtrack.custom_loss import (
    LINEAR_LOSS_FN,
    CustomForwardBackwardOutput,
    TrainingClient,
    build_linear_loss_data,
    compute_gradients,
    extract_per_datum_logprobs,
    forward_backward_custom,
)
from gradtrack.errors import PipelineError, RegularizerError
from gradtrack.regularizers import L2, Entropy, KLDivergence
from gradtrack.types import (
    CustomLossOutput,
    Datum,
    ForwardBackwardOutput,
    ModelInput,
    RegularizerSpec,
    TensorData,
)

# ----------------------------------------------------------------- clients


class TinyLM:
    """A one-layer language model over NumPy that is its own training server.

    ``logprob[t] = log_softmax(tanh(E[x_t]) @ W + b)[y_t]``, in float64. Like a
    server, ``forward_backward`` accumulates the parameter gradient of the
    weighted cross-entropy ``−Σ w ℓ`` in ``self.grads`` until ``zero_grad``.
    """

    def __init__(self, vocab: int = 7, width: int = 4, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params = (
            rng.normal(size=(vocab, width)),
            rng.normal(size=(width, vocab)) * 0.7,
            rng.normal(size=vocab) * 0.1,
        )
        self.calls: list[str] = []
        self.sent: list[Datum] = []
        self.zero_grad()

    def zero_grad(self) -> None:
        self.grads = [np.zeros_like(p) for p in self.params]

    @staticmethod
    def logprobs(params: Sequence[Any], datum: Datum) -> mg.Tensor:
        embedding, weight, bias = params
        tokens = np.asarray(datum.model_input.to_ints())
        targets = datum.loss_fn_inputs["target_tokens"].to_numpy()
        logits = mg.tanh(embedding[tokens]) @ weight + bias
        return mg.log_softmax(logits, axis=-1)[np.arange(len(targets)), targets]

    def forward(self, data: Sequence[Datum], loss_fn: str) -> ForwardBackwardOutput:
        self.calls.append(f"forward:{loss_fn}")
        with mg.no_grad():
            outputs = [
                {"logprobs": TensorData.from_numpy(self.logprobs(self.params, d).data)}
                for d in data
            ]
        return ForwardBackwardOutput(loss_fn, outputs, {})

    def forward_backward(self, data: Sequence[Datum], loss_fn: str) -> ForwardBackwardOutput:
        self.calls.append(f"forward_backward:{loss_fn}")
        self.sent = list(data)

        def cross_entropy(*params: mg.Tensor) -> mg.Tensor:
            total = 0.0
            for d in data:
                weights = d.loss_fn_inputs["weights"].to_numpy()
                total = total - (self.logprobs(params, d) * weights).sum()
            return total

        value, grads = mg.value_and_grad(cross_entropy, argnums=(0, 1, 2))(*self.params)
        for accumulated, g in zip(self.grads, grads, strict=True):
            accumulated += g.data
        outputs = [{"logprobs": TensorData.from_numpy(np.zeros(1))} for _ in data]
        return ForwardBackwardOutput(loss_fn, outputs, {"loss": float(value.item()), "server": 1.0})


class FixedClient:
    """Returns fixed logprobs and records what it was sent (vector 53)."""

    def __init__(self, logprobs: list[Any], metrics: dict[str, Any] | None = None) -> None:
        self.logprobs = logprobs
        self.metrics = {"loss": 0.25} if metrics is None else metrics
        self.calls: list[str] = []
        self.sent: list[Datum] = []

    def forward(self, data: Sequence[Datum], loss_fn: str) -> ForwardBackwardOutput:
        self.calls.append("forward")
        return ForwardBackwardOutput(loss_fn, [{"logprobs": lp} for lp in self.logprobs], {})

    def forward_backward(self, data: Sequence[Datum], loss_fn: str) -> ForwardBackwardOutput:
        self.calls.append("forward_backward")
        self.sent = list(data)
        return ForwardBackwardOutput(loss_fn, [], dict(self.metrics))


def make_datum(tokens: list[int], targets: list[int], **extra: Any) -> Datum:
    return Datum(ModelInput.from_ints(tokens), {"target_tokens": targets, **extra})


def model_data() -> list[Datum]:
    """Two data of different lengths, with per-token reference logprobs for KL."""
    rng = np.random.default_rng(42)
    chosen = make_datum([1, 4, 2], [4, 2, 6], ref=np.log(rng.uniform(0.05, 0.9, size=3)))
    rejected = make_datum([3, 5], [5, 0], ref=np.log(rng.uniform(0.05, 0.9, size=2)))
    return [chosen, rejected]


def direct_gradient(client: TinyLM, data: list[Datum], objective: Any) -> list[np.ndarray]:
    """∇θ objective(data, [ℓ_i(θ)]) through the model, by autodiff."""

    def through_model(*params: mg.Tensor) -> mg.Tensor:
        return objective(data, [TinyLM.logprobs(params, d) for d in data])

    grads = mg.grad(through_model, argnums=(0, 1, 2))(*client.params)
    return [g.data for g in grads]


# ------------------------------------------------------------- user losses


def nll(data: Any, logprobs: list[mg.Tensor]) -> tuple[mg.Tensor, dict[str, Any]]:
    loss = -mg.concatenate(logprobs).mean()
    return loss, {"nll": loss, "tokens": sum(lp.size for lp in logprobs)}


REFERENCE_TOTALS = (-2.1, -1.7)  # the reference model's summed logprobs of the two data
BETA = 0.5


def dpo(data: Any, logprobs: list[mg.Tensor]) -> tuple[mg.Tensor, dict[str, Any]]:
    chosen, rejected = logprobs
    margin = BETA * ((chosen.sum() - REFERENCE_TOTALS[0]) - (rejected.sum() - REFERENCE_TOTALS[1]))
    return mg.softplus(-margin), {"margin": margin}  # −log σ(margin)


REGULARIZERS = (
    (L2(lambda_=0.5), 0.1),
    (KLDivergence(reference_field="ref", direction="reverse"), 0.3),
    (Entropy(mode="maximize"), 0.2),
)


def nll_with_regularizers(data: Any, logprobs: list[mg.Tensor]) -> mg.Tensor:
    flat = mg.concatenate(logprobs)
    total = nll(data, logprobs)[0]
    for regularizer, weight in REGULARIZERS:
        total = total + weight * regularizer(data, flat)[0]
    return total


# ----------------------------------------------------- the linearisation


@pytest.mark.parametrize(
    ("loss_fn", "regularizers", "objective"),
    [
        pytest.param(nll, (), lambda d, lp: nll(d, lp)[0], id="nll"),
        pytest.param(dpo, (), lambda d, lp: dpo(d, lp)[0], id="dpo-pairwise"),
        pytest.param(
            nll,
            [r.spec(w) for r, w in REGULARIZERS],
            nll_with_regularizers,
            id="nll+l2+kl+entropy",
        ),
    ],
)
@pytest.mark.parametrize("track", [False, True], ids=["untracked", "tracked"])
def test_parameter_gradient_equals_direct_autodiff(
    loss_fn: Any, regularizers: Any, objective: Any, track: bool
) -> None:
    client, data = TinyLM(), model_data()
    out = forward_backward_custom(
        client, data, loss_fn, regularizers=regularizers, track_grad_norms=track
    )
    expected = direct_gradient(client, data, objective)
    for got, want in zip(client.grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    assert np.any(np.abs(expected[0]) > 1e-3)  # the check is not vacuous
    assert client.calls == ["forward:cross_entropy", "forward_backward:cross_entropy"]
    assert isinstance(out, CustomForwardBackwardOutput)
    assert (out.custom_loss is not None) == bool(regularizers or track)


def test_regularized_run_reports_the_pipeline_output() -> None:
    client, data = TinyLM(), model_data()
    specs = [r.spec(w) for r, w in REGULARIZERS]
    out = forward_backward_custom(client, data, nll, regularizers=specs, track_grad_norms=True)
    custom = out.custom_loss
    assert isinstance(custom, CustomLossOutput)
    assert list(custom.regularizers) == ["l2_weight_decay", "kl_divergence", "entropy"]
    # Values and gradient norms are those of the joined logprobs (data one after another).
    flat = np.concatenate([TinyLM.logprobs(client.params, d).data for d in data])
    assert custom.base_loss["value"] == pytest.approx(-flat.mean(), rel=1e-12)
    assert custom.base_loss["grad_norm"] == pytest.approx(np.linalg.norm(np.full(5, 1 / 5)))
    for regularizer, weight in REGULARIZERS:
        output = custom.regularizers[regularizer.name]
        assert output.weight == weight
        assert output.value == pytest.approx(float(regularizer(data, flat)[0].item()), rel=1e-12)
        numerical = mg.numerical_grad(lambda t, r=regularizer: r(data, t)[0], flat)
        assert output.grad_norm == pytest.approx(np.linalg.norm(numerical), rel=1e-6)
    total = mg.numerical_grad(lambda t: nll_with_regularizers(data, [t[:3], t[3:]]), flat)
    assert custom.total_grad_norm == pytest.approx(np.linalg.norm(total), rel=1e-6)
    assert out.to_dict()["custom_loss"]["regularizers"]["entropy"]["weight"] == 0.2


def test_loss_and_regularizers_are_evaluated_once() -> None:
    counts = {"loss": 0, "reg": 0}

    def counted_loss(data: Any, logprobs: list[mg.Tensor]) -> Any:
        counts["loss"] += 1
        return nll(data, logprobs)

    def counted_reg(data: Any, lp: mg.Tensor) -> Any:
        counts["reg"] += 1
        return (lp * lp).sum(), {}

    spec = RegularizerSpec(counted_reg, 0.5, "square")
    for track in (False, True):
        counts.update(loss=0, reg=0)
        forward_backward_custom(
            TinyLM(), model_data(), counted_loss, regularizers=[spec], track_grad_norms=track
        )
        assert counts == {"loss": 1, "reg": 1}
    counts.update(loss=0)
    forward_backward_custom(TinyLM(), model_data(), counted_loss)
    assert counts["loss"] == 1


def test_async_regularizer_through_the_route() -> None:
    async def squares(data: Any, lp: mg.Tensor) -> Any:
        await asyncio.sleep(0.001)
        return (lp * lp).sum(), {"async": True}

    client, data = TinyLM(), model_data()
    spec = RegularizerSpec(squares, 0.5, "squares", is_async=True)
    out = forward_backward_custom(client, data, nll, regularizers=[spec], track_grad_norms=True)
    assert out.custom_loss is not None
    assert out.custom_loss.regularizers["squares"].custom == {"async": True}

    def objective(data: Any, logprobs: list[mg.Tensor]) -> mg.Tensor:
        return nll(data, logprobs)[0] + 0.5 * (mg.concatenate(logprobs) ** 2).sum()

    for got, want in zip(client.grads, direct_gradient(client, data, objective), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def test_metrics_merge_user_over_server() -> None:
    client = TinyLM()

    def loss_fn(data: Any, logprobs: list[mg.Tensor]) -> Any:
        loss = -logprobs[0].sum()
        return loss, {"loss": loss, 3: np.float32(2.5), "vector": mg.Tensor([1.0, 2.0])}

    out = forward_backward_custom(client, model_data(), loss_fn)
    expected_loss = -float(TinyLM.logprobs(client.params, model_data()[0]).sum().item())
    assert out.metrics == {
        "loss": pytest.approx(expected_loss),
        "server": 1.0,
        "3": 2.5,
        "vector": [1.0, 2.0],
    }
    assert type(out.metrics["loss"]) is float


def test_weights_keep_float64() -> None:
    client = TinyLM()
    forward_backward_custom(client, model_data(), nll)
    for sent in client.sent:
        assert sent.loss_fn_inputs["weights"].dtype == "float64"
        assert sorted(sent.loss_fn_inputs) == ["target_tokens", "weights"]


# ------------------------------------------------------ ported vectors


def test_extract_per_datum_logprobs_keeps_lengths() -> None:  # 50
    output = ForwardBackwardOutput(
        "cross_entropy",
        [
            {"logprobs": TensorData([-1.0, -2.0], "float32")},
            {"logprobs": TensorData([-0.5, -1.5, -2.5], "float32")},
            {"logprobs": TensorData([-3.0], "float32")},
        ],
    )
    logprobs = extract_per_datum_logprobs(output)
    assert [lp.shape for lp in logprobs] == [(2,), (3,), (1,)]
    assert all(isinstance(lp, mg.Tensor) and lp.dtype == np.float32 for lp in logprobs)


def test_compute_gradients_of_a_sum() -> None:  # 51
    def loss_fn(data: Any, logprobs: list[mg.Tensor]) -> Any:
        return sum(lp.sum() for lp in logprobs), {"custom": 1.0}

    grads, metrics = compute_gradients([], [[-1.0, -2.0], [-0.5, -1.5]], loss_fn)
    assert [g.tolist() for g in grads] == [[1.0, 1.0], [1.0, 1.0]]
    assert metrics == {"custom": 1.0}


def test_build_linear_loss_data() -> None:  # 52
    datum = Datum(
        ModelInput.from_ints([1, 2, 3]),
        {"target_tokens": TensorData([4, 5, 6], "int64"), "advantages": [1.0, 1.0, 1.0]},
    )
    [linear] = build_linear_loss_data([datum], [np.array([0.1, 0.2, 0.3], dtype=np.float32)])
    np.testing.assert_allclose(linear.loss_fn_inputs["weights"].data, [-0.1, -0.2, -0.3], atol=1e-6)
    assert linear.loss_fn_inputs["target_tokens"] is datum.loss_fn_inputs["target_tokens"]
    assert linear.loss_fn_inputs["target_tokens"].data == [4, 5, 6]
    assert linear.model_input is datum.model_input
    assert "advantages" not in linear.loss_fn_inputs


def test_forward_backward_custom_end_to_end() -> None:  # 53
    client = FixedClient([TensorData([-1.0, -2.0], "float32")])
    data = [make_datum([1, 2], [2, 3])]

    def loss_fn(data: Any, logprobs: list[mg.Tensor]) -> Any:
        return logprobs[0].sum(), {"custom_metric": 7.0}

    out = forward_backward_custom(client, data, loss_fn)
    weights = client.sent[0].loss_fn_inputs["weights"]
    assert weights.data == [-1.0, -1.0]
    assert weights.dtype == "float32"
    assert client.calls == ["forward", "forward_backward"]  # forward first, then backward
    assert out.metrics == {"loss": 0.25, "custom_metric": 7.0}
    assert out.custom_loss is None
    assert isinstance(out, ForwardBackwardOutput)


# ------------------------------------------------------------- the pieces


def test_extract_accepts_chunks_and_wire_forms() -> None:
    first = ForwardBackwardOutput("x", [{"logprobs": [-1, -2]}])
    second = ForwardBackwardOutput(
        "x",
        [
            {"logprobs": {"data": [-1.0, -2.0, -3.0, -4.0], "dtype": "float64", "shape": [2, 2]}},
            {"logprobs": {"data": [-0.5], "dtype": "bfloat16"}},
            {"logprobs": np.array([-0.25])},
            {"logprobs": mg.Tensor([-0.125])},
        ],
    )
    logprobs = extract_per_datum_logprobs([first, second])
    assert [lp.shape for lp in logprobs] == [(2,), (2, 2), (1,), (1,), (1,)]
    assert [str(lp.dtype) for lp in logprobs] == [
        "float64",
        "float64",
        "float32",
        "float64",
        "float64",
    ]


def test_extract_errors() -> None:
    with pytest.raises(TypeError, match="ForwardBackwardOutput"):
        extract_per_datum_logprobs({"loss_fn_outputs": []})
    bad = ForwardBackwardOutput("x", [{"logprobs": [-1.0]}, {"values": [-1.0]}])
    with pytest.raises(ValueError, match=r"loss_fn_outputs\[1\].*missing or invalid logprobs"):
        extract_per_datum_logprobs(bad)


def test_compute_gradients_details() -> None:
    calls = []

    def loss_fn(data: Any, logprobs: list[mg.Tensor]) -> Any:
        calls.append(len(logprobs))
        return logprobs[0] * logprobs[1].sum(), {"n": mg.Tensor(2.0)}  # non-scalar: summed

    grads, metrics = compute_gradients(["d0", "d1"], [[1.0, 2.0], [3.0]], loss_fn)
    assert calls == [2]
    assert [g.tolist() for g in grads] == [[3.0, 3.0], [3.0]]
    assert metrics == {"n": 2.0}
    assert compute_gradients([], [], loss_fn) == ([], {})
    assert calls == [2]  # not called for no data
    constant, _ = compute_gradients([], [[1.0, 2.0]], lambda d, lp: (4.0, None))
    assert constant[0].tolist() == [0.0, 0.0]
    float32, _ = compute_gradients([], [np.ones(2, np.float32)], lambda d, lp: (lp[0].sum(), {}))
    assert float32[0].dtype == np.float32
    with pytest.raises(TypeError, match="pair"):
        compute_gradients([], [[1.0]], lambda d, lp: lp[0].sum())
    with pytest.raises(ZeroDivisionError):  # the loss's own exception propagates
        compute_gradients([], [[1.0]], lambda d, lp: (1 / 0, {}))


def test_build_linear_loss_data_errors() -> None:
    datum = make_datum([1, 2], [2, 3])
    with pytest.raises(ValueError, match="Gradient count does not match data count"):
        build_linear_loss_data([datum], [])
    with pytest.raises(ValueError, match="target_tokens missing"):
        build_linear_loss_data([Datum(ModelInput.from_ints([1]))], [np.zeros(1)])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        build_linear_loss_data([datum], [np.zeros(3)])
    with pytest.raises(ValueError, match="not finite"):
        build_linear_loss_data([datum], [np.array([1.0, np.nan])])
    [linear] = build_linear_loss_data([datum], [mg.Tensor([0.5, -0.5])])
    assert linear.loss_fn_inputs["weights"].data == [-0.5, 0.5]


def test_training_client_protocol() -> None:
    assert isinstance(TinyLM(), TrainingClient)
    assert isinstance(FixedClient([]), TrainingClient)
    assert not isinstance(object(), TrainingClient)
    assert LINEAR_LOSS_FN == "cross_entropy"


# ------------------------------------------------------------- bad input


def test_invalid_arguments_fail_before_any_request() -> None:
    client = FixedClient([TensorData([-1.0], "float32")])
    good = [make_datum([1], [2])]
    with pytest.raises(TypeError, match="forward_backward"):
        forward_backward_custom(object(), good, nll)
    with pytest.raises(ValueError, match="empty"):
        forward_backward_custom(client, [], nll)
    with pytest.raises(TypeError, match="Datum"):
        forward_backward_custom(client, [{"model_input": None}], nll)
    with pytest.raises(ValueError, match=r"target_tokens missing.*data\[1\]"):
        forward_backward_custom(client, [*good, Datum(ModelInput.from_ints([1]))], nll)
    with pytest.raises(TypeError, match="loss_fn"):
        forward_backward_custom(client, good, "nll")
    with pytest.raises(TypeError, match="RegularizerSpec"):
        forward_backward_custom(client, good, nll, regularizers=[L2()])
    twice = [L2().spec(1.0), L2().spec(0.5)]
    with pytest.raises(ValueError, match="Duplicate regularizer names"):
        forward_backward_custom(client, good, nll, regularizers=twice)
    assert client.calls == []


def test_forward_results_are_checked() -> None:
    data = [make_datum([1, 2], [2, 3])]
    with pytest.raises(ValueError, match="logprobs for 2 data, expected 1"):
        forward_backward_custom(FixedClient([[-1.0, -2.0], [-1.0, -2.0]]), data, nll)
    with pytest.raises(ValueError, match=r"logprobs shape \(3,\).*target_tokens shape \(2,\)"):
        forward_backward_custom(FixedClient([[-1.0, -2.0, -3.0]]), data, nll)
    client = FixedClient([[-1.0, -math.inf]])
    with pytest.raises(ValueError, match="not finite"):
        forward_backward_custom(client, data, nll)
    assert client.calls == ["forward"]  # nothing was sent back


def test_failures_inside_the_pipeline_name_their_term() -> None:
    data = [make_datum([1, 2], [2, 3])]

    def broken_loss(data: Any, logprobs: list[mg.Tensor]) -> Any:
        raise RuntimeError("bad loss")

    def broken_reg(data: Any, lp: mg.Tensor) -> Any:
        raise RuntimeError("bad regularizer")

    with pytest.raises(PipelineError):
        forward_backward_custom(
            FixedClient([[-1.0, -2.0]]), data, broken_loss, track_grad_norms=True
        )
    spec = RegularizerSpec(broken_reg, 1.0, "broken")
    with pytest.raises(RegularizerError, match="broken"):
        forward_backward_custom(FixedClient([[-1.0, -2.0]]), data, nll, regularizers=[spec])
    with pytest.raises(RuntimeError, match="bad loss"):
        forward_backward_custom(FixedClient([[-1.0, -2.0]]), data, broken_loss)


def test_non_output_from_forward_backward() -> None:
    class Careless(FixedClient):
        def forward_backward(self, data: Sequence[Datum], loss_fn: str) -> Any:
            return {"loss": 0.0}

    with pytest.raises(TypeError, match="ForwardBackwardOutput"):
        forward_backward_custom(Careless([[-1.0]]), [make_datum([1], [2])], nll)
