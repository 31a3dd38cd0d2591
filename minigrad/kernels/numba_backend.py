"""Numba twins of the NumPy reference kernels.

Each public function here has the same signature and result (to float
rounding) as its namesake in :mod:`minigrad.kernels.numpy_backend`. A twin
exists only where a benchmark shows it wins; elsewhere the NumPy reference
is used by both backends. (NumPy's ``exp`` is vectorised with SIMD; a scalar
Numba loop calling ``exp`` is slower, so the row-wise softmax family stays on
NumPy.)

The wins are reductions accumulated in float64 over float32 data: NumPy must
first copy the array to float64 (or accumulate in float32 and drift by up to
1e-4 relative over millions of elements); the loops below read the float32
data once and accumulate in float64, vectorised thanks to reassociation.
"""

from __future__ import annotations

import numpy as np

from minigrad.kernels import numpy_backend
from minigrad.kernels.jit import REASSOCIATE, jit

__all__ = ["dot", "sum_of_squares"]


@jit(fastmath=REASSOCIATE)
def _sum_of_squares_flat(flat: np.ndarray) -> float:
    total = 0.0
    for i in range(flat.size):
        value = np.float64(flat[i])
        total += value * value
    return total


@jit(fastmath=REASSOCIATE)
def _dot_flat(a: np.ndarray, b: np.ndarray) -> float:
    total = 0.0
    for i in range(a.size):
        total += np.float64(a[i]) * np.float64(b[i])
    return total


def _flat(x: np.ndarray) -> np.ndarray:
    # ravel copies only when the array is not contiguous.
    return np.ravel(x)


def sum_of_squares(x: np.ndarray) -> float:
    """``sum(x**2)`` accumulated in float64 (see the NumPy reference)."""
    x = np.asarray(x)
    if x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8):
        return numpy_backend.sum_of_squares(x)
    return float(_sum_of_squares_flat(_flat(x)))


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` over all elements, accumulated in float64 (see the NumPy reference)."""
    a, b = np.asarray(a), np.asarray(b)
    if (
        a.shape != b.shape
        or a.dtype != b.dtype
        or a.dtype.kind != "f"
        or a.dtype.itemsize not in (4, 8)
    ):
        return numpy_backend.dot(a, b)
    return float(_dot_flat(_flat(a), _flat(b)))
