"""The NumPy reference kernels: the forward computations under minigrad's primitives.

Every function here takes and returns plain ``np.ndarray`` objects and keeps
the input's floating dtype. A Numba twin of a kernel must have the same
signature and give the same answer to float rounding; the tests compare the
two paths kernel by kernel.

The row-wise functions are written to be exact where a naive formula is not:
shifting by the row maximum keeps ``exp`` in range at ±1e4, and a row whose
maximum is ``-inf`` (every class impossible) is shifted by 0 instead, so that
``-inf - (-inf)`` never produces a NaN.
"""

from __future__ import annotations

import numpy as np

Axis = int | tuple[int, ...] | None

# Plain ufuncs are used as they are: wrapping them would only add call overhead.
exp = np.exp
log = np.log
log1p = np.log1p
sqrt = np.sqrt
tanh = np.tanh
sin = np.sin
cos = np.cos
absolute = np.abs


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))`` without overflow for large ``|x|``."""
    # exp(-|x|) lies in (0, 1], so neither branch can overflow.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + exp(x))``, stable for large positive and negative ``x``."""
    return np.logaddexp(np.zeros((), dtype=x.dtype), x)


def relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` elementwise."""
    return np.maximum(x, np.zeros((), dtype=x.dtype))


def _safe_shift(x: np.ndarray, axis: Axis) -> np.ndarray:
    """The per-row maximum used as a shift, with non-finite maxima replaced by 0."""
    shift = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    # The check is one cheap pass; the replacement is only paid for when needed.
    if not np.isfinite(shift).all():
        shift = np.where(np.isfinite(shift), shift, np.zeros((), dtype=shift.dtype))
    return shift


def _shifted_log_totals(x: np.ndarray, axis: Axis) -> tuple[np.ndarray, np.ndarray]:
    """``x - shift`` and ``log(sum(exp(x - shift)))`` per row (``-inf`` for an empty row)."""
    shifted = x - _safe_shift(x, axis)
    with np.errstate(divide="ignore", under="ignore"):
        log_totals = np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return shifted, log_totals


def logsumexp(x: np.ndarray, axis: Axis = None, keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(x)))`` over ``axis``; ``-inf`` for an all-``-inf`` (or empty) row."""
    shift = _safe_shift(x, axis)
    with np.errstate(divide="ignore", under="ignore"):
        out = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return out


def softmax(x: np.ndarray, axis: Axis = -1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` over ``axis``; an all-``-inf`` row gives zeros, not NaN."""
    exps = np.exp(x - _safe_shift(x, axis))
    totals = np.sum(exps, axis=axis, keepdims=True)
    if totals.all():
        return exps / totals
    # 0/0 in an empty row: the convention (as for masked attention) is all zeros.
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, exps / totals, np.zeros((), dtype=exps.dtype))


def log_softmax(x: np.ndarray, axis: Axis = -1) -> np.ndarray:
    """``x - logsumexp(x)`` over ``axis``; an all-``-inf`` row stays ``-inf``, not NaN."""
    shifted, log_totals = _shifted_log_totals(x, axis)
    if np.isfinite(log_totals).all():
        return shifted - log_totals
    # An all -inf row: -inf - (-inf) would be NaN; the row's log-probabilities are -inf.
    with np.errstate(invalid="ignore"):
        out = shifted - log_totals
    return np.where(np.isneginf(log_totals), np.array(-np.inf, dtype=out.dtype), out)


def sum_of_squares(x: np.ndarray) -> float:
    """``sum(x**2)`` over all elements, accumulated in float64 whatever the input dtype.

    The squared L2 norm of a gradient: float32 accumulation over millions of
    elements drifts by up to 1e-4 relative, so the sum is taken in float64.
    """
    flat = np.ravel(x).astype(np.float64, copy=False)
    return float(np.dot(flat, flat))


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` over all elements (same shape), accumulated in float64."""
    if np.shape(a) != np.shape(b):
        raise ValueError(f"dot needs equal shapes, got {np.shape(a)} and {np.shape(b)}")
    flat_a = np.ravel(a).astype(np.float64, copy=False)
    flat_b = np.ravel(b).astype(np.float64, copy=False)
    return float(np.dot(flat_a, flat_b))


def accumulate_scaled(out: np.ndarray, alpha: float, x: np.ndarray) -> None:
    """``out += alpha * x`` in place, with ``out`` float64 and the product taken in float64."""
    # An overflow gives inf, as in the Numba twin; the caller checks for non-finite totals
    # and names the term, so NumPy's warning would only pre-empt that clear error.
    with np.errstate(over="ignore", invalid="ignore"):
        out += alpha * np.asarray(x, dtype=np.float64)


def sign(x: np.ndarray) -> np.ndarray:
    """Elementwise sign: -1, 0 or 1 (NaN stays NaN)."""
    return np.sign(x)


def sum_all(x: np.ndarray) -> np.ndarray:
    """The sum of every element, as a 0-d array of ``x``'s dtype."""
    return np.asarray(np.sum(x))


def where(condition: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x`` where ``condition`` holds, else ``y``, broadcasting all three."""
    return np.where(condition, x, y)
