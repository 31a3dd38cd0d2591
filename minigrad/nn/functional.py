"""Losses, normalization, dropout and attention as functions (PyTorch's ``nn.functional``).

Every function is a composite of minigrad ops, so gradients of any order
come for free. Semantics follow PyTorch: ``cross_entropy`` takes class
indices (or class probabilities), an ``ignore_index`` whose positions count
neither in the loss nor in the mean, and ``label_smoothing``;
``scaled_dot_product_attention`` takes a boolean mask (True: may attend) or
an additive float mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad import ops
from minigrad.tensor import Tensor, as_tensor

__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "layer_norm",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "scaled_dot_product_attention",
]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(losses: Tensor, reduction: str, count: Any = None) -> Tensor:
    if reduction == "none":
        return losses
    total = ops.sum(losses)
    if reduction == "sum":
        return total
    return ops.div(total, losses.size if count is None else count)


def _class_targets(targets: Any, logprobs: Tensor, axis: int) -> np.ndarray:
    """Integer targets, checked against the shape of ``logprobs`` without its class axis."""
    indices = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer class indices, got dtype {indices.dtype}")
    expected = tuple(n for i, n in enumerate(logprobs.shape) if i != axis)
    if indices.shape != expected:
        raise ValueError(
            f"targets of shape {indices.shape} do not match inputs of shape {logprobs.shape} "
            f"with classes on axis {axis} (expected {expected})"
        )
    return indices


def _picked_nll(
    logprobs: Tensor, targets: Any, axis: int, ignore_index: int | None
) -> tuple[Tensor, np.ndarray, Tensor]:
    """``-logprobs`` at each target, the mask of counted positions, and logprobs classes-last."""
    axis = ops.normalize_axes(axis, logprobs.ndim)[0]
    indices = _class_targets(targets, logprobs, axis)
    keep = np.ones(indices.shape, dtype=bool) if ignore_index is None else indices != ignore_index
    classes = logprobs.shape[axis]
    bad = keep & ((indices < 0) | (indices >= classes))
    if bad.any():
        raise ValueError(f"target {indices[bad].flat[0]} is out of range for {classes} classes")
    safe = np.where(keep, indices, 0)
    last = ops.moveaxis(logprobs, axis, -1)
    picked = ops.take_along_axis(last, safe[..., None], axis=-1)
    return ops.neg(ops.reshape(picked, indices.shape)), keep, last


def nll_loss(
    logprobs: Any,
    targets: Any,
    axis: int = -1,
    reduction: str = "mean",
    ignore_index: int | None = None,
) -> Tensor:
    """Negative log-likelihood of integer ``targets`` under ``logprobs`` (classes on ``axis``).

    With ``reduction="mean"`` the sum is divided by the number of targets that
    are not ``ignore_index`` (NaN when all are, as in PyTorch).

    Examples
    --------
    >>> logprobs = np.log([[0.5, 0.5], [0.25, 0.75]])
    >>> round(nll_loss(logprobs, np.array([0, 1])).item(), 6)
    0.490415
    """
    _check_reduction(reduction)
    logprobs = as_tensor(logprobs)
    nll, keep, _ = _picked_nll(logprobs, targets, axis, ignore_index)
    losses = ops.where(keep, nll, 0.0)
    with np.errstate(invalid="ignore"):
        return _reduce(losses, reduction, float(keep.sum()))


def cross_entropy(
    logits: Any,
    targets: Any,
    axis: int = -1,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between ``softmax(logits)`` and ``targets`` (classes on ``axis``).

    Parameters
    ----------
    logits
        Unnormalised scores.
    targets
        Integer class indices (the shape of ``logits`` without ``axis``), or
        class probabilities (the shape of ``logits``, floating).
    axis
        The class axis.
    reduction
        ``"mean"`` (over counted positions), ``"sum"`` or ``"none"``.
    ignore_index
        A class index whose positions add nothing (index targets only).
    label_smoothing
        ε in [0, 1]: the target becomes ``(1 - ε) onehot + ε / C``.

    Examples
    --------
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> round(cross_entropy(logits, np.array([0, 2])).item(), 4)
    0.6691
    >>> round(cross_entropy(logits, np.array([0, -1]), ignore_index=-1).item(), 4)
    0.2395
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    logits = as_tensor(logits)
    logprobs = ops.log_softmax(logits, axis)
    target_array = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if target_array.dtype.kind == "f":
        # Class probabilities: -Σ q log p, with q smoothed towards uniform.
        if ignore_index is not None:
            raise ValueError("ignore_index applies to class-index targets, not probabilities")
        if target_array.shape != logits.shape:
            raise ValueError(
                f"probability targets of shape {target_array.shape} "
                f"must match logits of shape {logits.shape}"
            )
        classes = logits.shape[axis]
        q = ops.add(ops.mul(targets, 1.0 - label_smoothing), label_smoothing / classes)
        losses = ops.neg(ops.sum(ops.mul(q, logprobs), axis))
        return _reduce(losses, reduction)
    nll, keep, last = _picked_nll(logprobs, target_array, axis, ignore_index)
    losses = nll
    if label_smoothing:
        # ε/C Σ_c (-log p_c) = ε × (mean over classes of -log p).
        uniform = ops.neg(ops.mean(last, -1))
        losses = ops.add(ops.mul(nll, 1.0 - label_smoothing), ops.mul(uniform, label_smoothing))
    losses = ops.where(keep, losses, 0.0)
    with np.errstate(invalid="ignore"):
        return _reduce(losses, reduction, float(keep.sum()))


def mse_loss(a: Any, b: Any, reduction: str = "mean") -> Tensor:
    """Squared error ``(a - b)²``, broadcasting, reduced by mean, sum or none.

    Examples
    --------
    >>> mse_loss([1.0, 2.0], [1.0, 4.0])
    Tensor(2.)
    """
    _check_reduction(reduction)
    return _reduce(ops.square(ops.sub(a, b)), reduction)


def binary_cross_entropy_with_logits(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """``-[t log σ(x) + (1 - t) log(1 - σ(x))]``, computed stably as ``softplus(x) - t x``.

    Examples
    --------
    >>> round(binary_cross_entropy_with_logits([0.0], [1.0]).item(), 6)
    0.693147
    """
    _check_reduction(reduction)
    logits = as_tensor(logits)
    losses = ops.sub(ops.softplus(logits), ops.mul(targets, logits))
    return _reduce(losses, reduction)


def one_hot(indices: Any, num_classes: int) -> Tensor:
    """Integer ``indices`` as one-hot rows of length ``num_classes`` (int64, no gradient).

    Examples
    --------
    >>> one_hot(np.array([0, 2]), 3)
    Tensor([[1, 0, 0],
            [0, 0, 1]], dtype=int64)
    """
    values = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if values.dtype.kind not in "iu":
        raise TypeError(f"one_hot needs integer indices, got dtype {values.dtype}")
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise ValueError(
            f"one_hot indices must lie in [0, {num_classes}), got {values.min()}..{values.max()}"
        )
    return Tensor._wrap((values[..., None] == np.arange(num_classes)).astype(np.int64))


def layer_norm(
    x: Any,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize over the last axes (biased variance, as PyTorch), then scale and shift.

    Examples
    --------
    >>> out = layer_norm(np.array([[1.0, 3.0]]), 2)
    >>> np.round(out.data, 4)
    array([[-1.,  1.]])
    """
    x = as_tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape) :]) != shape:
        raise ValueError(f"layer_norm over shape {shape} does not fit input of shape {x.shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centred = ops.sub(x, ops.mean(x, axes, keepdims=True))
    variance = ops.mean(ops.square(centred), axes, keepdims=True)
    out = ops.div(centred, ops.sqrt(ops.add(variance, eps)))
    if weight is not None:
        out = ops.mul(out, weight)
    if bias is not None:
        out = ops.add(out, bias)
    return out


def dropout(x: Any, p: float, training: bool = True, rng: Any = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the others by ``1/(1-p)``.

    The identity when ``training`` is False or ``p`` is 0. ``rng`` (a
    ``numpy.random.Generator`` or a seed) makes the mask reproducible.

    Examples
    --------
    >>> dropout(np.ones(4), 0.5, rng=0).data.tolist()
    [2.0, 0.0, 0.0, 0.0]
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout p must be in [0, 1], got {p!r}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return ops.mul(x, 0.0)
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    keep = generator.random(x.shape) >= p
    return ops.mul(x, (keep / (1.0 - p)).astype(x.dtype))


def scaled_dot_product_attention(
    q: Any, k: Any, v: Any, mask: Any = None, is_causal: bool = False
) -> Tensor:
    """``softmax(q kᵀ / √d + mask) v`` over the last two axes, batched over the leading ones.

    Parameters
    ----------
    q, k, v
        Queries ``(..., L, d)``, keys ``(..., S, d)``, values ``(..., S, dv)``.
    mask
        Boolean (True: may attend) or float (added to the scores),
        broadcasting to ``(..., L, S)``.
    is_causal
        Query ``i`` attends to keys ``0 … i`` only (the lower triangle).

    Examples
    --------
    >>> q = k = v = np.eye(2)
    >>> scaled_dot_product_attention(q, k, v, is_causal=True).data[0].tolist()
    [1.0, 0.0]
    """
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    scores = ops.mul(ops.matmul(q, ops.swapaxes(k, -1, -2)), 1.0 / math.sqrt(q.shape[-1]))
    if is_causal:
        scores = ops.where(np.tri(q.shape[-2], k.shape[-2], dtype=bool), scores, -np.inf)
    if mask is not None:
        mask_array = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        if mask_array.dtype == bool:
            scores = ops.where(mask_array, scores, -np.inf)
        else:
            scores = ops.add(scores, mask_array.astype(scores.dtype))
    return ops.matmul(ops.softmax(scores, -1), v)
