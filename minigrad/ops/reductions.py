"""Reductions over axes, and the softmax family that normalizes along them.

``mean``, ``var`` and ``std`` are composites of primitives, so their
derivatives come for free.
"""

from __future__ import annotations

import builtins
import warnings
from typing import Any

import numpy as np

from minigrad import kernels
from minigrad.ops._axes import Axis, normalize_axes, reduced_count
from minigrad.ops._operands import floating
from minigrad.ops.elementwise import div, sqrt, square, sub
from minigrad.tensor import Tensor, as_tensor, record

__all__ = [
    "cumsum",
    "log_softmax",
    "logsumexp",
    "max",
    "mean",
    "min",
    "prod",
    "softmax",
    "std",
    "sum",
    "var",
]


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (int, tuple, negative or None for all).

    Examples
    --------
    >>> sum([[1.0, 2.0], [3.0, 4.0]], axis=0)
    Tensor([4., 6.])
    """
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    if len(axes) == x.ndim and not keepdims and x.dtype.kind == "f":
        value = kernels.sum_all(x.data)
    else:
        value = np.sum(x.data, axis=axes, keepdims=keepdims)
    return record("sum", np.asarray(value), (x,), axes=axes, keepdims=keepdims)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``.

    Examples
    --------
    >>> mean([1.0, 2.0, 6.0])
    Tensor(3.)
    """
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    return div(sum(x, axes, keepdims), reduced_count(x.shape, axes))


def var(x: Any, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Variance over ``axis``, dividing by ``n - ddof`` (NumPy's default ``ddof=0``).

    Examples
    --------
    >>> var([1.0, 3.0])
    Tensor(1.)
    """
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    deviations = sub(x, mean(x, axes, keepdims=True))
    # As NumPy: with ddof >= n the divisor is 0 (inf, or NaN for a zero sum), never negative.
    divisor = reduced_count(x.shape, axes) - ddof
    if divisor <= 0:
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        divisor = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return div(sum(square(deviations), axes, keepdims), builtins.float(divisor))


def std(x: Any, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Standard deviation over ``axis`` (``sqrt(var)``).

    Examples
    --------
    >>> std([1.0, 3.0])
    Tensor(1.)
    """
    return sqrt(var(x, axis, ddof, keepdims))


def _extremum(op: str, reducer: Any, x: Any, axis: Axis, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    empty_axes = [a for a in axes if x.shape[a] == 0]
    if empty_axes or (x.ndim == 0 and x.size == 0):
        # As NumPy: reducing over a zero-length axis has no identity; other axes may be empty.
        raise ValueError(
            f"{op} over axis {empty_axes[0]} of length 0 (shape {x.shape}) is undefined"
        )
    value = np.asarray(reducer(x.data, axis=axes, keepdims=keepdims))
    return record(op, value, (x,), axes=axes, keepdims=keepdims)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient evenly.

    Examples
    --------
    >>> max([[1.0, 4.0], [3.0, 2.0]], axis=1)
    Tensor([4., 3.])
    """
    return _extremum("max", np.max, x, axis, keepdims)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; tied minima share the gradient evenly.

    Examples
    --------
    >>> min([[1.0, 4.0], [3.0, 2.0]], axis=1)
    Tensor([1., 2.])
    """
    return _extremum("min", np.min, x, axis, keepdims)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis``, exact at ±1e4 and with ``-inf`` entries.

    Examples
    --------
    >>> logsumexp([1e4, 1e4])
    Tensor(10000.69314718)
    """
    x = floating(as_tensor(x))
    axes = normalize_axes(axis, x.ndim)
    value = kernels.logsumexp(x.data, axes, keepdims)
    return record("logsumexp", np.asarray(value), (x,), axes=axes, keepdims=keepdims)


def softmax(x: Any, axis: Axis = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` over ``axis``; an all-``-inf`` row gives zeros.

    Examples
    --------
    >>> softmax([0.0, -np.inf])
    Tensor([1., 0.])
    """
    x = floating(as_tensor(x))
    axes = normalize_axes(axis, x.ndim)
    return record("softmax", kernels.softmax(x.data, axes), (x,), axes=axes)


def log_softmax(x: Any, axis: Axis = -1) -> Tensor:
    """``x - logsumexp(x)`` over ``axis``, stable at ±1e4 and with ``-inf`` entries.

    Examples
    --------
    >>> log_softmax([0.0, 0.0])
    Tensor([-0.69314718, -0.69314718])
    """
    x = floating(as_tensor(x))
    axes = normalize_axes(axis, x.ndim)
    return record("log_softmax", kernels.log_softmax(x.data, axes), (x,), axes=axes)


def prod(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis``; its gradient is exact with one or several zeros.

    The gradient of each element is the product of the others in its group,
    computed as such (never as ``prod / x``) wherever a group holds a zero.

    Examples
    --------
    >>> prod([[1.0, 2.0], [3.0, 4.0]], axis=1)
    Tensor([ 2., 12.])
    """
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    value = np.prod(x.data, axis=axes, keepdims=keepdims)
    return record("prod", np.asarray(value), (x,), axes=axes, keepdims=keepdims)


def cumsum(x: Any, axis: int | None = None) -> Tensor:
    """Running sum along ``axis``; ``None`` runs over the flattened tensor.

    Examples
    --------
    >>> cumsum([1.0, 2.0, 3.0])
    Tensor([1., 3., 6.])
    """
    x = as_tensor(x)
    if axis is None:
        return record("cumsum", np.cumsum(x.data.reshape(-1)), (x,), axis=None)
    (axis,) = normalize_axes(axis, builtins.max(x.ndim, 1))
    if x.ndim == 0:
        return record("cumsum", np.cumsum(x.data), (x,), axis=None)
    return record("cumsum", np.cumsum(x.data, axis=axis), (x,), axis=axis)
