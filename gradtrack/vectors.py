"""Vector arithmetic on gradients: norms, cosines, weighted sums — in float64.

Gradients arrive in the logprobs' dtype (often float32). Every reduction here
accumulates in float64 through :mod:`minigrad.kernels`, reading the arrays as
they are: no float64 copy of any gradient is made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from minigrad import kernels

__all__ = ["cosine", "cosine_from_dot", "cosine_matrix", "vector_norm", "weighted_sum"]


def vector_norm(grad: np.ndarray) -> float:
    """The Euclidean norm ``sqrt(sum(g²))`` of an array, accumulated in float64.

    Float32 gradients are read as they are (no float64 copy); the sum is
    taken in float64 by :func:`minigrad.kernels.sum_of_squares`.

    Examples
    --------
    >>> vector_norm(np.array([3.0, 4.0]))
    5.0
    """
    return math.sqrt(kernels.sum_of_squares(np.asarray(grad)))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine of the angle between two arrays of one shape (``0.0`` if either is zero).

    Examples
    --------
    >>> cosine(np.array([1.0, 1.0]), np.array([2.0, 0.0]))
    0.7071067811865475
    >>> cosine(np.array([1.0, 1.0]), np.zeros(2))
    0.0
    """
    return cosine_from_dot(kernels.dot(a, b), vector_norm(a), vector_norm(b))


def cosine_from_dot(dot: float, norm_a: float, norm_b: float) -> float:
    """The cosine ``dot / (norm_a norm_b)`` from a dot product and two norms.

    Clipped to [-1, 1] (rounding can step outside); ``0.0`` when either norm is 0.

    Examples
    --------
    >>> cosine_from_dot(-2.0, 1.0, 2.0)
    -1.0
    """
    if norm_a == 0.0 or norm_b == 0.0:
        return 0.0
    return min(1.0, max(-1.0, dot / (norm_a * norm_b)))


def cosine_matrix(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Pairwise cosine similarities of arrays of one shape, as a float64 matrix.

    The cosine of anything with a zero vector is defined as ``0.0`` (also on
    the diagonal): a term with no gradient neither helps nor fights another.
    Every dot product is accumulated in float64 without copying the arrays.

    Examples
    --------
    >>> cosine_matrix([np.array([1.0, 0.0]), np.array([-2.0, 0.0]), np.zeros(2)])
    array([[ 1., -1.,  0.],
           [-1.,  1.,  0.],
           [ 0.,  0.,  0.]])
    """
    arrays = [np.asarray(v) for v in vectors]
    norms = [vector_norm(a) for a in arrays]
    matrix = np.zeros((len(arrays), len(arrays)))
    for i, a in enumerate(arrays):
        for j in range(i, len(arrays)):
            dot = norms[i] ** 2 if i == j else kernels.dot(a, arrays[j])
            matrix[i, j] = matrix[j, i] = cosine_from_dot(dot, norms[i], norms[j])
    return matrix


def weighted_sum(weights: Sequence[float], grads: Sequence[np.ndarray]) -> np.ndarray:
    """``Σ_i w_i g_i`` as a float64 array, accumulated in place without temporaries.

    Examples
    --------
    >>> weighted_sum([1.0, 0.5], [np.array([1.0, 2.0]), np.array([2.0, 2.0])])
    array([2., 3.])
    """
    total = np.zeros(np.shape(grads[0]), dtype=np.float64)
    # A huge weight overflows to inf, which every caller checks and reports naming the
    # term; NumPy's own overflow warning would only stand in front of that message.
    with np.errstate(over="ignore", invalid="ignore"):
        for weight, grad in zip(weights, grads, strict=True):
            kernels.accumulate_scaled(total, float(weight), grad)
    return total
