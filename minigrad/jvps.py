"""The forward-mode table: one Jacobian-vector product per primitive input.

A rule receives ``t`` (the tangent of one input, of that input's shape),
``ans`` (the primitive's output) and the inputs and parameters, and returns
that input's contribution to the output's tangent. :mod:`minigrad.forward`
broadcasts the contributions to the output's shape and adds them up, so no
rule deals with broadcasting. Returning ``None`` means "no dependence".

This is the mirror image of :mod:`minigrad.vjps`: where a VJP rule applies
``Jᵀ`` to a cotangent, a JVP rule applies ``J`` to a tangent. For an
elementwise primitive both are "multiply by the derivative"; for the others
the JVP is often the primitive itself applied to the tangent (every linear
primitive — ``sum``, ``reshape``, ``getitem``, ``concatenate`` … — is its own
JVP). The subgradients at kinks are the same as in the VJP table, so the
two tables agree by transposition (⟨v, J t⟩ = ⟨Jᵀ v, t⟩) everywhere, which
the tests check primitive by primitive.

Rules are written with minigrad ops, so tangents compose: a tangent can be
differentiated again in either mode.
"""

from __future__ import annotations

import numpy as np

from minigrad import ops
from minigrad.forward import defjvp, defjvp_argnum
from minigrad.tensor import Tensor
from minigrad.vjps import (
    _clip_vjp,
    _pow_base,
    _pow_exponent,
    _products_of_others,
    _reduced_ans,
    _tie_share,
)


