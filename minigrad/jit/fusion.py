"""The fusion rule: which primitives of a graph run together in one kernel.

Walking the graph in order, each node goes either into a *group* or into an
*eager step* of its own:

* an elementwise node joins a group of its output's shape when every operand
  is already available before that group runs, or is computed inside it;
* a ``sum`` over all axes, over trailing axes (a row sum) or over leading
  axes (a column sum) joins the group of its operand's shape and *ends* that
  value: its result is only available after the group, so nodes that use it
  start a later group;
* everything else (``matmul`` on BLAS, ``softmax``, indexing, a primitive the
  code generator does not know) is an eager step. So are transcendental
  functions (``exp``, ``log``, ``tanh`` …) of big arrays when Numba has no
  vector math library (SVML): NumPy's SIMD ``exp`` is about twice as fast as
  a loop calling the scalar one, so that pass stays on NumPy and the rest is
  fused around it.

An operand that is smaller than the group's shape is read in place when it
broadcasts as a scalar, a row value (one per leading index) or a column value
(one per trailing index); reshapes and broadcasts that only feed such reads
are dropped. Each group becomes one loop over memory (:mod:`.codegen`); it
stores only the values that something outside it reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from minigrad.jit import codegen
from minigrad.jit.eager import EAGER, run_eager
from minigrad.jit.ir import Const, Graph, Node, Operand, Var

__all__ = ["EagerStep", "Group", "Read", "Step", "describe", "fold_constants", "plan", "relation"]


@dataclass(frozen=True)
class Read:
    """How a group reads an operand: ``full`` (one value per element), ``scalar``,
    ``row`` (one per leading index) or ``col`` (one per trailing index)."""

    source: Operand
    kind: str


@dataclass(eq=False)
class Group:
    """Nodes computed in one loop over ``shape``, split as (rows, columns) at ``split``."""

    shape: tuple[int, ...]
    position: int
    split: int | None = None
    nodes: list[Node] = field(default_factory=list)
    members: set[int] = field(default_factory=set)
    reduced: set[int] = field(default_factory=set)
    reads: dict[tuple[int, int], Read] = field(default_factory=dict)
    stores: list[Var] = field(default_factory=list)

    @property
    def outer(self) -> int:
        """The number of rows the loop runs over."""
        return math.prod(self.shape[: self.split or 0])

    @property
    def inner(self) -> int:
        """The number of elements per row."""
        return math.prod(self.shape[self.split or 0 :])


@dataclass(eq=False)
class EagerStep:
    """One node computed by the primitive's eager implementation."""

    node: Node


Step = Group | EagerStep


def relation(shape: tuple[int, ...], target: tuple[int, ...]) -> tuple[str, int | None] | None:
    """How an operand of ``shape`` broadcasts over ``target``: a read kind and the split."""
    if math.prod(shape) == 1 and len(shape) <= len(target):
        return "scalar", None
    if len(shape) > len(target):
        return None
    padded = (1,) * (len(target) - len(shape)) + tuple(shape)
    if padded == target:
        return "full", None
    n = len(target)
    last = max(j for j in range(n) if padded[j] != 1) + 1
    if padded[:last] == target[:last] and last < n:
        return "row", last
    first = min(j for j in range(n) if padded[j] != 1)
    if padded[first:] == target[first:] and first > 0:
        return "col", first
    return None


TRANSCENDENTAL = frozenset(
    {"exp", "log", "log1p", "tanh", "sin", "cos", "sigmoid", "softplus", "pow"}
)
SIMD_PAYS_FROM = 4096
"""Elements from which NumPy's vectorised transcendental beats a fused scalar call."""


def _vector_math() -> bool:
    try:
        import numba
    except ImportError:
        return False
    return bool(getattr(numba.config, "USING_SVML", False))


