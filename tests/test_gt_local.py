"""Tests for gradtrack.local: the character model and the local training client."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from gradtrack.custom_loss import TrainingClient, forward_backward_custom
from gradtrack.demo.run import nll_loss
from gradtrack.local import AdamParams, CharLM, CharVocab, LocalTrainingClient
from gradtrack.regularizers import Entropy
from gradtrack.types import Datum, ModelInput, TensorData

VOCAB = 6


def tiny_model(dtype: type = np.float64, seed: int = 0) -> CharLM:
    return CharLM(VOCAB, context=3, embed_dim=2, hidden=5, rng=seed, dtype=dtype)


def datum(tokens: list[int], targets: list[int], weights: list[float] | None = None) -> Datum:
    inputs: dict = {"target_tokens": targets}
    if weights is not None:
        inputs["weights"] = TensorData.from_numpy(np.asarray(weights, dtype=np.float64))
    return Datum(ModelInput.from_ints(tokens), inputs)


# Two data of different lengths, with weights of both signs (as custom losses produce).
DATA = [
    datum([0, 1, 2], [1, 2, 3], [0.5, -1.0, 2.0]),
    datum([4, 5, 0, 1, 3], [5, 0, 1, 3, 2], [1.0, 0.25, -0.5, 1.5, 0.75]),
]


# ------------------------------------------------------------------- vocabulary


def test_vocab_round_trip_and_unknown_character() -> None:
    vocab = CharVocab.from_text("the fox and the crow")
    assert vocab.decode(vocab.encode("a fox")) == "a fox"
    with pytest.raises(ValueError, match="'z' at position 2"):
        vocab.encode("a z")


def test_vocab_rejects_bad_characters() -> None:
    with pytest.raises(ValueError, match="single characters"):
        CharVocab(["ab"])
    with pytest.raises(ValueError, match="distinct"):
        CharVocab("aa")


# ------------------------------------------------------------------------ model


def test_windows_pad_on_the_left() -> None:
    model = tiny_model()
    assert model.windows([2, 4]).tolist() == [[VOCAB, VOCAB, 2], [VOCAB, 2, 4]]


def test_target_logprobs_come_from_a_normalised_distribution() -> None:
    model = tiny_model()
    windows = model.windows([0, 1, 2, 3])
    with mg.no_grad():
        every = np.stack([model.target_logprobs(windows, np.full(4, k)).data for k in range(VOCAB)])
    np.testing.assert_allclose(np.exp(every).sum(axis=0), 1.0, rtol=1e-12)


def test_same_seed_same_model_and_samples() -> None:
    a, b = tiny_model(seed=3), tiny_model(seed=3)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert a.sample([1, 2], 20, rng=7).tolist() == b.sample([1, 2], 20, rng=7).tolist()


def test_model_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="context"):
        CharLM(5, context=0)


# ----------------------------------------------------------------------- client


def test_client_follows_the_training_client_protocol() -> None:
    assert isinstance(LocalTrainingClient(tiny_model()), TrainingClient)


def test_forward_returns_one_logprobs_tensor_per_datum() -> None:
    client = LocalTrainingClient(tiny_model())
    out = client.forward(DATA, "cross_entropy")
    logprobs = [entry["logprobs"].to_numpy() for entry in out.loss_fn_outputs]
    assert [lp.shape for lp in logprobs] == [(3,), (5,)]
    assert all(lp.dtype == np.float64 for lp in logprobs)
    # The same numbers as asking the model directly.
    model = client.model
    direct = model.target_logprobs(model.windows([0, 1, 2]), [1, 2, 3]).data
    np.testing.assert_allclose(logprobs[0], direct, rtol=1e-12)
    # The loss is the weighted cross-entropy −Σ w · logprob.
    weights = [d.loss_fn_inputs["weights"].to_numpy() for d in DATA]
    expected = -sum(float(np.dot(w, lp)) for w, lp in zip(weights, logprobs, strict=True))
    assert out.metrics["loss"] == pytest.approx(expected, rel=1e-12)
    assert out.metrics["tokens"] == 8


def test_forward_does_not_touch_gradients() -> None:
    client = LocalTrainingClient(tiny_model())
    client.forward(DATA)
    assert all(p.grad is None for p in client.model.parameters())


def test_forward_backward_gradient_matches_finite_differences() -> None:
    client = LocalTrainingClient(tiny_model(np.float64))
    client.forward_backward(DATA, "cross_entropy")
    for index, param in enumerate(client.model.parameters()):
        analytic = param.grad.data.copy()

        def loss_at(values: mg.Tensor, param: mg.Tensor = param) -> float:
            saved = param.data
            param.data = np.asarray(values.data, dtype=np.float64).reshape(saved.shape)
            try:
                return client.forward(DATA).metrics["loss"]
            finally:
                param.data = saved

        numerical = mg.numerical_grad(loss_at, param.data.copy())
        np.testing.assert_allclose(
            analytic, numerical, rtol=1e-5, atol=1e-8, err_msg=f"parameter {index}"
        )


def test_gradients_accumulate_until_the_optimizer_step() -> None:
    client = LocalTrainingClient(tiny_model())
    client.forward_backward(DATA)
    once = [p.grad.data.copy() for p in client.model.parameters()]
    client.forward_backward(DATA)
    for p, g in zip(client.model.parameters(), once, strict=True):
        np.testing.assert_allclose(p.grad.data, 2 * g, rtol=1e-12)
    before = [p.data.copy() for p in client.model.parameters()]
    assert client.optim_step(AdamParams(learning_rate=0.1)) == {"step": 1, "learning_rate": 0.1}
    assert all(p.grad is None for p in client.model.parameters())
    assert any(
        not np.array_equal(p.data, b)
        for p, b in zip(client.model.parameters(), before, strict=True)
    )


def test_missing_weights_mean_one() -> None:
    client = LocalTrainingClient(tiny_model())
    plain = [datum([0, 1], [1, 2])]
    ones = [datum([0, 1], [1, 2], [1.0, 1.0])]
    assert client.forward(plain).metrics["loss"] == client.forward(ones).metrics["loss"]


def test_custom_loss_trains_the_gradient_of_the_loss() -> None:
    # forward_backward_custom with the mean NLL must leave in the parameters
    # exactly the gradient of the mean NLL taken directly (the linearisation).
    data = [datum([0, 1, 2], [1, 2, 3]), datum([4, 5, 0, 1, 3], [5, 0, 1, 3, 2])]
    client = LocalTrainingClient(tiny_model())
    forward_backward_custom(client, data, nll_loss)
    through_server = [p.grad.data.copy() for p in client.model.parameters()]

    model = tiny_model()
    windows = np.concatenate([model.windows([0, 1, 2]), model.windows([4, 5, 0, 1, 3])])
    targets = [1, 2, 3, 5, 0, 1, 3, 2]
    (-model.target_logprobs(windows, targets).mean()).backward()
    for p, g in zip(model.parameters(), through_server, strict=True):
        np.testing.assert_allclose(g, p.grad.data, rtol=1e-9, atol=1e-12)


def test_custom_loss_steps_lower_the_loss() -> None:
    vocab = CharVocab.from_text("the cat sat on the mat. ")
    tokens = vocab.encode("the cat sat on the mat. " * 3)
    data = [Datum(ModelInput.from_ints(tokens[:-1].tolist()), {"target_tokens": tokens[1:]})]
    client = LocalTrainingClient(CharLM(len(vocab), context=4, hidden=16, rng=0))
    losses = []
    for _ in range(30):
        out = forward_backward_custom(
            client, data, nll_loss, regularizers=[Entropy().spec(1e-3)], track_grad_norms=True
        )
        client.optim_step(AdamParams(learning_rate=0.02))
        losses.append(out.metrics["nll"])
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([datum([0, 1], [1])], r"data\[0\]: target_tokens shape \(1,\)"),
        ([Datum(ModelInput.from_ints([0]), {})], r"data\[0\]: target_tokens missing"),
        ([datum([0], [1]), datum([0, 9], [1, 2])], r"data\[1\]: input token 9 at position 1"),
        ([datum([0], [-1])], r"data\[0\]: target token -1"),
        ([datum([0, 1], [1, 2], [1.0])], r"data\[0\]: weights shape \(1,\)"),
    ],
)
def test_bad_data_is_named(data: list[Datum], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LocalTrainingClient(tiny_model()).forward(data)


def test_unknown_loss_fn_and_bad_arguments() -> None:
    client = LocalTrainingClient(tiny_model())
    with pytest.raises(ValueError, match="'ppo'"):
        client.forward(DATA, "ppo")
    with pytest.raises(TypeError, match="list of Datum"):
        client.forward(DATA[0])
    with pytest.raises(TypeError, match="AdamParams"):
        client.optim_step({"learning_rate": 0.1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="CharLM"):
        LocalTrainingClient(mg.nn.MLP([2, 2]))  # type: ignore[arg-type]


def test_empty_data_gives_empty_outputs() -> None:
    out = LocalTrainingClient(tiny_model()).forward([])
    assert out.loss_fn_outputs == [] and out.metrics["loss"] == 0.0


@pytest.mark.parametrize("kwargs", [{"learning_rate": 0.0}, {"beta1": 1.0}, {"eps": float("nan")}])
def test_adam_params_are_checked(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        AdamParams(**kwargs)
