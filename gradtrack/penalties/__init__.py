"""Differentiable penalty primitives on minigrad tensors.

This package lets you add a regularization term to any minigrad loss: each
function takes array-likes or Tensors, returns a Tensor, and is
differentiable in its tensor arguments (first order everywhere, second
order too — :func:`gradient_penalty` relies on it).

* norms: :func:`l1`, :func:`l2` (``center``, ``clip``), :func:`elastic_net`;
* divergences on log-probabilities (classes on the last axis):
  :func:`kl_divergence`, :func:`js_divergence`, :func:`entropy`;
* constraints: :func:`consistency` (two outputs that should agree),
  :func:`orthogonality` (rows that should not overlap);
* gradient penalties: :func:`gradient_penalty`,
  :func:`interpolated_gradient_penalty`, and the cheaper
  :func:`output_magnitude_penalty`;
* :func:`validate`: reject NaN and infinite input.

Options use NxPenalties' names, with ``lambda_`` for ``lambda``;
enumerations are strings, and an unknown value is a ``ValueError`` naming
the option and the value. ``-inf`` logprobs (zero-probability classes) keep
values and gradients free of NaN (``0 · log 0 = 0``).

>>> import numpy as np
>>> from gradtrack import penalties
>>> lp = np.log([[0.5, 0.5], [0.9, 0.1]])
>>> penalties.entropy(lp, reduction="none").numpy().round(4)
array([0.6931, 0.3251])
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
from gradtrack.penalties._checks import floating_tensor
from gradtrack.penalties.constraints import consistency, orthogonality
from gradtrack.penalties.divergences import entropy, js_divergence, kl_divergence
from gradtrack.penalties.gradient import (
    gradient_penalty,
    interpolated_gradient_penalty,
    output_magnitude_penalty,
)
from gradtrack.penalties.norms import elastic_net, l1, l2

__all__ = [
    "consistency",
    "elastic_net",
    "entropy",
    "gradient_penalty",
    "interpolated_gradient_penalty",
    "js_divergence",
    "kl_divergence",
    "l1",
    "l2",
    "orthogonality",
    "output_magnitude_penalty",
    "validate",
]


def validate(x: Any) -> mg.Tensor:
    """Return ``x`` as a floating Tensor, or raise ``ValueError`` if it holds NaN or ±inf.

    NaN is checked first (NxPenalties' ``validate`` returns ``:nan`` before
    ``:inf``). Note that the penalties themselves accept ``-inf`` logprobs;
    this check is for inputs that must be finite.

    Examples
    --------
    >>> validate([1.0, 2.0])
    Tensor([1., 2.])
    >>> validate([1.0, float("nan"), float("inf")])
    Traceback (most recent call last):
    ...
    ValueError: validate: input has 1 NaN value(s)
    """
    tensor = floating_tensor(x)
    nan = np.isnan(tensor.data)
    if nan.any():
        raise ValueError(f"validate: input has {int(nan.sum())} NaN value(s)")
    infinite = np.isinf(tensor.data)
    if infinite.any():
        raise ValueError(f"validate: input has {int(infinite.sum())} infinite value(s)")
    return tensor
