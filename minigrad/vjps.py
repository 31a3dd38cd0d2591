"""The derivative table: one vector-Jacobian product per primitive input.

A rule receives ``g`` (the gradient of the final scalar with respect to the
primitive's output), ``ans`` (the output itself) and the primitive's inputs
and parameters, and returns the gradient with respect to one input. The
engine sums the result back to the input's shape (:func:`~minigrad.engine.unbroadcast`),
so no rule deals with broadcasting.

Rules are written with minigrad ops, never with raw arrays: run under
recording, the backward pass is itself a graph, which is what makes
``grad(grad(f))`` and gradient penalties work.

Subgradient conventions follow PyTorch and are pinned by tests:
``abs``, ``relu`` and ``sign`` have derivative 0 at 0; ``clip`` passes the
gradient at its bounds; ``sqrt`` at 0 gives ``inf``; ties in ``max``/``min``
reductions and in ``maximum``/``minimum`` split the gradient evenly.
"""

from __future__ import annotations

import string

import numpy as np

from minigrad import ops
from minigrad.engine import defvjp, defvjp_argnum
from minigrad.tensor import Tensor


def _expand(g: Tensor, x: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    """The gradient of a reduction, copied back along the reduced axes to ``x``'s shape.

    Every element that was summed into one output gets that output's gradient.
    """
    kept = g if keepdims else ops.reshape(g, ops.kept_shape(x.shape, axes))
    return ops.broadcast_to(kept, x.shape)


def _reduced_ans(ans: Tensor, x: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    """A reduction's output with the reduced axes restored as length one."""
    return ans if keepdims else ops.reshape(ans, ops.kept_shape(x.shape, axes))


# Arithmetic
defvjp("add", lambda g, ans, x, y: g, lambda g, ans, x, y: g)
defvjp("sub", lambda g, ans, x, y: g, lambda g, ans, x, y: -g)
defvjp("mul", lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
# d(x/y)/dy = -x/y² = -ans/y
defvjp("div", lambda g, ans, x, y: g / y, lambda g, ans, x, y: -g * ans / y)
defvjp("neg", lambda g, ans, x: -g)


def _pow_base(g: Tensor, ans: Tensor, x: Tensor, y: Tensor) -> Tensor:
    # d x**y / dx = y * x**(y-1); fine for negative x with integral y. At x == 0 with
    # y == 0 the formula gives 0 * inf = NaN, but x**0 is the constant 1: the slope is 0.
    # (Only that point is patched, so derivatives in y stay right everywhere else.)
    corner = (x == 0).data & (y == 0).data
    slope = y * ops.pow(x, ops.where(corner, 1.0, y - 1))
    return g * ops.where(corner, 0.0, slope)


def _pow_exponent(g: Tensor, ans: Tensor, x: Tensor, y: Tensor) -> Tensor:
    # d x**y / dy = x**y * log(x). At x == 0 we take 0 (the limit for y > 0, as
    # PyTorch does); for x < 0 the real power has no derivative in y: NaN.
    positive = x > 0
    safe_log = ops.log(ops.where(positive, x, 1.0))
    slope = ops.where(positive, ans * safe_log, 0.0)
    return g * ops.where(x < 0, np.nan, slope)


defvjp("pow", _pow_base, _pow_exponent)


def _matmul_lhs(g: Tensor, ans: Tensor, x: Tensor, y: Tensor) -> Tensor:
    # C = A @ B  =>  dA = dC @ Bᵀ (with 1-D operands promoted to matrices).
    g2 = _promote_output_grad(g, x, y)
    y2 = ops.unsqueeze(y, -1) if y.ndim == 1 else y
    grad = ops.matmul(g2, ops.transpose(y2, _swap_last(y2.ndim)))
    return ops.squeeze(grad, -2) if x.ndim == 1 else grad


def _matmul_rhs(g: Tensor, ans: Tensor, x: Tensor, y: Tensor) -> Tensor:
    # C = A @ B  =>  dB = Aᵀ @ dC
    g2 = _promote_output_grad(g, x, y)
    x2 = ops.unsqueeze(x, 0) if x.ndim == 1 else x
    grad = ops.matmul(ops.transpose(x2, _swap_last(x2.ndim)), g2)
    return ops.squeeze(grad, -1) if y.ndim == 1 else grad


def _promote_output_grad(g: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Re-insert the axes that matmul drops for 1-D operands."""
    if x.ndim == 1:
        g = ops.unsqueeze(g, -2 if y.ndim > 1 else 0)
    if y.ndim == 1:
        g = ops.unsqueeze(g, -1)
    return g


def _swap_last(ndim: int) -> tuple[int, ...]:
    return (*range(ndim - 2), ndim - 1, ndim - 2)


defvjp("matmul", _matmul_lhs, _matmul_rhs)

# Elementwise functions
defvjp("exp", lambda g, ans, x: g * ans)  # d eˣ = eˣ
defvjp("log", lambda g, ans, x: g / x)  # d log x = 1/x
defvjp("log1p", lambda g, ans, x: g / (1 + x))  # d log(1+x) = 1/(1+x)
defvjp("sqrt", lambda g, ans, x: g / (2 * ans))  # d √x = 1/(2√x); inf at 0
defvjp("square", lambda g, ans, x: g * 2 * x)  # d x² = 2x
defvjp("abs", lambda g, ans, x: g * ops.sign(x))  # d |x| = sign(x); 0 at 0
defvjp("sign", lambda g, ans, x: ops.zeros_like(g))  # flat everywhere (0 at 0 too)
defvjp("tanh", lambda g, ans, x: g * (1 - ans * ans))  # d tanh = 1 - tanh²
defvjp("sigmoid", lambda g, ans, x: g * ans * (1 - ans))  # d σ = σ(1-σ)
defvjp("softplus", lambda g, ans, x: g * ops.sigmoid(x))  # d log(1+eˣ) = σ(x)
defvjp("relu", lambda g, ans, x: ops.where(x > 0, g, 0.0))  # 0 at 0
defvjp("sin", lambda g, ans, x: g * ops.cos(x))
defvjp("cos", lambda g, ans, x: -g * ops.sin(x))
defvjp("astype", lambda g, ans, x: g)  # the engine casts g back to x's dtype


def _tie_share(mine: Tensor, other: Tensor, wins: Tensor) -> Tensor:
    """1 where ``mine`` wins, 1/2 at a tie, 0 where it loses (a constant)."""
    return ops.where(wins, 1.0, ops.where(mine == other, 0.5, 0.0))


defvjp(
    "maximum",
    lambda g, ans, x, y: g * _tie_share(x, y, x > y),
    lambda g, ans, x, y: g * _tie_share(y, x, y > x),
)
defvjp(
    "minimum",
    lambda g, ans, x, y: g * _tie_share(x, y, x < y),
    lambda g, ans, x, y: g * _tie_share(y, x, y < x),
)


def _clip_vjp(g: Tensor, ans: Tensor, x: Tensor, lo: object, hi: object) -> Tensor:
    # The gradient passes inside [lo, hi] and at the bounds themselves (PyTorch's choice).
    # Written with ops (no in-place mask), so that mg.jit can follow the comparisons.
    if lo is not None:
        g = ops.where(x >= lo, g, 0.0)
    if hi is not None:
        g = ops.where(x <= hi, g, 0.0)
    return g


defvjp("clip", _clip_vjp)
defvjp(
    "where",
    lambda g, ans, x, y, condition: ops.where(condition, g, 0.0),
    lambda g, ans, x, y, condition: ops.where(condition, 0.0, g),
)

# Reductions
defvjp("sum", lambda g, ans, x, axes, keepdims: _expand(g, x, axes, keepdims))


def _extremum_vjp(g: Tensor, ans: Tensor, x: Tensor, axes: tuple[int, ...], keepdims: bool):
    # Ties share the gradient evenly: each of k tied entries gets g/k. A NaN wins (the
    # result is NaN), so the gradient goes to the NaN entries, as in PyTorch.
    best = _reduced_ans(ans, x, axes, keepdims)
    winners = (x == best).data | (np.isnan(x.data) & np.isnan(best.data))
    counts = ops.sum(ops.where(winners, 1.0, 0.0), axes, keepdims=True)
    share = ops.where(winners, 1.0 / counts, 0.0)
    return _expand(g, x, axes, keepdims) * share


defvjp("max", _extremum_vjp)
defvjp("min", _extremum_vjp)


# d logsumexp(x) = softmax(x), which stays finite on rows containing -inf.
defvjp(
    "logsumexp",
    lambda g, ans, x, axes, keepdims: _expand(g, x, axes, keepdims) * ops.softmax(x, axes),
)
# d softmax: s ⊙ (g - Σ g s)
defvjp("softmax", lambda g, ans, x, axes: ans * (g - ops.sum(g * ans, axes, keepdims=True)))
# d log_softmax: g - softmax(x) Σ g; exp(ans) is softmax(x), and 0 where ans = -inf.
defvjp(
    "log_softmax",
    lambda g, ans, x, axes: g - ops.exp(ans) * ops.sum(g, axes, keepdims=True),
)

# Shape
defvjp("reshape", lambda g, ans, x: ops.reshape(g, x.shape))
defvjp("broadcast_to", lambda g, ans, x: g)  # the engine's unbroadcast sums it back


def _transpose_vjp(g: Tensor, ans: Tensor, x: Tensor, axes: tuple[int, ...] | None) -> Tensor:
    return ops.transpose(g, None if axes is None else tuple(np.argsort(axes)))


defvjp("transpose", _transpose_vjp)
defvjp("getitem", lambda g, ans, x, index: ops.index_scatter(g, index, x.shape))
defvjp("index_scatter", lambda g, ans, x, index: ops.getitem(g, index))


def _concatenate_vjp(argnum: int, g: Tensor, ans: Tensor, *parts: Tensor, axis: int) -> Tensor:
    start = sum(p.shape[axis] for p in parts[:argnum])
    window = slice(start, start + parts[argnum].shape[axis])
    return ops.getitem(g, (slice(None),) * axis + (window,))


defvjp_argnum("concatenate", _concatenate_vjp)

# ------------------------------------------------ more ops (special, rounding, reductions)
defvjp("expm1", lambda g, ans, x: g * (ans + 1))  # d (eˣ - 1) = eˣ
defvjp("arctan", lambda g, ans, x: g / (1 + ops.square(x)))  # d atan x = 1/(1+x²)
defvjp("sinh", lambda g, ans, x: g * ops.cosh(x))  # d sinh = cosh
defvjp("cosh", lambda g, ans, x: g * ops.sinh(x))  # d cosh = sinh
# d erf x = 2/√π e^(-x²)
defvjp("erf", lambda g, ans, x: g * (2 / np.sqrt(np.pi)) * ops.exp(-ops.square(x)))
# d log(eˣ + eʸ)/dx = eˣ / (eˣ + eʸ) = exp(x - ans)
defvjp(
    "logaddexp",
    lambda g, ans, x, y: g * ops.exp(x - ans),
    lambda g, ans, x, y: g * ops.exp(y - ans),
)
# x mod y = x - floor(x/y) y, with floor(x/y) flat almost everywhere.
defvjp("mod", lambda g, ans, x, y: g, lambda g, ans, x, y: -g * ops.floor_divide(x, y))


def _products_of_others(x: Tensor, axes: tuple[int, ...]) -> Tensor:
    """For each element, the product of the other elements of its group (exact with zeros).

    The reduced axes are moved last and flattened to one of length n; each
    element's n - 1 partners are gathered in an (…, n, n) table whose
    diagonal is replaced by ones, and multiplied out. It costs n times the
    memory of ``x``, so it runs only when a group holds a zero.
    """
    kept = [a for a in range(x.ndim) if a not in axes]
    order = (*kept, *axes)
    moved = ops.transpose(x, order)
    lead = moved.shape[: len(kept)]
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    rows = ops.reshape(moved, (*lead, 1, n))
    table = ops.where(np.eye(n, dtype=bool), 1.0, ops.broadcast_to(rows, (*lead, n, n)))
    others = ops.reshape(ops.prod(table, -1), moved.shape)
    return ops.transpose(others, tuple(np.argsort(order)))


def _prod_vjp(g: Tensor, ans: Tensor, x: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    # d Π xⱼ / dxᵢ = Π_{j≠i} xⱼ, which is prod/xᵢ only when xᵢ ≠ 0.
    if (x.data == 0).any():
        return _expand(g, x, axes, keepdims) * _products_of_others(x, axes)
    return _expand(g * ans, x, axes, keepdims) / x


defvjp("prod", _prod_vjp)


def _cumsum_vjp(g: Tensor, ans: Tensor, x: Tensor, axis: int | None) -> Tensor:
    # Each x_i feeds every running sum from i on: the gradient is the reversed running sum of g.
    if axis is None:
        return ops.reshape(ops.flip(ops.cumsum(ops.flip(g, 0), 0), 0), x.shape)
    return ops.flip(ops.cumsum(ops.flip(g, axis), axis), axis)


defvjp("cumsum", _cumsum_vjp)


def _einsum_vjp(
    argnum: int, g: Tensor, ans: Tensor, *operands: Tensor, letters: tuple[str, ...], output: str
) -> Tensor:
    # The gradient of one operand is the einsum of g with all the others, into its letters.
    # Letters that appear only in this operand (summed away) come back through a ones vector;
    # a repeated letter (a diagonal) through an identity matrix.
    target = letters[argnum]
    terms = [output]
    tensors: list[Tensor] = [g]
    for i, (subscripts, op) in enumerate(zip(letters, operands, strict=True)):
        if i != argnum:
            terms.append(subscripts)
            tensors.append(op)
    present = set("".join(terms))
    size = dict(zip(target, operands[argnum].shape, strict=True))
    for letter in dict.fromkeys(target):
        if letter not in present:
            terms.append(letter)
            tensors.append(ops.ones(size[letter], dtype=g.dtype))
    spare = iter(c for c in string.ascii_letters if c not in set("".join(letters) + output))
    renamed = ""
    seen: set[str] = set()
    for letter in target:
        if letter in seen:
            fresh = next(spare)
            terms.append(letter + fresh)
            tensors.append(ops.eye(size[letter], dtype=g.dtype))
            renamed += fresh
        else:
            seen.add(letter)
            renamed += letter
    return ops.einsum(",".join(terms) + "->" + renamed, *tensors)


defvjp_argnum("einsum", _einsum_vjp)
