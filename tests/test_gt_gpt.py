"""Tests for gradtrack.local.TinyGPT and ``gradtrack demo --model gpt``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from gradtrack.cli import main
from gradtrack.custom_loss import forward_backward_custom
from gradtrack.demo.run import DemoConfig, nll_loss
from gradtrack.local import AdamParams, LocalTrainingClient, TinyGPT
from gradtrack.types import Datum, ModelInput

VOCAB = 7


def tiny_gpt(dtype: type = np.float64, block_size: int = 4, seed: int = 0) -> TinyGPT:
    return TinyGPT(
        VOCAB, block_size=block_size, d_model=8, n_heads=2, n_layers=2, rng=seed, dtype=dtype
    )


def datum(tokens: list[int], targets: list[int]) -> Datum:
    return Datum(ModelInput.from_ints(tokens), {"target_tokens": targets})


def test_position_t_sees_only_its_datum_up_to_t() -> None:
    model = tiny_gpt(block_size=8)
    base = model.batch_target_logprobs(model.batch_inputs([[1, 2, 3, 4]]), [2, 3, 4, 5]).data
    changed = model.batch_target_logprobs(model.batch_inputs([[1, 2, 6, 6]]), [2, 3, 4, 5]).data
    np.testing.assert_allclose(changed[:2], base[:2], rtol=1e-12)
    assert not np.allclose(changed[2:], base[2:])
    # Batched beside a longer datum (so padded), the values are the same.
    both = model.batch_target_logprobs(
        model.batch_inputs([[1, 2, 3, 4], [0, 1, 2, 3, 4, 5]]), [2, 3, 4, 5, 0, 0, 0, 0, 0, 0]
    ).data
    np.testing.assert_allclose(both[:4], base, rtol=1e-12)


def test_long_data_are_read_in_blocks() -> None:
    model = tiny_gpt(block_size=3)
    batch = model.batch_inputs([[1, 2, 3, 4, 5, 6, 1]])
    assert batch.tokens.tolist() == [[1, 2, 3], [4, 5, 6], [1, 0, 0]]
    assert batch.rows.tolist() == [0, 0, 0, 1, 1, 1, 2]
    with pytest.raises(ValueError, match="block size"):
        model.logits(np.zeros((1, 4), dtype=np.int64))


def test_logprobs_are_normalised_and_gradients_check() -> None:
    model = tiny_gpt()
    tokens = np.array([[1, 2, 3, 4]])
    logits = model.logits(tokens).data
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    assert probabilities.shape == (1, 4, VOCAB)
    # Gradients of a GPT-shaped loss with respect to a few weights, against finite differences.
    head = model.head.weight
    weights = np.random.default_rng(0).normal(size=4)

    def loss(w: mg.Tensor) -> mg.Tensor:
        saved = model.head.weight
        model.head.weight = w
        try:
            batch = model.batch_inputs([[1, 2, 3, 4]])
            return (model.batch_target_logprobs(batch, [2, 3, 4, 5]) * weights).sum()
        finally:
            model.head.weight = saved

    assert mg.gradcheck(loss, head.data.copy())
    embedding = model.blocks[0].attention.qkv.weight

    def through_attention(w: mg.Tensor) -> mg.Tensor:
        saved = model.blocks[0].attention.qkv.weight
        model.blocks[0].attention.qkv.weight = w
        try:
            batch = model.batch_inputs([[1, 2, 3]])
            return (model.batch_target_logprobs(batch, [2, 3, 4]) * weights[:3]).sum()
        finally:
            model.blocks[0].attention.qkv.weight = saved

    assert mg.gradcheck(through_attention, embedding.data.copy())


def test_named_parameters_and_state_dict() -> None:
    model = tiny_gpt()
    names = [name for name, _ in model.named_parameters()]
    assert names[:2] == ["token_embedding.weight", "position_embedding.weight"]
    assert "blocks.1.attention.qkv.weight" in names and names[-1] == "head.bias"
    other = tiny_gpt(seed=1)
    other.load_state_dict(model.state_dict())
    tokens = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(other.logits(tokens).data, model.logits(tokens).data)


def test_the_local_client_trains_the_gpt() -> None:
    model = TinyGPT(VOCAB, block_size=8, d_model=16, n_heads=2, n_layers=1, rng=0)
    client = LocalTrainingClient(model)
    data = [datum([1, 2, 3, 4, 5], [2, 3, 4, 5, 6]), datum([6, 5, 4], [5, 4, 3])]
    first = client.forward(data).metrics["loss"]
    for _ in range(30):
        forward_backward_custom(client, data, nll_loss)
        client.optim_step(AdamParams(learning_rate=0.02))
    assert client.forward(data).metrics["loss"] < 0.3 * first
    out = client.forward([])
    assert out.loss_fn_outputs == [] and out.metrics["tokens"] == 0


def test_sample_continues_a_prompt() -> None:
    model = tiny_gpt()
    drawn = model.sample([1, 2, 3, 4, 5], 6, rng=0)  # longer than the block: the tail is used
    assert drawn.shape == (6,) and ((drawn >= 0) & (drawn < VOCAB)).all()
    np.testing.assert_array_equal(model.sample([], 3, rng=1), model.sample([], 3, rng=1))
    with pytest.raises(ValueError, match="temperature"):
        model.sample([1], 2, temperature=0.0)


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="n_layers"):
        TinyGPT(VOCAB, n_layers=0)
    with pytest.raises(ValueError, match="multiple of n_heads"):
        TinyGPT(VOCAB, d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="model"):
        DemoConfig(model="rnn")


def test_demo_with_the_gpt(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert (
        main(["demo", "--model", "gpt", "--steps", "6", "--no-plot", "--quiet", "--out", str(out)])
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["kind"].startswith("character-level decoder-only transformer")
    assert summary["model"]["n_layers"] == 2
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and "val_nll" in rows[-1]
