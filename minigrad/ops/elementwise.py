"""Elementwise ops: arithmetic, functions of one value, choices, casts.

Every binary op broadcasts like NumPy and accepts Python numbers, arrays and
tensors on either side. Each primitive computes its value with a kernel
(:mod:`minigrad.kernels`) and records itself with
:func:`~minigrad.tensor.record`; its derivative lives in :mod:`minigrad.vjps`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import kernels
from minigrad.ops._operands import bound, pair
from minigrad.tensor import Tensor, as_tensor, derived, record

__all__ = [
    "abs",
    "add",
    "astype",
    "clip",
    "cos",
    "div",
    "exp",
    "log",
    "log1p",
    "maximum",
    "minimum",
    "mul",
    "neg",
    "pow",
    "relu",
    "sigmoid",
    "sign",
    "sin",
    "softplus",
    "sqrt",
    "square",
    "sub",
    "tanh",
    "where",
]


def compare(ufunc: np.ufunc, x: Any, y: Any) -> Tensor:
    """Elementwise comparison; the bool result carries no gradient.

    As in NumPy, ``t == None`` is False everywhere and ``t != None`` True.

    Examples
    --------
    >>> compare(np.less, [1.0, 3.0], 2.0)
    Tensor([ True, False], dtype=bool)
    >>> compare(np.equal, [1.0, 3.0], None)
    Tensor([False, False], dtype=bool)
    """
    if x is None or y is None:
        other = y if x is None else x
        shape = np.shape(other.data if isinstance(other, Tensor) else other)
        return Tensor._wrap(np.full(shape, ufunc is np.not_equal))
    x, y = pair(x, y)
    return derived("compare", ufunc(x.data, y.data), (x, y), ufunc=ufunc)


def add(x: Any, y: Any) -> Tensor:
    """``x + y``, broadcasting.

    Examples
    --------
    >>> add([1.0, 2.0], 1.0)
    Tensor([2., 3.])
    """
    x, y = pair(x, y)
    return record("add", x.data + y.data, (x, y))


def sub(x: Any, y: Any) -> Tensor:
    """``x - y``, broadcasting.

    Examples
    --------
    >>> sub(1.0, [1.0, 2.0])
    Tensor([ 0., -1.])
    """
    x, y = pair(x, y)
    return record("sub", x.data - y.data, (x, y))


def mul(x: Any, y: Any) -> Tensor:
    """``x * y``, broadcasting.

    Examples
    --------
    >>> mul([[1.0], [2.0]], [3.0, 4.0])
    Tensor([[3., 4.],
            [6., 8.]])
    """
    x, y = pair(x, y)
    if x is y:
        # x * x: one input, so the backward pass makes one gradient (2x g), not two to add.
        return record("square", x.data * x.data, (x,))
    return record("mul", x.data * y.data, (x, y))


def div(x: Any, y: Any) -> Tensor:
    """``x / y``, broadcasting.

    Examples
    --------
    >>> div([1.0, 3.0], 2.0)
    Tensor([0.5, 1.5])
    """
    x, y = pair(x, y)
    return record("div", x.data / y.data, (x, y))


def pow(x: Any, y: Any) -> Tensor:
    """``x ** y``, broadcasting; differentiable in both the base and the exponent.

    Examples
    --------
    >>> pow([-2.0, 3.0], 2)
    Tensor([4., 9.])
    """
    if isinstance(y, int | float) and not isinstance(y, bool) and y == 2:
        # x ** 2 is common and np.power is slow: take the square primitive.
        return square(x)
    x, y = pair(x, y)
    return record("pow", np.power(x.data, y.data), (x, y))


def neg(x: Any) -> Tensor:
    """``-x``.

    Examples
    --------
    >>> neg([1.0, -2.0])
    Tensor([-1.,  2.])
    """
    x = as_tensor(x)
    return record("neg", -x.data, (x,))


def _unary(op: str, kernel: Any, x: Any) -> Tensor:
    x = as_tensor(x)
    return record(op, kernel(x.data), (x,))


def exp(x: Any) -> Tensor:
    """Elementwise ``e**x``.

    Examples
    --------
    >>> exp([0.0])
    Tensor([1.])
    """
    return _unary("exp", kernels.exp, x)


def log(x: Any) -> Tensor:
    """Elementwise natural logarithm.

    Examples
    --------
    >>> log([1.0])
    Tensor([0.])
    """
    return _unary("log", kernels.log, x)


def log1p(x: Any) -> Tensor:
    """Elementwise ``log(1 + x)``, accurate for small ``x``.

    Examples
    --------
    >>> log1p([0.0])
    Tensor([0.])
    """
    return _unary("log1p", kernels.log1p, x)


def sqrt(x: Any) -> Tensor:
    """Elementwise square root.

    Examples
    --------
    >>> sqrt([4.0])
    Tensor([2.])
    """
    return _unary("sqrt", kernels.sqrt, x)


def square(x: Any) -> Tensor:
    """Elementwise ``x**2``.

    Examples
    --------
    >>> square([-3.0])
    Tensor([9.])
    """
    x = as_tensor(x)
    return record("square", x.data * x.data, (x,))


def abs(x: Any) -> Tensor:
    """Elementwise absolute value (derivative 0 at 0, as in PyTorch).

    Examples
    --------
    >>> abs([-1.5, 2.0])
    Tensor([1.5, 2. ])
    """
    return _unary("abs", kernels.absolute, x)


def sign(x: Any) -> Tensor:
    """Elementwise sign: -1, 0 or 1 (derivative 0 everywhere).

    Examples
    --------
    >>> sign([-2.0, 0.0, 3.0])
    Tensor([-1.,  0.,  1.])
    """
    return _unary("sign", kernels.sign, x)


def tanh(x: Any) -> Tensor:
    """Elementwise hyperbolic tangent.

    Examples
    --------
    >>> tanh([0.0])
    Tensor([0.])
    """
    return _unary("tanh", kernels.tanh, x)


def sigmoid(x: Any) -> Tensor:
    """Elementwise logistic function ``1 / (1 + exp(-x))``, stable for large ``|x|``.

    Examples
    --------
    >>> sigmoid([0.0])
    Tensor([0.5])
    """
    return _unary("sigmoid", kernels.sigmoid, x)


def relu(x: Any) -> Tensor:
    """Elementwise ``max(x, 0)`` (derivative 0 at 0, as in PyTorch).

    Examples
    --------
    >>> relu([-1.0, 2.0])
    Tensor([0., 2.])
    """
    return _unary("relu", kernels.relu, x)


def softplus(x: Any) -> Tensor:
    """Elementwise ``log(1 + exp(x))``, stable for large ``|x|``.

    Examples
    --------
    >>> float(softplus(0.0)) == float(np.log(2.0))
    True
    """
    return _unary("softplus", kernels.softplus, x)


def sin(x: Any) -> Tensor:
    """Elementwise sine.

    Examples
    --------
    >>> sin([0.0])
    Tensor([0.])
    """
    return _unary("sin", kernels.sin, x)


def cos(x: Any) -> Tensor:
    """Elementwise cosine.

    Examples
    --------
    >>> cos([0.0])
    Tensor([1.])
    """
    return _unary("cos", kernels.cos, x)


def maximum(x: Any, y: Any) -> Tensor:
    """Elementwise maximum; at a tie each side gets half the gradient.

    Examples
    --------
    >>> maximum([1.0, 5.0], 3.0)
    Tensor([3., 5.])
    """
    x, y = pair(x, y)
    return record("maximum", np.maximum(x.data, y.data), (x, y))


def minimum(x: Any, y: Any) -> Tensor:
    """Elementwise minimum; at a tie each side gets half the gradient.

    Examples
    --------
    >>> minimum([1.0, 5.0], 3.0)
    Tensor([1., 3.])
    """
    x, y = pair(x, y)
    return record("minimum", np.minimum(x.data, y.data), (x, y))


def clip(x: Any, lo: Any = None, hi: Any = None) -> Tensor:
    """Clamp to ``[lo, hi]`` (either may be None); the gradient passes at the bounds.

    The bounds are constants: no gradient flows to them.

    Examples
    --------
    >>> clip([-2.0, 0.5, 2.0], -1.0, 1.0)
    Tensor([-1. ,  0.5,  1. ])
    """
    x = as_tensor(x)
    lo, hi = bound(lo), bound(hi)
    if lo is None and hi is None:
        raise ValueError("clip needs at least one of lo and hi")
    value = np.clip(x.data, lo, hi)
    if value.dtype != x.dtype and x.dtype.kind == "f":
        value = value.astype(x.dtype)
    return record("clip", value, (x,), lo=lo, hi=hi)


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """Pick ``x`` where ``condition`` holds and ``y`` elsewhere, broadcasting all three.

    ``condition`` is a bool tensor or array and carries no gradient.

    Examples
    --------
    >>> where(np.array([True, False]), [1.0, 2.0], 0.0)
    Tensor([1., 0.])
    """
    # asanyarray: a traced condition keeps its identity, so mg.jit recomputes it.
    condition = np.asanyarray(bound(condition))
    if condition.dtype != bool:
        condition = condition.astype(bool)
    x, y = pair(x, y)
    return record("where", kernels.where(condition, x.data, y.data), (x, y), condition=condition)


def astype(x: Any, dtype: Any) -> Tensor:
    """Cast to ``dtype``; between floating dtypes the gradient is cast back.

    Examples
    --------
    >>> astype([1.0], np.float32).dtype
    dtype('float32')
    """
    x = as_tensor(x)
    dtype = np.dtype(dtype)
    if dtype == x.dtype:
        return x
    if dtype.kind != "f":
        return derived("cast", x.data.astype(dtype), (x,), dtype=dtype)
    return record("astype", x.data.astype(dtype), (x,))
