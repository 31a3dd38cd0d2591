"""Primitives that the compiled plan runs through their eager implementation.

Each entry takes the input arrays and the node (for its parameters and its
output's shape and dtype) and returns the output array, computing exactly
what the primitive of the same name in :mod:`minigrad.ops` computes. A
primitive missing here (one added after this table was written) is not
guessed at: the whole function then runs eagerly for that signature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import kernels
from minigrad.jit.ir import Node

__all__ = ["EAGER", "run_eager"]

EagerFn = Callable[..., np.ndarray]


def _sum(node: Node, x: np.ndarray) -> np.ndarray:
    axes, keepdims = node.params["axes"], node.params["keepdims"]
    if len(axes) == x.ndim and not keepdims and x.dtype.kind == "f":
        return np.asarray(kernels.sum_all(x))
    return np.asarray(np.sum(x, axis=axes, keepdims=keepdims))


def _clip(node: Node, x: np.ndarray) -> np.ndarray:
    value = np.clip(x, node.params["lo"], node.params["hi"])
    return value.astype(node.out.dtype, copy=False)


def _broadcast_to(node: Node, x: np.ndarray) -> np.ndarray:
    value = np.broadcast_to(x, node.out.shape)
    return np.ascontiguousarray(value) if x.size > 1 else value


def _index_scatter(node: Node, g: np.ndarray) -> np.ndarray:
    index = node.params["index"]
    out = np.zeros(node.out.shape, dtype=g.dtype)
    from minigrad.ops.shape import is_basic_index

    if is_basic_index(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


EAGER: dict[str, Callable[..., np.ndarray]] = {
    "add": lambda n, x, y: x + y,
    "sub": lambda n, x, y: x - y,
    "mul": lambda n, x, y: x * y,
    "div": lambda n, x, y: x / y,
    "pow": lambda n, x, y: np.power(x, y),
    "neg": lambda n, x: -x,
    "square": lambda n, x: x * x,
    "exp": lambda n, x: kernels.exp(x),
    "log": lambda n, x: kernels.log(x),
    "log1p": lambda n, x: kernels.log1p(x),
    "sqrt": lambda n, x: kernels.sqrt(x),
    "abs": lambda n, x: kernels.absolute(x),
    "sign": lambda n, x: kernels.sign(x),
    "tanh": lambda n, x: kernels.tanh(x),
    "sigmoid": lambda n, x: kernels.sigmoid(x),
    "relu": lambda n, x: kernels.relu(x),
    "softplus": lambda n, x: kernels.softplus(x),
    "sin": lambda n, x: kernels.sin(x),
    "cos": lambda n, x: kernels.cos(x),
    "maximum": lambda n, x, y: np.maximum(x, y),
    "minimum": lambda n, x, y: np.minimum(x, y),
    "clip": _clip,
    "where": lambda n, x, y, condition=None: kernels.where(
        n.params["condition"] if condition is None else condition, x, y
    ),
    "astype": lambda n, x: x.astype(n.out.dtype),
    "cast": lambda n, x: x.astype(n.out.dtype),
    "compare": lambda n, x, y: np.asarray(n.params["ufunc"](x, y)),
    "copy": lambda n, x: np.array(x),
    "sum": _sum,
    "max": lambda n, x: np.asarray(np.max(x, axis=n.params["axes"], keepdims=n.params["keepdims"])),
    "min": lambda n, x: np.asarray(np.min(x, axis=n.params["axes"], keepdims=n.params["keepdims"])),
    "logsumexp": lambda n, x: np.asarray(
        kernels.logsumexp(x, n.params["axes"], n.params["keepdims"])
    ),
    "softmax": lambda n, x: kernels.softmax(x, n.params["axes"]),
    "log_softmax": lambda n, x: kernels.log_softmax(x, n.params["axes"]),
    "reshape": lambda n, x: x.reshape(n.out.shape),
    "broadcast_to": _broadcast_to,
    "transpose": lambda n, x: np.transpose(x, n.params["axes"]),
    "getitem": lambda n, x: np.asarray(x[n.params["index"]]),
    "index_scatter": _index_scatter,
    "concatenate": lambda n, *parts: np.concatenate(parts, axis=n.params["axis"]),
    "matmul": lambda n, x, y: np.matmul(x, y),
}
"""Primitive name -> ``fn(node, *input_arrays, **array_params) -> output array``."""


def run_eager(node: Node, values: list[Any]) -> np.ndarray:
    """Compute ``node`` from its input arrays with the primitive's eager implementation."""
    operands = values[: len(values) - len(node.param_vars)]
    extra = dict(zip(node.param_vars, values[len(operands) :], strict=True))
    out = EAGER[node.op](node, *operands, **extra)
    return out if isinstance(out, np.ndarray) else np.asarray(out)
