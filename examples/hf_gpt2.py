"""Custom-loss training of a Hugging Face GPT-2 with gradtrack's ``TorchTrainingClient``.

Run it with ``python examples/hf_gpt2.py`` (needs ``pip install 'gradtrack[torch,hf]'``).

The model is a small GPT-2 built from a config with random weights: nothing is
downloaded. Any causal LM works the same way (``model(input_ids).logits``).
Each step ``forward_backward_custom`` asks the client for the target logprobs
(one forward pass), evaluates the custom loss and gradtrack's regularizers on
them with minigrad, and sends their exact gradient back as cross-entropy
weights (one forward and backward pass); ``optim_step`` then updates the model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

import minigrad as mg
from gradtrack.custom_loss import forward_backward_custom
from gradtrack.integrations.torch import TorchTrainingClient
from gradtrack.loggers import JSONLLogger
from gradtrack.regularizers import L2, Entropy
from gradtrack.types import Datum, ModelInput


def tiny_gpt2(vocab: int, width: int, layers: int) -> transformers.GPT2LMHeadModel:
    config = transformers.GPT2Config(
        vocab_size=vocab,
        n_positions=128,
        n_embd=width,
        n_layer=layers,
        n_head=4,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.GPT2LMHeadModel(config)


def make_data(rng: np.random.Generator, vocab: int, rows: int) -> list[Datum]:
    """Counting sequences ``k, k+1, k+2, …`` (mod vocab) of different lengths."""
    data = []
    for _ in range(rows):
        length = int(rng.integers(8, 24))
        tokens = (int(rng.integers(0, vocab)) + np.arange(length + 1)) % vocab
        data.append(
            Datum(ModelInput.from_ints(tokens[:-1].tolist()), {"target_tokens": tokens[1:]})
        )
    return data


def sequence_nll(data: Any, logprobs: list[mg.Tensor]) -> tuple[mg.Tensor, dict[str, Any]]:
    """The custom loss, with minigrad: every sequence's mean NLL, averaged over sequences."""
    per_sequence = [-lp.mean() for lp in logprobs]
    loss = sum(per_sequence) / len(per_sequence)
    return loss, {"nll": loss, "worst": max(float(x.item()) for x in per_sequence)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--metrics", type=Path, default=None, help="write a JSONL file here")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = tiny_gpt2(args.vocab, args.width, args.layers)
    client = TorchTrainingClient(model, torch.optim.AdamW(model.parameters(), lr=3e-3))
    specs = [Entropy(mode="maximize").spec(0.005), L2().spec(0.0005)]
    logger = JSONLLogger(args.metrics) if args.metrics else None
    first = last = float("nan")
    for step in range(1, args.steps + 1):
        data = make_data(rng, args.vocab, args.batch_size)
        result = forward_backward_custom(
            client, data, sequence_nll, regularizers=specs, track_grad_norms=True
        )
        client.optim_step()
        out = result.custom_loss
        assert out is not None  # regularizers were given
        if logger is not None:
            logger.log(out, step)
        first = out.loss_total if step == 1 else first
        last = out.loss_total
        if step == 1 or step % max(1, args.steps // 10) == 0:
            shares = "  ".join(
                f"{name} {reg.grad_norm_weighted / out.total_grad_norm:.2f}"
                for name, reg in out.regularizers.items()
            )
            print(
                f"step {step:3d}  loss {out.loss_total:.4f}  nll {result.metrics['nll']:.4f}  "
                f"worst sequence {result.metrics['worst']:.3f}  |g| {out.total_grad_norm:.3g}  "
                f"pull relative to the total: {shares}"
            )
    if logger is not None:
        logger.close()
    print(f"loss went from {first:.4f} to {last:.4f}")


if __name__ == "__main__":
    main()