def _keep_reduced(total: Tensor, x: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    """``total`` (reduced with keepdims=True) in the reduction's own output shape."""
    if keepdims:
        return total
    return ops.reshape(total, tuple(n for axis, n in enumerate(x.shape) if axis not in axes))


# Arithmetic
defjvp("add", lambda t, ans, x, y: t, lambda t, ans, x, y: t)
defjvp("sub", lambda t, ans, x, y: t, lambda t, ans, x, y: -t)
defjvp("mul", lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
# d(x/y) = dx/y - x dy/y² = dx/y - ans dy/y
defjvp("div", lambda t, ans, x, y: t / y, lambda t, ans, x, y: -t * ans / y)
defjvp("neg", lambda t, ans, x: -t)
# d xʸ = y xʸ⁻¹ dx + xʸ log(x) dy, with the VJP table's conventions at x = 0 and x < 0
defjvp("pow", _pow_base, _pow_exponent)
# d(A B) = dA B + A dB
defjvp("matmul", lambda t, ans, x, y: ops.matmul(t, y), lambda t, ans, x, y: ops.matmul(x, t))

# Elementwise functions
defjvp("exp", lambda t, ans, x: t * ans)  # d eˣ = eˣ
defjvp("log", lambda t, ans, x: t / x)  # d log x = 1/x
defjvp("log1p", lambda t, ans, x: t / (1 + x))  # d log(1+x) = 1/(1+x)
defjvp("sqrt", lambda t, ans, x: t / (2 * ans))  # d √x = 1/(2√x); inf at 0
defjvp("square", lambda t, ans, x: t * 2 * x)  # d x² = 2x
defjvp("abs", lambda t, ans, x: t * ops.sign(x))  # d |x| = sign(x); 0 at 0
defjvp("sign", lambda t, ans, x: None)  # flat everywhere (0 at 0 too)
defjvp("tanh", lambda t, ans, x: t * (1 - ans * ans))  # d tanh = 1 - tanh²
defjvp("sigmoid", lambda t, ans, x: t * ans * (1 - ans))  # d σ = σ(1-σ)
defjvp("softplus", lambda t, ans, x: t * ops.sigmoid(x))  # d log(1+eˣ) = σ(x)
defjvp("relu", lambda t, ans, x: ops.where(x > 0, t, 0.0))  # 0 at 0
defjvp("sin", lambda t, ans, x: t * ops.cos(x))
defjvp("cos", lambda t, ans, x: -t * ops.sin(x))
defjvp("astype", lambda t, ans, x: ops.astype(t, ans.dtype))
# Ties split evenly, as in the VJP table: at x == y, d max = (dx + dy) / 2.
defjvp(
    "maximum",
    lambda t, ans, x, y: t * _tie_share(x, y, x > y),
    lambda t, ans, x, y: t * _tie_share(y, x, y > x),
)
defjvp(
    "minimum",
    lambda t, ans, x, y: t * _tie_share(x, y, x < y),
    lambda t, ans, x, y: t * _tie_share(y, x, y < x),
)
defjvp("clip", _clip_vjp)  # the tangent passes inside [lo, hi] and at the bounds
defjvp(
    "where",
    lambda t, ans, x, y, condition: ops.where(condition, t, 0.0),
    lambda t, ans, x, y, condition: ops.where(condition, 0.0, t),
)

# Reductions
defjvp("sum", lambda t, ans, x, axes, keepdims: ops.sum(t, axes, keepdims))


def _extremum_jvp(t: Tensor, ans: Tensor, x: Tensor, axes: tuple[int, ...], keepdims: bool):
    # The tangent of the winner; k tied winners each count 1/k (their mean), as in the VJP.
    best = _reduced_ans(ans, x, axes, keepdims)
    winners = (x == best).data | (np.isnan(x.data) & np.isnan(best.data))
    counts = np.sum(winners, axis=axes, keepdims=True)
    share = ops.where(winners, 1.0 / np.maximum(counts, 1), 0.0)
    return _keep_reduced(ops.sum(t * share, axes, keepdims=True), x, axes, keepdims)


defjvp("max", _extremum_jvp)
defjvp("min", _extremum_jvp)
# d logsumexp(x) = Σ softmax(x) dx
defjvp(
    "logsumexp",
    lambda t, ans, x, axes, keepdims: ops.sum(t * ops.softmax(x, axes), axes, keepdims),
)
# d softmax = s ⊙ (dx - Σ s dx)
defjvp("softmax", lambda t, ans, x, axes: ans * (t - ops.sum(t * ans, axes, keepdims=True)))
# d log_softmax = dx - Σ softmax(x) dx; exp(ans) is softmax(x), 0 where ans = -inf.
defjvp(
    "log_softmax",
    lambda t, ans, x, axes: t - ops.sum(t * ops.exp(ans), axes, keepdims=True),
)

# Shape: linear primitives are their own JVPs.
defjvp("reshape", lambda t, ans, x: ops.reshape(t, ans.shape))
defjvp("broadcast_to", lambda t, ans, x: ops.broadcast_to(t, ans.shape))
defjvp("transpose", lambda t, ans, x, axes: ops.transpose(t, axes))
defjvp("getitem", lambda t, ans, x, index: ops.getitem(t, index))
defjvp("index_scatter", lambda t, ans, g, index: ops.index_scatter(t, index, ans.shape))


def _concatenate_jvp(argnum: int, t: Tensor, ans: Tensor, *parts: Tensor, axis: int) -> Tensor:
    # Part argnum's tangent in its window of the output, zeros elsewhere.
    pieces = [t if i == argnum else ops.zeros_like(p) for i, p in enumerate(parts)]
    return ops.concatenate(pieces, axis=axis)


defjvp_argnum("concatenate", _concatenate_jvp)


# More elementwise functions and reductions
defjvp("expm1", lambda t, ans, x: t * (ans + 1))  # d (eˣ - 1) = eˣ
defjvp("arctan", lambda t, ans, x: t / (1 + ops.square(x)))  # d atan x = 1/(1+x²)
defjvp("sinh", lambda t, ans, x: t * ops.cosh(x))  # d sinh = cosh
defjvp("cosh", lambda t, ans, x: t * ops.sinh(x))  # d cosh = sinh
# d erf x = 2/√π e^(-x²)
defjvp("erf", lambda t, ans, x: t * (2 / np.sqrt(np.pi)) * ops.exp(-ops.square(x)))
# d log(eˣ + eʸ) = (eˣ dx + eʸ dy) / (eˣ + eʸ)
defjvp(
    "logaddexp",
    lambda t, ans, x, y: t * ops.exp(x - ans),
    lambda t, ans, x, y: t * ops.exp(y - ans),
)
# x mod y = x - floor(x/y) y, with floor(x/y) flat almost everywhere.
defjvp("mod", lambda t, ans, x, y: t, lambda t, ans, x, y: -t * ops.floor_divide(x, y))


def _prod_jvp(t: Tensor, ans: Tensor, x: Tensor, axes: tuple[int, ...], keepdims: bool):
    # d Π xⱼ = Σᵢ (Π_{j≠i} xⱼ) dxᵢ; the products of the others are exact with zeros.
    if (x.data == 0).any():
        others = _products_of_others(x, axes)
    else:
        others = _reduced_ans(ans, x, axes, keepdims) / x
    return _keep_reduced(ops.sum(t * others, axes, keepdims=True), x, axes, keepdims)


defjvp("prod", _prod_jvp)
defjvp("cumsum", lambda t, ans, x, axis: ops.cumsum(t, axis))  # linear: its own JVP


def _einsum_jvp(
    argnum: int, t: Tensor, ans: Tensor, *operands: Tensor, letters: tuple[str, ...], output: str
) -> Tensor:
    # Linear in each operand: the same contraction with this operand's tangent in its place.
    replaced = [t if i == argnum else op for i, op in enumerate(operands)]
    return ops.einsum(",".join(letters) + "->" + output, *replaced)


defjvp_argnum("einsum", _einsum_jvp)
