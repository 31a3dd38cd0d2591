"""A tiny decoder-only transformer (a character-level GPT) written with minigrad.

This module lets the local training client train a real architecture:
:class:`TinyGPT` embeds each character and its position, passes them through
``n_layers`` pre-norm transformer blocks (causal multi-head self-attention,
then a GELU MLP, each inside a residual connection, as in GPT-2) and reads
next-character logits off a final layer norm. Each datum is read as one
sequence: position ``t`` sees every character of its datum up to ``t``
(in chunks of ``block_size``).

It has the same client-facing methods as :class:`~gradtrack.local.model.CharLM`
(``batch_inputs``, ``batch_target_logprobs``, ``sample``), so
:class:`~gradtrack.local.client.LocalTrainingClient` trains either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack.local.model import check_sizes
from minigrad.nn import CausalSelfAttention, Embedding, LayerNorm, Linear, Module

__all__ = ["GPTBatch", "TinyGPT"]


class _Block(Module):
    """``x + attention(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, d_model: int, n_heads: int, rng: np.random.Generator, dtype: Any) -> None:
        self.norm1 = LayerNorm(d_model, dtype=dtype)
        self.attention = CausalSelfAttention(d_model, n_heads, rng=rng, dtype=dtype)
        self.norm2 = LayerNorm(d_model, dtype=dtype)
        self.expand = Linear(d_model, 4 * d_model, rng=rng, dtype=dtype)
        self.contract = Linear(4 * d_model, d_model, rng=rng, dtype=dtype)

    def forward(self, x: mg.Tensor) -> mg.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.contract(mg.gelu(self.expand(self.norm2(x)), approximate="tanh"))


@dataclass
class GPTBatch:
    """Sequences padded into rows: ``tokens`` ``(rows, T)``, and where the real positions are.

    ``rows[i], cols[i]`` locate the ``i``-th position of the concatenated
    data in ``tokens``; padding sits after each row's real tokens, where
    causal attention keeps it from affecting them.
    """

    tokens: np.ndarray
    rows: np.ndarray
    cols: np.ndarray


