"""A traced function, planned and compiled: what a call to ``mg.jit(f)`` runs after the first.

The compiled function holds the plan (fused kernels and eager steps, in
order) and fills a list of arrays, one slot per graph value: the inputs
first, then each step's results. Its outputs are rebuilt in the shape the
function returned them (tuples, lists, dicts, Tensors or arrays).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad.jit import codegen, fusion
from minigrad.jit.eager import EAGER, run_eager
from minigrad.jit.ir import Const, Graph, Var
from minigrad.jit.trace import Untraceable
from minigrad.tensor import Tensor

__all__ = ["CompiledFunction"]

Runner = Callable[[list[Any]], None]


def _eager_runner(step: fusion.EagerStep) -> Runner:
    node = step.node
    fetch = [(v.index, None) if isinstance(v, Var) else (-1, _constant(v)) for v in node.inputs]
    out = node.out.index

    def run(env: list[Any]) -> None:
        env[out] = run_eager(node, [env[i] if i >= 0 else c for i, c in fetch])

    return run


def _constant(const: Const) -> np.ndarray:
    # One-element constants are read at trace time (as the fused loops do); arrays are
    # read at every call, so an in-place update of one is seen.
    return const.value.copy() if const.value.size == 1 else const.value


def _flat(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1)


def _group_runner(group: fusion.Group, kernel: codegen.Kernel) -> Runner:
    function = codegen.compile_kernel(kernel)
    reads = [(s.index, None) if isinstance(s, Var) else (-1, s.value) for s, _ in kernel.reads]
    stores = [(v.index, v.shape, v.dtype) for v in kernel.stores]
    sums = [(v.index, v.shape, v.dtype) for v, _ in kernel.sums]
    sizes = (group.outer, group.inner)
    scalars = kernel.scalars

    def run(env: list[Any]) -> None:
        args = [_flat(env[i] if i >= 0 else c) for i, c in reads]
        outs = []
        for index, shape, dtype in stores + sums:
            array = np.empty(shape, dtype)
            env[index] = array
            outs.append(array.reshape(-1))
        function(*sizes, scalars, *args, *outs)

    return run


class CompiledFunction:
    """The plan of one traced signature, ready to run on new arrays of that signature."""

    def __init__(self, graph: Graph, template: Any) -> None:
        for node in graph.nodes:
            if node.op not in EAGER:
                raise Untraceable(f"primitive {node.op!r} has no entry in the jit's eager table")
        self.graph = graph
        self.template = template
        self.steps = fusion.plan(graph)
        self.kernels = {
            id(s): codegen.generate(s) for s in self.steps if isinstance(s, fusion.Group)
        }
        self._runners: list[Runner] | None = None
        self._inputs = [v.index for v in graph.inputs]

    def compile(self) -> None:
        """Compile (or load from the disk cache) every kernel."""
        self._runners = [
            _group_runner(s, self.kernels[id(s)])
            if isinstance(s, fusion.Group)
            else _eager_runner(s)
            for s in self.steps
        ]

    def __call__(self, arrays: list[np.ndarray]) -> Any:
        if self._runners is None:
            self.compile()
        env: list[Any] = [None] * self.graph.count
        for index, array in zip(self._inputs, arrays, strict=True):
            env[index] = array
        with np.errstate(all="ignore"):
            for run in self._runners:  # type: ignore[union-attr]
                run(env)
        return _rebuild(self.template, env)

    def source(self) -> str:
        """The graph, the plan and every generated kernel, as text."""
        parts = [str(self.graph), "", fusion.describe(self.steps)]
        for step in self.steps:
            if isinstance(step, fusion.Group):
                parts += ["", self.kernels[id(step)].source.rstrip()]
        return "\n".join(parts) + "\n"


def _rebuild(template: Any, env: list[Any]) -> Any:
    kind = template[0]
    if kind in ("tensor", "array"):
        value = template[1]
        # A constant output (zeros for an input the result does not depend on, say) is
        # copied: the caller may change it in place, and the next call must not see that.
        array = env[value.index] if isinstance(value, Var) else value.value.copy()
        return Tensor._wrap(array) if kind == "tensor" else array
    if kind == "static":
        return template[1]
    if kind == "dict":
        return {k: _rebuild(v, env) for k, v in template[1].items()}
    items = [_rebuild(t, env) for t in template[1]]
    return items if kind == "list" else tuple(items)
