"""Norm penalties: L1 (sparsity), L2 (weight decay) and their mix, the elastic net.

All three reduce over every element: ``"sum"`` (the default) or ``"mean"``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack.penalties._checks import check_choice, check_real, floating_tensor, reduce

__all__ = ["elastic_net", "l1", "l2"]

_REDUCTIONS = ("sum", "mean")


def l1(x: Any, *, lambda_: float = 1.0, reduction: str = "sum") -> mg.Tensor:
    """L1 penalty ``λ · Σ|x|`` (or ``λ · mean|x|``).

    Parameters
    ----------
    x : array-like or Tensor
    lambda_ : float
        The scale ``λ``.
    reduction : {"sum", "mean"}

    Returns
    -------
    Tensor
        A scalar. Its gradient is ``λ · sign(x)`` (per element, divided by the
        count for ``"mean"``), with the subgradient 0 at ``x = 0``.

    Examples
    --------
    >>> l1([1.0, -2.0, 3.0])
    Tensor(6.)
    >>> l1([1.0, 2.0, 3.0], reduction="mean")
    Tensor(2.)
    """
    reduction = check_choice("reduction", reduction, _REDUCTIONS, "l1")
    lambda_ = check_real("lambda_", lambda_, "l1")
    return lambda_ * reduce(mg.abs(floating_tensor(x)), reduction)


def _centred(x: mg.Tensor, center: Any) -> mg.Tensor:
    if center is None:
        return x
    if isinstance(center, str):
        if center != "mean":
            raise ValueError(
                f"l2: unknown center {center!r}; expected None, 'mean', a number or an array"
            )
        # The mean is part of the graph: moving one element moves the centre too.
        return x - mg.mean(x)
    if isinstance(center, bool | np.bool_) or not (
        isinstance(center, numbers.Real | mg.Tensor | np.ndarray | list | tuple)
    ):
        raise ValueError(
            f"l2: unknown center {center!r}; expected None, 'mean', a number or an array"
        )
    return x - floating_tensor(center)


def l2(
    x: Any,
    *,
    lambda_: float = 1.0,
    reduction: str = "sum",
    center: Any = None,
    clip: float | None = None,
) -> mg.Tensor:
    """L2 penalty ``λ · Σ c²`` with ``c = clip(x − center, −clip, clip)``.

    Parameters
    ----------
    x : array-like or Tensor
    lambda_ : float
    reduction : {"sum", "mean"}
    center : None, "mean", number or array
        Subtracted from ``x`` first: ``"mean"`` subtracts the mean of all
        elements (differentiably), a number or an array (broadcast against
        ``x``) is a fixed centre.
    clip : float, optional
        After centring, each ``c`` is limited to ``[−clip, clip]``; the
        gradient of a clipped element is 0 (it passes at the bound itself).

    Returns
    -------
    Tensor
        A scalar.

    Examples
    --------
    >>> l2([1.0, 2.0, 3.0], lambda_=0.1)  # 0.1 · (1 + 4 + 9)
    Tensor(1.4)
    >>> l2([1.0, 2.0, 3.0], center="mean")  # (−1)² + 0² + 1²
    Tensor(2.)
    >>> l2([1000.0, 2000.0], lambda_=0.01, clip=100.0)  # 0.01 · (100² + 100²)
    Tensor(200.)
    """
    reduction = check_choice("reduction", reduction, _REDUCTIONS, "l2")
    lambda_ = check_real("lambda_", lambda_, "l2")
    if clip is not None:
        clip = check_real("clip", clip, "l2", positive=True)
    centred = _centred(floating_tensor(x), center)
    if clip is not None:
        centred = mg.clip(centred, -clip, clip)
    return lambda_ * reduce(mg.square(centred), reduction)


def elastic_net(
    x: Any, *, lambda_: float = 1.0, l1_ratio: float = 0.5, reduction: str = "sum"
) -> mg.Tensor:
    """Elastic net ``λ · (α · R(|x|) + (1 − α) · R(x²))`` with ``α = l1_ratio``.

    ``R`` is the reduction (sum or mean). ``l1_ratio = 1`` is :func:`l1`,
    ``l1_ratio = 0`` is :func:`l2`.

    Parameters
    ----------
    x : array-like or Tensor
    lambda_ : float
    l1_ratio : float
        The share ``α`` of the L1 term, in ``[0, 1]``.
    reduction : {"sum", "mean"}

    Examples
    --------
    >>> elastic_net([1.0, 2.0])  # 0.5 · 3 + 0.5 · 5
    Tensor(4.)
    """
    reduction = check_choice("reduction", reduction, _REDUCTIONS, "elastic_net")
    lambda_ = check_real("lambda_", lambda_, "elastic_net")
    alpha = check_real("l1_ratio", l1_ratio, "elastic_net", low=0.0, high=1.0)
    x = floating_tensor(x)
    mixed = alpha * reduce(mg.abs(x), reduction) + (1.0 - alpha) * reduce(mg.square(x), reduction)
    return lambda_ * mixed
