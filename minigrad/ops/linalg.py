"""Linear algebra: the matrix product, on BLAS through NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.ops._operands import pair
from minigrad.tensor import Tensor, record

__all__ = [
    "matmul",
]


def matmul(x: Any, y: Any) -> Tensor:
    """Matrix product with NumPy's rules (1-D operands, batched leading axes).

    Examples
    --------
    >>> matmul([[1.0, 2.0]], [[3.0], [4.0]])
    Tensor([[11.]])
    """
    x, y = pair(x, y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"matmul needs at least 1-D operands, got shapes {x.shape} and {y.shape}")
    try:
        value = np.matmul(x.data, y.data)
    except ValueError:
        inner = y.shape[0] if y.ndim == 1 else y.shape[-2]
        reason = (
            f"inner sizes {x.shape[-1]} and {inner} differ"
            if x.shape[-1] != inner
            else f"batch shapes {x.shape[:-2]} and {y.shape[:-2]} do not broadcast"
        )
        raise ValueError(f"matmul shapes {x.shape} and {y.shape} do not align: {reason}") from None
    return record("matmul", value, (x, y))