class TinyGPT(Module):
    """A character-level decoder-only transformer.

    Parameters
    ----------
    vocab_size : int
        Number of token ids the model reads and predicts.
    block_size : int
        Longest stretch of characters attended over; longer data are read in chunks.
    d_model : int
        Width of the embeddings and of the residual stream.
    n_heads : int
        Attention heads per block (``d_model`` must be a multiple).
    n_layers : int
        Number of transformer blocks.
    rng : numpy.random.Generator or int, optional
        Source of the initial weights: the same seed gives the same model.
    dtype : numpy dtype
        float32 (fast) or float64 (for gradient checks).

    Examples
    --------
    >>> model = TinyGPT(vocab_size=5, block_size=4, d_model=8, n_heads=2, n_layers=1, rng=0)
    >>> batch = model.batch_inputs([[1, 2, 3], [4, 0, 1, 2, 3]])
    >>> batch.tokens.shape
    (3, 4)
    >>> model.batch_target_logprobs(batch, np.zeros(8, dtype=np.int64)).shape
    (8,)
    """

    def __init__(
        self,
        vocab_size: int,
        block_size: int = 64,
        d_model: int = 48,
        n_heads: int = 4,
        n_layers: int = 2,
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        check_sizes(
            "TinyGPT",
            vocab_size=vocab_size,
            block_size=block_size,
            d_model=d_model,
            n_heads=n_heads,
            n_layers=n_layers,
        )
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.vocab_size = int(vocab_size)
        self.block_size = int(block_size)
        self.dtype = np.dtype(dtype)
        self.token_embedding = Embedding(vocab_size, d_model, rng=generator, dtype=dtype)
        self.position_embedding = Embedding(block_size, d_model, rng=generator, dtype=dtype)
        # Small embeddings, as GPT-2 (std 0.02 there): unit-variance ones would swamp the blocks.
        for table in (self.token_embedding, self.position_embedding):
            table.weight.data *= 0.1
        self.blocks = [_Block(d_model, n_heads, generator, dtype) for _ in range(n_layers)]
        self.final_norm = LayerNorm(d_model, dtype=dtype)
        self.head = Linear(d_model, vocab_size, rng=generator, dtype=dtype)

    def extra_repr(self) -> str:
        """Vocabulary and block size."""
        return f"vocab_size={self.vocab_size}, block_size={self.block_size}"

    def logits(self, tokens: Any) -> mg.Tensor:
        """Next-token scores at every position of ``tokens`` ``(rows, T)``: ``(rows, T, vocab)``.

        Examples
        --------
        >>> model = TinyGPT(vocab_size=4, block_size=8, d_model=8, n_heads=2, n_layers=1, rng=0)
        >>> model.logits(np.array([[0, 1, 2]])).shape
        (1, 3, 4)
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        steps = tokens.shape[-1]
        if steps > self.block_size:
            raise ValueError(f"{steps} positions exceed the block size {self.block_size}")
        x = self.token_embedding(tokens) + self.position_embedding(np.arange(steps))
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))

    def forward(self, tokens: Any) -> mg.Tensor:
        """The same as :meth:`logits`."""
        return self.logits(tokens)

    def batch_inputs(self, sequences: Sequence[Any]) -> GPTBatch:
        """Cut each sequence into chunks of at most ``block_size`` and pad them into rows.

        Examples
        --------
        >>> model = TinyGPT(vocab_size=3, block_size=2, d_model=4, n_heads=1, n_layers=1, rng=0)
        >>> model.batch_inputs([[1, 2, 0]]).tokens.tolist()
        [[1, 2], [0, 0]]
        """
        chunks = []
        for sequence in sequences:
            tokens = np.asarray(sequence, dtype=np.int64).reshape(-1)
            chunks.extend(
                tokens[start : start + self.block_size]
                for start in range(0, len(tokens), self.block_size)
            )
        width = max((len(chunk) for chunk in chunks), default=0)
        padded = np.zeros((len(chunks), width), dtype=np.int64)
        rows, cols = [], []
        for row, chunk in enumerate(chunks):
            padded[row, : len(chunk)] = chunk
            rows.append(np.full(len(chunk), row))
            cols.append(np.arange(len(chunk)))
        if not chunks:
            return GPTBatch(padded, np.zeros(0, np.int64), np.zeros(0, np.int64))
        return GPTBatch(padded, np.concatenate(rows), np.concatenate(cols))

    def batch_target_logprobs(self, batch: GPTBatch, targets: Any) -> mg.Tensor:
        """``log p(targets[i] | the characters up to position i)``, shape ``(positions,)``."""
        targets = np.asarray(targets, dtype=np.int64).reshape(-1)
        if batch.tokens.size == 0:
            return mg.zeros(0, dtype=self.dtype)
        logprobs = mg.log_softmax(self.logits(batch.tokens), axis=-1)
        return logprobs[batch.rows, batch.cols, targets]

    def sample(
        self,
        prompt: Any,
        length: int,
        rng: np.random.Generator | int | None = None,
        temperature: float = 1.0,
    ) -> np.ndarray:
        """Continue ``prompt`` by ``length`` tokens drawn from the model.

        Examples
        --------
        >>> model = TinyGPT(vocab_size=4, block_size=4, d_model=4, n_heads=1, n_layers=1, rng=0)
        >>> model.sample([1, 2], 5, rng=0).shape
        (5,)
        """
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        # With no prompt, token 0 stands in as the first character to condition on.
        history = [int(t) for t in prompt] or [0]
        drawn = np.empty(length, dtype=np.int64)
        with mg.no_grad():
            for i in range(length):
                window = np.asarray([history[-self.block_size :]], dtype=np.int64)
                scores = self.logits(window).data[0, -1].astype(np.float64) / temperature
                probs = np.exp(scores - scores.max())
                drawn[i] = generator.choice(self.vocab_size, p=probs / probs.sum())
                history.append(int(drawn[i]))
        return drawn
