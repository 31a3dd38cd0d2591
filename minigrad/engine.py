"""The reverse-mode engine: recording operations and walking the graph backwards.

This module lets a primitive record itself (:func:`record`), lets the
derivative table register a vector-Jacobian product for it (:func:`defvjp`),
and runs the backward pass (:func:`backward` for ``Tensor.backward``,
:func:`gradients` for the ``grad`` transforms).

How the backward pass works:

1. Nodes are visited in reverse topological order. Every tensor carries a
   creation number, and an operation's output is created after its inputs, so
   popping nodes from a heap by decreasing creation number is such an order
   (:func:`toposort` computes the same order explicitly, for drawing graphs).
   It is iterative (a 10 000-op chain is fine) and deterministic.
2. When a node is popped, every consumer of it has been processed, so its
   gradient ``g`` is complete. The node's VJP rules turn ``g`` into one
   gradient per input.
3. :func:`unbroadcast` sums each input gradient back to the input's shape and
   dtype — the one place where broadcasting is undone, so that no rule has to
   think about it.

The rules are written with minigrad ops. Without ``create_graph`` the pass
runs under ``no_grad``, so those ops record nothing and first-order gradients
cost no more than hand-written NumPy; with ``create_graph=True`` the ops
record, and the gradients are themselves differentiable.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad import grad_mode, ops
from minigrad.tensor import Tensor, inplace_clock

__all__ = [
    "backward",
    "defvjp",
    "defvjp_argnum",
    "expand_to",
    "gradients",
    "reaches_other_grad_tensors",
    "record",
    "toposort",
    "unbroadcast",
]

# A rule maps (g, ans, *inputs, **params) to the gradient of one input.
VjpRule = Callable[..., Tensor]

vjp_rules: dict[str, tuple[VjpRule | None, ...]] = {}
"""Per-input VJP rules, keyed by primitive name (filled by :mod:`minigrad.vjps`)."""

argnum_vjp_rules: dict[str, Callable[..., Tensor]] = {}
"""VJP rules of variadic primitives: ``rule(argnum, g, ans, *inputs, **params)``."""


elementwise_ops: set[str] = set()
"""Primitives whose rules accept a gradient smaller than the output but broadcastable to it."""


def defvjp(op: str, *rules: VjpRule | None, elementwise: bool = False) -> None:
    """Register the VJP rules of primitive ``op``, one per input (None: no gradient).

    ``elementwise=True`` declares that the rules only combine ``g`` with
    other arrays by broadcasting arithmetic, so they work unchanged when
    ``g`` is still lazily broadcast (see :func:`unbroadcast`).
    """
    vjp_rules[op] = rules
    if elementwise:
        elementwise_ops.add(op)


def defvjp_argnum(op: str, rule: Callable[..., Tensor]) -> None:
    """Register one VJP rule for a variadic primitive; it receives the input's position."""
    argnum_vjp_rules[op] = rule


def record(op: str, data: np.ndarray, inputs: tuple[Tensor, ...], **params: Any) -> Tensor:
    """Wrap a primitive's result, recording how it was made if a graph is wanted.

    A node is recorded only when grad mode is on and some input requires grad;
    otherwise the result is a plain constant tensor.
    """
    if type(data) is not np.ndarray:
        # NumPy returns scalars, not 0-d arrays, from operations on 0-d arrays.
        data = np.asarray(data)
    out = Tensor._wrap(data)
    if grad_mode._state.enabled:
        for t in inputs:
            if t.requires_grad:
                out.requires_grad = True
                out._op = op
                out._inputs = inputs
                out._params = params
                # The in-place clock at recording time: a later change to an input is an error.
                out._clock = inplace_clock.now
                break
    return out


