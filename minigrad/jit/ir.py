"""The graph IR that :func:`minigrad.jit` traces a function into.

A :class:`Graph` is a flat, typed list of equations, in the order the
function ran them (so every value is defined before it is used)::

    graph(%0: float32[32, 2048]) {
      %1: float32[32, 2048] = exp(%0)
      %2: float32[32, 2048] = mul(%1, %0)
      %3: float32[32] = sum(%2) axes=(1,) keepdims=False
      return (%3)
    }

* a :class:`Var` is a value: its number, shape and dtype (never its data);
* a :class:`Node` is one primitive: its name (the same name the derivative
  table uses), its operands and its parameters. An operand is a ``Var`` or
  a :class:`Const` (an array the function closed over, captured by
  reference, so an in-place update of it is seen by later calls);
* a parameter that was an array computed by the function itself (the
  condition of ``where``, say) is a ``Var`` too, listed in ``Node.inputs``
  after the tensor operands and named in ``Node.param_vars``.

The backward pass needs no special treatment: traced through ``grad`` or
``backward``, its rules run minigrad primitives, which become more nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Const", "Graph", "Node", "Var"]


@dataclass(frozen=True, eq=False)
class Var:
    """A value of the graph: ``%index``, with the shape and dtype it always has."""

    index: int
    shape: tuple[int, ...]
    dtype: np.dtype

    def __repr__(self) -> str:
        return f"%{self.index}"

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    def type_name(self) -> str:
        """``float32[32, 2048]``."""
        return f"{self.dtype}[{', '.join(map(str, self.shape))}]"


@dataclass(frozen=True, eq=False)
class Const:
    """An array the traced function used without computing it (captured by reference)."""

    value: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the array."""
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the array."""
        return self.value.dtype

    def __repr__(self) -> str:
        if self.value.size == 1:
            return f"{self.value.reshape(()).item()!r}:{self.value.dtype}"
        return f"const<{self.value.dtype}[{', '.join(map(str, self.value.shape))}]>"


Operand = Var | Const


@dataclass(eq=False)
class Node:
    """``out = op(*inputs, **params)``; ``param_vars`` names params that are inputs."""

    op: str
    inputs: tuple[Operand, ...]
    params: dict[str, Any]
    out: Var
    param_vars: tuple[str, ...] = ()

    @property
    def operands(self) -> tuple[Operand, ...]:
        """The tensor operands (without the array parameters)."""
        return self.inputs[: len(self.inputs) - len(self.param_vars)]

    def call_params(self, values: list[Any]) -> dict[str, Any]:
        """The parameters, with those that are graph values taken from ``values``."""
        if not self.param_vars:
            return self.params
        params = dict(self.params)
        tail = values[len(values) - len(self.param_vars) :]
        params.update(zip(self.param_vars, tail, strict=True))
        return params

    def __repr__(self) -> str:
        operands = ", ".join(map(repr, self.operands))
        shown = {k: v for k, v in self.params.items() if k not in self.param_vars}
        arrays = self.inputs[len(self.operands) :]
        shown.update(dict(zip(self.param_vars, arrays, strict=True)))
        extras = "".join(f" {k}={_short(v)}" for k, v in shown.items())
        return f"{self.out!r}: {self.out.type_name()} = {self.op}({operands}){extras}"


def _short(value: Any) -> str:
    if isinstance(value, np.ufunc):
        return f"np.{value.__name__}"
    if isinstance(value, np.ndarray):
        return f"<array {value.dtype}{list(value.shape)}>"
    return repr(value)


@dataclass(eq=False)
class Graph:
    """A traced function: its inputs, its equations in order, its outputs."""

    inputs: list[Var] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[Operand] = field(default_factory=list)
    count: int = 0

    def new_var(self, shape: tuple[int, ...], dtype: np.dtype) -> Var:
        """A fresh value of this graph."""
        var = Var(self.count, tuple(shape), np.dtype(dtype))
        self.count += 1
        return var

    def __str__(self) -> str:
        head = ", ".join(f"{v!r}: {v.type_name()}" for v in self.inputs)
        body = "".join(f"  {node!r}\n" for node in self.nodes)
        outs = ", ".join(map(repr, self.outputs))
        return f"graph({head}) {{\n{body}  return ({outs})\n}}"
