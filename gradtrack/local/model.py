"""A small character-level language model written with minigrad.

This module lets you build the model behind the local training client:
:class:`CharLM` predicts the next character from the ``context`` characters
before it. Each character of the window is looked up in an embedding table,
the embeddings are laid side by side, and a one-hidden-layer MLP turns them
into logits over the vocabulary (Bengio et al.'s neural probabilistic
language model, at the scale of characters). It is small enough to train in
seconds on a laptop CPU, and large enough to learn words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
from minigrad.nn import MLP, Embedding, Module

__all__ = ["CharLM"]


def check_sizes(owner: str, **sizes: Any) -> None:
    """Raise ``ValueError`` naming the first of ``sizes`` that is not a positive int.

    Examples
    --------
    >>> check_sizes("CharLM", context=0)
    Traceback (most recent call last):
    ...
    ValueError: CharLM context must be a positive int, got 0
    """
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{owner} {name} must be a positive int, got {value!r}")


class CharLM(Module):
    """Next-character model: embeddings of the last ``context`` tokens feed an MLP.

    Positions near the start of a sequence have fewer than ``context``
    tokens before them; the missing ones are a padding token
    (id ``vocab_size``) that has its own embedding and is never predicted.

    Parameters
    ----------
    vocab_size : int
        Number of token ids the model reads and predicts.
    context : int
        How many tokens (ending at the current one) each prediction sees.
    embed_dim : int
        Size of each token's embedding.
    hidden : int
        Width of the MLP's hidden layer (tanh, smooth so finite differences agree).
    rng : numpy.random.Generator or int, optional
        Source of the initial weights: the same seed gives the same model.
    dtype : numpy dtype
        float32 (fast) or float64 (for gradient checks).

    Examples
    --------
    >>> model = CharLM(vocab_size=5, context=3, embed_dim=2, hidden=4, rng=0)
    >>> windows = model.windows([1, 2, 3, 4])
    >>> windows.tolist()
    [[5, 5, 1], [5, 1, 2], [1, 2, 3], [2, 3, 4]]
    >>> model.target_logprobs(windows, [2, 3, 4, 0]).shape
    (4,)
    """

    def __init__(
        self,
        vocab_size: int,
        context: int = 8,
        embed_dim: int = 16,
        hidden: int = 256,
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        check_sizes(
            "CharLM", vocab_size=vocab_size, context=context, embed_dim=embed_dim, hidden=hidden
        )
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.vocab_size = int(vocab_size)
        self.context = int(context)
        self.pad_id = self.vocab_size
        self.embed_dim = int(embed_dim)
        self.dtype = np.dtype(dtype)
        self.embedding = Embedding(self.vocab_size + 1, embed_dim, rng=generator, dtype=dtype)
        self.mlp = MLP(
            [self.context * embed_dim, hidden, self.vocab_size],
            activation="tanh",
            rng=generator,
            dtype=dtype,
        )

    def windows(self, tokens: Any) -> np.ndarray:
        """The context window of every position of ``tokens``, shape ``(len(tokens), context)``.

        Row ``t`` holds the ``context`` tokens ending at ``tokens[t]``,
        padded on the left with ``pad_id``.

        Examples
        --------
        >>> CharLM(vocab_size=9, context=2, rng=0).windows([4, 7]).tolist()
        [[9, 4], [4, 7]]
        """
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        padded = np.concatenate([np.full(self.context - 1, self.pad_id, np.int64), tokens])
        return np.lib.stride_tricks.sliding_window_view(padded, self.context).copy()

    def logits(self, windows: np.ndarray) -> mg.Tensor:
        """Unnormalised next-token scores for each window, shape ``(n, vocab_size)``.

        Examples
        --------
        >>> model = CharLM(vocab_size=4, context=2, embed_dim=3, hidden=5, rng=0)
        >>> model.logits(model.windows([0, 1, 2])).shape
        (3, 4)
        """
        windows = np.asarray(windows, dtype=np.int64)
        embedded = self.embedding(windows)  # (n, context, embed_dim)
        # The window's embeddings side by side (sizes given: an empty batch has no -1 to infer).
        flat = embedded.reshape(windows.shape[0], self.context * self.embed_dim)
        return self.mlp(flat)

    def forward(self, windows: np.ndarray) -> mg.Tensor:
        """The same as :meth:`logits`.

        Examples
        --------
        >>> model = CharLM(vocab_size=4, context=2, embed_dim=3, hidden=5, rng=0)
        >>> model(model.windows([0, 1])).shape
        (2, 4)
        """
        return self.logits(windows)

    def target_logprobs(self, windows: np.ndarray, targets: Any) -> mg.Tensor:
        """``log p(targets[i] | windows[i])`` for each row, shape ``(n,)``.

        Examples
        --------
        >>> model = CharLM(vocab_size=3, context=1, embed_dim=2, hidden=2, rng=0)
        >>> lp = model.target_logprobs(model.windows([0, 1]), [1, 2])
        >>> bool((lp.data < 0).all())
        True
        """
        targets = np.asarray(targets, dtype=np.int64).reshape(-1)
        logprobs = mg.log_softmax(self.logits(windows), axis=-1)
        return logprobs[np.arange(targets.shape[0]), targets]

    def batch_inputs(self, sequences: Any) -> np.ndarray:
        """The windows of every position of every sequence, stacked (what the client batches).

        Examples
        --------
        >>> CharLM(vocab_size=9, context=2, rng=0).batch_inputs([[4], [7, 8]]).tolist()
        [[9, 4], [9, 7], [7, 8]]
        """
        if not len(sequences):
            return np.zeros((0, self.context), np.int64)
        return np.concatenate([self.windows(tokens) for tokens in sequences])

    def batch_target_logprobs(self, windows: np.ndarray, targets: Any) -> mg.Tensor:
        """The same as :meth:`target_logprobs` (the name the client calls)."""
        return self.target_logprobs(windows, targets)

    def sample(
        self,
        prompt: Any,
        length: int,
        rng: np.random.Generator | int | None = None,
        temperature: float = 1.0,
    ) -> np.ndarray:
        """Continue ``prompt`` by ``length`` tokens drawn from the model.

        Parameters
        ----------
        prompt : sequence of int
            Tokens to start from (may be empty).
        length : int
            How many tokens to draw.
        rng : numpy.random.Generator or int, optional
            The same seed draws the same text.
        temperature : float
            Below 1 sharpens the distribution, above 1 flattens it.

        Returns
        -------
        np.ndarray
            The ``length`` new tokens (without the prompt).

        Examples
        --------
        >>> model = CharLM(vocab_size=4, context=2, embed_dim=2, hidden=3, rng=0)
        >>> model.sample([1, 2], 5, rng=0).shape
        (5,)
        """
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        history = [self.pad_id] * self.context + [int(t) for t in prompt]
        drawn = np.empty(length, dtype=np.int64)
        with mg.no_grad():
            for i in range(length):
                window = np.asarray([history[-self.context :]], dtype=np.int64)
                scores = self.logits(window).data[0].astype(np.float64) / temperature
                probs = np.exp(scores - scores.max())
                drawn[i] = generator.choice(self.vocab_size, p=probs / probs.sum())
                history.append(int(drawn[i]))
        return drawn
