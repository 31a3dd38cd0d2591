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

import math

import numpy as np

from minigrad.kernels import numpy_backend
from minigrad.kernels.jit import REASSOCIATE, jit

__all__ = ["accumulate_scaled", "dot", "erf", "sign", "sum_all", "sum_of_squares", "where"]


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
    if not _jittable(x):
        return numpy_backend.sum_of_squares(x)
    return float(_sum_of_squares_flat(_flat(x)))


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` over all elements, accumulated in float64 (see the NumPy reference)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or not (_jittable(a) and _jittable(b)):
        return numpy_backend.dot(a, b)
    return float(_dot_flat(_flat(a), _flat(b)))


@jit(fastmath=REASSOCIATE)
def _accumulate_scaled_flat(out: np.ndarray, alpha: float, x: np.ndarray) -> None:
    for i in range(x.size):
        out[i] += alpha * np.float64(x[i])


def accumulate_scaled(out: np.ndarray, alpha: float, x: np.ndarray) -> None:
    """``out += alpha * x`` in place, in float64 (see the NumPy reference)."""
    x = np.asarray(x)
    contiguous_out = out.dtype == np.float64 and out.flags.c_contiguous
    if out.shape != x.shape or not contiguous_out or not _jittable(x):
        numpy_backend.accumulate_scaled(out, alpha, x)
        return
    _accumulate_scaled_flat(out.reshape(-1), float(alpha), _flat(x))


def _jittable(x: np.ndarray) -> bool:
    """Float32 and float64 arrays go to the compiled loops; anything else to NumPy."""
    return x.dtype.kind == "f" and x.dtype.itemsize in (4, 8)


@jit()
def _sign_flat(flat: np.ndarray, out: np.ndarray) -> None:
    for i in range(flat.size):
        value = flat[i]
        # Comparisons vectorise where NumPy's sign loop does not; NaN passes through.
        out[i] = (value > 0) - (value < 0) if value == value else value


def sign(x: np.ndarray) -> np.ndarray:
    """Elementwise sign (see the NumPy reference)."""
    x = np.asarray(x)
    if not _jittable(x) or x.ndim == 0:
        return numpy_backend.sign(x)
    out = np.empty(x.shape, dtype=x.dtype)
    _sign_flat(_flat(x), out.reshape(-1))
    return out


@jit(fastmath=REASSOCIATE)
def _sum_flat(flat: np.ndarray) -> float:
    total = 0.0
    for i in range(flat.size):
        total += np.float64(flat[i])
    return total


def sum_all(x: np.ndarray) -> np.ndarray:
    """The sum of every element, accumulated in float64, as a 0-d array of ``x``'s dtype.

    NumPy sums float32 in float32 (pairwise); this is both faster and closer
    to the exact sum.
    """
    x = np.asarray(x)
    if not _jittable(x):
        return numpy_backend.sum_all(x)
    return np.asarray(_sum_flat(_flat(x)), dtype=x.dtype)


@jit()
def _where_array_scalar(condition: np.ndarray, x: np.ndarray, y: np.ndarray, out: np.ndarray):
    fill = y[0]
    for i in range(x.size):
        out[i] = x[i] if condition[i] else fill


@jit()
def _where_scalar_array(condition: np.ndarray, x: np.ndarray, y: np.ndarray, out: np.ndarray):
    fill = x[0]
    for i in range(y.size):
        out[i] = fill if condition[i] else y[i]


@jit()
def _where_arrays(condition: np.ndarray, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = x[i] if condition[i] else y[i]


def where(condition: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x`` where ``condition`` holds, else ``y`` (see the NumPy reference).

    The compiled loops cover what the derivative rules do all the time —
    a full-size condition and array with a single fill value, or two
    full-size arrays, of one float dtype; NumPy's ``where`` is several times
    slower on those. Everything else (real broadcasting, mixed dtypes) goes
    to NumPy.
    """
    condition, x, y = np.asarray(condition), np.asarray(x), np.asarray(y)
    shape = condition.shape
    if condition.dtype != np.bool_ or x.dtype != y.dtype or not _jittable(x) or condition.ndim == 0:
        return numpy_backend.where(condition, x, y)
    out = np.empty(shape, dtype=x.dtype)
    flat_out, flat_condition = out.reshape(-1), _flat(condition)
    if x.shape == shape and y.size == 1 and y.ndim <= x.ndim:
        _where_array_scalar(flat_condition, _flat(x), _flat(y), flat_out)
    elif y.shape == shape and x.size == 1 and x.ndim <= y.ndim:
        _where_scalar_array(flat_condition, _flat(x), _flat(y), flat_out)
    elif x.shape == shape and y.shape == shape:
        _where_arrays(flat_condition, _flat(x), _flat(y), flat_out)
    else:
        return numpy_backend.where(condition, x, y)
    return out


@jit()
def _erf_flat(flat: np.ndarray, out: np.ndarray) -> None:
    for i in range(flat.size):
        out[i] = math.erf(flat[i])


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise (see the NumPy reference)."""
    x = np.asarray(x)
    if not _jittable(x) or x.ndim == 0:
        return numpy_backend.erf(x)
    out = np.empty(x.shape, dtype=x.dtype)
    _erf_flat(_flat(x), out.reshape(-1))
    return out
