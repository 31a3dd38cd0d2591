"""The data types gradtrack passes around: tensors on the wire, training data, specs and results.

This module lets you

* move arrays in and out of a JSON-friendly form (:class:`TensorData`),
* describe one training example (:class:`ModelInput` and its chunks, :class:`Datum`),
* declare a regularizer (:class:`RegularizerSpec`), and
* read what a run produced (:class:`RegularizerOutput`, :class:`CustomLossOutput`,
  :class:`ForwardBackwardOutput`).

Every result type has a ``to_dict()`` that returns plain Python values (NumPy scalars and
0-d tensors become numbers), so ``json.dumps(x.to_dict())`` always works.

Two constants describe the tensor dtypes: ``DTYPES`` lists the dtype names a
:class:`TensorData` may carry, and ``LOSS_FN_INPUT_DTYPES`` maps the ``loss_fn_inputs`` keys
that accept plain lists to the dtype such a list is converted to.

>>> DTYPES
('float32', 'float64', 'int64', 'int32')
>>> LOSS_FN_INPUT_DTYPES["target_tokens"], LOSS_FN_INPUT_DTYPES["weights"]
('int64', 'float32')
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import math
import numbers
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Union

import numpy as np

if TYPE_CHECKING:
    from minigrad import Tensor

__all__ = [
    "DTYPES",
    "LOSS_FN_INPUT_DTYPES",
    "CustomLossOutput",
    "Datum",
    "EncodedTextChunk",
    "ForwardBackwardOutput",
    "ImageAssetPointerChunk",
    "ImageChunk",
    "ModelInput",
    "RegularizerOutput",
    "RegularizerSpec",
    "TensorData",
]

DTYPES: tuple[str, ...] = ("float32", "float64", "int64", "int32")

LOSS_FN_INPUT_DTYPES: Mapping[str, str] = MappingProxyType(
    {
        "target_tokens": "int64",
        "weights": "float32",
        "advantages": "float32",
        "logprobs": "float32",
        "clip_low_threshold": "float32",
        "clip_high_threshold": "float32",
    }
)

_IMAGE_FORMATS = ("png", "jpeg")


# ---------------------------------------------------------------------------
# Small conversion helpers shared by the types below
# ---------------------------------------------------------------------------


def _dtype_name(dtype: Any) -> str:
    """Return the wire name of ``dtype``, which must be one of :data:`DTYPES`."""
    if isinstance(dtype, str) and dtype in DTYPES:
        return dtype
    # A NumPy dtype object or scalar type (np.float32) names its dtype unambiguously.
    is_numpy_dtype = isinstance(dtype, np.dtype) or (
        isinstance(dtype, type) and issubclass(dtype, np.generic)
    )
    if is_numpy_dtype and np.dtype(dtype).name in DTYPES:
        return np.dtype(dtype).name
    raise ValueError(f"Unsupported TensorData dtype {dtype!r}; expected one of {list(DTYPES)}")


def _wire_dtype_for(dtype: np.dtype) -> str:
    """Pick the wire dtype an array of ``dtype`` is stored as (see TensorData.from_numpy)."""
    if dtype.name in DTYPES:
        return dtype.name
    # Narrow signed ints, every unsigned int and bool widen losslessly to int64.
    if dtype.kind in "iub":
        return "int64"
    raise ValueError(
        f"Unsupported tensor dtype: {dtype.name}. Use float32, float64, int64 or int32."
    )


def _cast_array(values: Any, dtype_name: str) -> np.ndarray:
    """Convert ``values`` to an array of ``dtype_name`` without silently losing information.

    Ints may become floats, and floats may narrow (float64 → float32), but a float that is
    not a whole number never becomes an int, and strings or ``None`` never become numbers.
    """
    try:
        array = np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"cannot make an array from {values!r}: {exc}") from exc
    target = np.dtype(dtype_name)
    if array.size == 0:
        return array.astype(target)
    if array.dtype.kind == "f" and target.kind == "i":
        if not (np.all(np.isfinite(array)) and np.all(array == np.trunc(array))):
            raise ValueError(f"cannot store non-integer values as {dtype_name}: {values!r}")
    elif not np.can_cast(array.dtype, target, casting="same_kind"):
        raise ValueError(f"cannot store {array.dtype} values as {dtype_name}: {values!r}")
    return array.astype(target)


def _is_array_like(value: Any) -> bool:
    """True for NumPy arrays and anything that converts like one (a minigrad Tensor)."""
    return isinstance(value, np.ndarray) or (
        hasattr(value, "__array__") and hasattr(value, "shape")
    )


def _as_float(value: Any, what: str) -> float:
    """Turn a number, NumPy scalar or one-element tensor into a Python float."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{what} must be a real number, got {value!r}")
    item = getattr(value, "item", None)
    try:
        return float(item() if callable(item) else value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a real number, got {value!r}") from exc


def _as_optional_float(value: Any, what: str) -> float | None:
    # None means "not computed"; it must never be confused with 0.0, so test identity only.
    return None if value is None else _as_float(value, what)


def _jsonable(value: Any) -> Any:
    """Recursively turn ``value`` into plain Python values that ``json.dumps`` accepts."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, Mapping):
        return {(k if isinstance(k, str) else str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if _is_array_like(value):
        return np.asarray(value).tolist()
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return value


def _as_tokens(tokens: Iterable[Any]) -> list[int]:
    """Check that every token is an integer and return them as Python ints."""
    result = []
    for position, token in enumerate(tokens):
        if isinstance(token, (bool, np.bool_)) or not isinstance(token, numbers.Integral):
            raise TypeError(f"token at position {position} must be an int, got {token!r}")
        result.append(int(token))
    return result


def _check_expected_tokens(expected_tokens: Any) -> int | None:
    if expected_tokens is None:
        return None
    if isinstance(expected_tokens, bool) or not isinstance(expected_tokens, numbers.Integral):
        raise TypeError(f"expected_tokens must be an int or None, got {expected_tokens!r}")
    if expected_tokens < 0:
        raise ValueError(f"expected_tokens must be >= 0, got {expected_tokens!r}")
    return int(expected_tokens)


def _check_image_format(image_format: Any) -> str:
    if image_format not in _IMAGE_FORMATS:
        raise ValueError(
            f"image format must be one of {list(_IMAGE_FORMATS)}, got {image_format!r}"
        )
    return str(image_format)


# ---------------------------------------------------------------------------
# TensorData
# ---------------------------------------------------------------------------


@dataclass
class TensorData:
    """A tensor in wire form: a flat row-major list of numbers, a dtype name and a shape.

    Parameters
    ----------
    data : sequence of numbers
        The elements in row-major order. They are converted to the Python type of ``dtype``
        (ints become floats for a float dtype); a non-integer float for an int dtype, a
        string or ``None`` raise ``ValueError``.
    dtype : str
        One of ``"float32"``, ``"float64"``, ``"int64"``, ``"int32"`` (a NumPy dtype naming
        one of these is accepted too). float64 is kept as float64.
    shape : list of int, optional
        The dimensions; ``None`` for a scalar or an unshaped vector, which
        :meth:`to_numpy` returns as a 1-D array.

    Examples
    --------
    >>> td = TensorData([1, 2, 3], "float32")
    >>> td.data, td.dtype, td.shape
    ([1.0, 2.0, 3.0], 'float32', None)
    >>> TensorData([1, 2, 3, 4], "int64", [2, 2]).to_numpy()
    array([[1, 2],
           [3, 4]])
    """

    data: list[Any]
    dtype: str
    shape: list[int] | None = None

    def __post_init__(self) -> None:
        self.dtype = _dtype_name(self.dtype)
        flat = _cast_array(self.data, self.dtype)
        if flat.ndim != 1:
            raise ValueError(
                f"TensorData data must be a flat list, got an array of shape {flat.shape}; "
                "use TensorData.from_numpy for nested data"
            )
        self.data = flat.tolist()
        if self.shape is not None:
            self.shape = self._checked_shape(self.shape)

    def _checked_shape(self, shape: Iterable[Any]) -> list[int]:
        dims = list(shape)
        for dim in dims:
            if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 0:
                raise ValueError(f"TensorData shape must hold non-negative ints, got {shape!r}")
        dims = [int(dim) for dim in dims]
        if math.prod(dims) != len(self.data):
            raise ValueError(
                f"TensorData shape {dims} holds {math.prod(dims)} elements "
                f"but data has {len(self.data)}"
            )
        return dims

    @classmethod
    def from_numpy(cls, array: Any) -> TensorData:
        """Build a TensorData from an array, a minigrad Tensor or anything ``np.asarray`` takes.

        float32, float64, int64 and int32 are kept; other integer types, unsigned types and
        bool become int64; anything else (float16, complex, strings) is a ``ValueError``.
        A rank-0 input gets ``shape=None``.

        Examples
        --------
        >>> TensorData.from_numpy(np.array([[1, 2], [3, 4]], dtype=np.int32))
        TensorData(data=[1, 2, 3, 4], dtype='int32', shape=[2, 2])
        >>> TensorData.from_numpy(np.float64(42.5))
        TensorData(data=[42.5], dtype='float64', shape=None)
        >>> TensorData.from_numpy(np.array([True, False])).dtype
        'int64'
        """
        values = np.asarray(array)
        wire_dtype = _wire_dtype_for(values.dtype)
        if values.dtype.kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
            raise ValueError(f"unsigned values above {np.iinfo(np.int64).max} do not fit int64")
        shape = None if values.ndim == 0 else list(values.shape)
        # Passing the flat array (not a list) lets __post_init__ convert it only once.
        return cls(values.astype(wire_dtype).ravel(), wire_dtype, shape)

    def to_numpy(self) -> np.ndarray:
        """Return the data as an array of this dtype, reshaped to ``shape`` if there is one.

        Examples
        --------
        >>> TensorData([1.0, 2.0, 3.0], "float32").to_numpy()
        array([1., 2., 3.], dtype=float32)
        """
        values = np.asarray(self.data, dtype=np.dtype(self.dtype))
        if self.shape is None:
            return values
        return values.reshape(self.shape)

    def to_tensor(self) -> Tensor:
        """Return the data as a ``minigrad.Tensor`` (which does not require grad).

        Examples
        --------
        >>> TensorData([1.0, 2.0], "float32").to_tensor().shape
        (2,)
        """
        # Imported here so that the types can be used (and serialised) without the engine.
        import minigrad

        return minigrad.Tensor(self.to_numpy())

    def tolist(self) -> list[Any]:
        """Return a copy of the flat data list.

        Examples
        --------
        >>> TensorData([1, 2], "int64", [1, 2]).tolist()
        [1, 2]
        """
        return list(self.data)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"data", "dtype", "shape"}``; ``shape`` is present even when ``None``.

        Examples
        --------
        >>> TensorData([1, 2], "int64").to_dict()
        {'data': [1, 2], 'dtype': 'int64', 'shape': None}
        """
        shape = None if self.shape is None else list(self.shape)
        return {"data": list(self.data), "dtype": self.dtype, "shape": shape}


# ---------------------------------------------------------------------------
# ModelInput and its chunks
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Datum
# ---------------------------------------------------------------------------


def _loss_fn_input(key: str, value: Any) -> TensorData:
    """Convert one ``loss_fn_inputs`` value to TensorData (rules in :class:`Datum`)."""
    if isinstance(value, TensorData):
        return value
    if isinstance(value, (list, tuple)):
        dtype = LOSS_FN_INPUT_DTYPES.get(key)
        if dtype is None:
            raise ValueError(
                f"Unsupported list value for loss_fn_inputs key {key!r}; use TensorData, an "
                f"array or a Tensor, or one of the keys {sorted(LOSS_FN_INPUT_DTYPES)}"
            )
        try:
            array = _cast_array(value, dtype)
        except ValueError as exc:
            raise ValueError(f"loss_fn_inputs key {key!r}: {exc}") from exc
        return TensorData(array.ravel(), dtype, list(array.shape))
    if _is_array_like(value):
        try:
            return TensorData.from_numpy(value)
        except ValueError as exc:
            raise ValueError(f"loss_fn_inputs key {key!r}: {exc}") from exc
    raise ValueError(
        f"Unsupported value for loss_fn_inputs key {key!r}: {type(value).__name__}; "
        "expected a TensorData, an array, a Tensor or a list"
    )


@dataclass
class Datum:
    """One training example: the model input and the named tensors the loss reads.

    Parameters
    ----------
    model_input : ModelInput
    loss_fn_inputs : mapping of str to TensorData, array, Tensor or list
        Converted to ``dict[str, TensorData]`` at construction. Arrays and Tensors go through
        :meth:`TensorData.from_numpy` under any key. Lists are accepted only under the keys of
        ``LOSS_FN_INPUT_DTYPES`` and are cast to that key's dtype, keeping their nested shape.
        Any other value, or a list under another key, is a ``ValueError`` naming the key; a
        key that is not a ``str`` is a ``TypeError``.

    Examples
    --------
    >>> d = Datum(ModelInput.from_ints([1, 2]), {"weights": [1, 2], "target_tokens": [[9, 8]]})
    >>> d.loss_fn_inputs["weights"]
    TensorData(data=[1.0, 2.0], dtype='float32', shape=[2])
    >>> d.loss_fn_inputs["target_tokens"].shape
    [1, 2]
    """

    model_input: ModelInput
    loss_fn_inputs: dict[str, TensorData] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model_input, ModelInput):
            raise TypeError(f"Datum model_input must be a ModelInput, got {self.model_input!r}")
        inputs = {} if self.loss_fn_inputs is None else self.loss_fn_inputs
        if not isinstance(inputs, Mapping):
            raise TypeError(f"Datum loss_fn_inputs must be a mapping, got {inputs!r}")
        converted: dict[str, TensorData] = {}
        for key, value in inputs.items():
            if not isinstance(key, str):
                raise TypeError(f"loss_fn_inputs keys must be str, got {key!r}")
            converted[key] = _loss_fn_input(key, value)
        self.loss_fn_inputs = converted

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"model_input", "loss_fn_inputs"}`` with every tensor as its dict.

        Examples
        --------
        >>> Datum(ModelInput.from_ints([1]), {"target_tokens": [2]}).to_dict()["loss_fn_inputs"]
        {'target_tokens': {'data': [2], 'dtype': 'int64', 'shape': [1]}}
        """
        return {
            "model_input": self.model_input.to_dict(),
            "loss_fn_inputs": {key: td.to_dict() for key, td in self.loss_fn_inputs.items()},
        }


# ---------------------------------------------------------------------------
# RegularizerSpec
# ---------------------------------------------------------------------------


def _compute_method(fn: Any) -> Callable[..., Any] | None:
    """Return ``fn.compute`` when ``fn`` follows the ``compute(data, logprobs, opts)`` protocol."""
    compute = getattr(fn, "compute", None)
    return compute if callable(compute) else None


def _accepts(signature: inspect.Signature, count: int) -> bool:
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True


def _positional_args(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments to call a regularizer function with: 2, 3, or None if neither.

    A function gets ``opts`` as a third argument when it needs three arguments, or when it
    can take a third one whose parameter is called ``opts``. Callables without an
    inspectable signature (some builtins) are called with two. The answer is cached per
    function: reading a signature costs more than many a small regularizer.
    """
    try:
        return _POSITIONAL_ARGS[fn]
    except (KeyError, TypeError):  # not seen yet, or not weak-referenceable
        count = _inspect_positional_args(fn)
    with contextlib.suppress(TypeError):
        _POSITIONAL_ARGS[fn] = count
    return count


