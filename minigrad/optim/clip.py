"""Gradient clipping by total norm, as ``torch.nn.utils.clip_grad_norm_``."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from minigrad.tensor import Tensor

__all__ = ["clip_grad_norm_"]


def clip_grad_norm_(
    params: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0
) -> Tensor:
    """Scale the gradients in place so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients together, as if concatenated, in
    float64. When it exceeds ``max_norm`` each gradient is multiplied by
    ``max_norm / (norm + 1e-6)`` (PyTorch's formula); parameters without a
    gradient are skipped.

    Returns
    -------
    Tensor
        The total norm before clipping (0-d, float64).

    Examples
    --------
    >>> w = Tensor([0.0, 0.0], requires_grad=True)
    >>> w.grad = Tensor([3.0, 4.0])
    >>> clip_grad_norm_([w], max_norm=1.0)
    Tensor(5.)
    >>> np.round(w.grad.data, 4)
    array([0.6, 0.8])
    """
    if isinstance(params, Tensor):
        params = [params]
    with_grad = [p for p in params if p.grad is not None]
    norm_type = float(norm_type)
    if not with_grad:
        return Tensor._wrap(np.asarray(0.0))
    grads = [p.grad.data.astype(np.float64).ravel() for p in with_grad]  # type: ignore[union-attr]
    if norm_type == np.inf:
        total = max(float(np.max(np.abs(g), initial=0.0)) for g in grads)
    else:
        per_tensor = [np.linalg.norm(g, norm_type) for g in grads]
        total = float(np.linalg.norm(np.asarray(per_tensor), norm_type))
    scale = min(max_norm / (total + 1e-6), 1.0)
    for p in with_grad:
        grad = p.grad.data  # type: ignore[union-attr]
        p.grad = Tensor._wrap((grad * scale).astype(grad.dtype, copy=False))
    return Tensor._wrap(np.asarray(total))