class _Planner:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.steps: list[Step] = []
        self.producer: dict[int, Node] = {}
        self.position: dict[int, int] = {v.index: -1 for v in graph.inputs}
        self.scalar_math_only = not _vector_math()

    def resolve(self, operand: Operand, target: tuple[int, ...]) -> tuple[Read, int | None] | None:
        """The array a group reads for ``operand`` (seeing through reshapes and broadcasts)."""
        shape = operand.shape if isinstance(operand, Var) else operand.value.shape
        found = relation(shape, target)
        if found is None:
            return None
        kind, split = found
        while isinstance(operand, Var) and operand.index in self.producer:
            node = self.producer[operand.index]
            if node.op not in ("reshape", "broadcast_to"):
                break
            inner = node.inputs[0]
            if node.op == "broadcast_to":
                inner_shape = inner.shape if isinstance(inner, Var) else inner.value.shape
                found = relation(inner_shape, target)
                if found is None:
                    break
                kind, split = found
            operand = inner
        return Read(operand, kind), split

    def available_after(self, var: Var) -> int:
        """The step that makes ``var`` (-1 for the graph's inputs)."""
        return self.position.get(var.index, len(self.steps))

    def fits(self, group: Group, node: Node) -> dict[tuple[int, int], Read] | None:
        """The reads ``node`` needs to join ``group``, or None if it cannot."""
        reads: dict[tuple[int, int], Read] = {}
        split = group.split
        if node.op == "sum":
            axes, n = node.params["axes"], len(group.shape)
            if axes and axes != tuple(range(n)):
                if axes == tuple(range(axes[0], n)):  # trailing axes: one sum per row
                    needed = axes[0]
                elif axes == tuple(range(len(axes))):  # leading axes: one sum per column
                    needed = len(axes)
                else:
                    return None
                if split not in (None, needed):
                    return None
                split = needed
        for slot, operand in enumerate(node.inputs):
            if isinstance(operand, Var) and operand.index in group.members:
                continue
            resolved = self.resolve(operand, group.shape)
            if resolved is None:
                return None
            read, read_split = resolved
            source = read.source
            if isinstance(source, Var):
                if source.index in group.members:
                    if read.kind != "full":
                        return None
                elif (
                    source.index in group.reduced
                    or self.position.get(source.index, len(self.steps)) >= group.position
                ):
                    return None
            if read_split is not None:
                if split not in (None, read_split):
                    return None
                split = read_split
            reads[(id(node), slot)] = read
        group.split = split
        return reads

    def add(self, node: Node) -> None:
        self.producer[node.out.index] = node
        numpy_is_faster = (
            self.scalar_math_only and node.op in TRANSCENDENTAL and node.out.size >= SIMD_PAYS_FROM
        )
        if codegen.can_fuse(node) and not numpy_is_faster:
            shape = node.inputs[0].shape if node.op == "sum" else node.out.shape
            for group in reversed([s for s in self.steps if isinstance(s, Group)]):
                if group.shape != shape:
                    continue
                saved = group.split
                reads = self.fits(group, node)
                if reads is not None:
                    self.join(group, node, reads)
                    return
                group.split = saved
            group = Group(shape, len(self.steps))
            reads = self.fits(group, node)
            if reads is not None:
                self.steps.append(group)
                self.join(group, node, reads)
                return
        self.position[node.out.index] = len(self.steps)
        self.steps.append(EagerStep(node))

    def join(self, group: Group, node: Node, reads: dict[tuple[int, int], Read]) -> None:
        group.nodes.append(node)
        group.reads.update(reads)
        (group.reduced if node.op == "sum" else group.members).add(node.out.index)
        self.position[node.out.index] = group.position

    def prune(self) -> list[Step]:
        """Drop what nothing reads; decide which values each group stores."""
        used = {v.index for v in self.graph.outputs if isinstance(v, Var)}
        kept: list[Step] = []
        for step in reversed(self.steps):
            if isinstance(step, EagerStep):
                if step.node.out.index in used:
                    kept.append(step)
                    used.update(v.index for v in step.node.inputs if isinstance(v, Var))
                continue
            needed: set[int] = set()
            live: list[Node] = []
            for node in reversed(step.nodes):
                index = node.out.index
                if index not in used and index not in needed:
                    continue
                live.append(node)
                for slot, operand in enumerate(node.inputs):
                    read = step.reads.get((id(node), slot))
                    if read is None:
                        needed.add(operand.index)  # computed inside the group
                    elif isinstance(read.source, Var):
                        if read.source.index in step.members:
                            needed.add(read.source.index)
                        else:
                            used.add(read.source.index)
            if live:
                step.nodes = live[::-1]
                step.stores = [n.out for n in step.nodes if n.out.index in used and n.op != "sum"]
                kept.append(step)
        return kept[::-1]


def fold_constants(graph: Graph) -> None:
    """Compute, once, the nodes whose operands are all one-element constants.

    Scalar constants are read at trace time anyway, so ``1.0 / n`` (how a
    ``mean``'s gradient starts) or the backward pass's seed need no kernel;
    folded, they let the backward loop join the forward one.
    """
    folded: dict[int, Const] = {}
    outputs = {v.index for v in graph.outputs if isinstance(v, Var)}
    kept = []
    for node in graph.nodes:
        inputs = tuple(folded.get(v.index, v) if isinstance(v, Var) else v for v in node.inputs)
        node.inputs = inputs
        if (
            node.out.size == 1
            and node.out.index not in outputs
            and node.op in EAGER
            and all(isinstance(v, Const) and v.value.size == 1 for v in inputs)
        ):
            value = run_eager(node, [v.value for v in inputs])  # type: ignore[union-attr]
            folded[node.out.index] = Const(np.asarray(value, dtype=node.out.dtype))
            continue
        kept.append(node)
    graph.nodes = kept


def plan(graph: Graph) -> list[Step]:
    """Cut ``graph`` into groups and eager steps, in an order that respects every use."""
    with np.errstate(all="ignore"):
        fold_constants(graph)
    planner = _Planner(graph)
    for node in graph.nodes:
        planner.add(node)
    return planner.prune()


def describe(steps: list[Step]) -> str:
    """One line per step: what runs fused, what runs eagerly."""
    lines = []
    for number, step in enumerate(steps):
        if isinstance(step, EagerStep):
            lines.append(f"step {number}: eager {step.node!r}")
        else:
            ops = " ".join(n.op for n in step.nodes)
            shape = "x".join(map(str, step.shape)) or "scalar"
            lines.append(f"step {number}: fused over {shape} [{ops}]")
    return "\n".join(lines)
