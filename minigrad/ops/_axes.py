"""Axis arguments: ``axis`` as NumPy takes it, turned into what the ops need."""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence

import numpy as np

Axis = int | Sequence[int] | None
"""What ``axis=`` accepts: an int, a tuple of ints (possibly negative), or None for all."""


def normalize_axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (int, tuple, negative or None) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    raw = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    axes = []
    for a in raw:
        if not -ndim <= a < builtins.max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise ValueError(f"axis {a} is out of bounds for a tensor of {ndim} dimensions")
        axes.append(int(a) % builtins.max(ndim, 1))
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(axes)) if ndim > 0 else ()


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with the reduced ``axes`` kept as length one."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def reduced_count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    """How many elements each result of a reduction over ``axes`` combines."""
    return math.prod(shape[a] for a in axes)
