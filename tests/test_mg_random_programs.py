"""Random programs, written the way users write them, against finite differences.

The op table (``test_mg_ops_gradients.py``) checks one op at a time, each
with its output weighted by random numbers before summing. That alone hid a
wrong gradient: with a plain ``.sum()`` at the end, the factor of a
broadcast axis was dropped whenever a reduction sat downstream of a
broadcasting ``add``. So here hypothesis draws whole programs:

* two or three inputs whose shapes broadcast against each other;
* a chain of 3–10 steps, each an op of the contract (both op lists, and
  NumPy ufuncs called on tensors) applied to the running
  value and, for binary ops, one of the inputs or the value itself — with
  reductions and shape changes in the middle, so gradients of every kind
  travel through every kind of op;
* a plain head: ``.sum()``, ``.mean()``, ``.max()``, ``.min()``, or a
  reduction over some axes followed by ``.sum()``. No output weighting.

The inputs' values come from a NumPy generator seeded by hypothesis (never
hypothesis' favourite floats such as 0.0 or 1.0, which would sit on kinks),
and every step keeps values in a range where central differences are
accurate. Gradients are taken the user's way, ``loss.backward()`` into
leaves' ``.grad``, and through ``mg.grad``; second derivatives with
``mg.gradgradcheck``. The suite runs on both kernel paths in CI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg

Step = Callable[[mg.Tensor, tuple[mg.Tensor, ...]], mg.Tensor]


@dataclass(frozen=True)
class Program:
    """A chain of steps over the inputs, and the head that makes it a scalar."""

    steps: tuple[tuple[str, Step], ...]
    head: tuple[str, Callable[[mg.Tensor], mg.Tensor]]

    def __call__(self, *inputs: Any) -> mg.Tensor:
        xs = tuple(mg.as_tensor(x) for x in inputs)
        value = xs[0]
        for _, step in self.steps:
            value = step(value, xs)
        return self.head[1](value)

    def __repr__(self) -> str:
        chain = " -> ".join(name for name, _ in self.steps)
        return f"Program(x0 -> {chain} -> {self.head[0]})"


def _ramp(v: mg.Tensor) -> np.ndarray:
    return np.linspace(0.0, 1.0, v.size).reshape(v.shape)


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


# Unary steps that keep the shape and keep values moderate. Kinked ops (abs, relu,
# sign, clip) are in: with continuous random inputs no value sits on a kink.
UNARY: dict[str, Step] = {
    "tanh": lambda v, xs: mg.tanh(v),
    "sigmoid": lambda v, xs: mg.sigmoid(v),
    "sin": lambda v, xs: mg.sin(v),
    "cos": lambda v, xs: mg.cos(v),
    "softplus": lambda v, xs: mg.softplus(v),
    "square": lambda v, xs: mg.square(mg.tanh(v)) * 2,
    "exp": lambda v, xs: mg.exp(mg.tanh(v)),
    "log": lambda v, xs: mg.log(v * v + 0.5),
    "log1p": lambda v, xs: mg.log1p(mg.sigmoid(v)),
    "sqrt": lambda v, xs: mg.sqrt(v * v + 0.25),
    "abs": lambda v, xs: mg.abs(v),
    "relu": lambda v, xs: mg.relu(v) + 0.1 * v,
    "sign": lambda v, xs: mg.sign(v) * 0.1 + v,
    "neg": lambda v, xs: -v,
    "clip": lambda v, xs: mg.clip(v, -1.5, 1.5),
    "pow_const": lambda v, xs: (mg.sigmoid(v) + 0.5) ** 1.5,
    "scalar_arith": lambda v, xs: 2.0 - v / 3.0,
    # The ops of the second op list, each kept in a smooth range.
    "expm1": lambda v, xs: mg.expm1(mg.tanh(v)),
    "log2": lambda v, xs: mg.log2(v * v + 0.5),
    "log10": lambda v, xs: mg.log10(mg.sigmoid(v) + 0.5),
    "tan": lambda v, xs: mg.tan(mg.tanh(v)),
    "arctan": lambda v, xs: mg.arctan(v),
    "sinh": lambda v, xs: mg.sinh(mg.tanh(v)),
    "cosh": lambda v, xs: mg.cosh(mg.tanh(v)),
    "erf": lambda v, xs: mg.erf(v),
    "gelu": lambda v, xs: mg.gelu(v),
    "gelu_tanh": lambda v, xs: mg.gelu(v, approximate="tanh"),
    "silu": lambda v, xs: mg.silu(v),
    # A jump only where v is a multiple of 7: random values never come within FD's step of one.
    "mod": lambda v, xs: v % 7.0,
    "numpy_ufunc": lambda v, xs: np.exp(np.tanh(v)) + np.ones(v.shape),
    "flip": lambda v, xs: mg.flip(v),
    "roll": lambda v, xs: mg.roll(v, 1),
    # Broadcast copies tie exactly, where sort has no derivative; a ramp separates them.
    "sort": lambda v, xs: mg.sort(v + _ramp(v), axis=None).reshape(v.shape),
    "cumsum": lambda v, xs: mg.cumsum(v, axis=-1) if v.ndim else v,
    "norm_rows": lambda v, xs: v / (mg.norm(v, axis=-1, keepdims=True) + 1.0) if v.ndim else v,
}


def _binary(name: str) -> Callable[[int], Step]:
    """A binary step against partner ``p``: an input (by position) or the value (-1)."""

    def make(p: int) -> Step:
        def step(v: mg.Tensor, xs: tuple[mg.Tensor, ...]) -> mg.Tensor:
            other = v if p < 0 else xs[p]
            if name == "add":
                return v + other
            if name == "sub":
                return other - v
            if name == "mul":
                return v * other
            if name == "div":
                return v / (other * other + 1.0)
            if name == "rdiv":
                return other / (mg.sigmoid(v) + 0.5)
            if name == "maximum":
                return mg.maximum(v, other)
            if name == "minimum":
                return mg.minimum(other, v)
            if name == "pow":
                return (mg.sigmoid(v) + 0.5) ** mg.tanh(other)
            if name == "where":
                return mg.where(other > 0, v, other * 0.5)
            if name == "logaddexp":
                return mg.logaddexp(v, other)
            if name == "numpy_add":
                return np.add(v, other)
            raise AssertionError(name)

        return step

    return make


# add and sub pass their gradient on unchanged (the pattern of a bias), so twice as likely.
BINARY = (
    "add",
    "add",
    "sub",
    "sub",
    "mul",
    "div",
    "rdiv",
    "maximum",
    "minimum",
    "pow",
    "where",
    "logaddexp",
    "numpy_add",
)
REDUCTIONS = ("sum", "mean", "max", "min", "logsumexp", "var", "std", "prod", "norm")


def _reduce(name: str, axes: tuple[int, ...], keepdims: bool) -> Step:
    def step(v: mg.Tensor, xs: tuple[mg.Tensor, ...]) -> mg.Tensor:
        if name == "std":
            # Copies made by broadcasting have zero spread, where d sqrt is infinite
            # (NaN after the chain rule, as in PyTorch); a fixed ramp keeps it away.
            v = v + np.linspace(0.0, 1.0, v.size).reshape(v.shape)
        if name == "prod":
            # Kept near 1, so that products of up to 27 factors stay moderate.
            return mg.prod(mg.tanh(v) * 0.5 + 1.0, axis=axes, keepdims=keepdims)
        if name == "norm":
            return (
                mg.norm(v, axis=axes if len(axes) == 1 else None, keepdims=keepdims)
                if (len(axes) == 1 or len(axes) == v.ndim)
                else mg.sum(v, axis=axes, keepdims=keepdims)
            )
        return getattr(mg, name)(v, axis=axes, keepdims=keepdims)

    return step


@st.composite
def programs(draw: st.DrawFn) -> tuple[Program, tuple[np.ndarray, ...]]:
    """A random program and float64 inputs for it."""
    count = draw(st.integers(2, 3), label="inputs")
    shapes = draw(
        hnp.mutually_broadcastable_shapes(
            num_shapes=count, min_dims=0, max_dims=3, min_side=1, max_side=3
        ),
        label="shapes",
    ).input_shapes
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    inputs = tuple(rng.uniform(-1.5, 1.5, size=shape) for shape in shapes)

    steps: list[tuple[str, Step]] = []
    value = np.zeros(shapes[0])  # only its shape is followed while drawing
    for _ in range(draw(st.integers(3, 10), label="length")):
        # Binary ops are where broadcasting happens: drawn most often.
        kinds = ["binary", "binary", "binary", "unary", "unary", "reduce", "softmax", "shape"]
        kind = draw(st.sampled_from(kinds), label="kind")
        if kind == "binary":
            partners = [p for p, x in enumerate(inputs) if _broadcasts(value.shape, x.shape)]
            p = draw(st.sampled_from([*partners, -1]), label="partner")
            name = draw(st.sampled_from(BINARY), label="binary")
            partner_shape = value.shape if p < 0 else inputs[p].shape
            steps.append((f"{name}(x{p})" if p >= 0 else f"{name}(v)", _binary(name)(p)))
            value = np.zeros(np.broadcast_shapes(value.shape, partner_shape))
        elif kind == "reduce" and value.ndim > 0:
            name = draw(st.sampled_from(REDUCTIONS), label="reduction")
            axes = draw(hnp.valid_tuple_axes(value.ndim, min_size=1), label="axes")
            keepdims = draw(st.booleans(), label="keepdims")
            count_reduced = int(np.prod([value.shape[a] for a in axes]))
            if name == "std" and count_reduced < 2:
                name = "var"  # d sqrt at a zero variance is infinite
            steps.append((f"{name}{axes}{'k' if keepdims else ''}", _reduce(name, axes, keepdims)))
            value = np.zeros(np.sum(value, axis=axes, keepdims=keepdims).shape)
        elif kind == "softmax" and value.ndim > 0:
            axis = draw(st.integers(-value.ndim, value.ndim - 1), label="axis")
            log = draw(st.booleans(), label="log")
            fn = mg.log_softmax if log else mg.softmax
            steps.append((f"{fn.__name__}({axis})", lambda v, xs, fn=fn, axis=axis: fn(v, axis)))
        elif kind == "shape":
            name, step, value = _draw_shape_step(draw, value)
            steps.append((name, step))
        else:
            name = draw(st.sampled_from(sorted(UNARY)), label="unary")
            steps.append((name, UNARY[name]))

    head_name = draw(st.sampled_from(["sum", "mean", "max", "min", "partial"]), label="head")
    if head_name == "partial" and value.ndim > 0:
        name = draw(st.sampled_from(["sum", "mean", "max", "logsumexp"]), label="partial")
        axes = draw(hnp.valid_tuple_axes(value.ndim, min_size=1), label="head axes")
        head: tuple[str, Callable[[mg.Tensor], mg.Tensor]] = (
            f"{name}{axes}.sum()",
            lambda v: getattr(mg, name)(v, axis=axes).sum(),
        )
    elif head_name == "partial":
        head = ("sum", lambda v: v.sum())
    else:
        head = (head_name, lambda v: getattr(v, head_name)())
    return Program(tuple(steps), head), inputs


def _draw_shape_step(draw: st.DrawFn, value: np.ndarray) -> tuple[str, Step, np.ndarray]:
    """A step that moves elements around: reshape, transpose, index, broadcast, join."""
    options = ["flatten", "unsqueeze", "broadcast", "concatenate", "stack", "pad", "tile"]
    if value.ndim >= 1:
        options += ["slice", "gather", "transpose", "matmul", "split", "repeat", "take_along"]
        options += ["outer"]
    if value.ndim >= 2:
        options += ["matmul_self", "einsum", "tril", "swapaxes", "moveaxis"]
    name = draw(st.sampled_from(options), label="shape op")
    if name == "flatten":
        return name, lambda v, xs: v.reshape(-1), value.reshape(-1)
    if name == "unsqueeze":
        return name, lambda v, xs: mg.unsqueeze(v, 0), value[None]
    if name == "broadcast":
        shape = (2, *value.shape)
        return name, lambda v, xs: mg.broadcast_to(v, shape), np.zeros(shape)
    if name == "concatenate":
        if value.ndim == 0:
            return name, lambda v, xs: mg.concatenate([v.reshape(1), v.reshape(1) * 2]), np.zeros(2)
        return (
            name,
            lambda v, xs: mg.concatenate([v, mg.tanh(v)], axis=-1),
            np.concatenate([value, value], axis=-1),
        )
    if name == "stack":
        return name, lambda v, xs: mg.stack([v, v * v], axis=0), np.stack([value, value])
    if name == "pad":
        return name, lambda v, xs: mg.pad(v, 1, constant_values=0.5), np.pad(value, 1)
    if name == "tile":
        return name, lambda v, xs: mg.tile(v, 2), np.tile(value, 2)
    if name == "split":
        # Both halves used, differently: the gradient must reach each from its own part.
        def halves(v: mg.Tensor, xs: tuple[mg.Tensor, ...]) -> mg.Tensor:
            first, second = mg.split(v, [1], axis=-1)
            return mg.concatenate([first * 2.0, mg.tanh(second)], axis=-1)

        return name, halves, value
    if name == "repeat":
        return name, lambda v, xs: mg.repeat(v, 2, axis=-1), np.repeat(value, 2, axis=-1)
    if name == "take_along":
        picks = np.zeros((*value.shape[:-1], 3), dtype=np.int64)
        picks[..., 1] = value.shape[-1] - 1  # index 0 twice: gradients must accumulate
        return (
            name,
            lambda v, xs: mg.take_along_axis(v, picks, axis=-1),
            np.take_along_axis(value, picks, axis=-1),
        )
    if name == "outer":
        return name, lambda v, xs: mg.outer(v, mg.sin(v)), np.outer(value, value)
    if name == "einsum":
        return (
            name,
            lambda v, xs: mg.einsum("...ij,...kj->...ik", v, mg.tanh(v)),
            np.einsum("...ij,...kj->...ik", value, value),
        )
    if name == "tril":
        return name, lambda v, xs: mg.tril(v) + mg.triu(v, 1) * 0.5, value
    if name == "swapaxes":
        return name, lambda v, xs: mg.swapaxes(v, 0, -1), np.swapaxes(value, 0, -1)
    if name == "moveaxis":
        return name, lambda v, xs: mg.moveaxis(v, 0, -1), np.moveaxis(value, 0, -1)
    if name == "slice":
        return name, lambda v, xs: v[..., :1], value[..., :1]
    if name == "gather":
        index = [0, value.shape[0] - 1, 0]  # a repeated index: gradients must accumulate
        return name, lambda v, xs: v[index], value[index]
    if name == "transpose":
        axes = tuple(draw(st.permutations(range(value.ndim)), label="permutation"))
        return name, lambda v, xs: v.transpose(axes), np.transpose(value, axes)
    if name == "matmul":
        weights = np.linspace(-1.0, 1.0, value.shape[-1] * 2).reshape(value.shape[-1], 2)
        return name, lambda v, xs: v @ weights, value @ weights
    # v @ vᵀ over the last two axes: both operands of matmul carry gradient.
    swap = (*range(value.ndim - 2), value.ndim - 1, value.ndim - 2)
    return (
        name,
        lambda v, xs: v @ v.transpose(swap),
        value @ np.transpose(value, swap),
    )


def _backward_gradients(program: Program, inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Gradients the user's way: leaves, a loss, ``loss.backward()``, ``.grad``."""
    leaves = [mg.Tensor(x.copy(), requires_grad=True) for x in inputs]
    loss = program(*leaves)
    loss.backward()
    return [
        np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        for t, x in zip(leaves, inputs, strict=False)
    ]


