"""Tests for gradtrack.integrations.tinker against an in-process stand-in for the service.

The Tinker service cannot be reached from the test machines. The stand-in below
has the SDK ``TrainingClient``'s method signatures (checked), takes and returns
the SDK's own types and futures, and is backed by a small torch model, so the
adapter is exercised exactly as on the service, and the parameter gradient it
produces can be compared with direct torch autodiff of the custom loss.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import threading
import time
from typing import Any

import numpy as np
import pytest

tinker = pytest.importorskip("tinker")
torch = pytest.importorskip("torch")

from tinker.lib.public_interfaces.api_future import AwaitableConcurrentFuture  # noqa: E402

import gradtrack  # noqa: E402
import minigrad as mg  # noqa: E402
from gradtrack.custom_loss import forward_backward_custom  # noqa: E402
from gradtrack.integrations.tinker import TinkerTrainingClient  # noqa: E402
from gradtrack.types import Datum, ModelInput, RegularizerSpec  # noqa: E402

VOCAB = 13


class TinyLM(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.embed = torch.nn.Embedding(VOCAB, 8)
        self.head = torch.nn.Linear(8, VOCAB)

    def forward(self, ids: Any) -> Any:
        return self.head(torch.tanh(self.embed(ids)))


def score(model: Any, datum: Any) -> Any:
    """One datum's target logprobs (tokens in, targets scored), in torch."""
    ids = torch.tensor([datum.model_input.to_ints()])
    targets = torch.as_tensor(datum.loss_fn_inputs["target_tokens"].to_numpy())
    return torch.log_softmax(model(ids)[0], -1).gather(-1, targets[:, None])[:, 0]


class StandInService:
    """The SDK TrainingClient's methods, answered in background threads by a torch model."""

    def __init__(self, delay: float = 0.0) -> None:
        self.model = TinyLM()
        self.optimizer: Any = None
        self.delay = delay
        self.requests: list[tuple[str, list[Any]]] = []

    def _later(self, work: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            time.sleep(self.delay)
            try:
                future.set_result(work())
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, daemon=True).start()
        return AwaitableConcurrentFuture(future)

    def _check(self, data: list[Any], loss_fn: str) -> None:
        assert all(isinstance(d, tinker.Datum) for d in data)
        assert all(isinstance(d.model_input, tinker.ModelInput) for d in data)
        for d in data:
            for value in d.loss_fn_inputs.values():
                assert isinstance(value, tinker.TensorData)
                assert value.dtype in ("int64", "float32")  # what the service accepts
        if loss_fn != "cross_entropy":
            raise ValueError(f"the stand-in answers cross_entropy only, got {loss_fn!r}")

    def _output(self, logprobs: list[Any], metrics: dict[str, float]) -> Any:
        entries = [
            {"logprobs": tinker.TensorData.from_numpy(lp.detach().numpy().astype(np.float32))}
            for lp in logprobs
        ]
        return tinker.ForwardBackwardOutput("ArrayRecord", entries, metrics)

    def forward(self, data: Any, loss_fn: Any, loss_fn_config: Any = None) -> Any:
        self._check(data, loss_fn)
        self.requests.append(("forward", data))

        def work() -> Any:
            with torch.no_grad():
                return self._output([score(self.model, d) for d in data], {})

        return self._later(work)

    def forward_backward(self, data: Any, loss_fn: Any, loss_fn_config: Any = None) -> Any:
        self._check(data, loss_fn)
        self.requests.append(("forward_backward", data))

        def work() -> Any:
            logprobs = [score(self.model, d) for d in data]
            loss = sum(
                -(torch.as_tensor(d.loss_fn_inputs["weights"].to_numpy()) * lp).sum()
                for d, lp in zip(data, logprobs, strict=True)
            )
            loss.backward()
            return self._output(logprobs, {"loss:sum": float(loss.detach())})

        return self._later(work)

    def optim_step(self, optim_params: Any = None, *, adam_params: Any = None) -> Any:
        params = optim_params or adam_params
        assert isinstance(params, tinker.AdamParams)

        def work() -> Any:
            if self.optimizer is None:
                self.optimizer = torch.optim.Adam(
                    self.model.parameters(),
                    lr=params.learning_rate,
                    betas=(params.beta1, params.beta2),
                    eps=params.eps,
                )
            self.optimizer.step()
            self.optimizer.zero_grad()
            return tinker.OptimStepResponse(metrics={"steps": 1.0})

        return self._later(work)


