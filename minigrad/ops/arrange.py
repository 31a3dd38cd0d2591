"""Rearranging elements: split, pad, flip, roll, repeat, tile, move axes, triangles.

Every op here is a composite of the shape and indexing primitives
(``getitem``, ``index_scatter``, ``reshape``, ``broadcast_to``,
``transpose``, ``where``), so each derivative comes for free: a gradient
travels back to the element it came from, summed where an element was used
more than once.
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad.ops._axes import normalize_axes
from minigrad.ops.elementwise import add, where
from minigrad.ops.shape import broadcast_to, getitem, index_scatter, reshape, transpose
from minigrad.tensor import Tensor, as_tensor

__all__ = [
    "flip",
    "moveaxis",
    "pad",
    "repeat",
    "roll",
    "split",
    "swapaxes",
    "tile",
    "tril",
    "triu",
]


def _one_axis(axis: int, ndim: int) -> int:
    return normalize_axes(axis, ndim)[0]


def _along(axis: int, index: Any) -> tuple[Any, ...]:
    """An index that applies ``index`` to ``axis`` and keeps every other axis whole."""
    return (slice(None),) * axis + (index,)


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Split into equal sections, or at the given indices, along ``axis`` (NumPy's rules).

    Examples
    --------
    >>> [part.shape for part in split(np.ones((4, 2)), 2)]
    [(2, 2), (2, 2)]
    >>> [part.shape for part in split(np.ones(5), [1, 3])]
    [(1,), (2,), (2,)]
    """
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError("split needs a tensor of at least one dimension, got shape ()")
    axis = _one_axis(axis, x.ndim)
    length = x.shape[axis]
    if isinstance(indices_or_sections, int | np.integer):
        sections = int(indices_or_sections)
        if sections <= 0 or length % sections:
            raise ValueError(
                f"cannot split axis {axis} of length {length} into {sections} equal sections"
            )
        bounds = [length // sections * i for i in range(sections + 1)]
    else:
        bounds = [0, *(int(i) for i in indices_or_sections), length]
    return [
        getitem(x, _along(axis, slice(start, stop))) for start, stop in itertools.pairwise(bounds)
    ]


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0.0) -> Tensor:
    """Pad with a constant, with NumPy's ``pad_width`` forms (``n``, ``(a, b)``, per axis).

    Only ``mode="constant"`` is supported; the padding carries no gradient.

    Examples
    --------
    >>> pad([1.0, 2.0], (1, 2))
    Tensor([0., 1., 2., 0., 0.])
    """
    x = as_tensor(x)
    if mode != "constant":
        raise ValueError(f"pad supports mode='constant' only, got mode={mode!r}")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    if (widths < 0).any():
        raise ValueError(f"pad widths must be non-negative, got {pad_width!r}")
    shape = tuple(
        int(n + before + after) for n, (before, after) in zip(x.shape, widths, strict=True)
    )
    inside = tuple(slice(int(b), int(b) + n) for n, (b, _) in zip(x.shape, widths, strict=True))
    padded = index_scatter(x, inside, shape)
    if constant_values == 0:
        return padded
    border = np.full(shape, constant_values, dtype=x.dtype)
    border[inside] = 0
    return add(padded, border)


def flip(x: Any, axis: Any = None) -> Tensor:
    """Reverse the order of elements along ``axis`` (all axes for ``None``).

    Examples
    --------
    >>> flip([1.0, 2.0, 3.0])
    Tensor([3., 2., 1.])
    """
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    if not axes:
        return x
    return getitem(
        x, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim))
    )


def roll(x: Any, shift: int | Sequence[int], axis: Any = None) -> Tensor:
    """Shift elements along ``axis``, wrapping around (the flattened tensor for ``None``).

    Examples
    --------
    >>> roll([1.0, 2.0, 3.0], 1)
    Tensor([3., 1., 2.])
    """
    x = as_tensor(x)
    if axis is None:
        positions = np.roll(np.arange(x.size), shift)
        return reshape(getitem(reshape(x, (-1,)), positions), x.shape)
    positions = np.roll(np.arange(x.size).reshape(x.shape), shift, axis)
    return reshape(getitem(reshape(x, (-1,)), positions.reshape(-1)), x.shape)


