"""Every differentiable operation in minigrad, as a function.

This module lets you compute with tensors the way you would with NumPy:
``mg.exp(x)``, ``mg.sum(x, axis=1)``, ``mg.where(mask, x, 0.0)``. Every binary
operation broadcasts like NumPy and accepts Python numbers, arrays and tensors
on either side.

Each *primitive* computes its value with a kernel (:mod:`minigrad.kernels`)
and records itself with :func:`minigrad.engine.record`; its derivative lives
in :mod:`minigrad.vjps`. A few operations (``mean``, ``var``, ``std``,
``stack``, ``squeeze`` …) are *composites*, written with primitives, so their
derivatives come for free.
"""

from __future__ import annotations

import builtins
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad import kernels
from minigrad.tensor import Tensor, as_tensor, normalize_index, record

__all__ = [
    "abs",
    "add",
    "astype",
    "broadcast_to",
    "clip",
    "concatenate",
    "cos",
    "div",
    "exp",
    "flatten",
    "getitem",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "neg",
    "ones",
    "ones_like",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "softplus",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sum",
    "tanh",
    "transpose",
    "unsqueeze",
    "var",
    "where",
    "zeros",
    "zeros_like",
]

Axis = int | Sequence[int] | None


# ------------------------------------------------------------------ helpers
def _pair(x: Any, y: Any) -> tuple[Tensor, Tensor]:
    """Both operands as tensors; a Python number takes the dtype of the other side."""
    if isinstance(x, Tensor):
        return x, as_tensor(y, like=x)
    y = as_tensor(y)
    return as_tensor(x, like=y), y


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


def is_basic_index(index: Any) -> bool:
    """True when ``index`` uses only ints, slices, None and Ellipsis (no repeats possible)."""
    parts = index if isinstance(index, tuple) else (index,)
    return builtins.all(
        isinstance(p, int | np.integer | slice) or p is None or p is Ellipsis for p in parts
    )


def zeros(shape: int | tuple[int, ...], dtype: Any = np.float64) -> Tensor:
    """A constant tensor of zeros.

    Examples
    --------
    >>> zeros(2)
    Tensor([0., 0.])
    """
    return Tensor._wrap(np.zeros(shape, dtype=dtype))


def ones(shape: int | tuple[int, ...], dtype: Any = np.float64) -> Tensor:
    """A constant tensor of ones.

    Examples
    --------
    >>> ones((1, 2))
    Tensor([[1., 1.]])
    """
    return Tensor._wrap(np.ones(shape, dtype=dtype))


def zeros_like(x: Any) -> Tensor:
    """A constant tensor of zeros with the shape and dtype of ``x``."""
    return Tensor._wrap(np.zeros_like(np.asarray(x)))


def ones_like(x: Any) -> Tensor:
    """A constant tensor of ones with the shape and dtype of ``x``."""
    return Tensor._wrap(np.ones_like(np.asarray(x)))


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
    x, y = _pair(x, y)
    return Tensor._wrap(np.asarray(ufunc(x.data, y.data)))


# --------------------------------------------------------------- arithmetic
def add(x: Any, y: Any) -> Tensor:
    """``x + y``, broadcasting.

    Examples
    --------
    >>> add([1.0, 2.0], 1.0)
    Tensor([2., 3.])
    """
    x, y = _pair(x, y)
    return record("add", x.data + y.data, (x, y))


def sub(x: Any, y: Any) -> Tensor:
    """``x - y``, broadcasting.

    Examples
    --------
    >>> sub(1.0, [1.0, 2.0])
    Tensor([ 0., -1.])
    """
    x, y = _pair(x, y)
    return record("sub", x.data - y.data, (x, y))


def mul(x: Any, y: Any) -> Tensor:
    """``x * y``, broadcasting.

    Examples
    --------
    >>> mul([[1.0], [2.0]], [3.0, 4.0])
    Tensor([[3., 4.],
            [6., 8.]])
    """
    x, y = _pair(x, y)
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
    x, y = _pair(x, y)
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
    x, y = _pair(x, y)
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