def test_the_stand_in_has_the_sdk_signatures() -> None:
    for name in ("forward", "forward_backward", "optim_step"):
        sdk = inspect.signature(getattr(tinker.TrainingClient, name))
        ours = inspect.signature(getattr(StandInService, name))
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
            (p.name, p.kind, p.default) for p in sdk.parameters.values()
        ], name


def make_data() -> list[Datum]:
    rng = np.random.default_rng(5)
    data = []
    for length in (6, 3, 8):
        tokens = rng.integers(0, VOCAB, length + 1).tolist()
        data.append(Datum(ModelInput.from_ints(tokens[:-1]), {"target_tokens": tokens[1:]}))
    return data


def custom_loss(data: Any, logprobs: list[mg.Tensor]) -> Any:
    loss = sum(-lp.mean() + 0.2 * mg.exp(lp).sum() for lp in logprobs)
    return loss, {"custom": loss}


def square(data: Any, lp: mg.Tensor) -> Any:
    return (lp * lp).mean(), {}


def torch_loss(logprobs: list[Any]) -> Any:
    joined = torch.cat(logprobs)
    return (
        sum(-lp.mean() + 0.2 * torch.exp(lp).sum() for lp in logprobs)
        + 0.1 * (joined * joined).mean()
    )


def test_forward_backward_custom_through_the_sdk_types_is_exact() -> None:
    service = StandInService()
    reference = TinyLM()
    client = TinkerTrainingClient(service, timeout=60)
    data = make_data()
    out = forward_backward_custom(
        client,
        data,
        custom_loss,
        regularizers=[RegularizerSpec(square, 0.1, "square")],
        track_grad_norms=True,
    )
    assert [kind for kind, _ in service.requests] == ["forward", "forward_backward"]
    torch_loss([score(reference, d) for d in data]).backward()
    for got, want in zip(service.model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-4, atol=1e-6)
    assert out.custom_loss is not None
    assert out.custom_loss.regularizers["square"].grad_norm > 0
    assert "loss:sum" in out.metrics and "custom" in out.metrics
    # The weights went over as float32 (the service's dtype) with the datum's shape.
    sent = service.requests[1][1]
    assert [d.loss_fn_inputs["weights"].shape for d in sent] == [[6], [3], [8]]


def test_optim_step_passes_adam_params_and_returns_metrics() -> None:
    service = StandInService()
    client = TinkerTrainingClient(service, timeout=60)
    data = make_data()
    before = client.forward(data, "cross_entropy")
    for _ in range(5):
        forward_backward_custom(client, data, custom_loss)
        assert client.optim_step(tinker.AdamParams(learning_rate=0.05)) == {"steps": 1.0}
    after = client.forward(data, "cross_entropy")

    def nll(out: Any) -> float:
        return float(sum(-e["logprobs"].to_numpy().mean() for e in out.loss_fn_outputs))

    assert nll(after) < nll(before)
    assert before.loss_fn_outputs[0]["logprobs"].dtype == "float32"


def test_a_slow_future_is_a_timeout_naming_the_call() -> None:
    client = TinkerTrainingClient(StandInService(delay=5.0), timeout=0.2)
    started = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"Tinker forward did not finish within 0\.2 seconds"):
        client.forward(make_data(), "cross_entropy")
    assert time.perf_counter() - started < 3.0


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"tinker\.TrainingClient"):
        TinkerTrainingClient(object())
    for bad in (0, -1.0, float("nan"), True, "10"):
        with pytest.raises(ValueError, match="timeout"):
            TinkerTrainingClient(StandInService(), timeout=bad)
    client = TinkerTrainingClient(StandInService())
    with pytest.raises(TypeError, match=r"data\[1\] must be a gradtrack Datum"):
        client.forward([make_data()[0], {"tokens": [1]}], "cross_entropy")


def test_forward_backward_custom_async_returns_a_future() -> None:
    service = StandInService(delay=0.05)
    client = TinkerTrainingClient(service, timeout=60)
    data = make_data()
    future = gradtrack.forward_backward_custom_async(
        client, data, custom_loss, regularizers=[RegularizerSpec(square, 0.1, "square")]
    )
    assert isinstance(future, concurrent.futures.Future)
    result = future.result(timeout=60)
    assert result.custom_loss is not None and result.custom_loss.loss_total > 0
    # Errors in arguments come at once; errors in the run land in the future.
    with pytest.raises(ValueError, match="data is empty"):
        gradtrack.forward_backward_custom_async(client, [], custom_loss)

    def broken(data: Any, logprobs: Any) -> Any:
        raise RuntimeError("loss exploded")

    failing = gradtrack.forward_backward_custom_async(client, data, broken)
    with pytest.raises(RuntimeError, match="loss exploded"):
        failing.result(timeout=60)
