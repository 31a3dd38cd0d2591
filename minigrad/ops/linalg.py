"""Linear algebra: ``matmul`` (on BLAS through NumPy), ``einsum``, ``outer``, ``norm``.

``matmul`` and ``einsum`` are primitives; ``outer`` and ``norm`` are
composites, so their derivatives come for free.
"""

from __future__ import annotations

import builtins
import collections
import string
from typing import Any

import numpy as np

from minigrad.ops._axes import normalize_axes
from minigrad.ops._operands import pair
from minigrad.ops.elementwise import abs, mul, pow, sqrt, square, where
from minigrad.ops.reductions import max, min, sum
from minigrad.ops.shape import reshape
from minigrad.tensor import Tensor, as_tensor, record

__all__ = [
    "einsum",
    "matmul",
    "norm",
    "outer",
]


def matmul(x: Any, y: Any) -> Tensor:
    """Matrix product with NumPy's rules (1-D operands, batched leading axes).

    Examples
    --------
    >>> matmul([[1.0, 2.0]], [[3.0], [4.0]])
    Tensor([[11.]])
    """
    x, y = pair(x, y)
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


def outer(x: Any, y: Any) -> Tensor:
    """Outer product of the flattened inputs: ``out[i, j] = x[i] y[j]``.

    Examples
    --------
    >>> outer([1.0, 2.0], [1.0, 10.0])
    Tensor([[ 1., 10.],
            [ 2., 20.]])
    """
    x, y = pair(x, y)
    return mul(reshape(x, (-1, 1)), reshape(y, (1, -1)))