# Weak keys: the cache never keeps a regularizer (or what its closure holds) alive.
_POSITIONAL_ARGS: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()


def _inspect_positional_args(fn: Callable[..., Any]) -> int | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return 2
    takes_two, takes_three = _accepts(signature, 2), _accepts(signature, 3)
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    third_is_opts = len(positional) >= 3 and positional[2].name == "opts"
    if takes_three and (not takes_two or third_is_opts):
        return 3
    if takes_two:
        return 2
    return None


def _check_fn(fn: Any) -> None:
    compute = _compute_method(fn)
    if compute is not None:
        if not _accepts_three(compute):
            raise TypeError(
                f"RegularizerSpec fn.compute must accept (data, logprobs, opts), got {fn!r}"
            )
        return
    if not callable(fn):
        raise TypeError(
            "RegularizerSpec fn must be callable or have a compute(data, logprobs, opts) "
            f"method, got {fn!r}"
        )
    if _positional_args(fn) is None:
        raise TypeError(
            "RegularizerSpec fn must accept (data, logprobs) or (data, logprobs, opts), "
            f"got {fn!r} with signature {inspect.signature(fn)}"
        )


def _accepts_three(fn: Callable[..., Any]) -> bool:
    try:
        return _accepts(inspect.signature(fn), 3)
    except (TypeError, ValueError):
        return True


