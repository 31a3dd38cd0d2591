"""Rounding, integer division, remainders and tests for special values.

All of these but ``mod`` are flat or undefined almost everywhere, so, as in
the contract, their results carry no gradient. ``mod`` (``%``) is
``x - floor(x / y) y``: its derivative is 1 in ``x`` and ``-floor(x / y)`` in
``y``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.ops._operands import pair
from minigrad.tensor import Tensor, as_tensor, record

__all__ = [
    "ceil",
    "floor",
    "floor_divide",
    "isfinite",
    "isnan",
    "mod",
    "round",
]


def _constant(value: Any) -> Tensor:
    return Tensor._wrap(np.asarray(value))


def floor(x: Any) -> Tensor:
    """Round down elementwise (no gradient).

    Examples
    --------
    >>> floor([-1.5, 1.5])
    Tensor([-2.,  1.])
    """
    return _constant(np.floor(as_tensor(x).data))


def ceil(x: Any) -> Tensor:
    """Round up elementwise (no gradient).

    Examples
    --------
    >>> ceil([-1.5, 1.5])
    Tensor([-1.,  2.])
    """
    return _constant(np.ceil(as_tensor(x).data))


def round(x: Any, decimals: int = 0) -> Tensor:
    """Round to ``decimals`` places, halves to even as NumPy does (no gradient).

    Examples
    --------
    >>> round([0.5, 1.5, 2.25], 1)
    Tensor([0.5, 1.5, 2.2])
    """
    return _constant(np.round(as_tensor(x).data, decimals))


def isnan(x: Any) -> Tensor:
    """Where ``x`` is NaN, as a bool tensor.

    Examples
    --------
    >>> isnan([1.0, np.nan])
    Tensor([False,  True], dtype=bool)
    """
    return _constant(np.isnan(as_tensor(x).data))


def isfinite(x: Any) -> Tensor:
    """Where ``x`` is neither infinite nor NaN, as a bool tensor.

    Examples
    --------
    >>> isfinite([1.0, np.inf, np.nan])
    Tensor([ True, False, False], dtype=bool)
    """
    return _constant(np.isfinite(as_tensor(x).data))


def floor_divide(x: Any, y: Any) -> Tensor:
    """``x // y`` (floor of the quotient), broadcasting; no gradient.

    Examples
    --------
    >>> floor_divide([7.0, -7.0], 2.0)
    Tensor([ 3., -4.])
    """
    x, y = pair(x, y)
    return _constant(np.floor_divide(x.data, y.data))


def mod(x: Any, y: Any) -> Tensor:
    """``x % y`` with the sign of ``y`` (NumPy's and Python's rule), broadcasting.

    The gradient is 1 in ``x`` and ``-floor(x / y)`` in ``y``.

    Examples
    --------
    >>> mod([7.0, -7.0], 3.0)
    Tensor([1., 2.])
    """
    x, y = pair(x, y)
    return record("mod", np.mod(x.data, y.data), (x, y))