def toposort(root: Tensor, stop_at: frozenset[int] = frozenset()) -> list[Tensor]:
    """Every node that ``root`` depends on and that requires grad, inputs first.

    Nodes whose ``id`` is in ``stop_at`` are treated as leaves: the walk does
    not go past them.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if id(node) in stop_at:
            continue
        # Pushed in reverse so that the first input is explored first.
        for parent in reversed(node._inputs):
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def unbroadcast(grad: Tensor, shape: tuple[int, ...], dtype: np.dtype) -> Tensor:
    """Sum ``grad`` back to an input's ``shape`` and cast it to the input's ``dtype``.

    Broadcasting an input of shape ``shape`` to the output shape copies it
    along new leading axes and along axes of length one; the gradient of a
    copy is the sum of the copies' gradients.

    The result is *broadcastable* to ``shape`` but may be smaller: the
    gradient of a sum is one value for every element, and it stays one value
    (lazily broadcast) until a rule that needs the full shape, or a leaf,
    receives it (see :func:`expand_to`). That saves a full pass and a full
    array in every elementwise rule downstream of a reduction.
    """
    if grad.shape != shape:
        extra = grad.ndim - len(shape)
        axes = []
        for axis, size in enumerate(grad.shape):
            target = axis - extra  # the input axis this gradient axis lines up with
            if target < 0 or (shape[target] == 1 and size != 1):
                axes.append(axis)
            elif size not in (1, shape[target]):
                raise RuntimeError(
                    f"internal error: gradient of shape {grad.shape} does not fit an input "
                    f"of shape {shape}"
                )
        if axes:
            grad = ops.sum(grad, tuple(axes), True)
        if extra > 0:
            grad = ops.reshape(grad, grad.shape[extra:])
    if grad.dtype != dtype:
        grad = ops.astype(grad, dtype)
    return grad


def expand_to(grad: Tensor, shape: tuple[int, ...]) -> Tensor:
    """A lazily broadcast gradient brought to its node's full ``shape``."""
    return grad if grad.shape == shape else ops.broadcast_to(grad, shape)


def _input_gradient(node: Tensor, argnum: int, g: Tensor) -> Tensor | None:
    """Apply the VJP rule of ``node``'s primitive for input ``argnum``."""
    op = node._op
    if op in argnum_vjp_rules:
        return argnum_vjp_rules[op](argnum, g, node, *node._inputs, **node._params)
    rules = vjp_rules.get(op)
    if rules is None:
        raise NotImplementedError(f"no derivative is defined for primitive {op!r}")
    rule = rules[argnum] if argnum < len(rules) else None
    if rule is None:
        return None
    return rule(g, node, *node._inputs, **node._params)


def _check_unmodified(node: Tensor) -> None:
    """Refuse to differentiate through an input that was changed in place after use."""
    for position, tensor in enumerate(node._inputs):
        if tensor._clock > node._clock:
            raise RuntimeError(
                f"input {position} of {node._op!r} (shape {tensor.shape}) was modified in "
                "place after it was used; the gradient would be wrong"
            )


def _backpropagate(
    root: Tensor, seed: Tensor, stop_at: frozenset[int], create_graph: bool
) -> dict[int, tuple[Tensor, Tensor]]:
    """Run the backward pass from ``root``; return ``id -> (node, gradient)`` of leaves
    and stop nodes.

    Nodes are visited in decreasing creation order (a heap keyed by creation
    number): a node is always created after its inputs, so by the time a node
    is popped every consumer of it has been processed and its gradient is
    complete. This is the same order as reversing :func:`toposort`, found
    without a separate pass.
    """
    pending: dict[int, Tensor] = {id(root): seed}
    finished: dict[int, tuple[Tensor, Tensor]] = {}
    heap: list[tuple[int, Tensor]] = [(-root._sequence, root)]
    clock_moved = inplace_clock.now > 0
    # Derivatives at domain edges are IEEE values by design (d sqrt at 0 is inf, as in
    # PyTorch); NumPy's warnings about them would only be noise.
    with grad_mode.set_grad_enabled(create_graph), np.errstate(all="ignore"):
        while heap:
            node = heapq.heappop(heap)[1]
            g = pending.pop(id(node))
            if node._op is None or id(node) in stop_at:
                finished[id(node)] = (node, expand_to(g, node.shape))
                continue
            if clock_moved:
                _check_unmodified(node)
            if node._op not in elementwise_ops:
                g = expand_to(g, node.shape)
            for argnum, parent in enumerate(node._inputs):
                if not parent.requires_grad:
                    continue
                contribution = _input_gradient(node, argnum, g)
                if contribution is None:
                    continue
                contribution = unbroadcast(contribution, parent.shape, parent.dtype)
                key = id(parent)
                earlier = pending.get(key)
                if earlier is None:
                    pending[key] = contribution
                    heapq.heappush(heap, (-parent._sequence, parent))
                else:
                    pending[key] = earlier + contribution
    return finished