def _check_weight(weight: Any) -> None:
    # bool is an int subclass in Python; a weight of True is almost certainly a mistake.
    if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, numbers.Real):
        raise TypeError(f"RegularizerSpec weight must be a real number, got {weight!r}")
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(
            f"RegularizerSpec weight must be a finite non-negative number, got {weight!r}"
        )


def _check_name(name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"RegularizerSpec name must be a non-empty string, got {name!r}")
    if not name:
        raise ValueError(f"RegularizerSpec name must be a non-empty string, got {name!r}")


@dataclass
class RegularizerSpec:
    """A regularizer to run: its function, weight and name.

    Parameters
    ----------
    fn : callable or object with ``compute``
        Returns ``(loss, metrics)``. Three shapes are accepted: ``fn(data, logprobs)``;
        ``fn(data, logprobs, opts)`` (chosen when ``fn`` needs three arguments, or when its
        third parameter is called ``opts``); or an object with a
        ``compute(data, logprobs, opts)`` method (it need not be callable itself).
    weight : real number
        Finite and ``>= 0``; the output's contribution is ``weight * loss``.
    name : str
        Non-empty; names the regularizer in outputs, errors and telemetry.
    is_async : bool
        When true, ``fn`` returns an awaitable or a ``concurrent.futures.Future`` that the
        executor waits for.
    opts : mapping, optional
        Passed (as a fresh ``dict``; ``{}`` when ``None``) to a three-argument ``fn`` or to
        ``compute``.

    Raises
    ------
    TypeError
        ``fn`` has none of the shapes above, ``weight`` is not a real number (bool, str,
        None and complex are rejected), ``name`` is not a str, ``is_async`` is not a bool, or
        ``opts`` is neither a mapping nor None.
    ValueError
        ``weight`` is negative, NaN or infinite, or ``name`` is empty.

    Examples
    --------
    >>> spec = RegularizerSpec(lambda data, lp: (sum(lp), {}), weight=0.5, name="total")
    >>> spec.is_async, spec.invoke([], [1.0, 2.0])
    (False, (3.0, {}))
    >>> RegularizerSpec(lambda data, lp: (0.0, {}), weight=-1, name="bad")
    Traceback (most recent call last):
    ...
    ValueError: RegularizerSpec weight must be a finite non-negative number, got -1
    """

    fn: Any
    weight: float
    name: str
    is_async: bool = False
    opts: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field again (they may have been changed since construction).

        Raises the same ``TypeError``/``ValueError`` as the constructor.

        Examples
        --------
        >>> spec = RegularizerSpec(lambda data, lp: (0.0, {}), 1.0, "zero")
        >>> spec.name = ""
        >>> spec.validate()
        Traceback (most recent call last):
        ...
        ValueError: RegularizerSpec name must be a non-empty string, got ''
        """
        _check_fn(self.fn)
        _check_weight(self.weight)
        _check_name(self.name)
        if not isinstance(self.is_async, bool):
            raise TypeError(f"RegularizerSpec is_async must be a boolean, got {self.is_async!r}")
        if self.opts is not None and not isinstance(self.opts, Mapping):
            raise TypeError(f"RegularizerSpec opts must be a mapping or None, got {self.opts!r}")

    def invoke(self, data: Sequence[Datum], logprobs: Any) -> Any:
        """Call ``fn`` in the way its shape asks for and return what it returns.

        The result is not checked here (and for an async spec it is the awaitable).

        Examples
        --------
        >>> def scaled(data, lp, opts):
        ...     return opts["scale"] * sum(lp), {}
        >>> RegularizerSpec(scaled, 1.0, "scaled", opts={"scale": 2.0}).invoke([], [1, 2, 3])
        (12.0, {})
        """
        opts = {} if self.opts is None else dict(self.opts)
        compute = _compute_method(self.fn)
        if compute is not None:
            return compute(data, logprobs, opts)
        if _positional_args(self.fn) == 3:
            return self.fn(data, logprobs, opts)
        return self.fn(data, logprobs)


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------


@dataclass
class RegularizerOutput:
    """What one regularizer produced.

    ``value``, ``weight``, ``contribution`` (``weight * value``) and the optional gradient
    fields are Python floats. ``grad_norm`` is the norm of the regularizer's own (unweighted)
    gradient with respect to the logprobs, ``grad_norm_weighted`` is ``weight * grad_norm``,
    and ``grad_alignment`` is the cosine between this term's weighted gradient and the total
    gradient. ``None`` means "not computed"; ``0.0`` is a real value.

    Examples
    --------
    >>> out = RegularizerOutput.from_computation("l1", 10.0, 0.1, {"sum": 100}, grad_norm=5.0)
    >>> out.contribution, out.grad_norm_weighted
    (1.0, 0.5)
    """

    name: str
    value: float
    weight: float
    contribution: float
    grad_norm: float | None = None
    grad_norm_weighted: float | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    grad_alignment: float | None = None

    def __post_init__(self) -> None:
        self.value = _as_float(self.value, "RegularizerOutput value")
        self.weight = _as_float(self.weight, "RegularizerOutput weight")
        self.contribution = _as_float(self.contribution, "RegularizerOutput contribution")
        self.grad_norm = _as_optional_float(self.grad_norm, "RegularizerOutput grad_norm")
        self.grad_norm_weighted = _as_optional_float(
            self.grad_norm_weighted, "RegularizerOutput grad_norm_weighted"
        )
        self.grad_alignment = _as_optional_float(
            self.grad_alignment, "RegularizerOutput grad_alignment"
        )
        if self.custom is None:
            self.custom = {}
        elif isinstance(self.custom, Mapping):
            self.custom = dict(self.custom)
        else:
            raise TypeError(f"RegularizerOutput custom must be a mapping, got {self.custom!r}")

    @classmethod
    def from_computation(
        cls,
        name: str,
        value: Any,
        weight: float,
        custom: Mapping[str, Any] | None,
        grad_norm: Any = None,
    ) -> RegularizerOutput:
        """Build an output from a regularizer's loss value and metrics.

        ``contribution = weight * value``; ``grad_norm_weighted = weight * grad_norm`` when a
        grad norm is given (``0.0`` included); ``custom=None`` becomes ``{}``.

        Examples
        --------
        >>> out = RegularizerOutput.from_computation("entropy", 1.5, 0.001, None, grad_norm=0.0)
        >>> out.contribution, out.custom, out.grad_norm, out.grad_norm_weighted
        (0.0015, {}, 0.0, 0.0)
        """
        value = _as_float(value, "RegularizerOutput value")
        weight = _as_float(weight, "RegularizerOutput weight")
        grad_norm = _as_optional_float(grad_norm, "RegularizerOutput grad_norm")
        return cls(
            name=name,
            value=value,
            weight=weight,
            contribution=weight * value,
            grad_norm=grad_norm,
            grad_norm_weighted=None if grad_norm is None else weight * grad_norm,
            custom={} if custom is None else custom,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; the gradient fields appear only when computed.

        ``grad_norm`` and ``grad_norm_weighted`` are present together exactly when
        ``grad_norm is not None``; ``grad_alignment`` only when it is not ``None``.

        Examples
        --------
        >>> RegularizerOutput.from_computation("l2", 2.0, 0.5, {}).to_dict()
        {'name': 'l2', 'value': 2.0, 'weight': 0.5, 'contribution': 1.0, 'custom': {}}
        """
        result: dict[str, Any] = {
            "name": self.name,
            "value": self.value,
            "weight": self.weight,
            "contribution": self.contribution,
            "custom": _jsonable(self.custom),
        }
        if self.grad_norm is not None:
            result["grad_norm"] = self.grad_norm
            result["grad_norm_weighted"] = self.grad_norm_weighted
        if self.grad_alignment is not None:
            result["grad_alignment"] = self.grad_alignment
        return result


