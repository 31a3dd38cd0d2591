"""Tracing: run the function once, watching every primitive, and write down the graph.

The trace is concrete: the function runs eagerly on the real arguments (so
the first call's results are the eager results), and every primitive
reports itself through :mod:`minigrad.tracing`. The tracer gives each
array it sees a :class:`~minigrad.ir.Var`; an array it has never seen is a
constant the function closed over. Arrays computed by the function are
marked (:class:`~minigrad.tracing.TracedArray`), so one that reaches a
primitive by a path the tracer could not see — raw NumPy on ``.data`` — is
recognised, and the function is not compiled (:class:`Untraceable`) rather
than compiled wrongly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import tracing
from minigrad.inplace import memory_owner
from minigrad.jit.ir import Const, Graph, Node, Operand, Var
from minigrad.tensor import Tensor

__all__ = ["Trace", "Untraceable", "trace"]


class Untraceable(Exception):
    """The function did something the tracer cannot replay; it runs eagerly instead."""


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.strides == b.strides
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


class Trace:
    """Records the primitives one call of a function runs into a :class:`Graph`."""

    def __init__(self) -> None:
        self.graph = Graph()
        # id(array) -> (its Var, the array, kept alive so that its id stays unique).
        self._known: dict[int, tuple[Var, np.ndarray]] = {}
        # id(memory owner) -> the known arrays in that memory (views of it).
        self._by_owner: dict[int, list[tuple[Var, np.ndarray]]] = {}
        self._owners: list[np.ndarray] = []
        # The caller's own arrays: if the function also closes over one, that is a constant.
        self._originals: set[int] = set()
        # id(memory owner) -> owner, for every array computed from traced values.
        self._tainted: dict[int, np.ndarray] = {}

    def taint(self, array: np.ndarray) -> None:
        """Note that ``array``'s memory holds values computed from traced inputs."""
        owner = memory_owner(array)
        self._tainted[id(owner)] = owner

    def _remember(self, var: Var, array: np.ndarray) -> None:
        self._known[id(array)] = (var, array)
        owner = memory_owner(array)
        self._owners.append(owner)
        self._by_owner.setdefault(id(owner), []).append((var, array))

    # ----------------------------------------------------------------- values
    def add_input(self, array: np.ndarray) -> np.ndarray:
        """A new graph input for ``array``; returns the marked view to compute with."""
        self._originals.add(id(array))
        view = array.view(tracing.TracedArray)
        var = self.graph.new_var(view.shape, view.dtype)
        self.graph.inputs.append(var)
        self._remember(var, view)
        return view

    def lookup(self, array: np.ndarray) -> Var | None:
        """The Var holding exactly ``array`` (the array itself or a same-shaped view)."""
        found = self._known.get(id(array))
        if found is not None:
            return found[0]
        if id(array) in self._originals:
            return None
        # NumPy views point at the memory's owner, not at the view they were made from.
        for var, known in self._by_owner.get(id(memory_owner(array)), ()):
            if _same_view(known, array):
                return var
        return None

    def derived(self, array: np.ndarray) -> bool:
        """Whether ``array`` was computed from traced values by a path the trace missed."""
        if tracing.is_traced(array):
            return True
        if id(array) in self._originals:
            return False
        owner = id(memory_owner(array))
        return owner in self._by_owner or owner in self._tainted

    def operand(self, value: Any, what: str) -> Operand:
        """A Var for a traced array, a Const for anything else; refuses hidden derivations."""
        array = value.data if isinstance(value, Tensor) else value
        if not isinstance(array, np.ndarray):
            array = np.asarray(array)
        var = self.lookup(array)
        if var is not None:
            return var
        if self.derived(array):
            raise Untraceable(
                f"{what} was computed from traced values outside minigrad's primitives "
                "(raw NumPy on .data?)"
            )
        return Const(array)

    # ------------------------------------------------------------- the hook
    def primitive(self, op: str, data: np.ndarray, inputs: tuple[Any, ...], params: dict) -> Any:
        """Record ``op`` (called by :func:`minigrad.tensor.record` and ``derived``)."""
        operands = [self.operand(t, f"input {k} of {op!r}") for k, t in enumerate(inputs)]
        param_vars: list[str] = []
        for key, value in params.items():
            if isinstance(value, np.ndarray):
                var = self.lookup(value)
                if op == "where" and key == "condition":
                    # Always an operand (a Var or a Const), so the fused loop can read it.
                    param_vars.append(key)
                    operands.append(self.operand(value, "the condition of 'where'"))
                    continue
                if var is not None or self.derived(value):
                    raise Untraceable(f"parameter {key!r} of {op!r} depends on traced values")
            elif isinstance(value, tuple) and any(
                isinstance(part, np.ndarray) and self.derived(part) for part in value
            ):
                raise Untraceable(f"parameter {key!r} of {op!r} depends on traced values")
        out = data.view(tracing.TracedArray)
        var = self.graph.new_var(out.shape, out.dtype)
        static = {k: v for k, v in params.items() if k not in param_vars}
        self.graph.nodes.append(Node(op, tuple(operands), static, var, tuple(param_vars)))
        self._remember(var, out)
        return out

    def grad_written(self, leaf: Any) -> None:
        """``backward()`` writes ``leaf.grad``: fine for a leaf made from a traced value
        inside the function (its gradient is read from the graph), a side effect the
        compiled function could not repeat for any other (a weight it closes over)."""
        if self.lookup(leaf.data) is None:
            raise Untraceable(
                "backward() accumulates into .grad of a tensor the function closes over"
            )

    def mutation(self) -> None:
        """An in-place change during the trace: the graph cannot express it."""
        raise Untraceable("the function changes a tensor in place")


def trace(fun: Callable[..., Any], args: list[Any], trace_args: list[int]) -> tuple[Trace, Any]:
    """Call ``fun(*args)`` with the arrays at ``trace_args`` as graph inputs.

    Returns the trace and the function's (eager) result, whose arrays are
    still the marked ones; the caller turns it into the graph's outputs.
    """
    recorder = Trace()
    call_args = list(args)
    for position in trace_args:
        value = args[position]
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        # Arrays, NumPy scalars included, come in as Tensors (as JAX hands out its own
        # arrays): then `if x[0] > 0`, `float(k)` or `bool(flag)` on them raise TracerError
        # instead of reading the traced call's value with raw NumPy and baking it in.
        call_args[position] = Tensor._wrap(recorder.add_input(array))
    previous = tracing.set_active(recorder)
    try:
        result = fun(*call_args)
    finally:
        tracing.set_active(previous)
    return recorder, result