def _seed(output: Tensor, grad: Any) -> Tensor:
    if grad is None:
        if output.size != 1:
            raise ValueError(
                f"backward() needs a scalar output, got shape {output.shape}; "
                "reduce it first (e.g. .sum()) or pass grad="
            )
        return Tensor._wrap(np.ones(output.shape, dtype=output.dtype))
    seed = grad if isinstance(grad, Tensor) else Tensor(grad, dtype=output.dtype)
    if seed.shape != output.shape:
        raise ValueError(f"grad of shape {seed.shape} does not match output shape {output.shape}")
    return seed


class _PrivateGradients:
    """Hands out gradients that own their memory, copying only where needed.

    A rule may pass its incoming gradient straight through (``add`` gives
    ``g`` to both inputs), and the gradient of a sum is a read-only broadcast
    view. Handing such arrays out as two leaves' ``.grad`` (or as the caller's
    own ``grad=`` array) would let a write into one change another. Recorded
    gradients (``create_graph``) are graph nodes and are left as they are.
    """

    def __init__(self, seed: Tensor) -> None:
        self._taken = {id(seed.data), id(_root_array(seed.data))}

    def __call__(self, g: Tensor) -> Tensor:
        if g.requires_grad:
            return g
        owner = id(_root_array(g.data))
        if g.data.flags.writeable and id(g.data) not in self._taken and owner not in self._taken:
            self._taken.update((id(g.data), owner))
            return g
        copy = np.array(g.data)
        self._taken.add(id(copy))
        return Tensor._wrap(copy)


def _root_array(array: np.ndarray) -> np.ndarray:
    """The array that owns ``array``'s memory (itself when it is not a view)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def backward(output: Tensor, grad: Any = None, create_graph: bool = False) -> None:
    """Accumulate d(output)/d(leaf) into the ``.grad`` of every leaf that requires grad."""
    if not output.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of its "
            "computation has requires_grad=True (or it was computed under no_grad)"
        )
    seed = _seed(output, grad)
    leaf_grads = _backpropagate(output, seed, frozenset(), create_graph)
    private = _PrivateGradients(seed)
    with grad_mode.set_grad_enabled(create_graph):
        for leaf, g in leaf_grads.values():
            g = private(g)
            leaf.grad = g if leaf.grad is None else leaf.grad + g


def reaches_other_grad_tensors(output: Tensor, inputs: Sequence[Tensor]) -> bool:
    """Does ``output`` depend on a tensor that requires grad, other than through ``inputs``?

    Transforms use this to decide whether to record their backward pass: if
    the result also depends on, say, weights that an outer ``grad`` is
    differentiating, the inner gradient must stay differentiable.
    """
    stop = {id(t) for t in inputs}
    seen: set[int] = set()
    stack = [output]
    while stack:
        node = stack.pop()
        if id(node) in seen or id(node) in stop or not node.requires_grad:
            continue
        seen.add(id(node))
        if node._op is None:
            return True
        stack.extend(node._inputs)
    return False


def gradients(output: Tensor, wrt: Sequence[Tensor], create_graph: bool = False) -> list[Tensor]:
    """d(output)/d(t) for each ``t`` in ``wrt``, without touching any ``.grad``.

    ``output`` must be a scalar. A tensor that ``output`` does not depend on
    gets a zero gradient of its own shape and dtype.
    """
    if output.size != 1:
        raise ValueError(
            f"the function must return a scalar, got shape {output.shape}; "
            "reduce it first (e.g. .sum())"
        )
    found: dict[int, tuple[Tensor, Tensor]] = {}
    seed = _seed(output, None)
    if output.requires_grad:
        found = _backpropagate(output, seed, frozenset(id(t) for t in wrt), create_graph)
    private = _PrivateGradients(seed)
    results = []
    for t in wrt:
        entry = found.get(id(t))
        if entry is None:
            results.append(Tensor._wrap(np.zeros(t.shape, dtype=t.dtype)))
        else:
            results.append(private(entry[1]))
    return results
