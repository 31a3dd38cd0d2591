"""Tests for gradtrack.integrations.torch: backward, data parallelism, parameter norms."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402
from gradtrack import pipeline  # noqa: E402
from gradtrack.errors import PipelineError  # noqa: E402
from gradtrack.integrations import torch as gt_torch  # noqa: E402
from gradtrack.types import RegularizerSpec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


# The same loss written twice: with minigrad for gradtrack, with torch as the reference.
def base_nll(data: Any, lp: mg.Tensor) -> Any:
    return -lp.mean(), {"nll": -lp.mean()}


def confidence(data: Any, lp: mg.Tensor) -> Any:
    return mg.exp(lp).mean(), {}


def square(data: Any, lp: mg.Tensor) -> Any:
    return (lp * lp).mean(), {}


SPECS = [RegularizerSpec(confidence, 0.5, "confidence"), RegularizerSpec(square, 0.1, "square")]


def torch_terms(lp: Any) -> dict[str, Any]:
    return {"base": -lp.mean(), "confidence": torch.exp(lp).mean(), "square": (lp * lp).mean()}


def torch_total(lp: Any) -> Any:
    terms = torch_terms(lp)
    return terms["base"] + 0.5 * terms["confidence"] + 0.1 * terms["square"]


class TinyLM(torch.nn.Module):
    def __init__(self, vocab: int = 11, width: int = 6, dtype: Any = torch.float64) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width, dtype=dtype)
        self.head = torch.nn.Linear(width, vocab, dtype=dtype)

    def forward(self, ids: Any) -> Any:
        return self.head(torch.tanh(self.embed(ids)))


def logprobs_of(model: Any, ids: Any, targets: Any) -> Any:
    logits = model(ids)
    return torch.log_softmax(logits.float() if logits.dtype != torch.float64 else logits, -1)[
        ..., :
    ].gather(-1, targets[..., None])[..., 0]


def batch(seed: int = 0, rows: int = 4, length: int = 5) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 11, (rows, length), generator=generator)
    return ids, torch.roll(ids, -1, dims=1)


def fresh_model(dtype: Any = torch.float64) -> Any:
    torch.manual_seed(1)
    return TinyLM(dtype=dtype)


def grads(model: Any) -> list[Any]:
    return [p.grad.detach().clone() for p in model.parameters()]


def reference_grads(dtype: Any = torch.float64) -> list[Any]:
    model = fresh_model(dtype)
    ids, targets = batch()
    torch_total(logprobs_of(model, ids, targets)).backward()
    return grads(model)


def test_backward_accumulates_the_gradient_of_loss_total() -> None:
    model = fresh_model()
    ids, targets = batch()
    lp = logprobs_of(model, ids, targets)
    out = gt_torch.backward(lp, [], base_nll, regularizers=SPECS)
    expected = torch_total(lp.detach())
    assert out.loss_total == pytest.approx(float(expected), rel=1e-12)
    assert out.base_loss["custom"]["nll"].item() == pytest.approx(float(-lp.detach().mean()))
    for got, want in zip(grads(model), reference_grads(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_backward_adds_to_gradients_already_there() -> None:
    model = fresh_model()
    ids, targets = batch()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    gt_torch.backward(logprobs_of(model, ids, targets), [], base_nll, regularizers=SPECS)
    for got, want in zip(grads(model), reference_grads(), strict=True):
        torch.testing.assert_close(got, want + 1.0, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("dtype", "rtol"), [(torch.float32, 1e-4), (torch.bfloat16, 5e-2), (torch.float64, 1e-10)]
)
def test_every_float_dtype(dtype: Any, rtol: float) -> None:
    model = fresh_model()
    ids, targets = batch()
    lp64 = logprobs_of(model, ids, targets)
    lp = lp64.to(dtype)  # the logprobs in that dtype, still attached to the float64 model
    out = gt_torch.backward(lp, [], base_nll, regularizers=SPECS, track_grad_norms=True)
    assert lp.dtype == dtype
    assert out.loss_total == pytest.approx(float(torch_total(lp64.detach())), rel=rtol)
    for got, want in zip(grads(model), reference_grads(), strict=True):
        torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * 1e-2)


def test_a_list_of_per_datum_tensors_of_different_lengths() -> None:
    model = fresh_model()
    ids, targets = batch(rows=1, length=9)
    lp = logprobs_of(model, ids, targets)[0]
    pieces = [lp[:2], lp[2:7], lp[7:]]
    out = gt_torch.backward(pieces, [], base_nll, regularizers=SPECS)
    assert out.loss_total == pytest.approx(float(torch_total(lp.detach())), rel=1e-12)
    reference = fresh_model()
    torch_total(logprobs_of(reference, ids, targets)[0]).backward()
    for got, want in zip(grads(model), grads(reference), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_tracked_norms_are_those_of_the_logprob_gradients() -> None:
    model = fresh_model()
    ids, targets = batch()
    lp = logprobs_of(model, ids, targets)
    out = gt_torch.backward(lp, [], base_nll, regularizers=SPECS, track_grad_norms=True)
    leaf = lp.detach().requires_grad_(True)
    total_grad = torch.autograd.grad(torch_total(leaf), leaf)[0]
    assert out.total_grad_norm == pytest.approx(float(total_grad.norm()), rel=1e-10)
    base_grad = torch.autograd.grad(torch_terms(leaf)["base"], leaf)[0]
    assert out.base_loss["grad_norm"] == pytest.approx(float(base_grad.norm()), rel=1e-10)


def test_param_norms_match_direct_autodiff_in_parameter_space() -> None:
    model = fresh_model()
    ids, targets = batch()
    lp = logprobs_of(model, ids, targets)
    expected = {
        name: float(
            torch.cat(
                [
                    g.reshape(-1)
                    for g in torch.autograd.grad(term, list(model.parameters()), retain_graph=True)
                ]
            ).norm()
        )
        for name, term in torch_terms(lp).items()
    }
    total = torch.autograd.grad(torch_total(lp), list(model.parameters()), retain_graph=True)
    out = gt_torch.backward(
        lp, [], base_nll, regularizers=SPECS, track_grad_norms=True, param_norms=model
    )
    assert out.base_loss["param_grad_norm"] == pytest.approx(expected["base"], rel=1e-10)
    for name in ("confidence", "square"):
        assert out.regularizers[name].param_grad_norm == pytest.approx(expected[name], rel=1e-10)
    total_norm = float(torch.cat([g.reshape(-1) for g in total]).norm())
    assert out.total_param_grad_norm == pytest.approx(total_norm, rel=1e-10)
    # The extra backwards leave .grad alone: it holds the gradient of loss_total once.
    for got, want in zip(grads(model), total, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert out.to_dict()["base_loss"]["param_grad_norm"] == out.base_loss["param_grad_norm"]


def test_param_norms_of_a_subset_of_parameters() -> None:
    model = fresh_model()
    ids, targets = batch()
    lp = logprobs_of(model, ids, targets)
    head = list(model.head.parameters())
    direct = torch.autograd.grad(torch_terms(lp)["base"], head, retain_graph=True)
    out = gt_torch.backward(lp, [], base_nll, track_grad_norms=True, param_norms=head)
    norm = float(torch.cat([g.reshape(-1) for g in direct]).norm())
    assert out.base_loss["param_grad_norm"] == pytest.approx(norm, rel=1e-10)


def test_bad_arguments_are_named_before_any_work() -> None:
    model = fresh_model()
    ids, targets = batch()
    lp = logprobs_of(model, ids, targets)
    with pytest.raises(ValueError, match="logprobs does not require grad"):
        gt_torch.backward(lp.detach(), [], base_nll)
    with pytest.raises(TypeError, match=r"logprobs\[1\] must be a torch.Tensor"):
        gt_torch.backward([lp[0], [1.0]], [], base_nll)
    with pytest.raises(TypeError, match="floating"):
        gt_torch.backward(torch.ones(3, dtype=torch.long), [], base_nll)
    with pytest.raises(TypeError, match=r"logprobs must be a torch\.Tensor"):
        gt_torch.backward(np.ones(3), [], base_nll)
    with pytest.raises(ValueError, match="empty"):
        gt_torch.backward([], [], base_nll)
    with pytest.raises(ValueError, match="track_grad_norms"):
        gt_torch.backward(lp, [], base_nll, param_norms=model)
    with pytest.raises(ValueError, match="not initialised"):
        gt_torch.backward(lp, [], base_nll, process_group="default")
    with pytest.raises(ValueError, match="logprobs has 1 NaN"):
        gt_torch.backward(lp * torch.where(lp < lp.max(), 1.0, float("nan")), [], base_nll)
    with pytest.raises(PipelineError):
        gt_torch.backward(lp, [], lambda data, lp: (lp, {}))  # not a scalar
    assert all(p.grad is None for p in model.parameters())


# ------------------------------------------------------- data parallel (gloo)

WORKER = textwrap.dedent(
    """
    import datetime, json, sys
    import torch
    import torch.distributed as dist
    sys.path.insert(0, sys.argv[4])
    import test_gt_torch as t
    from gradtrack.integrations import torch as gt_torch

    rank, world, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    model = torch.nn.parallel.DistributedDataParallel(t.fresh_model())
    ids, targets = t.batch()
    shard = slice(rank * 2, rank * 2 + 2)
    lp = t.logprobs_of(model, ids[shard], targets[shard])
    out = gt_torch.backward(
        lp, [], t.base_nll, regularizers=t.SPECS, track_grad_norms=True,
        process_group="default", param_norms=model, conflict=sys.argv[6],
    )
    grads = [p.grad.reshape(-1).tolist() for p in model.parameters()]
    with open(sys.argv[5], "w") as handle:
        json.dump({"output": out.to_dict(), "grads": grads}, handle)
    # Both ranks leave the group together: a rank tearing down gloo while its peer is
    # still talking to it can abort the process.
    dist.barrier()
    dist.destroy_process_group()
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("conflict", ["none", "pcgrad"])
def test_two_gloo_ranks_report_the_numbers_of_the_whole_batch(
    tmp_path: Path, conflict: str
) -> None:
    pytest.importorskip("torch.distributed")
    if not torch.distributed.is_available():
        pytest.skip("this torch build has no torch.distributed")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = str(free_port())
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    results = [tmp_path / f"rank{rank}.json" for rank in range(2)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(rank),
                "2",
                port,
                str(ROOT / "tests"),
                str(results[rank]),
                conflict,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    logs = []
    try:
        for worker in workers:
            logs.append(worker.communicate(timeout=180)[0])
    finally:
        for worker in workers:  # never leave a rank running into the next test
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    for worker, log in zip(workers, logs, strict=True):
        assert worker.returncode == 0, log
    ranks = [json.loads(path.read_text()) for path in results]

    # One process, the whole batch, no group.
    model = fresh_model()
    ids, targets = batch()
    lp = logprobs_of(model, ids, targets)
    single = gt_torch.backward(
        lp,
        [],
        base_nll,
        regularizers=SPECS,
        track_grad_norms=True,
        param_norms=model,
        conflict=conflict,
    ).to_dict()

    assert ranks[0]["output"] == ranks[1]["output"]  # identical on every rank
    got = ranks[0]["output"]
    assert got["loss_total"] == pytest.approx(single["loss_total"], rel=1e-12)
    assert got["total_grad_norm"] == pytest.approx(single["total_grad_norm"], rel=1e-12)
    assert got["total_param_grad_norm"] == pytest.approx(single["total_param_grad_norm"], rel=1e-10)
    if conflict == "pcgrad":  # the projection of the whole batch's gradient, not of a shard's
        assert got["total_grad_norm_projected"] == pytest.approx(
            single["total_grad_norm_projected"], rel=1e-10
        )
        assert got["total_grad_norm_projected"] != pytest.approx(got["total_grad_norm"])
    else:
        assert "total_grad_norm_projected" not in got
    assert got["base_loss"]["value"] == pytest.approx(single["base_loss"]["value"], rel=1e-12)
    assert got["base_loss"]["grad_norm"] == pytest.approx(
        single["base_loss"]["grad_norm"], rel=1e-12
    )
    assert got["base_loss"]["custom"]["nll"] == pytest.approx(single["base_loss"]["custom"]["nll"])
    assert got["base_loss"]["param_grad_norm"] == pytest.approx(
        single["base_loss"]["param_grad_norm"], rel=1e-10
    )
    for name, reg in single["regularizers"].items():
        for key in (
            "value",
            "contribution",
            "grad_norm",
            "grad_norm_weighted",
            "grad_alignment",
            "param_grad_norm",
        ):
            assert got["regularizers"][name][key] == pytest.approx(reg[key], rel=1e-10), key
    for name, cosine in single["grad_alignment"].items():
        assert got["grad_alignment"][name] == pytest.approx(cosine, rel=1e-10)
    # DDP averaged the ranks' parameter gradients into those of the whole batch.
    for rank in ranks:
        for got_grad, want in zip(rank["grads"], grads(model), strict=True):
            np.testing.assert_allclose(got_grad, want.reshape(-1).numpy(), rtol=1e-10, atol=1e-13)
    assert math.isfinite(got["loss_total"])


@settings(max_examples=20)  # each example runs the pipeline twice per element
@given(
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3).flatmap(
        lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(-3.0, 3.0))
    )
)
def test_parameter_gradient_matches_central_differences(theta0: np.ndarray) -> None:
    """Any shape: ``.grad`` is the derivative of ``loss_total`` in θ, where ℓ = log σ(θ)."""
    theta = torch.tensor(theta0, requires_grad=True)
    gt_torch.backward(torch.nn.functional.logsigmoid(theta), [], base_nll, regularizers=SPECS)

    def loss_total(values: np.ndarray) -> float:
        lp = torch.nn.functional.logsigmoid(torch.tensor(values)).numpy()
        return pipeline.compute([], lp, base_nll, regularizers=SPECS, parallel=False).loss_total

    eps = 1e-6
    numerical = np.zeros_like(theta0)
    for index in np.ndindex(theta0.shape):
        up, down = theta0.copy(), theta0.copy()
        up[index] += eps
        down[index] -= eps
        numerical[index] = (loss_total(up) - loss_total(down)) / (2 * eps)
    assert theta.grad is not None
    np.testing.assert_allclose(theta.grad.numpy(), numerical, rtol=1e-5, atol=1e-8)


