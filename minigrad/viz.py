"""Pictures of a computation graph: DOT text, or a drawing with every value and gradient.

This module lets you look at what minigrad recorded:

* ``to_dot(loss)`` returns Graphviz DOT text (paste it into any DOT viewer,
  or render it with ``dot -Tsvg`` where Graphviz is installed);
* ``draw_graph(loss)`` draws the graph with matplotlib — no Graphviz needed —
  one box per tensor with its shape, its value and its gradient ``d loss /
  d tensor``, one oval per operation. In a notebook the result shows inline.

The gradients in the drawing are computed here, by a backward pass that
writes no ``.grad`` and keeps the graph, so a drawing can be made before or
instead of ``loss.backward()``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad import engine
from minigrad.grad_mode import no_grad
from minigrad.tensor import Tensor

__all__ = ["DrawnNode", "GraphDrawing", "adjoints", "draw_graph", "to_dot"]


def _label(t: Tensor, names: dict[int, str]) -> str:
    name = names.get(id(t), "")
    prefix = f"{name} " if name else ""
    return f"{prefix}{t.dtype} {t.shape}"


def to_dot(output: Tensor, names: dict[str, Tensor] | None = None) -> str:
    """The graph that produced ``output``, as DOT: one box per tensor, one oval per op.

    Parameters
    ----------
    output
        The tensor whose history to draw (usually a loss).
    names
        Optional labels, e.g. ``{"x": x, "w": w}``.

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0, 2.0], requires_grad=True)
    >>> dot = to_dot((x * 2).sum(), names={"x": x})
    >>> dot.splitlines()[0], "mul" in dot, "x float64" in dot
    ('digraph minigrad {', True, True)
    """
    labels = {id(t): name for name, t in (names or {}).items()}
    lines = ["digraph minigrad {", "  rankdir=LR;"]
    for node in engine.toposort(output):
        tensor_id = f"t{id(node)}"
        lines.append(f'  {tensor_id} [shape=box, label="{_label(node, labels)}"];')
        if node._op is None:
            continue
        op_id = f"op{id(node)}"
        lines.append(f'  {op_id} [shape=oval, label="{node._op}"];')
        lines.append(f"  {op_id} -> {tensor_id};")
        for parent in node._inputs:
            if parent.requires_grad:
                lines.append(f"  t{id(parent)} -> {op_id};")
    lines.append("}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# The drawing: nodes and edges first (plain data a test can read), then matplotlib.


@dataclass(frozen=True)
class DrawnNode:
    """One box (a tensor) or oval (an operation) of a :class:`GraphDrawing`."""

    key: str
    kind: str  # "tensor" (requires grad), "constant" (no gradient) or "op"
    label: str
    position: tuple[float, float]


@dataclass
class GraphDrawing:
    """A drawn graph: its nodes and edges as data, and the matplotlib figure.

    In a notebook it displays itself as a PNG; ``save(path)`` writes the
    picture to a file (the format follows the suffix: ``.png``, ``.svg``, …).
    """

    nodes: list[DrawnNode]
    edges: list[tuple[str, str]]
    figure: Any = field(repr=False)

    def node(self, key: str) -> DrawnNode:
        """The node with this key (a tensor's name from ``names=``, or an internal key)."""
        for node in self.nodes:
            if node.key == key:
                return node
        raise KeyError(f"no node {key!r} in the drawing; keys: {[n.key for n in self.nodes]}")

    def save(self, path: str) -> None:
        """Write the picture to ``path``."""
        self.figure.savefig(path, bbox_inches="tight")

    def __repr__(self) -> str:
        return f"<GraphDrawing: {len(self.nodes)} nodes, {len(self.edges)} edges>"

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", bbox_inches="tight", dpi=100)
        return buffer.getvalue()


def _format_array(values: np.ndarray, max_elements: int) -> str:
    """Small arrays in full (4 significant digits); larger ones as min, mean, max."""
    values = np.asarray(values)
    if values.size <= max_elements:
        if values.ndim == 0:
            return f"{values.item():.4g}"
        return np.array2string(
            values, precision=4, separator=", ", formatter={"float_kind": lambda v: f"{v:.4g}"}
        )
    return f"min {values.min():.3g} mean {values.mean():.3g} max {values.max():.3g}"


def adjoints(output: Tensor) -> dict[int, Tensor]:
    """``d output / d node`` for every node of ``output``'s graph, keyed by ``id(node)``.

    A reverse pass like ``backward()``'s, except that it keeps the gradient of
    every intermediate node, writes no ``.grad`` and releases nothing.

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor(3.0, requires_grad=True)
    >>> y = x * x
    >>> float(adjoints(y + x)[id(y)]), float(adjoints(y + x)[id(x)])
    (1.0, 7.0)
    """
    if output.size != 1:
        raise ValueError(
            f"gradients need a scalar output, got shape {output.shape}; reduce it first "
            "(e.g. .sum()) or pass gradients=False"
        )
    order = engine.toposort(output)
    found: dict[int, Tensor] = {id(output): Tensor(np.ones(output.shape, dtype=output.dtype))}
    with no_grad(), np.errstate(all="ignore"):
        for node in reversed(order):
            g = found.get(id(node))
            if g is None or node._op is None:
                continue
            for argnum, parent in enumerate(node._inputs or ()):
                if not parent.requires_grad:
                    continue
                contribution = engine._input_gradient(node, argnum, g)
                if contribution is None:
                    continue
                contribution = engine.unbroadcast(contribution, parent.shape, parent.dtype)
                earlier = found.get(id(parent))
                found[id(parent)] = contribution if earlier is None else earlier + contribution
    return found


def _graph(output: Tensor, constants: bool) -> tuple[list[Tensor], list[tuple[int, int]]]:
    """Every tensor to draw (inputs first) and the edges tensor -> tensor, by id."""
    order = engine.toposort(output)
    tensors: dict[int, Tensor] = {}
    edges: list[tuple[int, int]] = []
    for node in order:
        for parent in node._inputs or ():
            if parent.requires_grad or constants:
                if id(parent) not in tensors:
                    tensors[id(parent)] = parent
                edges.append((id(parent), id(node)))
        tensors[id(node)] = node
    return list(tensors.values()), edges


def _layers(keys: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Layer = longest path from an input; an input then moves next to its first use."""
    parents: dict[str, list[str]] = {k: [] for k in keys}
    children: dict[str, list[str]] = {k: [] for k in keys}
    for source, target in edges:
        parents[target].append(source)
        children[source].append(target)
    layer: dict[str, int] = {}
    for key in keys:  # keys come inputs first, so parents are always placed already
        layer[key] = 1 + max((layer[p] for p in parents[key]), default=-1)
    for key in keys:
        if not parents[key] and children[key]:
            layer[key] = min(layer[c] for c in children[key]) - 1
    return layer


# Sizes in inches of monospace 8-point text (DejaVu Sans Mono: 0.6 em per character).
_CHAR_WIDTH, _LINE_HEIGHT, _PAD = 0.067, 0.135, 0.16
_LAYER_GAP, _ROW_GAP = 0.5, 0.25


def _box_size(label: str) -> tuple[float, float]:
    lines = label.split("\n")
    width = max(len(line) for line in lines) * _CHAR_WIDTH + _PAD
    return width, len(lines) * _LINE_HEIGHT + _PAD


def _positions(
    keys: list[str], edges: list[tuple[str, str]], labels: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """Centres in inches: left to right by layer; in a layer, near the parents' mean height."""
    layer = _layers(keys, edges)
    size = {k: _box_size(labels[k]) for k in keys}
    parents: dict[str, list[str]] = {k: [] for k in keys}
    for source, target in edges:
        parents[target].append(source)
    position: dict[str, tuple[float, float]] = {}
    right_edge = 0.0
    for depth in sorted(set(layer.values())):
        members = [k for k in keys if layer[k] == depth]
        x = right_edge + max(size[k][0] for k in members) / 2
        wishes = []
        for key in members:
            ys = [position[p][1] for p in parents[key] if p in position]
            wishes.append((sum(ys) / len(ys) if ys else np.inf, key))
        wishes.sort(key=lambda pair: pair[0])
        bottom = None  # y grows downwards here; flipped at the end
        for wish, key in wishes:
            half = size[key][1] / 2
            lowest = -np.inf if bottom is None else bottom + _ROW_GAP + half
            y = lowest if wish == np.inf else max(wish, lowest)
            y = half if y == -np.inf else y
            position[key] = (x, y)
            bottom = y + half
        right_edge = x + max(size[k][0] for k in members) / 2 + _LAYER_GAP
    return {key: (x, -y) for key, (x, y) in position.items()}


def draw_graph(
    output: Tensor,
    names: dict[str, Tensor] | None = None,
    *,
    gradients: bool = True,
    constants: bool = True,
    max_elements: int = 6,
    ax: Any = None,
) -> GraphDrawing:
    """Draw the graph of ``output`` with each tensor's shape, value and gradient.

    Tensors are boxes (blue: requires grad; grey: a constant, no gradient);
    operations are ovals. Arrays of at most ``max_elements`` numbers are shown
    in full, larger ones as min, mean and max. Needs matplotlib (the
    ``notebooks`` and ``demo`` extras bring it).

    Parameters
    ----------
    output
        The tensor whose history to draw; a scalar when ``gradients`` is True.
    names
        Labels for tensors, e.g. ``{"a": a, "loss": loss}``; a named tensor's
        node key in the result is its name.
    gradients
        Show ``d output / d tensor`` in every box (computed here; no ``.grad``
        is written and the graph is kept).
    constants
        Also draw the inputs that need no gradient (data, labels, numbers).
    max_elements
        The largest array shown element by element.
    ax
        A matplotlib axes to draw into; by default a new figure sized to the graph.

    Returns
    -------
    GraphDrawing
        ``nodes`` (key, kind, label, position), ``edges`` and ``figure``; it
        displays itself inline in a notebook.

    Examples
    --------
    >>> import minigrad as mg
    >>> a = mg.Tensor(2.0, requires_grad=True)
    >>> b = mg.Tensor(-3.0, requires_grad=True)
    >>> loss = a * b + a
    >>> drawing = draw_graph(loss, names={"a": a, "b": b, "loss": loss})
    >>> print(drawing.node("a").label)
    a ()
    value 2
    grad -2
    >>> sorted(node.label for node in drawing.nodes if node.kind == "op")
    ['add', 'mul']
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"output must be a minigrad Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise ValueError("output has no recorded graph: no input of it requires grad")
    if not isinstance(max_elements, int) or max_elements < 1:
        raise ValueError(f"max_elements must be a positive int, got {max_elements!r}")
    given = {id(t): name for name, t in (names or {}).items()}
    grads = adjoints(output) if gradients else {}
    tensors, tensor_edges = _graph(output, constants)
    key_of = {id(t): given.get(id(t), f"t{len(given) + i}") for i, t in enumerate(tensors)}
    keys: list[str] = []
    labels: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str]] = []
    for t in tensors:
        key = key_of[id(t)]
        head = f"{given.get(id(t), '')} {t.shape}".strip()
        lines = [head, f"value {_format_array(t.numpy(), max_elements)}"]
        if t.requires_grad and gradients:
            g = grads.get(id(t))
            lines.append(
                "grad 0 (no path)"
                if g is None
                else f"grad {_format_array(g.numpy(), max_elements)}"
            )
        if t._op is not None and t.requires_grad:
            # The operation gets its own oval, between its inputs and its result.
            keys.append(f"op:{key}")
            labels[f"op:{key}"] = ("op", t._op)
            edges.append((f"op:{key}", key))
        keys.append(key)
        labels[key] = ("tensor" if t.requires_grad else "constant", "\n".join(lines))
    edges += [(key_of[source], f"op:{key_of[target]}") for source, target in tensor_edges]
    position = _positions(keys, edges, {k: v[1] for k, v in labels.items()})
    nodes = [DrawnNode(k, labels[k][0], labels[k][1], position[k]) for k in keys]
    return GraphDrawing(nodes, edges, _render(nodes, edges, ax))


_STYLE = {
    "tensor": {"boxstyle": "square,pad=0.5", "facecolor": "#dbe9f7"},
    "constant": {"boxstyle": "square,pad=0.5", "facecolor": "#eeeeee"},
    "op": {"boxstyle": "round,pad=0.5", "facecolor": "#ffe9b3"},
}


def _render(nodes: list[DrawnNode], edges: list[tuple[str, str]], ax: Any) -> Any:
    """Draw the placed nodes (coordinates in inches) and their edges; return the figure."""
    from matplotlib.figure import Figure  # an optional dependency, imported when drawing

    size = {n.key: _box_size(n.label) for n in nodes}
    where = {n.key: n.position for n in nodes}
    left = min(x - size[k][0] / 2 for k, (x, _) in where.items()) - 0.1
    right = max(x + size[k][0] / 2 for k, (x, _) in where.items()) + 0.1
    bottom = min(y - size[k][1] / 2 for k, (_, y) in where.items()) - 0.1
    top = max(y + size[k][1] / 2 for k, (_, y) in where.items()) + 0.1
    if ax is None:
        # Not pyplot: a figure pyplot does not manage is shown once, by GraphDrawing.
        # One data unit is one inch, so the text fits the boxes computed for it.
        figure = Figure(figsize=(right - left, top - bottom))
        ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    for source, target in edges:
        (x0, y0), (x1, y1) = where[source], where[target]
        ax.annotate(
            "",
            xy=(x1 - size[target][0] / 2, y1),
            xytext=(x0 + size[source][0] / 2, y0),
            arrowprops={"arrowstyle": "-|>", "color": "0.45", "shrinkA": 1, "shrinkB": 1},
        )
    for node in nodes:
        ax.text(
            *node.position,
            node.label,
            ha="center",
            va="center",
            fontsize=8,
            family="DejaVu Sans Mono",
            bbox={**_STYLE[node.kind], "edgecolor": "0.4"},
        )
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.axis("off")
    return ax.figure