@settings(max_examples=400)
@given(programs())
def test_random_programs_first_order(drawn: tuple[Program, tuple[np.ndarray, ...]]) -> None:
    program, inputs = drawn
    numerical = mg.numerical_grad(program, *inputs)
    numerical = numerical if isinstance(numerical, tuple) else (numerical,)
    for position, (analytic, expected) in enumerate(
        zip(_backward_gradients(program, inputs), numerical, strict=True)
    ):
        np.testing.assert_allclose(
            analytic, expected, rtol=1e-3, atol=1e-5, err_msg=f"{program}, input {position}"
        )
    # The transforms' route (no .grad involved) gives the same answer.
    assert mg.gradcheck(program, *inputs)


@settings(max_examples=100)
@given(programs())
def test_random_programs_second_order(drawn: tuple[Program, tuple[np.ndarray, ...]]) -> None:
    program, inputs = drawn
    assert mg.gradgradcheck(program, *inputs)


def _directions(inputs: tuple[np.ndarray, ...], seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(x.shape) for x in inputs)


@settings(max_examples=150)
@given(programs())
def test_random_programs_forward_mode(drawn: tuple[Program, tuple[np.ndarray, ...]]) -> None:
    """jvp through the whole program: against central differences along the same
    direction, and against the reverse-mode gradient by transposition (⟨∇f, t⟩)."""
    program, inputs = drawn
    tangents = _directions(inputs, 0)
    value, slope = mg.jvp(program, inputs, tangents)
    eps = 1e-6
    up = program(*(x + eps * t for x, t in zip(inputs, tangents, strict=True))).item()
    down = program(*(x - eps * t for x, t in zip(inputs, tangents, strict=True))).item()
    np.testing.assert_allclose(
        slope.item(), (up - down) / (2 * eps), rtol=1e-3, atol=1e-5, err_msg=str(program)
    )
    np.testing.assert_allclose(value.item(), program(*inputs).item(), rtol=1e-15)
    gradients = mg.grad(program, argnums=tuple(range(len(inputs))))(*inputs)
    by_reverse = sum(float(np.sum(g.data * t)) for g, t in zip(gradients, tangents, strict=True))
    np.testing.assert_allclose(
        slope.item(), by_reverse, rtol=1e-9, atol=1e-12, err_msg=str(program)
    )


