"""Constants and small conversion helpers shared by the gradtrack types."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

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


def _finite_or_none(value: float) -> float | None:
    """``value``, or ``None`` for NaN and ±inf, which strict JSON cannot hold."""
    return value if math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    """Recursively turn ``value`` into plain Python values that strict JSON accepts.

    Non-finite floats become ``None`` (``null``): ``NaN`` and ``Infinity`` are
    not JSON, and most parsers other than Python's reject them.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return _finite_or_none(value)
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, Mapping):
        return {(k if isinstance(k, str) else str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if _is_array_like(value):
        return _jsonable(np.asarray(value).tolist())
    item = getattr(value, "item", None)
    if callable(item):
        return _jsonable(item())
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
