"""Shape and indexing: reshaping, permuting, broadcasting, picking and joining."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad.ops._axes import Axis, normalize_axes
from minigrad.tensor import Tensor, as_tensor, normalize_index, record

__all__ = [
    "broadcast_to",
    "concatenate",
    "flatten",
    "getitem",
    "reshape",
    "squeeze",
    "stack",
    "transpose",
    "unsqueeze",
]


def reshape(x: Any, shape: int | Sequence[int]) -> Tensor:
    """Give ``x`` a new shape with the same number of elements (``-1`` is inferred).

    Examples
    --------
    >>> reshape([1.0, 2.0, 3.0, 4.0], (2, -1)).shape
    (2, 2)
    """
    x = as_tensor(x)
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    try:
        value = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {x.shape} into shape {shape}") from None
    if value.shape == x.shape:
        return x
    return record("reshape", value, (x,))


def flatten(x: Any) -> Tensor:
    """All elements in one axis.

    Examples
    --------
    >>> flatten([[1.0, 2.0], [3.0, 4.0]]).shape
    (4,)
    """
    return reshape(x, (-1,))


def squeeze(x: Any, axis: Axis = None) -> Tensor:
    """Remove axes of length one (all of them, or those in ``axis``).

    Examples
    --------
    >>> squeeze(np.ones((1, 3, 1))).shape
    (3,)
    """
    x = as_tensor(x)
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = normalize_axes(axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(
                    f"cannot squeeze axis {a} of length {x.shape[a]} (shape {x.shape})"
                )
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Any, axis: int) -> Tensor:
    """Insert an axis of length one at position ``axis``.

    Examples
    --------
    >>> unsqueeze([1.0, 2.0], 0).shape
    (1, 2)
    """
    x = as_tensor(x)
    return reshape(x, np.expand_dims(x.data, axis).shape)


def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes; ``None`` reverses them (like ``.T``).

    Examples
    --------
    >>> transpose(np.ones((2, 3, 4)), (1, 0, 2)).shape
    (3, 2, 4)
    """
    x = as_tensor(x)
    if axes is not None:
        axes = tuple(int(a) for a in axes)
        if sorted(a % x.ndim if -x.ndim <= a < x.ndim else a for a in axes) != list(range(x.ndim)):
            raise ValueError(
                f"axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}"
            )
        axes = tuple(a % x.ndim for a in axes)
    return record("transpose", np.transpose(x.data, axes), (x,), axes=axes)


def broadcast_to(x: Any, shape: Sequence[int]) -> Tensor:
    """Broadcast to ``shape`` as NumPy does; the gradient is summed back.

    Examples
    --------
    >>> broadcast_to([1.0, 2.0], (3, 2)).shape
    (3, 2)
    """
    x = as_tensor(x)
    shape = tuple(shape)
    if shape == x.shape:
        return x
    try:
        value = np.broadcast_to(x.data, shape)
    except ValueError:
        raise ValueError(f"cannot broadcast a tensor of shape {x.shape} to shape {shape}") from None
    if x.size > 1:
        # A view that repeats rows makes every later ufunc take NumPy's slow strided
        # path (5-10x slower than contiguous); one contiguous copy is cheaper.
        # A single value repeated stays a view: that case has a fast path.
        value = np.ascontiguousarray(value)
    return record("broadcast_to", value, (x,))


def is_basic_index(index: Any) -> bool:
    """True when ``index`` uses only ints, slices, None and Ellipsis (no repeats possible)."""
    parts = index if isinstance(index, tuple) else (index,)
    return builtins.all(
        isinstance(p, int | np.integer | slice) or p is None or p is Ellipsis for p in parts
    )


def getitem(x: Any, index: Any) -> Tensor:
    """``x[index]`` with basic or advanced indexing; repeated indices accumulate gradient.

    Examples
    --------
    >>> getitem([10.0, 20.0, 30.0], [2, 0, 2])
    Tensor([30., 10., 30.])
    """
    x = as_tensor(x)
    index = normalize_index(index)
    return record("getitem", np.asarray(x.data[index]), (x,), index=index)


def index_scatter(g: Tensor, index: Any, shape: tuple[int, ...]) -> Tensor:
    """Zeros of ``shape`` with ``g`` added at ``index`` (the gradient of ``getitem``)."""
    out = np.zeros(shape, dtype=g.dtype)
    if is_basic_index(index):
        out[index] = g.data
    else:
        # add.at accumulates where an index repeats; plain assignment would not.
        np.add.at(out, index, g.data)
    return record("index_scatter", out, (g,), index=index)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis.

    Examples
    --------
    >>> concatenate([[1.0], [2.0, 3.0]]).shape
    (3,)
    """
    parts = tuple(as_tensor(t) for t in tensors)
    if not parts:
        raise ValueError("concatenate needs at least one tensor")
    first = parts[0]
    if first.ndim == 0:
        raise ValueError("concatenate needs tensors of at least one dimension, got shape ()")
    axis = normalize_axes(axis, first.ndim)[0]
    for part in parts[1:]:
        others_match = part.ndim == first.ndim and builtins.all(
            part.shape[i] == first.shape[i] for i in range(first.ndim) if i != axis
        )
        if not others_match:
            raise ValueError(
                f"cannot concatenate shapes {first.shape} and {part.shape} along axis {axis}"
            )
    value = np.concatenate([p.data for p in parts], axis=axis)
    return record("concatenate", value, parts, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis.

    Examples
    --------
    >>> stack([[1.0, 2.0], [3.0, 4.0]], axis=1).shape
    (2, 2)
    """
    parts = [as_tensor(t) for t in tensors]
    if not parts:
        raise ValueError("stack needs at least one tensor")
    for part in parts[1:]:
        if part.shape != parts[0].shape:
            raise ValueError(f"cannot stack shapes {parts[0].shape} and {part.shape}")
    axis = normalize_axes(axis, parts[0].ndim + 1)[0]
    return concatenate([unsqueeze(p, axis) for p in parts], axis=axis)