@settings(max_examples=60)
@given(programs())
def test_random_programs_forward_over_reverse(
    drawn: tuple[Program, tuple[np.ndarray, ...]],
) -> None:
    """Hessian-vector products (jvp of grad) against central differences of the gradient,
    and symmetric: ⟨s, H t⟩ = ⟨t, H s⟩."""
    program, inputs = drawn
    argnums = tuple(range(len(inputs)))
    gradient = mg.grad(program, argnums=argnums)
    t, s = _directions(inputs, 1), _directions(inputs, 2)
    _, h_t = mg.jvp(gradient, inputs, t)
    _, h_s = mg.jvp(gradient, inputs, s)
    eps = 1e-6
    up = gradient(*(x + eps * d for x, d in zip(inputs, t, strict=True)))
    down = gradient(*(x - eps * d for x, d in zip(inputs, t, strict=True)))
    for position, (analytic, g_up, g_down) in enumerate(zip(h_t, up, down, strict=True)):
        np.testing.assert_allclose(
            analytic.data,
            (g_up.data - g_down.data) / (2 * eps),
            rtol=1e-3,
            atol=1e-5,
            err_msg=f"{program}, input {position}",
        )
    s_h_t = sum(float(np.sum(a * b.data)) for a, b in zip(s, h_t, strict=True))
    t_h_s = sum(float(np.sum(a * b.data)) for a, b in zip(t, h_s, strict=True))
    np.testing.assert_allclose(s_h_t, t_h_s, rtol=1e-8, atol=1e-10, err_msg=str(program))
