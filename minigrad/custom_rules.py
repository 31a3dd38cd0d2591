"""Custom derivative rules for one function, without touching the derivative table.

This module lets you give any function its own backward rule, as JAX's
``custom_vjp`` does::

    f = mg.custom_vjp(f)
    f.defvjp(fwd, bwd)

``fwd(*args)`` returns ``(out, residuals)`` — the value and whatever the
backward rule will need — and ``bwd(residuals, g)`` returns a tuple with one
gradient per positional argument (``None`` for "no gradient"). Use it for a
numerically better derivative (a stable ``log1pexp``), to clip or rescale a
gradient on its way back, or for a function computed outside minigrad.

A call records one graph node, a ``custom_vjp`` primitive whose VJP calls
``bwd``; the ops inside ``fwd`` are not differentiated. ``bwd`` is written
with minigrad ops, so it can be differentiated again (second order) when the
backward pass records. There is no forward-mode rule: ``jvp`` (and so
``jacfwd``, ``hessian``, ``hvp``) of a ``custom_vjp`` function raises
``TypeError`` naming it, as in JAX.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from minigrad import engine, forward
from minigrad.tensor import Tensor, as_tensor, record

__all__ = ["custom_vjp"]


class custom_vjp:
    """Wrap ``fun`` so that its gradient is given by a rule of your own (see :meth:`defvjp`).

    The wrapped function takes positional arguments; Tensors among them are
    differentiated, anything else (arrays, numbers, options) is a constant.
    It returns one Tensor.

    Examples
    --------
    >>> import minigrad as mg
    >>> @mg.custom_vjp
    ... def clip_gradient(x):
    ...     return x * 1.0
    >>> def fwd(x):
    ...     return x * 1.0, None
    >>> def bwd(residuals, g):
    ...     return (mg.clip(g, -1.0, 1.0),)
    >>> clip_gradient.defvjp(fwd, bwd)
    >>> x = mg.Tensor([1.0, 2.0], requires_grad=True)
    >>> (clip_gradient(x) * 5.0).sum().backward()
    >>> x.grad
    Tensor([1., 1.])
    """

    def __init__(self, fun: Callable[..., Any]) -> None:
        if not callable(fun):
            raise TypeError(f"custom_vjp needs a function, got {type(fun).__name__}")
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.name: str = getattr(fun, "__name__", repr(fun))
        self.fwd: Callable[..., Any] | None = None
        self.bwd: Callable[..., Any] | None = None

    def defvjp(self, fwd: Callable[..., Any], bwd: Callable[..., Any]) -> None:
        """Set the rule: ``fwd(*args) -> (out, residuals)``, ``bwd(residuals, g) -> tuple``.

        ``bwd`` returns one gradient per positional argument, each of that
        argument's shape, or ``None`` where there is none.

        Examples
        --------
        >>> import minigrad as mg
        >>> double = custom_vjp(lambda x: x * 2)
        >>> double.defvjp(lambda x: (x * 2, None), lambda residuals, g: (g * 2,))
        >>> mg.grad(lambda x: double(x).sum())([1.0, 5.0])
        Tensor([2., 2.])
        """
        for role, rule in (("fwd", fwd), ("bwd", bwd)):
            if not callable(rule):
                raise TypeError(
                    f"{self.name}.defvjp: {role} must be callable, got {type(rule).__name__}"
                )
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args: Any) -> Tensor:
        if self.fwd is None:
            raise TypeError(
                f"custom_vjp function {self.name!r} has no rule yet: call "
                f"{self.name}.defvjp(fwd, bwd) first"
            )
        result = self.fwd(*args)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                f"fwd of custom_vjp function {self.name!r} must return a pair (out, residuals), "
                f"got {type(result).__name__}"
            )
        out, residuals = result
        out = as_tensor(out)
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        inputs = tuple(args[i] for i in positions)
        return record(
            "custom_vjp",
            out.data,
            inputs,
            rule=self,
            residuals=residuals,
            positions=positions,
            nargs=len(args),
            cache={},
        )

    def __repr__(self) -> str:
        return f"custom_vjp({self.name})"


def _custom_vjp_vjp(
    argnum: int,
    g: Tensor,
    ans: Tensor,
    *inputs: Tensor,
    rule: custom_vjp,
    residuals: Any,
    positions: tuple[int, ...],
    nargs: int,
    cache: dict[str, Any],
) -> Tensor | None:
    # bwd gives every input's gradient at once; the engine asks for them one by one.
    if cache.get("g") is not g:
        grads = rule.bwd(residuals, g)  # type: ignore[misc]
        if not isinstance(grads, tuple | list) or len(grads) != nargs:
            raise ValueError(
                f"bwd of custom_vjp function {rule.name!r} must return a tuple of {nargs} "
                f"gradient(s), one per positional argument, got {grads!r}"
            )
        cache["g"], cache["grads"] = g, tuple(grads)
    gradient = cache["grads"][positions[argnum]]
    if gradient is None:
        return None
    gradient = as_tensor(gradient, like=inputs[argnum])
    if gradient.shape != inputs[argnum].shape:
        raise ValueError(
            f"bwd of custom_vjp function {rule.name!r} returned a gradient of shape "
            f"{gradient.shape} for argument {positions[argnum]} of shape "
            f"{inputs[argnum].shape}"
        )
    return gradient


engine.defvjp_argnum("custom_vjp", _custom_vjp_vjp)


def _custom_vjp_jvp(
    argnum: int, t: Tensor, ans: Tensor, *inputs: Tensor, rule: custom_vjp, **_: Any
):
    raise TypeError(
        f"cannot take the jvp of custom_vjp function {rule.name!r}: it has a reverse-mode rule "
        "only, so forward mode (jvp, jacfwd, hessian, hvp) cannot go through it; use jacrev, "
        "or write the function with minigrad ops"
    )


forward.defjvp_argnum("custom_vjp", _custom_vjp_jvp)
