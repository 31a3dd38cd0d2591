"""TorchTrainingClient on a tiny randomly initialised Hugging Face GPT-2 (built from a config).

The linearisation of forward_backward_custom is proved exact here: the parameter
gradient it leaves in ``.grad`` equals direct torch autodiff of the same custom loss.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import minigrad as mg  # noqa: E402
from gradtrack.custom_loss import forward_backward_custom  # noqa: E402
from gradtrack.integrations.torch import TorchTrainingClient  # noqa: E402
from gradtrack.types import Datum, ModelInput, RegularizerSpec  # noqa: E402

VOCAB = 50


def tiny_gpt2(dtype: Any = torch.float64) -> Any:
    config = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=32,
        n_embd=16,
        n_layer=2,
        n_head=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config).to(dtype)


def make_data() -> list[Datum]:
    rng = np.random.default_rng(3)
    data = []
    for length in (7, 4, 10):  # different lengths: the client pads them into one batch
        tokens = rng.integers(1, VOCAB, length + 1).tolist()
        data.append(Datum(ModelInput.from_ints(tokens[:-1]), {"target_tokens": tokens[1:]}))
    return data


# The custom loss, once in minigrad (for gradtrack) and once in torch (the reference).
def custom_loss(data: Any, logprobs: list[mg.Tensor]) -> Any:
    nll = sum(-lp.mean() for lp in logprobs)
    confident = sum(mg.exp(lp).sum() for lp in logprobs)
    return nll + 0.3 * confident, {"nll": nll}


def square(data: Any, lp: mg.Tensor) -> Any:
    return (lp * lp).mean(), {}


def torch_custom_loss(logprobs: list[Any]) -> Any:
    nll = sum(-lp.mean() for lp in logprobs)
    confident = sum(torch.exp(lp).sum() for lp in logprobs)
    joined = torch.cat(logprobs)
    return nll + 0.3 * confident + 0.1 * (joined * joined).mean()


def torch_logprobs(model: Any, data: list[Datum]) -> list[Any]:
    """Each datum run alone (no padding), scored in torch."""
    result = []
    for datum in data:
        ids = torch.tensor([datum.model_input.to_ints()])
        targets = torch.tensor(datum.loss_fn_inputs["target_tokens"].data)
        logits = model(ids).logits[0]
        result.append(torch.log_softmax(logits, -1).gather(-1, targets[:, None])[:, 0])
    return result


def test_the_linearisation_is_exact_on_gpt2() -> None:
    model = tiny_gpt2()
    reference = copy.deepcopy(model)
    data = make_data()
    client = TorchTrainingClient(model)
    out = forward_backward_custom(
        client,
        data,
        custom_loss,
        regularizers=[RegularizerSpec(square, 0.1, "square")],
        track_grad_norms=True,
    )
    loss = torch_custom_loss(torch_logprobs(reference, data))
    loss.backward()
    assert out.custom_loss is not None
    assert out.custom_loss.loss_total == pytest.approx(loss.item(), rel=1e-10)
    compared = 0
    for (name, got), want in zip(model.named_parameters(), reference.parameters(), strict=True):
        if want.grad is None:
            assert got.grad is None or not got.grad.any(), name
            continue
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-9, atol=1e-12, msg=name)
        compared += 1
    assert compared > 10


def test_forward_returns_the_logprobs_of_the_targets() -> None:
    model = tiny_gpt2()
    data = make_data()
    out = TorchTrainingClient(model).forward(data, "cross_entropy")
    expected = torch_logprobs(model, data)
    for entry, want in zip(out.loss_fn_outputs, expected, strict=True):
        assert entry["logprobs"].dtype == "float64"
        np.testing.assert_allclose(entry["logprobs"].to_numpy(), want.detach().numpy(), rtol=1e-12)
    assert all(p.grad is None for p in model.parameters())  # no graph, no gradient


def test_float32_model_and_optim_step() -> None:
    model = tiny_gpt2(torch.float32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    client = TorchTrainingClient(model, optimizer)
    data = make_data()

    def nll(data: Any, logprobs: list[mg.Tensor]) -> Any:
        return sum(-lp.mean() for lp in logprobs), {}

    first = client.forward(data, "cross_entropy")
    assert first.loss_fn_outputs[0]["logprobs"].dtype == "float32"
    before = [p.detach().clone() for p in model.parameters()]
    forward_backward_custom(client, data, nll)
    grads = [p.grad.clone() for p in model.parameters()]
    client.optim_step()
    for old, grad, new in zip(before, grads, model.parameters(), strict=True):
        torch.testing.assert_close(new.detach(), old - 0.5 * grad)
        assert new.grad is None or not new.grad.any()
    after = client.forward(data, "cross_entropy")
    loss_before = sum(-e["logprobs"].to_numpy().mean() for e in first.loss_fn_outputs)
    loss_after = sum(-e["logprobs"].to_numpy().mean() for e in after.loss_fn_outputs)
    assert loss_after < loss_before


def test_client_errors_name_the_culprit() -> None:
    model = tiny_gpt2()
    client = TorchTrainingClient(model)
    data = make_data()
    with pytest.raises(ValueError, match="only the 'cross_entropy' loss"):
        client.forward(data, "ppo")
    bad = Datum(ModelInput.from_ints([1, 2, 3]), {"target_tokens": [2, 3]})
    with pytest.raises(ValueError, match=r"data\[1\]: 2 target_tokens for 3 input tokens"):
        client.forward([data[0], bad], "cross_entropy")
    with pytest.raises(ValueError, match="no optimizer"):
        client.optim_step()
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        TorchTrainingClient(lambda ids: ids)
