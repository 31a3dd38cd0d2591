"""Pytrees: nested dicts, lists and tuples of arrays, taken apart and put back.

This module lets the transforms (``grad``, ``vjp``, ``jvp``, ``jacrev`` …)
accept a whole model's parameters as one argument — ``{"w": w, "b": [b1,
b2]}`` — and hand back gradients in the same structure, as JAX does.

:func:`flatten` lists the leaves (every value that is not a dict, list or
tuple) in a fixed order — dict keys sorted, so the order does not depend on
insertion — together with a :class:`TreeDef` that :func:`unflatten` uses to
rebuild the structure around new leaves. ``None`` is an empty subtree (it has
no leaves), as in JAX. Named tuples keep their type.

One departure from JAX, so that ``mg.grad(f)([1.0, 2.0])`` keeps meaning "the
array [1, 2]": a list or tuple holding only numbers (or nested lists of
numbers) is one leaf, read as NumPy would read it. A list holding arrays,
Tensors or dicts is a container.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "LEAF",
    "TreeDef",
    "flatten",
    "flatten_args",
    "map_leaves",
    "unflatten",
    "unflatten_args",
]


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree, without its leaves.

    ``kind`` is ``"leaf"``, ``"none"``, ``"dict"``, ``"list"`` or ``"tuple"``;
    ``node_type`` the container's type (for named tuples); ``keys`` the
    sorted dict keys; ``children`` the subtrees' definitions.
    """

    kind: str
    node_type: type | None = None
    keys: tuple[Any, ...] = ()
    children: tuple[TreeDef, ...] = ()

    @property
    def num_leaves(self) -> int:
        """How many leaves a tree of this structure holds.

        Examples
        --------
        >>> flatten([np.ones(2), {"a": np.ones(1), "b": None}])[1].num_leaves
        2
        """
        if self.kind == "leaf":
            return 1
        return sum(child.num_leaves for child in self.children)

    def describe(self) -> str:
        """A short rendering, for error messages.

        Examples
        --------
        >>> flatten({"w": np.ones(2), "b": [np.ones(1), np.ones(1)]})[1].describe()
        "{'b': [*, *], 'w': *}"
        """
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = [child.describe() for child in self.children]
        if self.kind == "dict":
            return (
                "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(self.keys, inner, strict=True)) + "}"
            )
        if self.kind == "list":
            return "[" + ", ".join(inner) + "]"
        return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"


LEAF = TreeDef("leaf")
"""The structure of a tree that is a single leaf."""
_NUMBERS = (bool, int, float, complex, np.generic)


def _is_numbers(items: list[Any] | tuple[Any, ...]) -> bool:
    """A (nested) list of plain numbers: array data, not a container."""
    return all(
        isinstance(item, _NUMBERS)
        or (isinstance(item, list | tuple) and not hasattr(item, "_fields") and _is_numbers(item))
        for item in items
    )


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """The leaves of ``tree`` in a fixed order, and its structure.

    Examples
    --------
    >>> w, b1, b2 = np.ones(2), np.zeros(1), np.zeros(3)
    >>> leaves, treedef = flatten({"w": w, "b": [b1, (b2,)]})
    >>> [leaf.shape for leaf in leaves]
    [(1,), (3,), (2,)]
    >>> treedef.describe()
    "{'b': [*, (*,)], 'w': *}"
    """
    leaves: list[Any] = []
    return leaves, _flatten_into(tree, leaves)


def _flatten_into(tree: Any, leaves: list[Any]) -> TreeDef:
    if tree is None:
        return TreeDef("none")
    if isinstance(tree, dict):
        try:
            keys = tuple(sorted(tree))
        except TypeError:
            raise TypeError(f"a dict in a pytree needs sortable keys, got {list(tree)!r}") from None
        children = tuple(_flatten_into(tree[k], leaves) for k in keys)
        return TreeDef("dict", type(tree), keys, children)
    if isinstance(tree, list | tuple) and not _is_numbers(tree):
        children = tuple(_flatten_into(item, leaves) for item in tree)
        return TreeDef("list" if isinstance(tree, list) else "tuple", type(tree), (), children)
    leaves.append(tree)
    return LEAF


def unflatten(treedef: TreeDef, leaves: Sequence[Any]) -> Any:
    """Rebuild a tree of structure ``treedef`` around ``leaves`` (in :func:`flatten`'s order).

    Examples
    --------
    >>> _, treedef = flatten({"w": np.ones(2), "b": [np.zeros(1), np.zeros(3)]})
    >>> unflatten(treedef, ["B1", "B2", "W"])
    {'b': ['B1', 'B2'], 'w': 'W'}
    """
    if len(leaves) != treedef.num_leaves:
        raise ValueError(
            f"a tree of structure {treedef.describe()} has {treedef.num_leaves} leaves, "
            f"got {len(leaves)}"
        )
    iterator = iter(leaves)
    return _build(treedef, iterator)


def _build(treedef: TreeDef, leaves: Any) -> Any:
    if treedef.kind == "leaf":
        return next(leaves)
    if treedef.kind == "none":
        return None
    children = [_build(child, leaves) for child in treedef.children]
    if treedef.kind == "dict":
        built = dict(zip(treedef.keys, children, strict=True))
        return built if treedef.node_type is dict else treedef.node_type(built)  # type: ignore[misc]
    if treedef.kind == "list":
        return children
    node_type = treedef.node_type
    if node_type is tuple or node_type is None:
        return tuple(children)
    # A named tuple is built from its fields, not from one iterable.
    return node_type(*children) if hasattr(node_type, "_fields") else node_type(children)


def map_leaves(fun: Callable[[Any], Any], tree: Any) -> Any:
    """``tree`` with every leaf replaced by ``fun(leaf)``.

    Examples
    --------
    >>> map_leaves(lambda v: v * 2, {"a": [1, 2], "b": 3})  # [1, 2] is one leaf: an array
    {'a': [1, 2, 1, 2], 'b': 6}
    >>> map_leaves(lambda v: v.sum(), {"a": [np.ones(2), np.ones(3)]})
    {'a': [np.float64(2.0), np.float64(3.0)]}
    """
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [fun(leaf) for leaf in leaves])


def flatten_args(args: Sequence[Any]) -> tuple[list[Any], list[TreeDef]]:
    """The leaves of several arguments, one after the other, and each one's structure.

    Each argument is flattened on its own, so a tuple of numbers passed as
    the arguments ``(1.0, 2.0)`` stays two scalar arguments.

    Examples
    --------
    >>> leaves, treedefs = flatten_args((1.0, {"a": 2.0}))
    >>> leaves, [t.describe() for t in treedefs]
    ([1.0, 2.0], ['*', "{'a': *}"])
    """
    leaves: list[Any] = []
    treedefs = [_flatten_into(arg, leaves) for arg in args]
    return leaves, treedefs


def unflatten_args(treedefs: Sequence[TreeDef], leaves: Sequence[Any]) -> list[Any]:
    """The inverse of :func:`flatten_args`: one rebuilt argument per structure.

    Examples
    --------
    >>> unflatten_args(flatten_args((1.0, {"a": 2.0}))[1], ["x", "y"])
    ['x', {'a': 'y'}]
    """
    args, start = [], 0
    for treedef in treedefs:
        count = treedef.num_leaves
        args.append(unflatten(treedef, leaves[start : start + count]))
        start += count
    if start != len(leaves):
        raise ValueError(f"{len(leaves)} leaves given for structures holding {start}")
    return args
