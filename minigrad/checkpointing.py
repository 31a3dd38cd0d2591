"""Gradient checkpointing: trade compute for memory.

This module lets you mark a block of a computation whose intermediate values
should not be kept for the backward pass. ``mg.checkpoint(block)(x)`` runs
``block`` without recording and stores only its inputs and output, as one
graph node; when the backward pass reaches that node, it runs ``block`` again
(recording this time) and backpropagates through the fresh copy. A deep
network split into ``k`` checkpointed blocks keeps about ``1/k`` of its
activations, for the price of one more forward pass (Chen et al., 2016).

Values and gradients are the same as without the checkpoint, to the last bit
for a deterministic ``block``. Inside ``jvp`` (forward mode keeps no
activations) the block simply runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from minigrad import engine, forward, grad_mode, ops
from minigrad.tensor import Tensor, record

__all__ = ["checkpoint"]


def checkpoint(fun: Callable[..., Any]) -> Callable[..., Tensor]:
    """Wrap ``fun`` so that its intermediates are recomputed in backward, not stored.

    ``fun`` takes positional arguments (Tensors among them are
    differentiated; anything else is passed through as a constant) and
    returns one Tensor. It should be deterministic: it runs twice.

    Examples
    --------
    >>> import minigrad as mg
    >>> block = mg.checkpoint(lambda x: mg.tanh(mg.tanh(x) * 2.0))
    >>> x = mg.Tensor([0.5, -1.0], requires_grad=True)
    >>> block(x).sum().backward()
    >>> expected = mg.grad(lambda x: mg.tanh(mg.tanh(x) * 2.0).sum())(x.data)
    >>> bool(abs(x.grad - expected).max() < 1e-15)
    True
    """
    if not callable(fun):
        raise TypeError(f"checkpoint needs a function, got {type(fun).__name__}")

    @functools.wraps(fun)
    def checkpointed(*args: Any, **kwargs: Any) -> Tensor:
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        inputs = tuple(args[i] for i in positions)
        needs_graph = grad_mode.is_grad_enabled() and any(t.requires_grad for t in inputs)
        if not needs_graph or any(forward.has_tangent(t) for t in inputs):
            return fun(*args, **kwargs)
        with grad_mode.no_grad():
            out = fun(*args, **kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(
                f"a checkpointed function must return one Tensor, got {type(out).__name__}"
            )
        return record(
            "checkpoint",
            out.data,
            inputs,
            fun=fun,
            args=args,
            kwargs=kwargs,
            positions=positions,
            cache={},
        )

    return checkpointed


def _rerun(
    fun: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    positions: tuple[int, ...],
    replacements: tuple[Tensor, ...],
) -> Tensor:
    """Run the block again, recording, on ``replacements`` in place of its tensor arguments."""
    call_args = list(args)
    for position, value in zip(positions, replacements, strict=True):
        call_args[position] = value
    with grad_mode.enable_grad():
        return fun(*call_args, **kwargs)


def _fresh_input(t: Tensor, create_graph: bool) -> Tensor:
    """What the recomputation runs on in place of input ``t``."""
    if not t.requires_grad:
        return t
    if create_graph:
        # Connected to t, so the recorded gradient can be differentiated again.
        return ops.add(t, 0.0)
    return Tensor(t.data, requires_grad=True)


def _checkpoint_vjp(
    argnum: int,
    g: Tensor,
    ans: Tensor,
    *inputs: Tensor,
    fun: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    positions: tuple[int, ...],
    cache: dict[str, Any],
) -> Tensor:
    # The engine asks input by input; one recomputation serves them all.
    if cache.get("g") is not g:
        # The engine runs rules with recording on exactly when create_graph is set.
        create_graph = grad_mode.is_grad_enabled()
        fresh = tuple(_fresh_input(t, create_graph) for t in inputs)
        out = _rerun(fun, args, kwargs, positions, fresh)
        cache["g"] = g
        cache["grads"] = engine.gradients(out, fresh, create_graph=create_graph, grad_output=g)
    return cache["grads"][argnum]


def _checkpoint_jvp(
    argnum: int,
    t: Tensor,
    ans: Tensor,
    *inputs: Tensor,
    fun: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    positions: tuple[int, ...],
    cache: dict[str, Any],
) -> Tensor:
    # Forward mode through the block: its directional derivative along input argnum.
    def along(value: Tensor) -> Tensor:
        replaced = tuple(value if i == argnum else x for i, x in enumerate(inputs))
        return _rerun(fun, args, kwargs, positions, replaced)

    return forward.jvp(along, (inputs[argnum],), (t,))[1]


engine.defvjp_argnum("checkpoint", _checkpoint_vjp)
forward.defjvp_argnum("checkpoint", _checkpoint_jvp)
