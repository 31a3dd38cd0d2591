"""The reverse-mode engine: the derivative table's registry and the backward pass.

This module lets the derivative table register a vector-Jacobian product for
a primitive (:func:`defvjp`), and runs the backward pass (:func:`backward`
for ``Tensor.backward``, :func:`gradients` for the ``grad`` transforms).
Primitives record themselves with :func:`minigrad.tensor.record`.

How the backward pass works:

1. :func:`toposort` lists every node the output depends on, inputs before
   the nodes that use them. Walking that list in reverse, a node is reached
   only after every node that consumed it, so its gradient ``g`` is complete.
   The walk is iterative (a 10 000-op chain is fine) and deterministic.
2. The node's VJP rules turn ``g`` into one gradient per input.
3. :func:`unbroadcast` sums each input gradient back to the input's shape and
   dtype — the one place where broadcasting is undone, so that no rule has to
   think about it.

The rules are written with minigrad ops. Without ``create_graph`` the pass
runs under ``no_grad``, so those ops record nothing and first-order gradients
cost no more than hand-written NumPy; with ``create_graph=True`` the ops
record, and the gradients are themselves differentiable.

After a pass without ``retain_graph`` (the default unless ``create_graph``),
the nodes it walked let go of their inputs, as in PyTorch: a loss kept for
logging keeps its value, not the whole graph and its activations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad import anomaly, grad_mode, hooks, ops, tracing
from minigrad.inplace import inplace_log, memory_owner
from minigrad.tensor import Tensor

__all__ = [
    "backward",
    "defvjp",
    "defvjp_argnum",
    "gradients",
    "reaches_other_grad_tensors",
    "toposort",
    "unbroadcast",
]

# A rule maps (g, ans, *inputs, **params) to the gradient of one input.
VjpRule = Callable[..., Tensor]

vjp_rules: dict[str, tuple[VjpRule | None, ...]] = {}
"""Per-input VJP rules, keyed by primitive name (filled by :mod:`minigrad.vjps`)."""

argnum_vjp_rules: dict[str, Callable[..., Tensor]] = {}
"""VJP rules of variadic primitives: ``rule(argnum, g, ans, *inputs, **params)``."""


def defvjp(op: str, *rules: VjpRule | None) -> None:
    """Register the VJP rules of primitive ``op``, one per input (None: no gradient).

    Examples
    --------
    >>> defvjp("my_double", lambda g, ans, x: 2 * g)
    >>> "my_double" in vjp_rules
    True
    >>> del vjp_rules["my_double"]
    """
    vjp_rules[op] = rules


def defvjp_argnum(op: str, rule: Callable[..., Tensor]) -> None:
    """Register one VJP rule for a variadic primitive; it receives the input's position."""
    argnum_vjp_rules[op] = rule