def _parse_subscripts(subscripts: str, operands: tuple[Tensor, ...]) -> tuple[list[str], str]:
    """Explicit per-operand letters and output letters, with ``...`` spelt out."""
    spec = subscripts.replace(" ", "")
    inputs_part, arrow, output = spec.partition("->")
    inputs = inputs_part.split(",")
    if len(inputs) != len(operands):
        raise ValueError(
            f"einsum subscripts {subscripts!r} name {len(inputs)} operands, got {len(operands)}"
        )
    used = set(spec) - set(".,->")
    spare = iter(c for c in string.ascii_letters if c not in used)
    widest = builtins.max(
        (op.ndim - len(s.replace("...", "")) for s, op in zip(inputs, operands, strict=True)),
        default=0,
    )
    ellipsis = "".join(next(spare) for _ in range(builtins.max(widest, 0)))
    spelled = []
    for s, op in zip(inputs, operands, strict=True):
        if "..." in s:
            missing = op.ndim - len(s.replace("...", ""))
            s = s.replace("...", ellipsis[len(ellipsis) - missing :] if missing else "")
        if len(s) != op.ndim:
            raise ValueError(f"einsum subscripts {s!r} do not match an operand of shape {op.shape}")
        spelled.append(s)
    if arrow:
        output = output.replace("...", ellipsis)
    else:
        # Implicit mode: the letters that appear once, in alphabetical order, after the ellipsis.
        counts = collections.Counter("".join(spelled))
        output = ellipsis + "".join(
            sorted(c for c, k in counts.items() if k == 1 and c not in ellipsis)
        )
    return spelled, output


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation with NumPy's subscripts (explicit ``->`` or implicit, ``...``).

    Examples
    --------
    >>> einsum("ij,jk->ik", [[1.0, 2.0]], [[3.0], [4.0]])
    Tensor([[11.]])
    >>> einsum("ii", np.eye(3))
    Tensor(3.)
    """
    tensors = tuple(as_tensor(op) for op in operands)
    inputs, output = _parse_subscripts(subscripts, tensors)
    spec = ",".join(inputs) + "->" + output
    value = np.einsum(spec, *(t.data for t in tensors))
    return record("einsum", np.asarray(value), tensors, letters=tuple(inputs), output=output)


def _vector_norm(x: Tensor, ord: Any, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    magnitude = abs(x)
    if ord == np.inf:
        return max(magnitude, axes, keepdims)
    if ord == -np.inf:
        return min(magnitude, axes, keepdims)
    if ord == 0:
        count = np.sum(x.data != 0, axis=axes, keepdims=keepdims).astype(x.dtype)
        return Tensor._wrap(np.asarray(count))
    if ord == 1:
        return sum(magnitude, axes, keepdims)
    power = 2.0 if ord is None else builtins.float(ord)
    total = sum(square(x) if power == 2.0 else pow(magnitude, power), axes, keepdims)
    # At a zero vector the norm has no derivative; like PyTorch we give 0, not NaN:
    # take the root of 1 there, and discard it.
    zero = (total == 0).data
    root = (
        sqrt(where(zero, 1.0, total)) if power == 2.0 else pow(where(zero, 1.0, total), 1 / power)
    )
    return where(zero, 0.0, root)


def _matrix_norm(x: Tensor, ord: Any, axes: tuple[int, int], keepdims: bool) -> Tensor:
    rows, cols = axes
    if ord in (None, "fro"):
        return _vector_norm(x, None, tuple(sorted(axes)), keepdims)
    if ord in (2, -2, "nuc"):
        raise ValueError(
            f"norm ord={ord!r} of a matrix needs singular values, which minigrad lacks"
        )
    if ord not in (1, -1, np.inf, -np.inf):
        raise ValueError(f"invalid norm order {ord!r} for matrices")
    # ord ±1: extreme column sum of |x|; ord ±inf: extreme row sum.
    summed, then = (rows, cols) if ord in (1, -1) else (cols, rows)
    sums = sum(abs(x), summed, keepdims=True)
    reduce = max if ord in (1, np.inf) else min
    out = reduce(sums, then, keepdims=True)
    return (
        out
        if keepdims
        else reshape(out, tuple(n for i, n in enumerate(out.shape) if i not in axes))
    )


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Vector or matrix norm, as ``np.linalg.norm``; a zero vector has gradient 0.

    Vector ``ord``: ``None``/2, 1, ``inf``, ``-inf``, 0 (a count, no gradient)
    or any other number ``p`` (``sum(|x|^p)^(1/p)``). Matrix ``ord`` (a 2-D
    input with ``axis=None``, or a pair of axes): ``None``/``"fro"``, 1, -1,
    ``inf``, ``-inf``; the orders that need singular values (2, -2,
    ``"nuc"``) raise ``ValueError``.

    Examples
    --------
    >>> norm([3.0, 4.0])
    Tensor(5.)
    >>> norm([[1.0, -2.0], [3.0, 4.0]], ord=1)
    Tensor(6.)
    """
    x = as_tensor(x)
    if x.dtype.kind != "f":
        x = Tensor._wrap(x.data.astype(np.float64))
    if axis is None:
        if ord is None:
            flat = reshape(x, (-1,))
            out = _vector_norm(flat, None, (0,), False)
            return reshape(out, (1,) * x.ndim) if keepdims else out
        if x.ndim == 1:
            return _vector_norm(x, ord, (0,), keepdims)
        if x.ndim == 2:
            return _matrix_norm(x, ord, (0, 1), keepdims)
        raise ValueError(f"norm with ord={ord!r} needs a 1-D or 2-D input, got shape {x.shape}")
    if isinstance(axis, int | np.integer):
        return _vector_norm(x, ord, normalize_axes(axis, x.ndim), keepdims)
    axes = tuple(axis)
    if len(axes) == 1:
        return _vector_norm(x, ord, normalize_axes(axes[0], x.ndim), keepdims)
    if len(axes) == 2:
        first, second = (normalize_axes(a, x.ndim)[0] for a in axes)
        if first == second:
            raise ValueError(f"norm got a repeated axis {axis!r}")
        return _matrix_norm(x, ord, (first, second), keepdims)
    raise ValueError(f"norm takes one axis or a pair of axes, got {axis!r}")
