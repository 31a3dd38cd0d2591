"""More functions of one value: exponentials, logarithms, trigonometry, activations.

``log2``, ``log10``, ``tan``, ``gelu`` and ``silu`` are composites of
primitives, so their derivatives come for free; ``expm1``, ``arctan``,
``sinh``, ``cosh``, ``erf`` and ``logaddexp`` are primitives (a composite
would lose accuracy: ``exp(x) - 1`` near 0, ``(eˣ - e⁻ˣ)/2`` near 0).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad import kernels
from minigrad.ops._operands import floating, pair
from minigrad.ops.elementwise import add, cos, div, log, mul, sigmoid, sin, tanh
from minigrad.tensor import Tensor, as_tensor, record

__all__ = [
    "arctan",
    "cosh",
    "erf",
    "expm1",
    "gelu",
    "log2",
    "log10",
    "logaddexp",
    "silu",
    "sinh",
    "tan",
]


def _unary(op: str, ufunc: Any, x: Any) -> Tensor:
    x = floating(as_tensor(x))
    return record(op, ufunc(x.data), (x,))


def expm1(x: Any) -> Tensor:
    """Elementwise ``exp(x) - 1``, accurate for small ``x``.

    Examples
    --------
    >>> expm1([0.0, 1e-10])
    Tensor([0.e+00, 1.e-10])
    """
    return _unary("expm1", np.expm1, x)


def log2(x: Any) -> Tensor:
    """Elementwise base-2 logarithm.

    Examples
    --------
    >>> log2([1.0, 8.0])
    Tensor([0., 3.])
    """
    x = floating(as_tensor(x))
    return div(log(x), math.log(2.0))


def log10(x: Any) -> Tensor:
    """Elementwise base-10 logarithm.

    Examples
    --------
    >>> log10([1.0, 100.0])
    Tensor([0., 2.])
    """
    x = floating(as_tensor(x))
    return div(log(x), math.log(10.0))


def tan(x: Any) -> Tensor:
    """Elementwise tangent (``sin / cos``).

    Examples
    --------
    >>> tan([0.0])
    Tensor([0.])
    """
    x = floating(as_tensor(x))
    return div(sin(x), cos(x))


def arctan(x: Any) -> Tensor:
    """Elementwise inverse tangent.

    Examples
    --------
    >>> arctan([0.0])
    Tensor([0.])
    """
    return _unary("arctan", np.arctan, x)


def sinh(x: Any) -> Tensor:
    """Elementwise hyperbolic sine.

    Examples
    --------
    >>> sinh([0.0])
    Tensor([0.])
    """
    return _unary("sinh", np.sinh, x)


def cosh(x: Any) -> Tensor:
    """Elementwise hyperbolic cosine.

    Examples
    --------
    >>> cosh([0.0])
    Tensor([1.])
    """
    return _unary("cosh", np.cosh, x)


def erf(x: Any) -> Tensor:
    """Elementwise error function ``2/√π ∫₀ˣ exp(-t²) dt``.

    Examples
    --------
    >>> erf([0.0])
    Tensor([0.])
    """
    return _unary("erf", kernels.erf, x)


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``x Φ(x)``, exact or with PyTorch's tanh approximation.

    Parameters
    ----------
    x
        Input.
    approximate
        ``"none"``: ``x/2 (1 + erf(x/√2))``; ``"tanh"``:
        ``x/2 (1 + tanh(√(2/π) (x + 0.044715 x³)))``.

    Examples
    --------
    >>> gelu([0.0, 1.0]).round(4)
    Tensor([0.    , 0.8413])
    """
    x = floating(as_tensor(x))
    if approximate == "none":
        return mul(mul(x, 0.5), add(erf(mul(x, 1.0 / math.sqrt(2.0))), 1.0))
    if approximate == "tanh":
        inner = mul(add(x, mul(mul(x, mul(x, x)), 0.044715)), math.sqrt(2.0 / math.pi))
        return mul(mul(x, 0.5), add(tanh(inner), 1.0))
    raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x: Any) -> Tensor:
    """Sigmoid linear unit ``x σ(x)`` (also called swish).

    Examples
    --------
    >>> silu([0.0])
    Tensor([0.])
    """
    x = floating(as_tensor(x))
    return mul(x, sigmoid(x))


def logaddexp(x: Any, y: Any) -> Tensor:
    """``log(exp(x) + exp(y))`` elementwise, broadcasting, without overflow.

    Examples
    --------
    >>> logaddexp([0.0, 1e4], [0.0, 1e4])
    Tensor([6.93147181e-01, 1.00006931e+04])
    """
    x, y = pair(x, y)
    x, y = floating(x), floating(y)
    return record("logaddexp", np.logaddexp(x.data, y.data), (x, y))
