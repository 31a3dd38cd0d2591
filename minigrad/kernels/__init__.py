"""The kernels under minigrad's primitives, and the choice of backend.

A primitive's forward pass calls a kernel from this module; its derivative is
written with minigrad ops, which call kernels in turn. The backend is chosen
once, at import: the NumPy reference (``numpy_backend``) is the source of truth
and the fallback. Setting ``MINIGRAD_DISABLE_JIT=1`` in the environment forces
it.

Examples
--------
>>> import minigrad as mg
>>> mg.kernels.backend() in ("numpy", "numba")
True
"""

from __future__ import annotations

import os

from minigrad.kernels.numpy_backend import (
    absolute,
    cos,
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
    sum_of_squares,
    tanh,
)

__all__ = [
    "JIT_DISABLED",
    "absolute",
    "backend",
    "cos",
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
    "sum_of_squares",
    "tanh",
]

JIT_DISABLED: bool = os.environ.get("MINIGRAD_DISABLE_JIT", "").strip().lower() not in (
    "",
    "0",
    "false",
    "no",
)


def backend() -> str:
    """Name the kernel backend in use: ``"numba"`` or ``"numpy"``.

    Examples
    --------
    >>> backend() in ("numpy", "numba")
    True
    """
    return "numpy"
