"""Shared helpers of the penalty primitives: option checks, tensor conversion, safe norms.

Every primitive validates its options the same way, so that an unknown
option value is always a ``ValueError`` that names the option and the value.

>>> check_choice("reduction", "sum", ("sum", "mean"), "l1")
'sum'
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

import minigrad as mg

__all__ = [
    "check_bool",
    "check_choice",
    "check_real",
    "check_same_shape",
    "floating_tensor",
    "reduce",
    "safe_norm",
]


def check_choice(option: str, value: Any, allowed: tuple[str, ...], where: str) -> str:
    """Return ``value`` if it is one of the ``allowed`` strings, else raise ``ValueError``.

    Examples
    --------
    >>> check_choice("reduction", "avg", ("sum", "mean"), "l1")
    Traceback (most recent call last):
    ...
    ValueError: l1: unknown reduction 'avg'; expected one of 'sum', 'mean'
    """
    if not isinstance(value, str) or value not in allowed:
        expected = ", ".join(repr(name) for name in allowed)
        raise ValueError(f"{where}: unknown {option} {value!r}; expected one of {expected}")
    return value


def check_real(
    option: str,
    value: Any,
    where: str,
    *,
    positive: bool = False,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """Return ``value`` as a finite float, checking its range; ``ValueError`` otherwise.

    Examples
    --------
    >>> check_real("lambda_", 2, "l1")
    2.0
    >>> check_real("temperature", 0.0, "entropy", positive=True)
    Traceback (most recent call last):
    ...
    ValueError: entropy: temperature must be a positive finite number, got 0.0
    """
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    number = float(value) if is_number else math.nan
    valid = is_number and math.isfinite(number)
    valid = valid and (not positive or number > 0)
    valid = valid and (low is None or number >= low) and (high is None or number <= high)
    if not valid:
        if positive:
            kind = "a positive finite number"
        elif low is not None and high is not None:
            kind = f"a number in [{low:g}, {high:g}]"
        else:
            kind = "a finite number"
        raise ValueError(f"{where}: {option} must be {kind}, got {value!r}")
    return number


def check_bool(option: str, value: Any, where: str) -> bool:
    """Return ``value`` if it is a bool, else raise ``ValueError`` naming the option.

    Examples
    --------
    >>> check_bool("symmetric", True, "kl_divergence")
    True
    """
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{where}: {option} must be True or False, got {value!r}")
    return bool(value)


def floating_tensor(x: Any) -> mg.Tensor:
    """``x`` as a floating Tensor; a Tensor that already is one is returned unchanged.

    Keeping the Tensor itself keeps it connected to the graph it belongs to;
    integer and bool data become float64 constants.

    Examples
    --------
    >>> floating_tensor([1, 2]).dtype
    dtype('float64')
    >>> t = mg.Tensor([1.0], requires_grad=True)
    >>> floating_tensor(t) is t
    True
    """
    if isinstance(x, mg.Tensor):
        return x if x.dtype.kind == "f" else mg.Tensor(x.data, dtype=np.float64)
    array = np.asarray(x)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    return mg.Tensor(array)


def check_same_shape(
    first: mg.Tensor, second: mg.Tensor, names: tuple[str, str], where: str
) -> None:
    """Raise ``ValueError`` showing both shapes unless they are equal.

    Examples
    --------
    >>> check_same_shape(mg.zeros(2), mg.zeros(3), ("p", "q"), "kl_divergence")
    Traceback (most recent call last):
    ...
    ValueError: kl_divergence: shape mismatch, p: (2,), q: (3,)
    """
    if first.shape != second.shape:
        raise ValueError(
            f"{where}: shape mismatch, {names[0]}: {first.shape}, {names[1]}: {second.shape}"
        )


def reduce(values: mg.Tensor, reduction: str) -> mg.Tensor:
    """Reduce by ``"sum"``, ``"mean"`` or ``"none"`` (no reduction).

    Examples
    --------
    >>> reduce(mg.Tensor([1.0, 2.0]), "mean")
    Tensor(1.5)
    """
    if reduction == "sum":
        return mg.sum(values)
    if reduction == "mean":
        return mg.mean(values)
    return values


def safe_norm(x: mg.Tensor, axis: Any = None, keepdims: bool = False) -> mg.Tensor:
    """The Euclidean norm ``sqrt(Σ x²)`` whose derivative at ``x = 0`` is 0, not NaN.

    ``d sqrt(s)/ds = 1/(2 sqrt(s))`` is infinite at ``s = 0`` and the chain
    rule then multiplies it by ``d s/dx = 2x = 0``, giving NaN. Taking the
    root of ``1`` where ``s = 0`` (and returning 0 there) keeps both branches
    of ``where`` finite: the norm's subgradient at the origin is 0.

    Examples
    --------
    >>> x = mg.Tensor([0.0, 0.0], requires_grad=True)
    >>> safe_norm(x).backward()
    >>> x.grad
    Tensor([0., 0.])
    """
    squared = mg.sum(mg.square(x), axis=axis, keepdims=keepdims)
    positive = squared.data > 0
    root = mg.sqrt(mg.where(positive, squared, 1.0))
    return mg.where(positive, root, 0.0)
