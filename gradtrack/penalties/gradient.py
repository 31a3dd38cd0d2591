"""Penalties on the gradient of a function: Lipschitz-style smoothness, WGAN-GP.

:func:`gradient_penalty` differentiates ``f`` and then penalises the norm of
that gradient, so differentiating the penalty is a second derivative of
``f``. minigrad builds the inner gradient as a graph whenever its input is
part of one (an outer ``grad``, a tensor that requires grad), which is what
makes the penalty itself differentiable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack.penalties._checks import (
    check_choice,
    check_real,
    check_same_shape,
    floating_tensor,
    safe_norm,
)

__all__ = ["gradient_penalty", "interpolated_gradient_penalty", "output_magnitude_penalty"]

LossFn = Callable[[mg.Tensor], Any]


def gradient_penalty(f: LossFn, x: Any, *, target_norm: float = 1.0) -> mg.Tensor:
    """``(‖∇f(x)‖₂ − target_norm)²``: keeps the gradient norm of ``f`` near a target.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar Tensor`` written with minigrad operations.
    x : array-like or Tensor
        Where to evaluate the gradient. When ``x`` requires grad (or is
        computed from something that does), the result is differentiable
        with respect to it.
    target_norm : float

    Returns
    -------
    Tensor
        A scalar.

    Notes
    -----
    Where ``∇f(x) = 0`` the norm has no derivative; the subgradient 0 is used
    there (so the penalty's gradient is 0, never NaN).

    Examples
    --------
    >>> gradient_penalty(lambda x: (x * x).sum(), [1.0, 2.0], target_norm=np.sqrt(20.0))
    Tensor(0.)
    >>> x = mg.Tensor([3.0], requires_grad=True)
    >>> penalty = gradient_penalty(lambda t: (t ** 3).sum(), x)  # (3x² − 1)²
    >>> penalty.backward()
    >>> penalty.item(), x.grad.item()  # d/dx (3x² − 1)² = 2(3x² − 1) · 6x
    (676.0, 936.0)
    """
    if not callable(f):
        raise TypeError(f"gradient_penalty: f must be callable, got {type(f).__name__}")
    target_norm = check_real("target_norm", target_norm, "gradient_penalty")
    gradient = mg.grad(f)(floating_tensor(x))
    return mg.square(safe_norm(gradient) - target_norm)


def interpolated_gradient_penalty(
    f: LossFn,
    x: Any,
    reference: Any,
    *,
    target_norm: float = 1.0,
    rng: np.random.Generator | int | None = None,
) -> mg.Tensor:
    """The gradient penalty at a random point between ``x`` and ``reference`` (WGAN-GP).

    With ``ε ~ U[0, 1)``, ``z = ε · x + (1 − ε) · reference`` and the result is
    ``gradient_penalty(f, z, target_norm=target_norm)``.

    Parameters
    ----------
    f : callable
        ``f(z) -> scalar Tensor``.
    x, reference : array-like or Tensor
        Of the same shape.
    target_norm : float
    rng : numpy.random.Generator, int or None
        Where ``ε`` comes from: a Generator is drawn from (and advances), a
        seed gives the same ``ε`` on every call, ``None`` a fresh one. (The
        original always draws from a fresh seed, so it cannot be reproduced.)

    Notes
    -----
    ``ε`` is one number for the whole tensor (NxPenalties draws shape ``[1]``,
    which broadcasts the same way but would give a 0-d ``x`` a length-1 axis).

    Examples
    --------
    >>> value = interpolated_gradient_penalty(lambda z: z.sum(), [1.0, 2.0], [0.0, 0.0], rng=0)
    >>> round(value.item(), 7)  # the gradient of a sum is all ones: (√2 − 1)²
    0.1715729
    """
    if not callable(f):
        raise TypeError(
            f"interpolated_gradient_penalty: f must be callable, got {type(f).__name__}"
        )
    x, reference = floating_tensor(x), floating_tensor(reference)
    check_same_shape(x, reference, ("x", "reference"), "interpolated_gradient_penalty")
    epsilon = float(np.random.default_rng(rng).random())
    interpolated = epsilon * x + (1.0 - epsilon) * reference
    return gradient_penalty(f, interpolated, target_norm=target_norm)


def output_magnitude_penalty(y: Any, *, target: float = 1.0, reduction: str = "mean") -> mg.Tensor:
    """``(sqrt(R(y²)) − target)²``: a cheap stand-in for a gradient penalty.

    ``R`` is the mean (the magnitude is the RMS of ``y``) or the sum (the
    magnitude is ``‖y‖₂``).

    Parameters
    ----------
    y : array-like or Tensor
    target : float
    reduction : {"mean", "sum"}

    Examples
    --------
    >>> output_magnitude_penalty([3.0, 4.0], target=5.0, reduction="sum")
    Tensor(0.)
    >>> output_magnitude_penalty([2.0, 2.0, 2.0, 2.0], target=2.0)
    Tensor(0.)
    """
    reduction = check_choice("reduction", reduction, ("mean", "sum"), "output_magnitude_penalty")
    target = check_real("target", target, "output_magnitude_penalty")
    y = floating_tensor(y)
    magnitude = safe_norm(y)
    if reduction == "mean":
        magnitude = magnitude * (1.0 / np.sqrt(max(y.size, 1)))
    return mg.square(magnitude - target)