def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times along ``axis`` (NumPy's ``repeat``).

    With ``axis=None`` the tensor is flattened first. (PyTorch's
    ``Tensor.repeat`` is NumPy's :func:`tile`.)

    Examples
    --------
    >>> repeat([1.0, 2.0], 2)
    Tensor([1., 1., 2., 2.])
    """
    x = as_tensor(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = _one_axis(axis, x.ndim)
    positions = np.repeat(np.arange(x.shape[axis]), repeats)
    return getitem(x, _along(axis, positions))


def tile(x: Any, reps: int | Sequence[int]) -> Tensor:
    """Repeat the whole tensor ``reps`` times along each axis (NumPy's ``tile``).

    Examples
    --------
    >>> tile([1.0, 2.0], 2)
    Tensor([1., 2., 1., 2.])
    >>> tile([[1.0, 2.0]], (2, 1)).shape
    (2, 2)
    """
    x = as_tensor(x)
    reps = (int(reps),) if isinstance(reps, int | np.integer) else tuple(int(r) for r in reps)
    ndim = builtins.max(x.ndim, len(reps))
    shape = (1,) * (ndim - x.ndim) + x.shape
    reps = (1,) * (ndim - len(reps)) + reps
    # Interleave a new axis before each one: (1, n₁, 1, n₂ …) → (r₁, n₁, r₂, n₂ …) → (r₁n₁ …).
    spaced = reshape(x, tuple(d for n in shape for d in (1, n)))
    spread = broadcast_to(
        spaced, tuple(d for r, n in zip(reps, shape, strict=True) for d in (r, n))
    )
    return reshape(spread, tuple(r * n for r, n in zip(reps, shape, strict=True)))


def moveaxis(x: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move axes to new positions, the others keeping their order.

    Examples
    --------
    >>> moveaxis(np.ones((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    x = as_tensor(x)
    sources = [source] if isinstance(source, int | np.integer) else list(source)
    destinations = [destination] if isinstance(destination, int | np.integer) else list(destination)
    if len(sources) != len(destinations):
        raise ValueError(
            f"moveaxis needs as many sources as destinations, got {source!r} and {destination!r}"
        )
    sources = [_one_axis(a, x.ndim) for a in sources]
    destinations = [_one_axis(a, x.ndim) for a in destinations]
    order = [a for a in range(x.ndim) if a not in sources]
    for dest, src in sorted(zip(destinations, sources, strict=True)):
        order.insert(dest, src)
    return transpose(x, tuple(order))


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes.

    Examples
    --------
    >>> swapaxes(np.ones((2, 3, 4)), 0, 2).shape
    (4, 3, 2)
    """
    x = as_tensor(x)
    a, b = _one_axis(axis1, x.ndim), _one_axis(axis2, x.ndim)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return transpose(x, tuple(order))


def _triangle(x: Any, k: int, lower: bool) -> Tensor:
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{'tril' if lower else 'triu'} needs at least 2-D input, got {x.shape}")
    rows, cols = x.shape[-2:]
    mask = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
    return where(mask, x, 0.0)


def tril(x: Any, k: int = 0) -> Tensor:
    """The lower triangle of the last two axes (entries above diagonal ``k`` set to 0).

    Examples
    --------
    >>> tril(np.ones((2, 2)))
    Tensor([[1., 0.],
            [1., 1.]])
    """
    return _triangle(x, k, lower=True)


def triu(x: Any, k: int = 0) -> Tensor:
    """The upper triangle of the last two axes (entries below diagonal ``k`` set to 0).

    Examples
    --------
    >>> triu(np.ones((2, 2)))
    Tensor([[1., 1.],
            [0., 1.]])
    """
    return _triangle(x, k, lower=False)
