"""Sorting and picking along an axis: ``sort``, ``take_along_axis`` and the arg- functions.

``sort`` is ``take_along_axis(x, argsort(x))``: the gradient of each sorted
value goes back to the element it came from. The sort is stable, so tied
values keep their order and each tie's gradient goes to its own element.
The arg- functions return integer tensors that carry no gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.ops._axes import normalize_axes
from minigrad.ops.shape import getitem, reshape
from minigrad.tensor import Tensor, as_tensor

__all__ = [
    "argmax",
    "argmin",
    "argsort",
    "sort",
    "take_along_axis",
]


def _indices(value: Any) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def take_along_axis(x: Any, indices: Any, axis: int | None) -> Tensor:
    """Pick ``x``'s elements at ``indices`` along ``axis`` (NumPy's ``take_along_axis``).

    ``indices`` (integers, same number of dimensions as ``x``) broadcasts
    against ``x`` on the other axes. ``axis=None`` works on the flattened
    tensor. Repeated indices accumulate gradient.

    Examples
    --------
    >>> take_along_axis([[10.0, 20.0], [30.0, 40.0]], np.array([[1], [0]]), axis=1)
    Tensor([[20.],
            [30.]])
    """
    x = as_tensor(x)
    indices = _indices(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis needs integer indices, got dtype {indices.dtype}")
    if axis is None:
        if indices.ndim != 1:
            raise ValueError("take_along_axis with axis=None needs 1-D indices")
        return getitem(reshape(x, (-1,)), indices)
    if indices.ndim != x.ndim:
        raise ValueError(
            f"take_along_axis needs indices with as many dimensions as x: "
            f"got shapes {indices.shape} and {x.shape}"
        )
    axis = normalize_axes(axis, x.ndim)[0]
    # Open grids for the other axes, broadcasting like NumPy's fancy indexing.
    grids = list(
        np.ogrid[
            tuple(
                slice(n)
                for n in np.broadcast_shapes(
                    tuple(1 if i == axis else n for i, n in enumerate(x.shape)),
                    tuple(1 if i == axis else n for i, n in enumerate(indices.shape)),
                )
            )
        ]
    )
    grids[axis] = indices
    return getitem(x, tuple(grids))


def argsort(x: Any, axis: int | None = -1) -> Tensor:
    """Indices that sort ``x`` along ``axis``, stably (ties keep their order).

    Examples
    --------
    >>> argsort([3.0, 1.0, 2.0, 1.0])
    Tensor([1, 3, 2, 0], dtype=int64)
    """
    data = as_tensor(x).data
    if axis is None:
        return Tensor._wrap(np.argsort(data.reshape(-1), kind="stable"))
    return Tensor._wrap(np.argsort(data, axis=axis, kind="stable"))


def sort(x: Any, axis: int | None = -1) -> Tensor:
    """Sorted values along ``axis`` (flattened for ``None``); ties keep NumPy's stable order.

    Examples
    --------
    >>> sort([3.0, 1.0, 2.0])
    Tensor([1., 2., 3.])
    """
    x = as_tensor(x)
    order = argsort(x, axis).data  # NumPy's AxisError (a ValueError) for a bad axis
    return take_along_axis(x, order, axis)


def _arg_extremum(reducer: Any, x: Any, axis: int | None, keepdims: bool) -> Tensor:
    data = as_tensor(x).data
    return Tensor._wrap(np.asarray(reducer(data, axis=axis, keepdims=keepdims)))


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the largest value (first on ties) along ``axis``, in the flattened tensor for None.

    Examples
    --------
    >>> argmax([[1.0, 5.0], [7.0, 2.0]], axis=1)
    Tensor([1, 0], dtype=int64)
    """
    return _arg_extremum(np.argmax, x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the smallest value (first on ties) along ``axis``.

    Examples
    --------
    >>> argmin([[1.0, 5.0], [7.0, 2.0]], axis=1)
    Tensor([0, 1], dtype=int64)
    """
    return _arg_extremum(np.argmin, x, axis, keepdims)
