"""Draw a computation graph as Graphviz DOT text (no graphviz install needed).

``to_dot(loss)`` returns a string you can paste into any DOT viewer, or
render with ``dot -Tsvg`` where Graphviz is installed.
"""

from __future__ import annotations

from minigrad.engine import toposort
from minigrad.tensor import Tensor

__all__ = ["to_dot"]


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
    for node in toposort(output):
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
