"""Projecting away conflicts between loss terms: PCGrad in logprob space.

This module lets you combine the terms' gradients so that no term undoes
another. PCGrad (Yu et al., 2020, "Gradient Surgery for Multi-Task
Learning") projects each term's gradient onto the normal plane of every
other term's gradient it conflicts with (negative dot product). gradtrack
applies it to the weighted term gradients with respect to the logprobs,
``gⱼ = wⱼ ∇ⱼ`` (the base loss is term 0, then the regularizers in spec order):

* for each term ``i``, start from ``pᵢ = gᵢ``;
* for every other term ``j``, in that order: if ``⟨pᵢ, gⱼ⟩ < 0`` then
  ``pᵢ ← pᵢ − ⟨pᵢ, gⱼ⟩ / ‖gⱼ‖² · gⱼ`` — always against the *original*
  ``gⱼ``; a zero ``gⱼ`` is skipped;
* the projected total is ``Σᵢ pᵢ``.

The order is fixed (the original shuffles it at every step), so a run is
reproducible. Dot products and norms accumulate in float64.

Every ``pᵢ`` is a combination of the original gradients, so the whole
projection can also be run on their Gram matrix ``Gᵢⱼ = ⟨gᵢ, gⱼ⟩`` alone
(:func:`pcgrad_coefficients`): the projected total is ``Σₖ cₖ gₖ``. That is
how the pipeline applies it (no copy of any gradient), and how a
data-parallel run applies it to the gradient of the whole batch: the Gram
matrix is summed over ranks, and each rank combines its own shard of the
term gradients with the same coefficients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from minigrad import kernels

__all__ = [
    "CONFLICT_MODES",
    "check_conflict_mode",
    "pcgrad",
    "pcgrad_coefficients",
    "pcgrad_total",
    "weighted_gram",
]

CONFLICT_MODES = ("none", "pcgrad")
"""The values of ``conflict=``: ``"none"`` (sum the gradients) or ``"pcgrad"``."""


def check_conflict_mode(conflict: object) -> str:
    """Return ``conflict`` if it names a mode, else raise naming the argument.

    Examples
    --------
    >>> check_conflict_mode("pcgrad")
    'pcgrad'
    """
    if not isinstance(conflict, str):
        raise TypeError(f"conflict must be a str, one of {CONFLICT_MODES}; got {conflict!r}")
    if conflict not in CONFLICT_MODES:
        raise ValueError(f"conflict must be one of {CONFLICT_MODES}, got {conflict!r}")
    return conflict


def pcgrad(gradients: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The projected gradient ``pᵢ`` of every term, in float64.

    Parameters
    ----------
    gradients
        The weighted gradients ``gⱼ``, all of one shape, base loss first.

    Returns
    -------
    list of np.ndarray
        One projected gradient per term, in the same order.

    Examples
    --------
    Two terms pulling against each other each lose the part along the other:

    >>> projected = pcgrad([np.array([1.0, 0.0]), np.array([-1.0, 1.0])])
    >>> [p.tolist() for p in projected]
    [[0.5, 0.5], [0.0, 1.0]]
    """
    originals = [np.asarray(g) for g in gradients]
    shapes = {g.shape for g in originals}
    if len(shapes) > 1:
        raise ValueError(f"pcgrad needs gradients of one shape, got shapes {sorted(shapes)}")
    squared_norms = [kernels.sum_of_squares(g) for g in originals]
    projected = []
    for i, own in enumerate(originals):
        p = own.astype(np.float64)  # a copy: the originals stay untouched
        for j, other in enumerate(originals):
            if j == i or squared_norms[j] == 0.0:
                continue
            overlap = kernels.dot(p, other)
            if overlap < 0.0:
                kernels.accumulate_scaled(p, -overlap / squared_norms[j], other)
        projected.append(p)
    return projected


def pcgrad_total(gradients: Sequence[np.ndarray]) -> np.ndarray:
    """``Σᵢ pᵢ``: the total gradient after PCGrad, in float64.

    Examples
    --------
    Without conflicts nothing changes:

    >>> pcgrad_total([np.array([1.0, 0.0]), np.array([1.0, 1.0])]).tolist()
    [2.0, 1.0]
    """
    projected = pcgrad(gradients)
    if not projected:
        raise ValueError("pcgrad_total needs at least one gradient")
    total = projected[0]
    for p in projected[1:]:
        total += p
    return total


def pcgrad_coefficients(gram: np.ndarray) -> np.ndarray:
    """``c`` such that the projected total is ``Σₖ cₖ gₖ``, from the Gram matrix of the ``gₖ``.

    Runs exactly the steps of :func:`pcgrad` on coefficients: ``pᵢ = Σₖ Aᵢₖ gₖ``
    starts as ``gᵢ`` (``A = I``), so ``⟨pᵢ, gⱼ⟩ = Σₖ Aᵢₖ Gₖⱼ`` and a projection
    against ``gⱼ`` subtracts ``⟨pᵢ, gⱼ⟩ / Gⱼⱼ`` from ``Aᵢⱼ``; ``c`` is the sum
    of the rows of ``A``. A term with ``Gⱼⱼ = 0`` (a zero gradient) is
    skipped, as in :func:`pcgrad`. Only the Gram matrix is needed, so a
    data-parallel run projects the gradient of its whole batch from the
    Gram matrix summed over ranks.

    Parameters
    ----------
    gram
        ``Gᵢⱼ = ⟨gᵢ, gⱼ⟩`` of the weighted term gradients (base loss first), a
        square symmetric matrix.

    Returns
    -------
    np.ndarray
        One float64 coefficient per term.

    Examples
    --------
    The two-way conflict of :func:`pcgrad`, from dot products alone:

    >>> g = np.array([[1.0, 0.0], [-1.0, 1.0]])
    >>> c = pcgrad_coefficients(g @ g.T)
    >>> c.tolist(), (c @ g).tolist()
    ([2.0, 1.5], [0.5, 1.5])
    >>> pcgrad_total(list(g)).tolist()
    [0.5, 1.5]
    """
    matrix = np.asarray(gram, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"pcgrad_coefficients needs a square Gram matrix, got {matrix.shape}")
    count = matrix.shape[0]
    rows = np.eye(count)
    # An overflowed gradient (an inf in the Gram matrix) gives non-finite coefficients,
    # which the callers report naming the term, without NumPy's warning in front.
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(count):
            for j in range(count):
                if j == i or matrix[j, j] == 0.0:
                    continue
                overlap = float(rows[i] @ matrix[:, j])
                if overlap < 0.0:
                    rows[i, j] -= overlap / matrix[j, j]
        return rows.sum(axis=0)


def weighted_gram(weights: Sequence[float], grads: Sequence[np.ndarray | None]) -> np.ndarray:
    """``Gᵢⱼ = ⟨wᵢgᵢ, wⱼgⱼ⟩`` in float64, from the gradients as they are (no weighted copies).

    A missing gradient (``None``) is a zero row and column.

    Examples
    --------
    >>> weighted_gram([1.0, 2.0], [np.array([1.0, 0.0]), np.array([-1.0, 1.0])]).tolist()
    [[1.0, -2.0], [-2.0, 8.0]]
    """
    count = len(grads)
    gram = np.zeros((count, count))
    for i in range(count):
        for j in range(i, count):
            a, b = grads[i], grads[j]
            if a is None or b is None:
                continue
            gram[i, j] = gram[j, i] = weights[i] * weights[j] * kernels.dot(a, b)
    return gram