def matmul(x: Any, y: Any) -> Tensor:
    """Matrix product with NumPy's rules (1-D operands, batched leading axes).

    Examples
    --------
    >>> matmul([[1.0, 2.0]], [[3.0], [4.0]])
    Tensor([[11.]])
    """
    x, y = _pair(x, y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"matmul needs at least 1-D operands, got shapes {x.shape} and {y.shape}")
    try:
        value = np.matmul(x.data, y.data)
    except ValueError:
        inner = y.shape[0] if y.ndim == 1 else y.shape[-2]
        reason = (
            f"inner sizes {x.shape[-1]} and {inner} differ"
            if x.shape[-1] != inner
            else f"batch shapes {x.shape[:-2]} and {y.shape[:-2]} do not broadcast"
        )
        raise ValueError(f"matmul shapes {x.shape} and {y.shape} do not align: {reason}") from None
    return record("matmul", value, (x, y))


# --------------------------------------------------------------- elementwise
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
    x, y = _pair(x, y)
    return record("maximum", np.maximum(x.data, y.data), (x, y))


def minimum(x: Any, y: Any) -> Tensor:
    """Elementwise minimum; at a tie each side gets half the gradient.

    Examples
    --------
    >>> minimum([1.0, 5.0], 3.0)
    Tensor([1., 3.])
    """
    x, y = _pair(x, y)
    return record("minimum", np.minimum(x.data, y.data), (x, y))


