"""Every differentiable op in the contract, checked against finite differences.

One table, ``OPS``, maps an op's name to an ``OpSpec``: how to draw its input
shapes, how to draw inputs (and parameters such as ``axis``) inside the op's
smooth domain, and a NumPy reference for the forward value. Two parametrized
tests run over the whole table:

* ``test_gradients_random_shapes`` draws shapes with hypothesis
  (``array_shapes`` for one input, ``mutually_broadcastable_shapes`` for
  broadcasting pairs);
* ``test_gradients_fixed_shapes`` always runs the shapes ``()``, ``(2,)``,
  ``(3, 2)`` and ``(1, 2)`` (and every broadcasting pair of them), whatever
  hypothesis would have drawn.

Each case checks the forward value against NumPy, first derivatives with
``mg.gradcheck`` and second derivatives with ``mg.gradgradcheck``, in float64
with their default tolerances (``atol=1e-5``, ``rtol=1e-3``) unless the table
says otherwise. A non-scalar result is reduced with fixed random weights, so
that every output element contributes differently (a plain sum would hide,
for example, any error in the softmax derivative, whose sum is constant).

Kinks are avoided by the choice of domain: ``abs``/``relu``/``sign`` stay
away from 0, ``clip`` from its bounds, ``max``/``min`` draw distinct values
from a grid, ``maximum``/``minimum`` draw their two sides from interleaved
grids that never meet, ``log``/``sqrt`` and a differentiated ``pow`` base stay
positive. The subgradients at the kinks are pinned in ``test_mg_engine.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations, product
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg

Shape = tuple[int, ...]
Shapes = tuple[Shape, ...]

FIXED_SHAPES: tuple[Shape, ...] = ((), (2,), (3, 2), (1, 2))

# ----------------------------------------------------------- element domains
# Bounded elements keep finite differences accurate: with eps = 1e-6 the
# truncation error is ~eps² f''' and the rounding error ~1e-16 |f| / eps.
REALS = st.floats(-3.0, 3.0)
POSITIVE = st.floats(0.2, 3.0)
ABOVE_MINUS_ONE = st.floats(-0.8, 3.0)
AWAY_FROM_ZERO = st.floats(-3.0, -0.05) | st.floats(0.05, 3.0)
AWAY_FROM_UNIT_BOUNDS = st.floats(-3.0, -1.05) | st.floats(-0.95, 0.95) | st.floats(1.05, 3.0)
# Distinct values at least 0.01 apart (drawn with unique=True): no ties in max/min,
# and the gap is 10⁴ times the finite-difference step.
GRID = st.integers(-300, 300).map(lambda k: k / 100)
# Two grids that never meet (offsets 0.013 and 0.057): no ties in maximum/minimum.
LEFT_GRID = st.integers(-30, 30).map(lambda k: k / 10 + 0.013)
RIGHT_GRID = st.integers(-30, 30).map(lambda k: k / 10 + 0.057)

# ------------------------------------------------------------ shape strategies
UNARY_SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3).map(
    lambda shape: (shape,)
)
BINARY_SHAPES = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3
).map(lambda shapes: shapes.input_shapes)
TERNARY_SHAPES = hnp.mutually_broadcastable_shapes(
    num_shapes=3, min_dims=0, max_dims=3, min_side=1, max_side=3
).map(lambda shapes: shapes.input_shapes)
# "(n?,k),(k,m?)->(n?,m?)": 1-D operands on either side, plus one batch axis.
MATMUL_SHAPES = hnp.mutually_broadcastable_shapes(
    signature=np.matmul.signature, max_dims=1, min_side=1, max_side=3
).map(lambda shapes: shapes.input_shapes)

FIXED_UNARY: tuple[Shapes, ...] = tuple((shape,) for shape in FIXED_SHAPES)
# Every pair of fixed shapes broadcasts, e.g. (3, 2) with (1, 2) and () with (2,).
FIXED_PAIRS: tuple[Shapes, ...] = tuple(product(FIXED_SHAPES, repeat=2))


@dataclass(frozen=True)
class Case:
    """One drawn check: ``fun(*tensors)`` on ``arrays``, expected to equal ``expected``."""

    fun: Callable[..., mg.Tensor]
    arrays: tuple[np.ndarray, ...]
    expected: np.ndarray


@dataclass(frozen=True)
class OpSpec:
    """How to test one op: draw a ``Case`` for given input shapes."""

    draw: Callable[[st.DataObject, Shapes], Case]
    shapes: st.SearchStrategy[Shapes] = UNARY_SHAPES
    fixed: tuple[Shapes, ...] = FIXED_UNARY
    gradcheck_options: tuple[tuple[str, float], ...] = ()


def draw_array(
    data: st.DataObject, shape: Shape, elements: st.SearchStrategy, unique: bool = False
) -> np.ndarray:
    return data.draw(hnp.arrays(np.float64, shape, elements=elements, unique=unique))


def draw_axis(data: st.DataObject, ndim: int, allow_empty_tuple: bool = True) -> Any:
    """``None``, an int (possibly negative) or a tuple of axes (possibly negative)."""
    options: list[st.SearchStrategy] = [st.none()]
    if ndim > 0:
        options.append(st.integers(-ndim, ndim - 1))
        options.append(hnp.valid_tuple_axes(ndim, min_size=0 if allow_empty_tuple else 1))
    elif allow_empty_tuple:
        options.append(st.just(()))
    return data.draw(st.one_of(options), label="axis")


def axes_of(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    raw = (axis,) if isinstance(axis, int) else axis
    return tuple(sorted(a % ndim for a in raw))


def reduced_count(shape: Shape, axis: Any) -> int:
    return math.prod(shape[a] for a in axes_of(axis, len(shape)))


# ------------------------------------------------------------- spec factories
def elementwise(
    fun: Callable[[mg.Tensor], mg.Tensor],
    reference: Callable[[np.ndarray], np.ndarray],
    elements: st.SearchStrategy = REALS,
) -> OpSpec:
    def draw(data: st.DataObject, shapes: Shapes) -> Case:
        (shape,) = shapes
        x = draw_array(data, shape, elements)
        return Case(fun, (x,), reference(x))

    return OpSpec(draw)


def binary(
    fun: Callable[[mg.Tensor, mg.Tensor], mg.Tensor],
    reference: Callable[[np.ndarray, np.ndarray], np.ndarray],
    left: st.SearchStrategy = REALS,
    right: st.SearchStrategy = REALS,
) -> OpSpec:
    def draw(data: st.DataObject, shapes: Shapes) -> Case:
        left_shape, right_shape = shapes
        x = draw_array(data, left_shape, left)
        y = draw_array(data, right_shape, right)
        return Case(fun, (x, y), reference(x, y))

    return OpSpec(draw, BINARY_SHAPES, FIXED_PAIRS)


def reduction(
    fun: Callable[..., mg.Tensor],
    reference: Callable[..., np.ndarray],
    elements: st.SearchStrategy = REALS,
    unique: bool = False,
) -> OpSpec:
    def draw(data: st.DataObject, shapes: Shapes) -> Case:
        (shape,) = shapes
        x = draw_array(data, shape, elements, unique=unique)
        axis = draw_axis(data, len(shape))
        keepdims = data.draw(st.booleans(), label="keepdims")
        return Case(
            lambda t: fun(t, axis=axis, keepdims=keepdims),
            (x,),
            reference(x, axis=axis, keepdims=keepdims),
        )

    return OpSpec(draw)


def spread(fun: Callable[..., mg.Tensor], reference: Callable[..., np.ndarray]) -> OpSpec:
    """``var`` and ``std``: also draw ``ddof``, keeping ``n - ddof`` positive.

    Values come from the distinct grid so that the spread of every group of
    two or more is positive (``std`` has an infinite slope at 0); a group of
    one is allowed only for ``var``, which is then constantly 0.
    """
    minimum_count = 2 if fun is mg.std else 1

    def draw(data: st.DataObject, shapes: Shapes) -> Case:
        (shape,) = shapes
        x = draw_array(data, shape, GRID, unique=True)
        ndim = len(shape)
        choices = [None, *range(-ndim, ndim)]
        choices += [axes for r in range(1, ndim + 1) for axes in combinations(range(ndim), r)]
        choices = [a for a in choices if reduced_count(shape, a) >= minimum_count]
        axis = data.draw(st.sampled_from(choices), label="axis")
        count = reduced_count(shape, axis)
        ddof = data.draw(st.integers(0, min(1, count - 1)), label="ddof")
        keepdims = data.draw(st.booleans(), label="keepdims")
        return Case(
            lambda t: fun(t, axis=axis, ddof=ddof, keepdims=keepdims),
            (x,),
            reference(x, axis=axis, ddof=ddof, keepdims=keepdims),
        )

    # A 0-d tensor has a single element: its std is 0, where std has no derivative.
    fixed = FIXED_UNARY if fun is mg.var else tuple((s,) for s in FIXED_SHAPES if s != ())
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3).filter(
        lambda shape: math.prod(shape) >= minimum_count
    )
    return OpSpec(draw, shapes.map(lambda shape: (shape,)), fixed)


def along_axis(fun: Callable[..., mg.Tensor], reference: Callable[..., np.ndarray]) -> OpSpec:
    """``softmax`` and ``log_softmax``: an axis argument, no keepdims."""

    def draw(data: st.DataObject, shapes: Shapes) -> Case:
        (shape,) = shapes
        x = draw_array(data, shape, REALS)
        axis = draw_axis(data, len(shape))
        return Case(lambda t: fun(t, axis=axis), (x,), reference(x, axis))

    return OpSpec(draw)


def numpy_softmax(x: np.ndarray, axis: Any) -> np.ndarray:
    exps = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return exps / np.sum(exps, axis=axis, keepdims=True)


def numpy_logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


# ----------------------------------------------------------------- odd ones out
def draw_clip(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, AWAY_FROM_UNIT_BOUNDS)
    lo, hi = data.draw(st.sampled_from([(-1.0, 1.0), (None, 1.0), (-1.0, None)]), label="bounds")
    return Case(lambda t: mg.clip(t, lo, hi), (x,), np.clip(x, lo, hi))


def draw_where(data: st.DataObject, shapes: Shapes) -> Case:
    condition_shape, left_shape, right_shape = shapes
    condition = data.draw(hnp.arrays(np.bool_, condition_shape), label="condition")
    x = draw_array(data, left_shape, REALS)
    y = draw_array(data, right_shape, REALS)
    return Case(lambda a, b: mg.where(condition, a, b), (x, y), np.where(condition, x, y))


def draw_matmul(data: st.DataObject, shapes: Shapes) -> Case:
    left_shape, right_shape = shapes
    x = draw_array(data, left_shape, REALS)
    y = draw_array(data, right_shape, REALS)
    return Case(mg.matmul, (x, y), np.matmul(x, y))


def concat_shapes() -> st.SearchStrategy[Shapes]:
    @st.composite
    def shapes(draw: Any) -> Shapes:
        base = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
        axis = draw(st.integers(0, len(base) - 1))
        sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
        return tuple((*base[:axis], n, *base[axis + 1 :]) for n in sizes)

    return shapes()


def draw_concatenate(data: st.DataObject, shapes: Shapes) -> Case:
    ndim = len(shapes[0])
    # Any axis along which the parts may differ, in positive or negative form.
    valid = [
        a
        for a in range(ndim)
        if all(s[:a] + s[a + 1 :] == shapes[0][:a] + shapes[0][a + 1 :] for s in shapes)
    ]
    axis = data.draw(st.sampled_from(valid + [a - ndim for a in valid]), label="axis")
    arrays = tuple(draw_array(data, shape, REALS) for shape in shapes)
    return Case(
        lambda *ts: mg.concatenate(ts, axis=axis), arrays, np.concatenate(arrays, axis=axis)
    )


def draw_stack(data: st.DataObject, shapes: Shapes) -> Case:
    ndim = len(shapes[0])
    axis = data.draw(st.integers(-(ndim + 1), ndim), label="axis")
    arrays = tuple(draw_array(data, shape, REALS) for shape in shapes)
    return Case(lambda *ts: mg.stack(ts, axis=axis), arrays, np.stack(arrays, axis=axis))


STACK_SHAPES = st.tuples(
    hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), st.integers(1, 3)
).map(lambda pair: (pair[0],) * pair[1])


def draw_reshape(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    dims = list(data.draw(st.permutations(shape), label="permuted"))
    if len(dims) >= 2 and data.draw(st.booleans(), label="merge"):
        dims = [dims[0] * dims[1], *dims[2:]]
    for _ in range(data.draw(st.integers(0, 2), label="new unit axes")):
        dims.insert(data.draw(st.integers(0, len(dims))), 1)
    if dims and data.draw(st.booleans(), label="infer one"):
        dims[data.draw(st.integers(0, len(dims) - 1))] = -1
    new_shape = tuple(dims)
    return Case(lambda t: mg.reshape(t, new_shape), (x,), np.reshape(x, new_shape))


def draw_transpose(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    ndim = len(shape)
    axes = data.draw(st.none() | st.permutations(range(ndim)).map(tuple), label="axes")
    if axes is not None:
        # Negative axes count from the end, as in NumPy.
        flips = data.draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim))
        axes = tuple(a - ndim if flip else a for a, flip in zip(axes, flips, strict=True))
    return Case(lambda t: mg.transpose(t, axes), (x,), np.transpose(x, axes))


def draw_broadcast_to(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    other = data.draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=3, max_side=3))
    target = np.broadcast_shapes(shape, other)
    return Case(lambda t: mg.broadcast_to(t, target), (x,), np.broadcast_to(x, target))


def draw_squeeze(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    ndim = len(shape)
    units = [a for a, n in enumerate(shape) if n == 1]
    options: list[Any] = [None, *units, *(a - ndim for a in units)]
    options += [tuple(units[:k]) for k in range(1, len(units) + 1)]
    axis = data.draw(st.sampled_from(options), label="axis")
    return Case(lambda t: mg.squeeze(t, axis), (x,), np.squeeze(x, axis))


def draw_unsqueeze(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    axis = data.draw(st.integers(-(len(shape) + 1), len(shape)), label="axis")
    return Case(lambda t: mg.unsqueeze(t, axis), (x,), np.expand_dims(x, axis))


def draw_basic_index(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    index = data.draw(
        hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True), label="index"
    )
    return Case(lambda t: t[index], (x,), x[index])


def draw_advanced_index(data: st.DataObject, shapes: Shapes) -> Case:
    """Integer arrays (repeats likely), a bool mask, or a slice mixed with an int array."""
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    integer_arrays = hnp.integer_array_indices(
        shape, result_shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)
    )
    options = [integer_arrays, hnp.arrays(np.bool_, shape)]
    if len(shape) >= 2:
        column_lists = st.lists(st.integers(-shape[1], shape[1] - 1), min_size=1, max_size=4)
        options.append(column_lists.map(lambda cols: (slice(None), np.array(cols))))
    index = data.draw(st.one_of(options), label="index")
    return Case(lambda t: t[index], (x,), x[index])


def draw_astype(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    return Case(lambda t: mg.astype(t, np.float32), (x,), x.astype(np.float32))


ADVANCED_FIXED = tuple((s,) for s in FIXED_SHAPES if s != ())

MATMUL_FIXED: tuple[Shapes, ...] = (
    ((2,), (2,)),
    ((3, 2), (2,)),
    ((1, 2), (2,)),
    ((2,), (2, 3)),
    ((3, 2), (2, 2)),
    ((1, 2), (2, 3)),
    ((2, 3, 2), (1, 2, 2)),
)
WHERE_FIXED: tuple[Shapes, ...] = (
    *((s, s, s) for s in FIXED_SHAPES),
    ((3, 2), (1, 2), ()),
    ((1, 2), (3, 1), (2,)),
)
CONCAT_FIXED: tuple[Shapes, ...] = (
    ((2,), (2,)),
    ((3, 2), (3, 2)),
    ((1, 2), (3, 2)),
    ((1, 2), (1, 2), (1, 2)),
)
STACK_FIXED: tuple[Shapes, ...] = tuple((s, s) for s in FIXED_SHAPES)


# ------------------------------------------------------- the second op list
SMALL = st.floats(-1.2, 1.2)  # tan stays away from ±π/2
UNIT_MAGNITUDE = st.floats(-1.5, -0.5) | st.floats(0.5, 1.5)  # prod: no zeros, moderate size
# mod: x/y never within 0.0125 of an integer, where the sawtooth jumps.
MOD_LEFT = st.integers(-30, 30).map(lambda k: k / 10 + 0.05)
MOD_RIGHT = st.sampled_from([1.0, 2.0, 4.0, -1.0, -2.0])
MATRIX_SHAPES = hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=3).map(
    lambda shape: (shape,)
)
AT_LEAST_1D = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3).map(
    lambda shape: (shape,)
)
MATRIX_FIXED: tuple[Shapes, ...] = (((3, 2),), ((1, 2),), ((2, 3, 2),))


def draw_cumsum(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    axes = st.integers(-len(shape), len(shape) - 1) if shape else st.nothing()
    axis = data.draw(st.none() | axes, label="axis")
    return Case(lambda t: mg.cumsum(t, axis), (x,), np.cumsum(x, axis))


def draw_norm(data: st.DataObject, shapes: Shapes) -> Case:
    """Vector norms along one axis (every finite ord and ±inf) or matrix norms on two."""
    (shape,) = shapes
    x = draw_array(data, shape, GRID.filter(lambda v: abs(v) > 0.05), unique=True)
    ndim = len(shape)
    options: list[tuple[Any, Any]] = [(None, None)]
    if ndim >= 1:
        options += [(ord_, a) for ord_ in (None, 1, 2, 3, 0.5, np.inf, -np.inf) for a in (-1, 0)]
    if ndim >= 2:
        options += [(ord_, (0, 1)) for ord_ in (None, "fro", 1, -1, np.inf, -np.inf)]
    ord_, axis = data.draw(st.sampled_from(options), label="ord, axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    return Case(
        lambda t: mg.norm(t, ord_, axis, keepdims),
        (x,),
        np.asarray(np.linalg.norm(x, ord_, axis, keepdims)),
    )


EINSUM_PATTERNS = (
    ("ij,jk->ik", "ab", "bc"),
    ("ij,jk", "ab", "bc"),
    ("ij->ji", "ab"),
    ("ij->", "ab"),
    ("ii->i", "aa"),
    ("ii", "aa"),
    ("i,i->", "a", "a"),
    ("i,j->ij", "a", "b"),
    ("bij,bjk->bik", "dab", "dbc"),
    ("...ij,...jk->...ik", "dab", "bc"),
    ("ij,ij->i", "ab", "ab"),
)


def draw_einsum(data: st.DataObject, shapes: Shapes) -> Case:
    subscripts, *layouts = data.draw(st.sampled_from(EINSUM_PATTERNS), label="pattern")
    sizes = {c: data.draw(st.integers(1, 3), label=f"size {c}") for c in "abcd"}
    arrays = tuple(draw_array(data, tuple(sizes[c] for c in layout), REALS) for layout in layouts)
    return Case(
        lambda *ts: mg.einsum(subscripts, *ts), arrays, np.asarray(np.einsum(subscripts, *arrays))
    )


def draw_split(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    length = shape[axis]
    cuts = sorted(data.draw(st.lists(st.integers(0, length), max_size=3), label="cuts"))
    # Each part scaled differently, so a gradient sent to the wrong part shows.
    return Case(
        lambda t: mg.concatenate(
            [p * (i + 1) for i, p in enumerate(mg.split(t, cuts, axis))], axis
        ),
        (x,),
        np.concatenate([p * (i + 1) for i, p in enumerate(np.split(x, cuts, axis))], axis),
    )


def draw_pad(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    forms = [st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))]
    if shape:  # one (before, after) pair per axis
        pair = st.tuples(st.integers(0, 2), st.integers(0, 2))
        forms.append(st.lists(pair, min_size=len(shape), max_size=len(shape)).map(tuple))
    widths = data.draw(st.one_of(forms), label="pad_width")
    value = data.draw(st.sampled_from([0.0, -1.5]), label="constant")
    return Case(
        lambda t: mg.pad(t, widths, constant_values=value),
        (x,),
        np.pad(x, widths, constant_values=value),
    )


def draw_take_along_axis(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    index_shape = list(shape)
    index_shape[axis] = data.draw(st.integers(1, 4), label="picked")
    indices = data.draw(
        hnp.arrays(np.int64, tuple(index_shape), elements=st.integers(0, shape[axis] - 1)),
        label="indices",
    )
    return Case(
        lambda t: mg.take_along_axis(t, indices, axis),
        (x,),
        np.take_along_axis(x, indices, axis),
    )


def draw_triangle(fun: Any, reference: Any) -> Callable[[st.DataObject, Shapes], Case]:
    def draw(data: st.DataObject, shapes: Shapes) -> Case:
        (shape,) = shapes
        x = draw_array(data, shape, REALS)
        k = data.draw(st.integers(-2, 2), label="k")
        return Case(lambda t: fun(t, k), (x,), reference(x, k))

    return draw


def draw_flip(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    axis = draw_axis(data, len(shape))
    return Case(lambda t: mg.flip(t, axis), (x,), np.flip(x, axis))


def draw_roll(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    shift = data.draw(st.integers(-4, 4), label="shift")
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1), label="axis")
    return Case(lambda t: mg.roll(t, shift, axis), (x,), np.roll(x, shift, axis))


def draw_repeat(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1), label="axis")
    length = x.size if axis is None else shape[axis]
    repeats = data.draw(
        st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=length, max_size=length),
        label="repeats",
    )
    return Case(lambda t: mg.repeat(t, repeats, axis), (x,), np.repeat(x, repeats, axis))


def draw_tile(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    reps = data.draw(
        st.integers(1, 3) | st.lists(st.integers(1, 2), min_size=1, max_size=4).map(tuple),
        label="reps",
    )
    return Case(lambda t: mg.tile(t, reps), (x,), np.tile(x, reps))


def draw_outer(data: st.DataObject, shapes: Shapes) -> Case:
    left_shape, right_shape = shapes
    x = draw_array(data, left_shape, REALS)
    y = draw_array(data, right_shape, REALS)
    return Case(mg.outer, (x, y), np.outer(x, y))


def draw_moveaxis(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    ndim = len(shape)
    count = data.draw(st.integers(1, ndim), label="count")
    source = data.draw(st.permutations(range(ndim)), label="source")[:count]
    destination = data.draw(st.permutations(range(-ndim, 0)), label="destination")[:count]
    return Case(
        lambda t: mg.moveaxis(t, source, destination),
        (x,),
        np.moveaxis(x, source, destination),
    )


def draw_swapaxes(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, REALS)
    a = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis1")
    b = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis2")
    return Case(lambda t: mg.swapaxes(t, a, b), (x,), np.swapaxes(x, a, b))


def draw_sort(data: st.DataObject, shapes: Shapes) -> Case:
    (shape,) = shapes
    x = draw_array(data, shape, GRID, unique=True)  # no ties: sort is smooth there
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1), label="axis")
    return Case(lambda t: mg.sort(t, axis), (x,), np.sort(x, axis))


def draw_mod(data: st.DataObject, shapes: Shapes) -> Case:
    left_shape, right_shape = shapes
    x = draw_array(data, left_shape, MOD_LEFT)
    y = draw_array(data, right_shape, MOD_RIGHT)
    return Case(mg.mod, (x, y), np.mod(x, y))


def draw_gelu(approximate: str) -> Callable[[st.DataObject, Shapes], Case]:
    def reference(x: np.ndarray) -> np.ndarray:
        if approximate == "tanh":
            inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
            return 0.5 * x * (1 + np.tanh(inner))
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))

    def draw(data: st.DataObject, shapes: Shapes) -> Case:
        (shape,) = shapes
        x = draw_array(data, shape, REALS)
        return Case(lambda t: mg.gelu(t, approximate), (x,), np.asarray(reference(x)))

    return draw


OUTER_SHAPES = st.tuples(
    hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3),
    hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3),
)

# ------------------------------------------------------------------ the table
OPS: dict[str, OpSpec] = {
    # Arithmetic (broadcasting pairs).
    "add": binary(mg.add, np.add),
    "sub": binary(mg.sub, np.subtract),
    "mul": binary(mg.mul, np.multiply),
    "div": binary(mg.div, np.divide, right=AWAY_FROM_ZERO),
    # The exponent is differentiated too, so the base stays positive (log x).
    "pow": binary(mg.pow, np.power, left=POSITIVE, right=st.floats(-2.5, 2.5)),
    "maximum": binary(mg.maximum, np.maximum, left=LEFT_GRID, right=RIGHT_GRID),
    "minimum": binary(mg.minimum, np.minimum, left=LEFT_GRID, right=RIGHT_GRID),
    "matmul": OpSpec(draw_matmul, MATMUL_SHAPES, MATMUL_FIXED),
    "where": OpSpec(draw_where, TERNARY_SHAPES, WHERE_FIXED),
    # Elementwise.
    "neg": elementwise(mg.neg, np.negative),
    "exp": elementwise(mg.exp, np.exp),
    "log": elementwise(mg.log, np.log, POSITIVE),
    "log1p": elementwise(mg.log1p, np.log1p, ABOVE_MINUS_ONE),
    "sqrt": elementwise(mg.sqrt, np.sqrt, POSITIVE),
    "square": elementwise(mg.square, np.square),
    "abs": elementwise(mg.abs, np.abs, AWAY_FROM_ZERO),
    "sign": elementwise(mg.sign, np.sign, AWAY_FROM_ZERO),
    "tanh": elementwise(mg.tanh, np.tanh),
    "sigmoid": elementwise(mg.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "relu": elementwise(mg.relu, lambda x: np.maximum(x, 0.0), AWAY_FROM_ZERO),
    "softplus": elementwise(mg.softplus, lambda x: np.log1p(np.exp(x))),
    "sin": elementwise(mg.sin, np.sin),
    "cos": elementwise(mg.cos, np.cos),
    "clip": OpSpec(draw_clip),
    # float64 -> float32: the forward value is rounded to float32 (relative
    # error 6e-8), which eps = 1e-6 would amplify to ~0.1; the function is
    # linear, so a large eps has no truncation error and the rounding shrinks
    # to ~1e-5.
    "astype": OpSpec(draw_astype, gradcheck_options=(("eps", 1e-2),)),
    # Reductions.
    "sum": reduction(mg.sum, np.sum),
    "mean": reduction(mg.mean, np.mean),
    "max": reduction(mg.max, np.max, GRID, unique=True),
    "min": reduction(mg.min, np.min, GRID, unique=True),
    "logsumexp": reduction(mg.logsumexp, numpy_logsumexp),
    "var": spread(mg.var, np.var),
    "std": spread(mg.std, np.std),
    "softmax": along_axis(mg.softmax, numpy_softmax),
    "log_softmax": along_axis(mg.log_softmax, lambda x, axis: np.log(numpy_softmax(x, axis))),
    # Shape.
    "reshape": OpSpec(draw_reshape),
    "transpose": OpSpec(draw_transpose),
    "broadcast_to": OpSpec(draw_broadcast_to),
    "squeeze": OpSpec(draw_squeeze),
    "unsqueeze": OpSpec(draw_unsqueeze),
    "flatten": elementwise(mg.flatten, np.ravel),
    "concatenate": OpSpec(draw_concatenate, concat_shapes(), CONCAT_FIXED),
    "stack": OpSpec(draw_stack, STACK_SHAPES, STACK_FIXED),
    "getitem_basic": OpSpec(draw_basic_index),
    "getitem_advanced": OpSpec(
        draw_advanced_index,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3).map(lambda s: (s,)),
        ADVANCED_FIXED,
    ),
    # The second op list: special functions.
    "expm1": elementwise(mg.expm1, np.expm1),
    "log2": elementwise(mg.log2, np.log2, POSITIVE),
    "log10": elementwise(mg.log10, np.log10, POSITIVE),
    "tan": elementwise(mg.tan, np.tan, SMALL),
    "arctan": elementwise(mg.arctan, np.arctan),
    "sinh": elementwise(mg.sinh, np.sinh),
    "cosh": elementwise(mg.cosh, np.cosh),
    "erf": elementwise(mg.erf, np.vectorize(math.erf, otypes=[np.float64])),
    "gelu": OpSpec(draw_gelu("none")),
    "gelu_tanh": OpSpec(draw_gelu("tanh")),
    "silu": elementwise(mg.silu, lambda x: x / (1 + np.exp(-x))),
    "logaddexp": binary(mg.logaddexp, np.logaddexp),
    "mod": OpSpec(draw_mod, BINARY_SHAPES, FIXED_PAIRS),
    # Reductions and running sums.
    "prod": reduction(mg.prod, np.prod, UNIT_MAGNITUDE),
    "cumsum": OpSpec(draw_cumsum),
    "norm": OpSpec(draw_norm),
    # Linear algebra.
    "einsum": OpSpec(draw_einsum, st.just(((),)), ((),)),
    "outer": OpSpec(draw_outer, OUTER_SHAPES, FIXED_PAIRS),
    # Rearranging.
    "split": OpSpec(draw_split, AT_LEAST_1D, ADVANCED_FIXED),
    "pad": OpSpec(draw_pad),
    "take_along_axis": OpSpec(draw_take_along_axis, AT_LEAST_1D, ADVANCED_FIXED),
    "tril": OpSpec(draw_triangle(mg.tril, np.tril), MATRIX_SHAPES, MATRIX_FIXED),
    "triu": OpSpec(draw_triangle(mg.triu, np.triu), MATRIX_SHAPES, MATRIX_FIXED),
    "flip": OpSpec(draw_flip),
    "roll": OpSpec(draw_roll, AT_LEAST_1D, ADVANCED_FIXED),
    "repeat": OpSpec(draw_repeat, AT_LEAST_1D, ADVANCED_FIXED),
    "tile": OpSpec(draw_tile),
    "moveaxis": OpSpec(draw_moveaxis, AT_LEAST_1D, ADVANCED_FIXED),
    "swapaxes": OpSpec(draw_swapaxes, AT_LEAST_1D, ADVANCED_FIXED),
    "sort": OpSpec(draw_sort, AT_LEAST_1D, ADVANCED_FIXED),
}


def check_case(case: Case, options: dict[str, float]) -> None:
    """Forward value against NumPy, then first and second derivatives against FD."""
    result = case.fun(*(mg.Tensor(a) for a in case.arrays))
    assert result.shape == np.shape(case.expected)
    assert result.dtype == np.asarray(case.expected).dtype
    np.testing.assert_allclose(result.data, case.expected, rtol=1e-10, atol=1e-12)

    # Fixed random weights make every output element count differently.
    weights = np.random.default_rng(0).standard_normal(result.shape)

    def scalar(*tensors: mg.Tensor) -> mg.Tensor:
        return (case.fun(*tensors) * weights).sum()

    assert mg.gradcheck(scalar, *case.arrays, **options) is True
    assert mg.gradgradcheck(scalar, *case.arrays, **options) is True


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_gradients_random_shapes(name: str, data: st.DataObject) -> None:
    spec = OPS[name]
    shapes = data.draw(spec.shapes, label="shapes")
    check_case(spec.draw(data, shapes), dict(spec.gradcheck_options))


FIXED_CASES = [
    pytest.param(name, shapes, id=f"{name}-{'-'.join(str(s) for s in shapes)}")
    for name, spec in sorted(OPS.items())
    for shapes in spec.fixed
]


@pytest.mark.parametrize(("name", "shapes"), FIXED_CASES)
@settings(max_examples=5)
@given(data=st.data())
def test_gradients_fixed_shapes(name: str, shapes: Shapes, data: st.DataObject) -> None:
    spec = OPS[name]
    check_case(spec.draw(data, shapes), dict(spec.gradcheck_options))


CONTRACT_OPS = (
    "add sub mul div pow neg matmul exp log log1p sqrt square abs sign tanh sigmoid relu "
    "softplus sin cos maximum minimum clip where sum mean max min var std logsumexp "
    "softmax log_softmax reshape transpose concatenate stack broadcast_to squeeze "
    "unsqueeze flatten astype "
    # The second list (issue "more ops"): every differentiable one.
    "expm1 log2 log10 tan arctan sinh cosh erf gelu silu logaddexp prod cumsum norm einsum "
    "split pad take_along_axis tril triu flip roll repeat tile outer moveaxis swapaxes sort mod"
)


def test_table_covers_every_differentiable_op_in_the_contract() -> None:
    missing = [name for name in CONTRACT_OPS.split() if name not in OPS]
    assert missing == []
    assert {"getitem_basic", "getitem_advanced"} <= set(OPS)


# ------------------------------------------------- pow with a negative base
@settings(max_examples=30)
@given(
    shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3),
    exponent=st.integers(-3, 4),
    data=st.data(),
)
def test_pow_negative_base_integer_exponent(shape: Shape, exponent: int, data: Any) -> None:
    """x ** n for x < 0 is real and smooth in x when n is an integer (d/dx = n x^(n-1))."""
    x = draw_array(data, shape, st.floats(-3.0, -0.3))

    def fun(t: mg.Tensor) -> mg.Tensor:
        return (mg.pow(t, exponent) * np.linspace(0.5, 1.5, t.size).reshape(t.shape)).sum()

    np.testing.assert_allclose(mg.pow(x, exponent).data, np.power(x, float(exponent)))
    assert mg.gradcheck(fun, x) is True
    assert mg.gradgradcheck(fun, x) is True
    gradient = mg.grad(lambda t: mg.pow(t, exponent).sum())(x)
    np.testing.assert_allclose(gradient.data, exponent * np.power(x, exponent - 1.0))


@pytest.mark.parametrize("exponent", [2.0, 3.0, -1.0, -2.0])
def test_pow_negative_base_array_exponent(exponent: float) -> None:
    """An integral float exponent given as an array behaves the same for the base."""
    x = np.array([-2.0, -0.5, 1.5])
    n = np.full(3, exponent)
    assert mg.gradcheck(lambda t: (mg.pow(t, n) * [1.0, -2.0, 0.5]).sum(), x) is True
    assert mg.gradgradcheck(lambda t: (mg.pow(t, n) * [1.0, -2.0, 0.5]).sum(), x) is True


# ------------------------------------------------- getitem, repeated indices
@pytest.mark.parametrize(
    ("shape", "index", "counts"),
    [
        ((2,), [0, 0, 1, 0], [3.0, 1.0]),
        ((3, 2), np.array([2, 0, 2]), [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]),
        ((3, 2), (slice(None), [1, 1, 1]), [[0.0, 3.0]] * 3),
        ((3, 2), ([0, 0, 2], [1, 1, -1]), [[0.0, 2.0], [0.0, 0.0], [0.0, 1.0]]),
        ((1, 2), (0, [-1, 1]), [[0.0, 2.0]]),
        ((3, 2), np.array([True, False, True]), [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]),
    ],
)
def test_getitem_repeated_indices_accumulate(shape: Shape, index: Any, counts: Any) -> None:
    x = np.arange(math.prod(shape), dtype=np.float64).reshape(shape) + 1.0
    gradient = mg.grad(lambda t: t[index].sum())(x)
    np.testing.assert_array_equal(gradient.data, counts)
    weighted = lambda t: (t[index] * t[index]).sum()  # noqa: E731
    assert mg.gradcheck(weighted, x) is True
    assert mg.gradgradcheck(weighted, x) is True
