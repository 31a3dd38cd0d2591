"""Argument checks shared by every public entry point of gradtrack.

Each entry point (the pipeline, the executor, the tracker, the custom-loss
route) calls these before it runs anything, so the same bad input gets the
same message wherever it is passed: a ``TypeError`` or ``ValueError`` that
names the argument and shows what was given.

>>> check_flag("parallel", True)
True
"""

from __future__ import annotations

import math
import numbers
import os
import threading
from typing import Any

import numpy as np

import minigrad as mg

__all__ = [
    "check_finite_array",
    "check_flag",
    "check_logprobs",
    "check_max_concurrency",
    "check_timeout",
    "describe",
]


def describe(value: Any) -> str:
    """A short ``repr`` of ``value`` with its type, for error messages.

    Examples
    --------
    >>> describe("yes")
    "'yes' (str)"
    """
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_flag(name: str, value: Any) -> bool:
    """``value`` as a bool, or ``TypeError`` naming the argument unless it is one.

    ``"no"``, ``0`` or ``None`` are not accepted: each would be read as a
    truth value, and ``"no"`` would mean yes.

    Examples
    --------
    >>> check_flag("parallel", "no")
    Traceback (most recent call last):
    ...
    TypeError: parallel must be True or False, got 'no' (str)
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def check_timeout(timeout: Any, name: str = "timeout") -> float:
    """Return ``timeout`` as a float, or raise ``ValueError`` unless it is positive and finite.

    Any finite timeout works, however large: waits longer than the longest
    one the operating system supports (``threading.TIMEOUT_MAX``, about
    292 years on Linux) are waited as that, which no run outlives.

    Examples
    --------
    >>> check_timeout(0.5)
    0.5
    >>> check_timeout(1e10) == threading.TIMEOUT_MAX
    True
    >>> check_timeout(0)
    Traceback (most recent call last):
    ...
    ValueError: timeout must be a positive finite number of seconds, got 0
    """
    is_number = isinstance(timeout, numbers.Real) and not isinstance(timeout, bool | np.bool_)
    if not (is_number and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"{name} must be a positive finite number of seconds, got {timeout!r}")
    return min(float(timeout), threading.TIMEOUT_MAX)


def check_max_concurrency(max_concurrency: Any) -> int:
    """Return the worker limit: ``os.cpu_count()`` for ``None``, else a positive int.

    Examples
    --------
    >>> check_max_concurrency(4)
    4
    >>> check_max_concurrency(0)
    Traceback (most recent call last):
    ...
    ValueError: max_concurrency must be a positive int or None, got 0
    """
    if max_concurrency is None:
        return os.cpu_count() or 1
    is_int = isinstance(max_concurrency, numbers.Integral) and not isinstance(
        max_concurrency, bool | np.bool_
    )
    if not (is_int and max_concurrency > 0):
        raise ValueError(f"max_concurrency must be a positive int or None, got {max_concurrency!r}")
    return int(max_concurrency)


def check_finite_array(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` unchanged, or ``ValueError`` naming it if any value is NaN or ``+inf``.

    ``-inf`` is allowed: it is the log-probability of an impossible token.
    The message gives the number of bad values and the index of the first.

    Examples
    --------
    >>> check_finite_array(np.array([0.0, np.nan]), "reference_logprobs")
    Traceback (most recent call last):
    ...
    ValueError: reference_logprobs has 1 NaN or +inf values (the first at index 1); log-probabilities must be finite or -inf
    """  # noqa: E501
    if array.dtype.kind != "f":
        return array
    # One cheap pass for the common case: x < inf is False exactly for NaN and +inf.
    if (array < np.inf).all():
        return array
    bad = np.isnan(array) | np.isposinf(array)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = first[0] if len(first) == 1 else first
    raise ValueError(
        f"{name} has {int(bad.sum())} NaN or +inf values (the first at index {where}); "
        "log-probabilities must be finite or -inf"
    )


def as_logprobs_array(logprobs: Any) -> np.ndarray:
    """The logprobs as a floating ``np.ndarray`` (see :func:`gradtrack.terms.as_logprobs_array`).

    Examples
    --------
    >>> as_logprobs_array([1, 2]).dtype
    dtype('float64')
    """
    raw = logprobs.data if isinstance(logprobs, mg.Tensor) else logprobs
    try:
        array = np.asarray(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"logprobs must be a numeric array, got {describe(logprobs)}") from exc
    if array.dtype.kind == "f":
        return array
    if array.dtype.kind in "iu":
        return array.astype(np.float64)
    raise TypeError(f"logprobs must be numeric, got dtype {array.dtype}")


def check_logprobs(logprobs: Any) -> np.ndarray:
    """The logprobs as an array, or ``ValueError`` if any is NaN or ``+inf``.

    ``-inf`` is allowed: it is the log-probability of an impossible token.
    The message gives the number of bad values and the index of the first.

    Examples
    --------
    >>> check_logprobs([-0.5, float("-inf")])
    array([-0.5, -inf])
    >>> check_logprobs([-0.5, float("nan"), float("inf")])
    Traceback (most recent call last):
    ...
    ValueError: logprobs has 2 NaN or +inf values (the first at index 1); log-probabilities must be finite or -inf
    """  # noqa: E501
    return check_finite_array(as_logprobs_array(logprobs), "logprobs")