# ------------------------------------------------------------------ PCGrad


def reference_projected_total(gradients: list[np.ndarray]) -> np.ndarray:
    """PCGrad as API.md writes it, in plain float64 NumPy."""
    total = np.zeros_like(gradients[0])
    for i, g_i in enumerate(gradients):
        p = g_i.copy()
        for j, g_j in enumerate(gradients):
            if j != i and np.any(g_j) and p @ g_j < 0:
                p = p - (p @ g_j) / (g_j @ g_j) * g_j
        total += p
    return total


@pytest.mark.parametrize(
    ("weights", "conflicting"),
    [((0.5, 0.1), True), ((0.0, 0.1), False), ((0.5, 0.0), True)],
    ids=["two-way-conflict", "no-conflict", "a-zero-term"],
)
def test_backward_with_pcgrad_sends_the_projected_total_into_the_model(
    weights: tuple[float, float], conflicting: bool
) -> None:
    specs = [
        RegularizerSpec(confidence, weights[0], "confidence"),
        RegularizerSpec(square, weights[1], "square"),
    ]
    model = fresh_model()
    ids, targets = batch()
    lp = logprobs_of(model, ids, targets)
    out = gt_torch.backward(lp, [], base_nll, regularizers=specs, conflict="pcgrad")

    # The reference: each term's logprob gradient by torch, projected by NumPy, pulled back.
    reference = fresh_model()
    ref_lp = logprobs_of(reference, ids, targets)
    terms = torch_terms(ref_lp)
    term_weights = {"base": 1.0, "confidence": weights[0], "square": weights[1]}
    weighted = [
        term_weights[name] * torch.autograd.grad(terms[name], ref_lp, retain_graph=True)[0].numpy()
        for name in ("base", "confidence", "square")
    ]
    flat = [g.reshape(-1) for g in weighted]
    projected = reference_projected_total(flat).reshape(ref_lp.shape)
    torch.autograd.backward(ref_lp, torch.from_numpy(projected))
    for got, want in zip(grads(model), grads(reference), strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-14)
    assert out.total_grad_norm_projected == pytest.approx(np.linalg.norm(projected), rel=1e-12)
    unprojected = np.sum(flat, axis=0)
    assert np.allclose(projected.reshape(-1), unprojected) is not conflicting


def test_backward_checks_conflict_before_any_work() -> None:
    model = fresh_model()
    ids, targets = batch()
    lp = logprobs_of(model, ids, targets)
    with pytest.raises(ValueError, match="conflict"):
        gt_torch.backward(lp, [], base_nll, conflict="sum")
    assert all(p.grad is None for p in model.parameters())
