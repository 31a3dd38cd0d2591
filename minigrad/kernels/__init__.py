"""The kernels under minigrad's primitives, and the choice of backend.

A primitive's forward pass calls a kernel from this module; its derivative is
written with minigrad ops, which call kernels in turn. The backend is chosen
once, at import: the NumPy reference (``numpy_backend``) is the source of truth
and the fallback; where Numba is installed, the kernels that have a Numba twin
(``numba_backend``) use it. Setting ``MINIGRAD_DISABLE_JIT=1`` in the
environment forces the NumPy path.

Nothing is compiled, and Numba itself is not imported, until a kernel with a
twin is first called: ``import minigrad`` stays fast. Callers look kernels up
as ``kernels.name`` at call time, so the first call can swap in the compiled
twin for every later one.

Examples
--------
>>> import minigrad as mg
>>> mg.kernels.backend() in ("numpy", "numba")
True
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from typing import Any

from minigrad.kernels.numpy_backend import (
    absolute,
    accumulate_scaled,
    cos,
    dot,
    erf,
    exp,
    log,
    log1p,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    sign,
    sin,
    softmax,
    softplus,
    sqrt,
    sum_all,
    sum_of_squares,
    tanh,
    where,
)

__all__ = [
    "JIT_DISABLED",
    "absolute",
    "accumulate_scaled",
    "backend",
    "cos",
    "dot",
    "erf",
    "exp",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "relu",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "softplus",
    "sqrt",
    "sum_all",
    "sum_of_squares",
    "tanh",
    "where",
]

JIT_DISABLED: bool = os.environ.get("MINIGRAD_DISABLE_JIT", "").strip().lower() not in (
    "",
    "0",
    "false",
    "no",
)


_BACKEND = "numba" if not JIT_DISABLED and importlib.util.find_spec("numba") else "numpy"

# Kernels with a Numba twin; every other kernel is the NumPy reference on both paths.
JIT_TWINS = ("accumulate_scaled", "dot", "erf", "sign", "sum_all", "sum_of_squares", "where")


def backend() -> str:
    """Name the kernel backend in use: ``"numba"`` or ``"numpy"``.

    Examples
    --------
    >>> backend() in ("numpy", "numba")
    True
    """
    return _BACKEND


# Starting Numba costs ~0.7 s once per process (import and LLVM set-up). Until a
# kernel meets an array at least this big, the NumPy reference answers instead, so
# a program that only ever touches small arrays never pays that price.
START_NUMBA_AT = 16_384


class _FirstCall:
    """Stands in for a Numba twin until its first worthwhile call, then gets out of the way."""

    def __init__(self, name: str, reference: Callable[..., Any]) -> None:
        self.name = name
        self.reference = reference
        self.__doc__ = reference.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        largest = max((getattr(a, "size", 0) for a in args), default=0)
        if largest < START_NUMBA_AT:
            return self.reference(*args, **kwargs)
        global _BACKEND
        try:
            from minigrad.kernels import numba_backend
        except ImportError as error:  # a broken Numba install: stay correct, on NumPy
            logging.getLogger("minigrad").warning("Numba unavailable (%s); using NumPy", error)
            _BACKEND = "numpy"
            twins = {n: getattr(numpy_backend, n) for n in JIT_TWINS}
        else:
            twins = {n: getattr(numba_backend, n) for n in JIT_TWINS}
        globals().update(twins)
        return twins[self.name](*args, **kwargs)


if _BACKEND == "numba":
    from minigrad.kernels import numpy_backend

    for _name in JIT_TWINS:
        globals()[_name] = _FirstCall(_name, getattr(numpy_backend, _name))
