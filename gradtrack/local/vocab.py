"""Characters to token ids and back, for the local character-level model.

This module lets you turn text into the integer tokens a
:class:`~gradtrack.local.model.CharLM` reads and predicts, and turn sampled
tokens back into text. The vocabulary is the sorted set of characters of a
text, so the same text always gives the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["CharVocab"]


class CharVocab:
    """A fixed character vocabulary: token ``i`` is ``chars[i]``.

    Parameters
    ----------
    chars : iterable of str
        Distinct single characters, in id order.

    Examples
    --------
    >>> vocab = CharVocab.from_text("hello")
    >>> vocab.chars, len(vocab)
    ('ehlo', 4)
    >>> vocab.encode("hole").tolist()
    [1, 3, 2, 0]
    >>> vocab.decode([1, 0, 2, 2, 3])
    'hello'
    """

    def __init__(self, chars: Iterable[str]) -> None:
        chars = tuple(chars)
        for char in chars:
            if not (isinstance(char, str) and len(char) == 1):
                raise ValueError(f"a vocabulary holds single characters, got {char!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("a vocabulary's characters must be distinct")
        if not chars:
            raise ValueError("a vocabulary needs at least one character")
        self.chars = "".join(chars)
        self._ids = {char: index for index, char in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of every character in ``text``, sorted by code point.

        Examples
        --------
        >>> CharVocab.from_text("banana").chars
        'abn'
        """
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return f"CharVocab({self.chars!r})"

    def encode(self, text: str) -> np.ndarray:
        """The token ids of ``text`` as an int64 array.

        Raises
        ------
        ValueError
            ``text`` holds a character outside the vocabulary (it is named).

        Examples
        --------
        >>> CharVocab("ab").encode("abba").tolist()
        [0, 1, 1, 0]
        >>> CharVocab("ab").encode("abc")
        Traceback (most recent call last):
        ...
        ValueError: character 'c' at position 2 is not in the vocabulary
        """
        ids = np.empty(len(text), dtype=np.int64)
        for position, char in enumerate(text):
            token = self._ids.get(char)
            if token is None:
                raise ValueError(
                    f"character {char!r} at position {position} is not in the vocabulary"
                )
            ids[position] = token
        return ids

    def decode(self, tokens: Iterable[int]) -> str:
        """The text of ``tokens``.

        Examples
        --------
        >>> CharVocab("ab").decode(np.array([1, 0]))
        'ba'
        """
        return "".join(self.chars[int(token)] for token in tokens)
