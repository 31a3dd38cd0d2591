"""Operands as tensors: Python numbers, lists and arrays beside tensors."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.tensor import Tensor, as_tensor, derived


def pair(x: Any, y: Any) -> tuple[Tensor, Tensor]:
    """Both operands as tensors; a Python number takes the dtype of the other side."""
    if isinstance(x, Tensor):
        return x, as_tensor(y, like=x)
    y = as_tensor(y)
    return as_tensor(x, like=y), y


def bound(value: Any) -> Any:
    """A constant parameter (a bound, a condition) as a plain value or array."""
    return value.data if isinstance(value, Tensor) else value


def floating(x: Tensor) -> Tensor:
    """Integer and bool tensors as float64, as NumPy's ``exp`` would promote them."""
    if x.dtype.kind == "f":
        return x
    return derived("cast", x.data.astype(np.float64), (x,), dtype=np.dtype(np.float64))
