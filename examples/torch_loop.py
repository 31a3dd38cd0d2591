"""A plain PyTorch training loop with gradtrack: one machine.

Run it with ``python examples/torch_loop.py`` (needs ``pip install 'gradtrack[torch]'``).

A small causal language model (embedding, one GRU layer, a linear head) learns
to continue a repeating token pattern. Each step it produces the logprobs of the
target tokens; ``gt_torch.backward`` runs the regularized loss on them (the NLL
plus gradtrack's entropy and L2 regularizers, all written with minigrad),
accumulates the exact gradient of the total into the parameters' ``.grad`` and
reports how hard each term pulls, in logprob space and in parameter space.
``optimizer.step()`` follows as usual.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

import minigrad as mg
from gradtrack.integrations import torch as gt_torch
from gradtrack.loggers import JSONLLogger
from gradtrack.regularizers import L2, Entropy
from gradtrack.types import RegularizerSpec

VOCAB = 16


class TinyLM(torch.nn.Module):
    """Embedding → GRU → linear head: logits ``(batch, tokens, vocabulary)``."""

    def __init__(self, vocab: int = VOCAB, width: int = 32) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width)
        self.rnn = torch.nn.GRU(width, width, batch_first=True)
        self.head = torch.nn.Linear(width, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(self.embed(ids))
        return self.head(hidden)


def pattern_batch(generator: torch.Generator, rows: int, length: int) -> torch.Tensor:
    """Rows of a repeating pattern ``0 1 2 … 7 0 1 …`` from random starting points."""
    starts = torch.randint(0, 8, (rows, 1), generator=generator)
    return (starts + torch.arange(length + 1)) % 8


def target_logprobs(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``log p(token[t+1] | tokens[:t+1])`` for every position: shape ``(rows, length)``."""
    logits = model(tokens[:, :-1])
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens[:, 1:, None])[..., 0]


def nll(data: Any, logprobs: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
    """The base loss, with minigrad: the mean negative log-likelihood per token."""
    loss = -logprobs.mean()
    return loss, {"nll": loss}


def regularizers() -> list[RegularizerSpec]:
    return [Entropy(mode="maximize").spec(0.01), L2().spec(0.001)]


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=24)
    parser.add_argument("--metrics", type=Path, default=None, help="write a JSONL file here")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model = TinyLM()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    logger = JSONLLogger(args.metrics) if args.metrics else None
    first = last = float("nan")
    for step in range(1, args.steps + 1):
        tokens = pattern_batch(generator, args.batch_size, args.length)
        optimizer.zero_grad()
        logprobs = target_logprobs(model, tokens)
        # Instead of loss.backward(): the regularized loss, its exact gradient, the diagnosis.
        out = gt_torch.backward(
            logprobs,
            [],
            nll,
            regularizers=regularizers(),
            track_grad_norms=True,
            param_norms=model,
        )
        optimizer.step()
        if logger is not None:
            logger.log(out, step)
        first = out.loss_total if step == 1 else first
        last = out.loss_total
        if step == 1 or step % max(1, args.steps // 10) == 0 or step == args.steps:
            pulls = "  ".join(
                f"{name} {reg.grad_norm_weighted:.3g}/{reg.param_grad_norm * reg.weight:.3g}"
                for name, reg in out.regularizers.items()
            )
            print(
                f"step {step:4d}  loss {out.loss_total:.4f}  |g| {out.total_grad_norm:.3g}  "
                f"base {out.base_loss['grad_norm']:.3g}/{out.base_loss['param_grad_norm']:.3g}  "
                f"{pulls}  (weighted norms: logprob space / parameter space)"
            )
    if logger is not None:
        logger.close()
    print(f"loss went from {first:.4f} to {last:.4f}")
    return last


if __name__ == "__main__":
    main()
