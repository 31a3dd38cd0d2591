"""The demo's text: the corpus shipped with gradtrack, cut into training examples.

This module lets you load the bundled corpus (a selection of Aesop's fables,
about 40 KB, public domain) without a download, and turn it into
:class:`~gradtrack.types.Datum` objects a training client reads: each datum
holds ``seq_len`` characters as its input and the same characters shifted by
one as its ``target_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from gradtrack.local.vocab import CharVocab
from gradtrack.types import Datum, ModelInput, TensorData

__all__ = ["REFERENCE_FIELD", "TextData", "load_corpus", "make_data", "window_starts"]

REFERENCE_FIELD = "reference_logprobs"
"""The ``loss_fn_inputs`` key holding the initial model's logprobs of each datum's targets."""


def load_corpus() -> str:
    """The bundled corpus, read from the installed package.

    Examples
    --------
    >>> text = load_corpus()
    >>> text.startswith("FABLES OF AESOP"), len(text) > 30_000
    (True, True)
    """
    return resources.files("gradtrack").joinpath("data/corpus.txt").read_text(encoding="utf-8")


def window_starts(length: int, seq_len: int, stride: int) -> np.ndarray:
    """Start offsets of every window of ``seq_len + 1`` tokens in a text of ``length`` tokens.

    Examples
    --------
    >>> window_starts(10, seq_len=4, stride=2).tolist()
    [0, 2, 4]
    """
    if seq_len < 1 or stride < 1:
        raise ValueError(f"seq_len and stride must be positive, got {seq_len} and {stride}")
    return np.arange(0, max(length - seq_len, 0), stride, dtype=np.int64)


def make_data(
    tokens: np.ndarray,
    starts: Sequence[int],
    seq_len: int,
    reference: Sequence[np.ndarray] | None = None,
) -> list[Datum]:
    """One next-token datum per start offset.

    Datum ``i`` reads ``tokens[s : s + seq_len]`` and predicts
    ``tokens[s + 1 : s + seq_len + 1]``. With ``reference`` (one logprobs
    array per datum), each datum also carries it as ``REFERENCE_FIELD``, for
    regularizers that compare with a reference model.

    Examples
    --------
    >>> [datum] = make_data(np.arange(6), [1], seq_len=3)
    >>> datum.model_input.to_ints(), datum.loss_fn_inputs["target_tokens"].data
    ([1, 2, 3], [2, 3, 4])
    """
    data = []
    for index, start in enumerate(starts):
        window = np.asarray(tokens[start : start + seq_len + 1], dtype=np.int64)
        if window.shape[0] != seq_len + 1:
            raise ValueError(f"window at offset {start} runs past the end of the text")
        inputs: dict[str, TensorData] = {"target_tokens": TensorData.from_numpy(window[1:])}
        if reference is not None:
            inputs[REFERENCE_FIELD] = TensorData.from_numpy(np.asarray(reference[index]))
        data.append(Datum(ModelInput.from_ints(window[:-1].tolist()), inputs))
    return data


@dataclass
class TextData:
    """The corpus as tokens, split into a training part and a held-out validation part.

    Parameters
    ----------
    text : str
        The whole corpus.
    validation_fraction : float
        The share of the text, taken from its end, kept for validation.

    Examples
    --------
    >>> split = TextData.from_text("abcdefghij" * 10, validation_fraction=0.2)
    >>> len(split.vocab), split.train.shape, split.validation.shape
    (10, (80,), (20,))
    """

    vocab: CharVocab
    train: np.ndarray
    validation: np.ndarray

    @classmethod
    def from_text(cls, text: str, validation_fraction: float = 0.1) -> TextData:
        """Encode ``text`` and split it (see the class docstring).

        Examples
        --------
        >>> split = TextData.from_text("aesop" * 4, validation_fraction=0.25)
        >>> split.vocab.decode(split.validation)
        'aesop'
        """
        if not 0 < validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
        vocab = CharVocab.from_text(text)
        tokens = vocab.encode(text)
        cut = round(len(tokens) * (1 - validation_fraction))
        return cls(vocab, tokens[:cut], tokens[cut:])
