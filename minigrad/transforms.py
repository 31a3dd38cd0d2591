"""Function transforms: ``grad`` and ``value_and_grad``, in the style of JAX.

``mg.grad(f)`` is a new function that returns the gradient of ``f`` with
respect to one or more of its arguments. Transforms nest: an argument that
already requires grad (as inside an outer ``grad``) is connected to the
inner computation, and the inner gradient is then built as a differentiable
graph, so ``mg.grad(mg.grad(f))`` gives the second derivative.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import engine, grad_mode, ops
from minigrad.tensor import Tensor

__all__ = ["grad", "value_and_grad"]


def _argnum_tuple(argnums: int | tuple[int, ...], nargs: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not isinstance(n, int) or not -nargs <= n < nargs:
            raise ValueError(
                f"argnums {argnums!r} is out of range for {nargs} positional argument(s)"
            )
    return tuple(n % nargs for n in nums)


def _differentiable_input(value: Any, position: int, nested: bool) -> Tensor:
    """A tensor for argument ``position`` that the function's result can be differentiated by."""
    if isinstance(value, Tensor) and value.requires_grad and nested:
        # Stay connected to the outer computation: differentiate w.r.t. a copy node.
        return ops.add(value, 0.0)
    array = value.data if isinstance(value, Tensor) else Tensor(value).data
    if array.dtype.kind != "f":
        raise TypeError(
            f"cannot differentiate with respect to argument {position}: its dtype is "
            f"{array.dtype}, not floating"
        )
    return Tensor(array, requires_grad=True)


def _scalar_output(out: Any) -> Tensor:
    """The function's result as a tensor, insisting on a scalar."""
    if isinstance(out, Tensor):
        result = out
    elif isinstance(out, numbers.Number | np.ndarray | np.generic):
        result = Tensor._wrap(np.asarray(out, dtype=np.float64))
    else:
        raise TypeError(
            f"the function must return a scalar Tensor or number, got {type(out).__name__}"
        )
    if result.size != 1:
        raise ValueError(
            f"the function must return a scalar, got shape {result.shape}; reduce it first "
            "(e.g. .sum())"
        )
    return result


def value_and_grad(
    fun: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """Make a function returning both ``fun``'s value and its gradient.

    Parameters
    ----------
    fun
        A function of tensors returning a scalar (a one-element Tensor or a
        number); with ``has_aux`` a pair ``(scalar, aux)``.
    argnums
        The position (int) or positions (tuple) of the arguments to
        differentiate by. Other arguments pass through untouched.
    has_aux
        ``fun`` returns ``(value, aux)``; ``aux`` is passed through.

    Returns
    -------
    callable
        ``(value, grad)`` or, with ``has_aux``, ``((value, aux), grad)``;
        ``grad`` is a Tensor of the argument's shape and dtype, or a tuple of
        them for a tuple ``argnums``.

    Examples
    --------
    >>> import minigrad as mg
    >>> value, slope = mg.value_and_grad(lambda x: (x ** 3).sum())(2.0)
    >>> float(value), float(slope)
    (8.0, 12.0)
    """

    @functools.wraps(fun)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nums = _argnum_tuple(argnums, len(args))
        recording = grad_mode.is_grad_enabled()
        # An argument that already requires grad means an outer transform is watching.
        nested = recording and any(
            isinstance(args[n], Tensor) and args[n].requires_grad for n in nums
        )
        call_args = list(args)
        inputs = []
        for n in nums:
            inputs.append(_differentiable_input(args[n], n, nested))
            call_args[n] = inputs[-1]
        with grad_mode.enable_grad():
            out = fun(*call_args, **kwargs)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("with has_aux=True the function must return a pair (value, aux)")
            out, aux = out
        value = _scalar_output(out)
        # So is a result that depends on other tensors requiring grad (weights passed as
        # other arguments or captured by a closure): then the gradient must be a graph
        # that can be differentiated again, as in a gradient penalty.
        nested = nested or (recording and engine.reaches_other_grad_tensors(value, inputs))
        grads = engine.gradients(value, inputs, create_graph=nested)
        if not nested:
            value = value.detach()
        grad_out = grads[0] if isinstance(argnums, int) else tuple(grads)
        return ((value, aux), grad_out) if has_aux else (value, grad_out)

    return wrapped


def grad(
    fun: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """Make a function returning the gradient of ``fun`` (see :func:`value_and_grad`).

    Examples
    --------
    >>> import minigrad as mg
    >>> d2 = mg.grad(mg.grad(lambda x: x ** 3))
    >>> float(d2(2.0))
    12.0
    """
    both = value_and_grad(fun, argnums, has_aux)

    @functools.wraps(fun)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if has_aux:
            (_, aux), gradient = both(*args, **kwargs)
            return gradient, aux
        return both(*args, **kwargs)[1]

    return wrapped