@dataclass
class CustomLossOutput:
    """The result of a pipeline run: the total loss and how each term contributed.

    ``loss_total = base_loss["value"] + regularizer_total``, where ``regularizer_total`` is
    the sum of the regularizers' contributions. ``base_loss`` is
    ``{"value", "grad_norm", "custom"}``; ``regularizers`` maps each name to its
    :class:`RegularizerOutput`, in spec order. ``total_grad_norm`` is the norm of the
    gradient of ``loss_total``; ``grad_alignment`` maps ``"base"`` and each regularizer name
    to the cosine between that term's weighted gradient and the total gradient. Both are
    ``None`` unless gradient tracking was on.

    Examples
    --------
    >>> reg = RegularizerOutput.from_computation("l1", 10.0, 0.1, {})
    >>> out = CustomLossOutput.build(1.0, {"nll": 1.0}, [reg])
    >>> out.loss, out.regularizer_total, list(out.regularizers)
    (2.0, 1.0, ['l1'])
    """

    loss_total: float
    base_loss: dict[str, Any]
    regularizers: dict[str, RegularizerOutput]
    regularizer_total: float
    total_grad_norm: float | None = None
    grad_alignment: dict[str, float] | None = None

    def __post_init__(self) -> None:
        self.loss_total = _as_float(self.loss_total, "CustomLossOutput loss_total")
        self.regularizer_total = _as_float(
            self.regularizer_total, "CustomLossOutput regularizer_total"
        )
        self.total_grad_norm = _as_optional_float(
            self.total_grad_norm, "CustomLossOutput total_grad_norm"
        )

    @classmethod
    def build(
        cls,
        base_value: Any,
        base_custom: Mapping[str, Any] | None,
        outputs: Iterable[RegularizerOutput],
        base_grad_norm: Any = None,
        total_grad_norm: Any = None,
        grad_alignment: Mapping[str, Any] | None = None,
    ) -> CustomLossOutput:
        """Assemble the output from the base loss and the regularizer outputs.

        Raises ``TypeError`` for an item of ``outputs`` that is not a
        :class:`RegularizerOutput` and ``ValueError`` for two outputs with the same name
        (their contributions could not both be shown).

        Examples
        --------
        >>> a = RegularizerOutput.from_computation("a", 0.224, 1.0, {})
        >>> b = RegularizerOutput.from_computation("b", 0.15, 1.0, {})
        >>> round(CustomLossOutput.build(2.5, {}, [a, b]).loss_total, 3)
        2.874
        >>> CustomLossOutput.build(1.0, None, []).base_loss
        {'value': 1.0, 'grad_norm': None, 'custom': {}}
        """
        outputs = list(outputs)
        regularizers: dict[str, RegularizerOutput] = {}
        for output in outputs:
            if not isinstance(output, RegularizerOutput):
                raise TypeError(f"outputs must hold RegularizerOutput objects, got {output!r}")
            if output.name in regularizers:
                raise ValueError(f"Duplicate regularizer name in outputs: {output.name!r}")
            regularizers[output.name] = output
        # fsum keeps the total independent of rounding order, whatever the term sizes.
        regularizer_total = math.fsum(output.contribution for output in outputs)
        base_value = _as_float(base_value, "base_value")
        alignment = None
        if grad_alignment is not None:
            alignment = {
                str(k): _as_float(v, f"grad_alignment[{k!r}]") for k, v in grad_alignment.items()
            }
        return cls(
            loss_total=base_value + regularizer_total,
            base_loss={
                "value": base_value,
                "grad_norm": _as_optional_float(base_grad_norm, "base_grad_norm"),
                "custom": {} if base_custom is None else dict(base_custom),
            },
            regularizers=regularizers,
            regularizer_total=regularizer_total,
            total_grad_norm=total_grad_norm,
            grad_alignment=alignment,
        )

    @property
    def loss(self) -> float:
        """The total loss (the same as ``loss_total``).

        Examples
        --------
        >>> CustomLossOutput.build(2.5, None, []).loss
        2.5
        """
        return self.loss_total

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict.

        ``base_loss`` always has ``value``, ``grad_norm`` (``None`` when not computed) and
        ``custom``; each regularizer entry is its :meth:`RegularizerOutput.to_dict`;
        ``total_grad_norm`` and ``grad_alignment`` appear only when they are not ``None``.

        Examples
        --------
        >>> CustomLossOutput.build(2.5, {"perplexity": 12.18}, []).to_dict()
        {'loss_total': 2.5, 'regularizer_total': 0.0, 'base_loss': {'value': 2.5, 'grad_norm': None, 'custom': {'perplexity': 12.18}}, 'regularizers': {}}
        """  # noqa: E501
        base = self.base_loss or {}
        result: dict[str, Any] = {
            "loss_total": self.loss_total,
            "regularizer_total": self.regularizer_total,
            "base_loss": {
                "value": _jsonable(base.get("value")),
                "grad_norm": _jsonable(base.get("grad_norm")),
                "custom": _jsonable(base.get("custom") or {}),
            },
            "regularizers": {name: out.to_dict() for name, out in self.regularizers.items()},
        }
        if self.total_grad_norm is not None:
            result["total_grad_norm"] = self.total_grad_norm
        if self.grad_alignment is not None:
            result["grad_alignment"] = _jsonable(self.grad_alignment)
        return result

    def to_json(self, **json_kwargs: Any) -> str:
        """Return :meth:`to_dict` as a JSON string; keyword arguments go to ``json.dumps``.

        Examples
        --------
        >>> CustomLossOutput.build(1.0, None, []).to_json(sort_keys=True)
        '{"base_loss": {"custom": {}, "grad_norm": null, "value": 1.0}, "loss_total": 1.0, "regularizer_total": 0.0, "regularizers": {}}'
        """  # noqa: E501
        return json.dumps(self.to_dict(), **json_kwargs)


@dataclass
class ForwardBackwardOutput:
    """What a training client's ``forward`` or ``forward_backward`` returns.

    ``loss_fn_outputs`` holds one dict per datum, such as ``{"logprobs": TensorData}``;
    ``metrics`` maps metric names to numbers.

    Examples
    --------
    >>> out = ForwardBackwardOutput(
    ...     "cross_entropy", [{"logprobs": TensorData([-1.0, -2.0], "float32")}], {"loss": 0.25}
    ... )
    >>> out.to_dict()["loss_fn_outputs"][0]["logprobs"]["data"]
    [-1.0, -2.0]
    """

    loss_fn_output_type: str
    loss_fn_outputs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (tensors as their dicts, NumPy numbers as Python numbers).

        Examples
        --------
        >>> ForwardBackwardOutput("cross_entropy", [], {"loss": np.float32(0.5)}).to_dict()
        {'loss_fn_output_type': 'cross_entropy', 'loss_fn_outputs': [], 'metrics': {'loss': 0.5}}
        """
        return {
            "loss_fn_output_type": self.loss_fn_output_type,
            "loss_fn_outputs": _jsonable(self.loss_fn_outputs),
            "metrics": _jsonable(self.metrics),
        }