def _bound(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def clip(x: Any, lo: Any = None, hi: Any = None) -> Tensor:
    """Clamp to ``[lo, hi]`` (either may be None); the gradient passes at the bounds.

    The bounds are constants: no gradient flows to them.

    Examples
    --------
    >>> clip([-2.0, 0.5, 2.0], -1.0, 1.0)
    Tensor([-1. ,  0.5,  1. ])
    """
    x = as_tensor(x)
    lo, hi = _bound(lo), _bound(hi)
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
    condition = np.asarray(_bound(condition), dtype=bool)
    x, y = _pair(x, y)
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
        return Tensor._wrap(x.data.astype(dtype))
    return record("astype", x.data.astype(dtype), (x,))


# --------------------------------------------------------------- reductions
def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (int, tuple, negative or None for all).

    Examples
    --------
    >>> sum([[1.0, 2.0], [3.0, 4.0]], axis=0)
    Tensor([4., 6.])
    """
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    if len(axes) == x.ndim and not keepdims and x.dtype.kind == "f":
        value = kernels.sum_all(x.data)
    else:
        value = np.sum(x.data, axis=axes, keepdims=keepdims)
    return record("sum", np.asarray(value), (x,), axes=axes, keepdims=keepdims)


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return math.prod(shape[a] for a in axes)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``.

    Examples
    --------
    >>> mean([1.0, 2.0, 6.0])
    Tensor(3.)
    """
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    return div(sum(x, axes, keepdims), _count(x.shape, axes))


def var(x: Any, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Variance over ``axis``, dividing by ``n - ddof`` (NumPy's default ``ddof=0``).

    Examples
    --------
    >>> var([1.0, 3.0])
    Tensor(1.)
    """
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    deviations = sub(x, mean(x, axes, keepdims=True))
    # As NumPy: with ddof >= n the divisor is 0 (inf, or NaN for a zero sum), never negative.
    divisor = _count(x.shape, axes) - ddof
    if divisor <= 0:
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        divisor = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return div(sum(square(deviations), axes, keepdims), builtins.float(divisor))


def std(x: Any, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Standard deviation over ``axis`` (``sqrt(var)``).

    Examples
    --------
    >>> std([1.0, 3.0])
    Tensor(1.)
    """
    return sqrt(var(x, axis, ddof, keepdims))


def _extremum(op: str, reducer: Any, x: Any, axis: Axis, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    empty_axes = [a for a in axes if x.shape[a] == 0]
    if empty_axes or (x.ndim == 0 and x.size == 0):
        # As NumPy: reducing over a zero-length axis has no identity; other axes may be empty.
        raise ValueError(
            f"{op} over axis {empty_axes[0]} of length 0 (shape {x.shape}) is undefined"
        )
    value = np.asarray(reducer(x.data, axis=axes, keepdims=keepdims))
    return record(op, value, (x,), axes=axes, keepdims=keepdims)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient evenly.

    Examples
    --------
    >>> max([[1.0, 4.0], [3.0, 2.0]], axis=1)
    Tensor([4., 3.])
    """
    return _extremum("max", np.max, x, axis, keepdims)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; tied minima share the gradient evenly.

    Examples
    --------
    >>> min([[1.0, 4.0], [3.0, 2.0]], axis=1)
    Tensor([1., 2.])
    """
    return _extremum("min", np.min, x, axis, keepdims)


def _floating(x: Tensor) -> Tensor:
    """Integer and bool tensors as float64, as NumPy's ``exp`` would promote them."""
    return x if x.dtype.kind == "f" else Tensor._wrap(x.data.astype(np.float64))


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis``, exact at ±1e4 and with ``-inf`` entries.

    Examples
    --------
    >>> logsumexp([1e4, 1e4])
    Tensor(10000.69314718)
    """
    x = _floating(as_tensor(x))
    axes = normalize_axes(axis, x.ndim)
    value = kernels.logsumexp(x.data, axes, keepdims)
    return record("logsumexp", np.asarray(value), (x,), axes=axes, keepdims=keepdims)


def softmax(x: Any, axis: Axis = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` over ``axis``; an all-``-inf`` row gives zeros.

    Examples
    --------
    >>> softmax([0.0, -np.inf])
    Tensor([1., 0.])
    """
    x = _floating(as_tensor(x))
    axes = normalize_axes(axis, x.ndim)
    return record("softmax", kernels.softmax(x.data, axes), (x,), axes=axes)


def log_softmax(x: Any, axis: Axis = -1) -> Tensor:
    """``x - logsumexp(x)`` over ``axis``, stable at ±1e4 and with ``-inf`` entries.

    Examples
    --------
    >>> log_softmax([0.0, 0.0])
    Tensor([-0.69314718, -0.69314718])
    """
    x = _floating(as_tensor(x))
    axes = normalize_axes(axis, x.ndim)
    return record("log_softmax", kernels.log_softmax(x.data, axes), (x,), axes=axes)


# -------------------------------------------------------------------- shape
def reshape(x: Any, shape: int | Sequence[int]) -> Tensor:
    """Give ``x`` a new shape with the same number of elements (``-1`` is inferred).

    Examples
    --------
    >>> reshape([1.0, 2.0, 3.0, 4.0], (2, -1)).shape
    (2, 2)
    """
    x = as_tensor(x)
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    try:
        value = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {x.shape} into shape {shape}") from None
    if value.shape == x.shape:
        return x
    return record("reshape", value, (x,))


def flatten(x: Any) -> Tensor:
    """All elements in one axis.

    Examples
    --------
    >>> flatten([[1.0, 2.0], [3.0, 4.0]]).shape
    (4,)
    """
    return reshape(x, (-1,))


def squeeze(x: Any, axis: Axis = None) -> Tensor:
    """Remove axes of length one (all of them, or those in ``axis``).

    Examples
    --------
    >>> squeeze(np.ones((1, 3, 1))).shape
    (3,)
    """
    x = as_tensor(x)
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = normalize_axes(axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(
                    f"cannot squeeze axis {a} of length {x.shape[a]} (shape {x.shape})"
                )
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Any, axis: int) -> Tensor:
    """Insert an axis of length one at position ``axis``.

    Examples
    --------
    >>> unsqueeze([1.0, 2.0], 0).shape
    (1, 2)
    """
    x = as_tensor(x)
    return reshape(x, np.expand_dims(x.data, axis).shape)


def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes; ``None`` reverses them (like ``.T``).

    Examples
    --------
    >>> transpose(np.ones((2, 3, 4)), (1, 0, 2)).shape
    (3, 2, 4)
    """
    x = as_tensor(x)
    if axes is not None:
        axes = tuple(int(a) for a in axes)
        if sorted(a % x.ndim if -x.ndim <= a < x.ndim else a for a in axes) != list(range(x.ndim)):
            raise ValueError(
                f"axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}"
            )
        axes = tuple(a % x.ndim for a in axes)
    return record("transpose", np.transpose(x.data, axes), (x,), axes=axes)


def broadcast_to(x: Any, shape: Sequence[int]) -> Tensor:
    """Broadcast to ``shape`` as NumPy does; the gradient is summed back.

    Examples
    --------
    >>> broadcast_to([1.0, 2.0], (3, 2)).shape
    (3, 2)
    """
    x = as_tensor(x)
    shape = tuple(shape)
    if shape == x.shape:
        return x
    try:
        value = np.broadcast_to(x.data, shape)
    except ValueError:
        raise ValueError(f"cannot broadcast a tensor of shape {x.shape} to shape {shape}") from None
    if x.size > 1:
        # A view that repeats rows makes every later ufunc take NumPy's slow strided
        # path (5-10x slower than contiguous); one contiguous copy is cheaper.
        # A single value repeated stays a view: that case has a fast path.
        value = np.ascontiguousarray(value)
    return record("broadcast_to", value, (x,))


def getitem(x: Any, index: Any) -> Tensor:
    """``x[index]`` with basic or advanced indexing; repeated indices accumulate gradient.

    Examples
    --------
    >>> getitem([10.0, 20.0, 30.0], [2, 0, 2])
    Tensor([30., 10., 30.])
    """
    x = as_tensor(x)
    index = normalize_index(index)
    return record("getitem", np.asarray(x.data[index]), (x,), index=index)


def index_scatter(g: Tensor, index: Any, shape: tuple[int, ...]) -> Tensor:
    """Zeros of ``shape`` with ``g`` added at ``index`` (the gradient of ``getitem``)."""
    out = np.zeros(shape, dtype=g.dtype)
    if is_basic_index(index):
        out[index] = g.data
    else:
        # add.at accumulates where an index repeats; plain assignment would not.
        np.add.at(out, index, g.data)
    return record("index_scatter", out, (g,), index=index)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis.

    Examples
    --------
    >>> concatenate([[1.0], [2.0, 3.0]]).shape
    (3,)
    """
    parts = tuple(as_tensor(t) for t in tensors)
    if not parts:
        raise ValueError("concatenate needs at least one tensor")
    first = parts[0]
    if first.ndim == 0:
        raise ValueError("concatenate needs tensors of at least one dimension, got shape ()")
    axis = normalize_axes(axis, first.ndim)[0]
    for part in parts[1:]:
        others_match = part.ndim == first.ndim and builtins.all(
            part.shape[i] == first.shape[i] for i in range(first.ndim) if i != axis
        )
        if not others_match:
            raise ValueError(
                f"cannot concatenate shapes {first.shape} and {part.shape} along axis {axis}"
            )
    value = np.concatenate([p.data for p in parts], axis=axis)
    return record("concatenate", value, parts, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis.

    Examples
    --------
    >>> stack([[1.0, 2.0], [3.0, 4.0]], axis=1).shape
    (2, 2)
    """
    parts = [as_tensor(t) for t in tensors]
    if not parts:
        raise ValueError("stack needs at least one tensor")
    for part in parts[1:]:
        if part.shape != parts[0].shape:
            raise ValueError(f"cannot stack shapes {parts[0].shape} and {part.shape}")
    axis = normalize_axes(axis, parts[0].ndim + 1)[0]
    return concatenate([unsqueeze(p, axis) for p in parts], axis=axis)
