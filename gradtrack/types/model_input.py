"""``ModelInput`` and its chunks: the tokens (and images) of one training example."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from gradtrack.types._convert import (
    _as_tokens,
    _check_expected_tokens,
    _check_image_format,
)


@dataclass
class EncodedTextChunk:
    """A run of already-tokenised text.

    Examples
    --------
    >>> chunk = EncodedTextChunk([5, 6, 7])
    >>> chunk.length(), chunk.to_dict()
    (3, {'tokens': [5, 6, 7], 'type': 'encoded_text'})
    """

    tokens: list[int]
    type: ClassVar[str] = "encoded_text"

    def __post_init__(self) -> None:
        self.tokens = _as_tokens(self.tokens)

    def length(self) -> int:
        """Return the number of tokens.

        Examples
        --------
        >>> EncodedTextChunk([1, 2]).length()
        2
        """
        return len(self.tokens)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"tokens", "type"}``.

        Examples
        --------
        >>> EncodedTextChunk([1]).to_dict()
        {'tokens': [1], 'type': 'encoded_text'}
        """
        return {"tokens": list(self.tokens), "type": self.type}


@dataclass
class ImageChunk:
    """An inline image: base64 ``data`` in ``format`` ``"png"`` or ``"jpeg"``.

    ``expected_tokens`` is how many tokens the image occupies; it is needed for
    :meth:`length`. Use :meth:`from_bytes` to build one from raw image bytes.

    Examples
    --------
    >>> chunk = ImageChunk.from_bytes(b"png-bytes", "png", expected_tokens=4)
    >>> chunk.data, chunk.length()
    ('cG5nLWJ5dGVz', 4)
    """

    data: str
    format: str
    expected_tokens: int | None = None
    type: ClassVar[str] = "image"

    def __post_init__(self) -> None:
        if not isinstance(self.data, str):
            raise TypeError(
                f"ImageChunk data must be a base64 str, got {type(self.data).__name__}; "
                "use ImageChunk.from_bytes for raw bytes"
            )
        self.format = _check_image_format(self.format)
        self.expected_tokens = _check_expected_tokens(self.expected_tokens)

    @classmethod
    def from_bytes(cls, raw: bytes, format: str, expected_tokens: int | None = None) -> ImageChunk:
        """Build an ImageChunk from raw image bytes, base64-encoding them.

        Examples
        --------
        >>> ImageChunk.from_bytes(b"\\x89PNG", "png").data
        'iVBORw=='
        """
        return cls(base64.b64encode(raw).decode("ascii"), format, expected_tokens)

    def length(self) -> int:
        """Return ``expected_tokens``; ``ValueError`` if it is not set.

        Examples
        --------
        >>> ImageChunk("aGk=", "jpeg", expected_tokens=5).length()
        5
        """
        if self.expected_tokens is None:
            raise ValueError("ImageChunk length is unknown: expected_tokens is not set")
        return self.expected_tokens

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"data", "format", "type"}`` plus ``expected_tokens`` when it is set.

        Examples
        --------
        >>> ImageChunk("aGk=", "png").to_dict()
        {'data': 'aGk=', 'format': 'png', 'type': 'image'}
        """
        result: dict[str, Any] = {"data": self.data, "format": self.format, "type": self.type}
        if self.expected_tokens is not None:
            result["expected_tokens"] = self.expected_tokens
        return result


@dataclass
class ImageAssetPointerChunk:
    """An image stored elsewhere, referenced by ``location``.

    Examples
    --------
    >>> ImageAssetPointerChunk("s3://bucket/cat.png", "png", expected_tokens=7).length()
    7
    """

    location: str
    format: str
    expected_tokens: int | None = None
    type: ClassVar[str] = "image_asset_pointer"

    def __post_init__(self) -> None:
        if not isinstance(self.location, str):
            raise TypeError(f"ImageAssetPointerChunk location must be a str, got {self.location!r}")
        self.format = _check_image_format(self.format)
        self.expected_tokens = _check_expected_tokens(self.expected_tokens)

    def length(self) -> int:
        """Return ``expected_tokens``; ``ValueError`` if it is not set.

        Examples
        --------
        >>> ImageAssetPointerChunk("img-1", "jpeg", 3).length()
        3
        """
        if self.expected_tokens is None:
            raise ValueError("ImageAssetPointerChunk length is unknown: expected_tokens is not set")
        return self.expected_tokens

    def to_dict(self) -> dict[str, Any]:
        """Return the fields plus ``type``, leaving out the ones that are ``None``.

        Examples
        --------
        >>> ImageAssetPointerChunk("img-1", "png").to_dict()
        {'location': 'img-1', 'format': 'png', 'type': 'image_asset_pointer'}
        """
        result: dict[str, Any] = {"location": self.location, "format": self.format}
        if self.expected_tokens is not None:
            result["expected_tokens"] = self.expected_tokens
        result["type"] = self.type
        return result


Chunk = Union[EncodedTextChunk, ImageChunk, ImageAssetPointerChunk]  # noqa: UP007
_CHUNK_TYPES = (EncodedTextChunk, ImageChunk, ImageAssetPointerChunk)


@dataclass
class ModelInput:
    """The model's input for one example: a list of text and image chunks.

    The building methods return a new ModelInput and leave this one unchanged.

    Examples
    --------
    >>> mi = ModelInput.from_ints([1, 2]).append_int(3)
    >>> mi.to_ints(), mi.length()
    ([1, 2, 3], 3)
    """

    chunks: list[Chunk] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.chunks = list(self.chunks)
        for position, chunk in enumerate(self.chunks):
            if not isinstance(chunk, _CHUNK_TYPES):
                raise TypeError(
                    f"ModelInput chunk at position {position} is not a chunk: {chunk!r}"
                )

    @classmethod
    def empty(cls) -> ModelInput:
        """Return a ModelInput without chunks.

        Examples
        --------
        >>> ModelInput.empty().length()
        0
        """
        return cls([])

    @classmethod
    def from_ints(cls, tokens: Iterable[int]) -> ModelInput:
        """Return a ModelInput holding one text chunk with ``tokens``.

        Examples
        --------
        >>> ModelInput.from_ints([4, 5]).chunks
        [EncodedTextChunk(tokens=[4, 5])]
        """
        return cls([EncodedTextChunk(list(tokens))])

    def append(self, chunk: Chunk) -> ModelInput:
        """Return a new ModelInput with ``chunk`` added at the end.

        Examples
        --------
        >>> mi = ModelInput.from_ints([1]).append(ImageChunk("aGk=", "png", 2))
        >>> [c.type for c in mi.chunks]
        ['encoded_text', 'image']
        """
        return ModelInput([*self.chunks, chunk])

    def append_int(self, token: int) -> ModelInput:
        """Return a new ModelInput with ``token`` appended.

        The token extends the last chunk when that is text; otherwise (no chunks, or an
        image last) it starts a new one-token text chunk.

        Examples
        --------
        >>> ModelInput.empty().append_int(1).append_int(2).chunks
        [EncodedTextChunk(tokens=[1, 2])]
        """
        if self.chunks and isinstance(self.chunks[-1], EncodedTextChunk):
            # Build a new last chunk instead of extending the old one: it may be shared.
            extended = EncodedTextChunk([*self.chunks[-1].tokens, token])
            return ModelInput([*self.chunks[:-1], extended])
        return self.append(EncodedTextChunk([token]))

    def to_ints(self) -> list[int]:
        """Return all tokens in order; ``ValueError`` if there is an image chunk.

        Examples
        --------
        >>> ModelInput([EncodedTextChunk([1]), EncodedTextChunk([2, 3])]).to_ints()
        [1, 2, 3]
        """
        tokens: list[int] = []
        for chunk in self.chunks:
            if not isinstance(chunk, EncodedTextChunk):
                raise ValueError(f"Cannot convert non-text chunk to ints: {chunk.type} chunk")
            tokens.extend(chunk.tokens)
        return tokens

    def length(self) -> int:
        """Return the total length in tokens (an image counts its ``expected_tokens``).

        Examples
        --------
        >>> ModelInput.from_ints([1, 2]).append(ImageChunk("aGk=", "png", 5)).length()
        7
        """
        return sum(chunk.length() for chunk in self.chunks)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"chunks": [...]}``.

        Examples
        --------
        >>> ModelInput.from_ints([1, 2, 3]).to_dict()
        {'chunks': [{'tokens': [1, 2, 3], 'type': 'encoded_text'}]}
        """
        return {"chunks": [chunk.to_dict() for chunk in self.chunks]}
