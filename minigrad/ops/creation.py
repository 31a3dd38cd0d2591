"""Constant tensors: zeros and ones, of a shape or like another array."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.tensor import Tensor

__all__ = [
    "ones",
    "ones_like",
    "zeros",
    "zeros_like",
]


def zeros(shape: int | tuple[int, ...], dtype: Any = np.float64) -> Tensor:
    """A constant tensor of zeros.

    Examples
    --------
    >>> zeros(2)
    Tensor([0., 0.])
    """
    return Tensor._wrap(np.zeros(shape, dtype=dtype))


def ones(shape: int | tuple[int, ...], dtype: Any = np.float64) -> Tensor:
    """A constant tensor of ones.

    Examples
    --------
    >>> ones((1, 2))
    Tensor([[1., 1.]])
    """
    return Tensor._wrap(np.ones(shape, dtype=dtype))


def zeros_like(x: Any) -> Tensor:
    """A constant tensor of zeros with the shape and dtype of ``x``."""
    return Tensor._wrap(np.zeros_like(np.asarray(x)))


def ones_like(x: Any) -> Tensor:
    """A constant tensor of ones with the shape and dtype of ``x``."""
    return Tensor._wrap(np.ones_like(np.asarray(x)))