def toposort(root: Tensor, stop_at: frozenset[int] = frozenset()) -> list[Tensor]:
    """Every node that ``root`` depends on and that requires grad, inputs first.

    Nodes whose ``id`` is in ``stop_at`` are treated as leaves: the walk does
    not go past them. A depth-first walk with an explicit stack: a node is
    appended once all its inputs have been.

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor(2.0, requires_grad=True)
    >>> [node._op for node in toposort(mg.exp(x) * x)]
    [None, 'exp', 'mul']
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
        if node._inputs is None:
            raise RuntimeError(
                f"backward through a graph a second time: the {node._op!r} node's inputs "
                "were released by an earlier backward(); pass retain_graph=True to the "
                "first backward() to keep them"
            )
        # Pushed in reverse so that the first input is explored first.
        for parent in reversed(node._inputs):
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def unbroadcast(grad: Tensor, shape: tuple[int, ...], dtype: np.dtype) -> Tensor:
    """Sum ``grad`` back to an input's ``shape`` and cast it to the input's ``dtype``.

    Broadcasting an input of shape ``shape`` to the output shape copies it
    along new leading axes and along axes of length one; the gradient of a
    copy is the sum of the copies' gradients. ``grad`` has the output's full
    shape.

    Examples
    --------
    >>> import minigrad as mg
    >>> unbroadcast(mg.ones((3, 2)), (2,), np.dtype(np.float64))
    Tensor([3., 3.])
    """
    if grad.shape != shape:
        extra = grad.ndim - len(shape)
        if extra < 0 or any(
            size != grad.shape[extra + axis] and size != 1 for axis, size in enumerate(shape)
        ):
            raise RuntimeError(
                f"internal error: a gradient of shape {grad.shape} cannot be summed back to "
                f"an input of shape {shape}"
            )
        leading = tuple(range(extra))
        stretched = tuple(
            extra + axis
            for axis, size in enumerate(shape)
            if size == 1 and grad.shape[extra + axis] != 1
        )
        grad = ops.sum(grad, leading + stretched, keepdims=True)
        grad = ops.reshape(grad, shape)
    if grad.dtype != dtype:
        grad = ops.astype(grad, dtype)
    return grad


def _input_gradient(node: Tensor, argnum: int, g: Tensor) -> Tensor | None:
    """Apply the VJP rule of ``node``'s primitive for input ``argnum``."""
    op = node._op
    inputs = node._inputs or ()
    if op in argnum_vjp_rules:
        return argnum_vjp_rules[op](argnum, g, node, *inputs, **node._params)
    rules = vjp_rules.get(op)
    if rules is None:
        raise NotImplementedError(f"no derivative is defined for primitive {op!r}")
    rule = rules[argnum] if argnum < len(rules) else None
    if rule is None:
        return None
    return rule(g, node, *inputs, **node._params)


def _check_unmodified(node: Tensor) -> None:
    """Refuse to differentiate through an input whose memory changed in place after use."""
    for position, tensor in enumerate(node._inputs or ()):
        if inplace_log.changed_at(tensor.data) > node._recorded_at:
            raise RuntimeError(
                f"input {position} of {node._op!r} (shape {tensor.shape}) was modified in "
                "place after it was used; the gradient would be wrong"
            )


def _backpropagate(
    root: Tensor, seed: Tensor, stop_at: frozenset[int], create_graph: bool, retain_graph: bool
) -> list[tuple[Tensor, Tensor]]:
    """Run the backward pass from ``root``; return ``(node, gradient)`` for every leaf
    and stop node reached, in the order of :func:`toposort`."""
    order = toposort(root, stop_at)
    # Speed: a program that never changes a tensor in place (almost all of them) skips
    # the per-node check; one integer comparison instead of a lookup per input.
    check_inplace = inplace_log.now > 0
    # Tensor hooks and anomaly detection are rare: asked once per pass, not per node.
    run_hooks = hooks.any_registered()
    input_gradient = anomaly.checked(_input_gradient)
    pending: dict[int, Tensor] = {id(root): seed}
    reached: list[tuple[Tensor, Tensor]] = []
    # Derivatives at domain edges are IEEE values by design (d sqrt at 0 is inf, as in
    # PyTorch); NumPy's warnings about them would only be noise.
    with (
        grad_mode.set_grad_enabled(create_graph),
        np.errstate(all="ignore"),
        anomaly.backward_pass(),
    ):
        for node in reversed(order):
            g = pending.pop(id(node), None)
            if g is None:  # every path from the root to here had no gradient
                continue
            if run_hooks:
                g = hooks.apply(node, g)
            if node._op is None or id(node) in stop_at:
                reached.append((node, g))
                continue
            if check_inplace:
                _check_unmodified(node)
            for argnum, parent in enumerate(node._inputs or ()):
                if not parent.requires_grad:
                    continue
                contribution = input_gradient(node, argnum, g)
                if contribution is None:
                    continue
                contribution = unbroadcast(contribution, parent.shape, parent.dtype)
                earlier = pending.get(id(parent))
                pending[id(parent)] = (
                    contribution if earlier is None else ops.add(earlier, contribution)
                )
            if not retain_graph:
                node._inputs = None
                node._params = {}
    return reached


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


