"""Constraints between or within tensors: consistency of two outputs, orthogonality of rows."""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
from gradtrack.penalties._checks import (
    check_bool,
    check_choice,
    check_same_shape,
    floating_tensor,
    reduce,
    safe_norm,
)
from gradtrack.penalties.divergences import kl_rows

__all__ = ["consistency", "orthogonality"]

_METRICS = ("mse", "l1", "cosine", "kl")
_REDUCTIONS = ("mean", "sum", "none")
_ORTHOGONALITY_MODES = ("soft", "hard", "spectral")
_AXES = ("rows", "sequence", "vocabulary")
# Norms are floored here before dividing, as in NxPenalties.
_MIN_NORM = 1e-8


def _difference(a: mg.Tensor, b: mg.Tensor) -> mg.Tensor:
    """``a − b``, taken as 0 where both are ``−∞`` (two logprobs that agree exactly)."""
    both = np.isneginf(a.data) & np.isneginf(b.data)
    if not both.any():
        return a - b
    return mg.where(both, 0.0, a) - mg.where(both, 0.0, b)


def _cosine_distance(a: mg.Tensor, b: mg.Tensor) -> mg.Tensor:
    a, b = mg.flatten(a), mg.flatten(b)
    dot = mg.sum(a * b)
    scale = mg.maximum(safe_norm(a), _MIN_NORM) * mg.maximum(safe_norm(b), _MIN_NORM)
    return 1.0 - dot / scale


def consistency(a: Any, b: Any, *, metric: str = "mse", reduction: str = "mean") -> mg.Tensor:
    """How far two outputs of the same shape disagree (e.g. on clean and perturbed input).

    Parameters
    ----------
    a, b : array-like or Tensor
        Of the same shape.
    metric : {"mse", "l1", "cosine", "kl"}
        * ``"mse"``: ``(a − b)²`` per element; ``"l1"``: ``|a − b|``;
          reduced over all elements (``"none"`` keeps them).
        * ``"cosine"``: ``1 − a·b / (max(‖a‖, 1e-8) · max(‖b‖, 1e-8))`` over the
          flattened tensors; always a scalar (``reduction`` is ignored).
        * ``"kl"``: the symmetric divergence ``(KL(A‖B) + KL(B‖A)) / 2`` per row
          of logprobs (classes on the last axis), reduced over rows.
    reduction : {"mean", "sum", "none"}

    Notes
    -----
    For ``"mse"``/``"l1"``, elements that are ``−∞`` in both tensors agree
    (difference 0). For ``"kl"`` the rows use the masking and ±100 clipping of
    :func:`~gradtrack.penalties.kl_divergence`; NxPenalties leaves them out
    there and returns NaN for ``−∞`` input. For finite logprobs above
    ``log 1e-10`` with log-ratios inside ±100 the two agree exactly.

    Examples
    --------
    >>> consistency([1.0, 2.0], [2.0, 4.0])  # mean of 1 and 4
    Tensor(2.5)
    >>> consistency([1.0, 2.0], [2.0, 4.0], metric="l1", reduction="none")
    Tensor([1., 2.])
    >>> consistency([1.0, 0.0], [-1.0, 0.0], metric="cosine")
    Tensor(2.)
    """
    metric = check_choice("metric", metric, _METRICS, "consistency")
    reduction = check_choice("reduction", reduction, _REDUCTIONS, "consistency")
    a, b = floating_tensor(a), floating_tensor(b)
    check_same_shape(a, b, ("a", "b"), "consistency")
    if metric == "cosine":
        return _cosine_distance(a, b)
    if metric == "kl":
        if a.ndim == 0:
            raise ValueError("consistency: metric 'kl' needs a class axis, got shape ()")
        return reduce((kl_rows(a, b) + kl_rows(b, a)) * 0.5, reduction)
    difference = _difference(a, b)
    pointwise = mg.square(difference) if metric == "mse" else mg.abs(difference)
    return reduce(pointwise, reduction)


def _as_matrix(x: mg.Tensor, axis: str) -> mg.Tensor:
    """The 2-D matrix whose rows should be orthogonal (see :func:`orthogonality`)."""
    if x.ndim == 2:
        return mg.transpose(x) if axis == "vocabulary" else x
    if x.ndim == 3:
        batch, steps, classes = x.shape
        if axis == "sequence":
            return mg.reshape(mg.transpose(x, (1, 0, 2)), (steps, batch * classes))
        rows = mg.reshape(x, (batch * steps, classes))
        return mg.transpose(rows) if axis == "vocabulary" else rows
    classes = x.shape[-1] if x.ndim else 1
    return mg.reshape(x, (-1, classes))


def orthogonality(
    x: Any, *, mode: str = "soft", normalize: bool = True, axis: str = "rows"
) -> mg.Tensor:
    """How far the rows of a matrix are from orthogonal, from its Gram matrix ``G = M Mᵀ``.

    Parameters
    ----------
    x : array-like or Tensor
        Turned into a matrix ``M`` according to ``axis``. A 2-D ``[s, v]`` input
        is used as is (``"rows"``, ``"sequence"``) or transposed to ``[v, s]``
        (``"vocabulary"``). A 3-D ``[b, s, v]`` input becomes ``[b·s, v]``
        (``"rows"``), ``[s, b·v]`` (``"sequence"``: one row per position) or
        ``[v, b·s]`` (``"vocabulary"``). Any other rank becomes ``[-1, v]``.
    mode : {"soft", "hard", "spectral"}
        ``"soft"``: ``Σ_{i≠j} G_ij²`` (only the overlaps);
        ``"hard"``: ``Σ_ij (G − I)²_ij`` (also unit lengths);
        ``"spectral"``: ``(trace G − n)² + Σ_{i≠j} G_ij²``, a cheap stand-in for
        a penalty on the singular values (no SVD).
    normalize : bool
        Scale the rows of ``M`` to unit length first (norms floored at 1e-8).
    axis : {"rows", "sequence", "vocabulary"}

    Returns
    -------
    Tensor
        A scalar.

    Examples
    --------
    >>> orthogonality(np.eye(3), mode="hard")
    Tensor(0.)
    >>> orthogonality(np.ones((4, 4)))  # 12 off-diagonal overlaps of 1
    Tensor(12.)
    >>> orthogonality([[2.0, 0.0], [0.0, 1.0]], mode="hard", normalize=False)
    Tensor(9.)
    """
    mode = check_choice("mode", mode, _ORTHOGONALITY_MODES, "orthogonality")
    normalize = check_bool("normalize", normalize, "orthogonality")
    axis = check_choice("axis", axis, _AXES, "orthogonality")
    matrix = _as_matrix(floating_tensor(x), axis)
    if normalize:
        matrix = matrix / mg.maximum(safe_norm(matrix, axis=1, keepdims=True), _MIN_NORM)
    gram = matrix @ mg.transpose(matrix)
    identity = np.eye(gram.shape[0], dtype=gram.dtype)
    overlaps = mg.sum(mg.square(gram * (1.0 - identity)))
    if mode == "soft":
        return overlaps
    if mode == "hard":
        return mg.sum(mg.square(gram - identity))
    trace = mg.sum(gram * identity)
    return mg.square(trace - gram.shape[0]) + overlaps