# ---------------------------------------------------------------------------------------
# Speed, fenced: gradients handed out without a copy where that is safe.
#
# A rule may pass its incoming gradient straight through (``add`` gives ``g`` to both
# inputs), and the gradient of a full sum is a read-only broadcast view of one number.
# Handing such arrays out as two leaves' ``.grad`` (or as the caller's own ``grad=``
# array) would let a write into one change another, so those are copied; every other
# gradient is handed out as it is. What it buys: no copy of each leaf's gradient on
# every backward pass (for W4, a 64 MB copy of a 16 M-element gradient).
# Recorded gradients (``create_graph``) are graph nodes and are left as they are.
class _PrivateGradients:
    def __init__(self, seed: Tensor) -> None:
        self._taken = {id(seed.data), id(memory_owner(seed.data))}

    def __call__(self, g: Tensor) -> Tensor:
        if g.requires_grad:
            return g
        owner = id(memory_owner(g.data))
        if g.data.flags.writeable and id(g.data) not in self._taken and owner not in self._taken:
            self._taken.update((id(g.data), owner))
            return g
        # The copy is made by an op, so that a forward-mode tangent riding on g
        # (forward-over-reverse: hessian, hvp) comes along with it.
        copy = ops.add(g, 0.0)
        self._taken.add(id(copy.data))
        return copy


# ---------------------------------------------------------------------------------------

# Accumulating into ``.grad`` is a read-add-write: two threads running backward into one
# shared leaf must not interleave there and lose an update (PyTorch locks the same way).
_accumulate_lock = threading.Lock()


def backward(
    output: Tensor, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False
) -> None:
    """Accumulate d(output)/d(leaf) into the ``.grad`` of every leaf that requires grad.

    ``retain_graph`` defaults to ``create_graph``: without it, the graph's
    nodes release their inputs after the pass (a second ``backward`` through
    them raises ``RuntimeError``).

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0, 2.0], requires_grad=True)
    >>> backward((x * x).sum())
    >>> x.grad
    Tensor([2., 4.])
    """
    if not output.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of its "
            "computation has requires_grad=True (or it was computed under no_grad)"
        )
    for name, flag in (("retain_graph", retain_graph), ("create_graph", create_graph)):
        if flag is not None and not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {flag!r}")
    retain = create_graph if retain_graph is None else retain_graph
    seed = _seed(output, grad)
    reached = _backpropagate(output, seed, frozenset(), create_graph, retain)
    private = _PrivateGradients(seed)
    tracer = tracing.active()
    with grad_mode.set_grad_enabled(create_graph):
        for leaf, g in reached:
            if tracer is not None:
                tracer.grad_written(leaf)  # mg.jit cannot replay a .grad outside its graph
            g = private(g)
            with _accumulate_lock:
                leaf.grad = g if leaf.grad is None else ops.add(leaf.grad, g)


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
        stack.extend(node._inputs or ())
    return False


def gradients(
    output: Tensor,
    wrt: Sequence[Tensor],
    create_graph: bool = False,
    grad_output: Tensor | None = None,
    retain_graph: bool | None = None,
) -> list[Tensor]:
    """d(output)/d(t) for each ``t`` in ``wrt``, without touching any ``.grad``.

    ``output`` must be a scalar, unless ``grad_output`` (the cotangent, of
    ``output``'s shape) is given: then the results are vector-Jacobian
    products. A tensor that ``output`` does not depend on gets a zero
    gradient of its own shape and dtype. ``retain_graph`` defaults to
    ``create_graph``: without it the nodes between ``output`` and ``wrt``
    release their inputs afterwards.

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0, 2.0], requires_grad=True)
    >>> gradients((3 * x).sum(), [x])
    [Tensor([3., 3.])]
    """
    if grad_output is None and output.size != 1:
        raise ValueError(
            f"the function must return a scalar, got shape {output.shape}; "
            "reduce it first (e.g. .sum())"
        )
    retain = create_graph if retain_graph is None else retain_graph
    found: dict[int, Tensor] = {}
    seed = _seed(output, grad_output)
    if output.requires_grad:
        stop_at = frozenset(id(t) for t in wrt)
        reached = _backpropagate(output, seed, stop_at, create_graph, retain)
        found = {id(node): g for node, g in reached}
    private = _PrivateGradients(seed)
    results = []
    for t in wrt:
        g = found.get(id(t))
        results.append(Tensor._wrap(np.zeros(t.shape, dtype=t.dtype)) if g is None else private(g))
    return results
