"""Reverse-mode function transforms: ``grad``, ``value_and_grad`` and ``vjp``, as in JAX.

``mg.grad(f)`` is a new function that returns the gradient of ``f`` with
respect to one or more of its arguments; ``mg.vjp(f, *primals)`` returns
``f``'s value and a function that pulls any cotangent back to the inputs.
Transforms nest: an argument that already requires grad (as inside an outer
``grad``) is connected to the inner computation, and the inner gradient is
then built as a differentiable graph, so ``mg.grad(mg.grad(f))`` gives the
second derivative. An argument that carries a forward-mode tangent (inside
``jvp``) passes it on, so ``jvp`` of ``grad`` is forward-over-reverse.

Arguments may be pytrees — nested dicts, lists and tuples of arrays or
Tensors (see :mod:`minigrad.pytree`) — and gradients come back in the same
structure.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import engine, forward, grad_mode, ops, pytree
from minigrad.tensor import Tensor

__all__ = ["grad", "value_and_grad", "vjp"]


def _argnum_tuple(argnums: int | tuple[int, ...], nargs: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not isinstance(n, int) or not -nargs <= n < nargs:
            raise ValueError(
                f"argnums {argnums!r} is out of range for {nargs} positional argument(s)"
            )
    return tuple(n % nargs for n in nums)


def _differentiable_input(value: Any, position: int | str, nested: bool) -> Tensor:
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
    leaf = Tensor(array, requires_grad=True)
    if isinstance(value, Tensor):
        # Inside jvp the fresh leaf moves with its argument (forward-over-reverse).
        forward.carry_tangents(value, leaf)
    return leaf


def _leaf_name(position: int, treedef: pytree.TreeDef, index: int) -> int | str:
    """How an error message names a leaf: the argument, and the leaf if it is a pytree."""
    return position if treedef.kind == "leaf" else f"{position} (leaf {index})"


def _watched(args: Any, nums: tuple[int, ...]) -> bool:
    """Does any leaf of the differentiated arguments already require grad?"""
    for n in nums:
        if isinstance(args[n], Tensor):  # the common case, without the pytree machinery
            if args[n].requires_grad:
                return True
            continue
        leaves, _ = pytree.flatten(args[n])
        if any(isinstance(leaf, Tensor) and leaf.requires_grad for leaf in leaves):
            return True
    return False


def _prepare(
    args: tuple[Any, ...], nums: tuple[int, ...], nested: bool
) -> tuple[list[Any], list[list[Tensor]], list[pytree.TreeDef]]:
    """The call's arguments with differentiable leaves in place of the chosen ones."""
    call_args = list(args)
    inputs: list[list[Tensor]] = []
    treedefs: list[pytree.TreeDef] = []
    for n in nums:
        if isinstance(args[n], Tensor | np.ndarray):  # one array: no pytree to take apart
            fresh_leaf = _differentiable_input(args[n], n, nested)
            inputs.append([fresh_leaf])
            treedefs.append(pytree.LEAF)
            call_args[n] = fresh_leaf
            continue
        leaves, treedef = pytree.flatten(args[n])
        fresh = [
            _differentiable_input(leaf, _leaf_name(n, treedef, i), nested)
            for i, leaf in enumerate(leaves)
        ]
        inputs.append(fresh)
        treedefs.append(treedef)
        call_args[n] = pytree.unflatten(treedef, fresh)
    return call_args, inputs, treedefs


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
        differentiate by. Other arguments pass through untouched. An
        argument may be a pytree (nested dicts, lists, tuples of arrays).
    has_aux
        ``fun`` returns ``(value, aux)``; ``aux`` is passed through.

    Returns
    -------
    callable
        ``(value, grad)`` or, with ``has_aux``, ``((value, aux), grad)``;
        ``grad`` is a Tensor of the argument's shape and dtype (a pytree of
        them, shaped like a pytree argument), or a tuple of them for a tuple
        ``argnums``.

    Examples
    --------
    >>> import minigrad as mg
    >>> value, slope = mg.value_and_grad(lambda x: (x ** 3).sum())(2.0)
    >>> float(value), float(slope)
    (8.0, 12.0)
    >>> params = {"w": np.array([1.0, 2.0]), "b": 0.5}
    >>> _, grads = mg.value_and_grad(lambda p: ((p["w"] + p["b"]) ** 2).sum())(params)
    >>> grads["w"], grads["b"]
    (Tensor([3., 5.]), Tensor(8.))
    """

    @functools.wraps(fun)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nums = _argnum_tuple(argnums, len(args))
        recording = grad_mode.is_grad_enabled()
        # An argument that already requires grad means an outer transform is watching.
        nested = recording and _watched(args, nums)
        call_args, grouped, treedefs = _prepare(args, nums, nested)
        inputs = [leaf for group in grouped for leaf in group]
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
        if all(treedef is pytree.LEAF for treedef in treedefs):
            per_argument = grads  # plain arrays: nothing to rebuild
        else:
            per_argument = pytree.unflatten_args(treedefs, grads)
        grad_out = per_argument[0] if isinstance(argnums, int) else tuple(per_argument)
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


def vjp(fun: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """Evaluate ``fun(*primals)`` and return a function pulling cotangents back to them.

    Parameters
    ----------
    fun
        A function of tensors returning a Tensor (or a pytree of them); with
        ``has_aux`` a pair ``(out, aux)``.
    *primals
        The arguments: arrays, numbers, Tensors or pytrees of them. Every
        one is differentiated by.
    has_aux
        ``fun`` returns ``(out, aux)``; ``aux`` is returned as it is.

    Returns
    -------
    tuple
        ``(out, vjp_fn)`` or, with ``has_aux``, ``(out, vjp_fn, aux)``.
        ``vjp_fn(cotangent)`` — the cotangent shaped like ``out`` — returns a
        tuple with one gradient per primal, ``cotangentᵀ J``, each shaped like
        its primal. It may be called many times (the graph is kept for it).

    Examples
    --------
    >>> import minigrad as mg
    >>> out, vjp_fn = mg.vjp(lambda x, y: x * y, np.array([1.0, 2.0]), 3.0)
    >>> vjp_fn(np.array([1.0, 10.0]))
    (Tensor([ 3., 30.]), Tensor(21.))
    """
    nums = tuple(range(len(primals)))
    recording = grad_mode.is_grad_enabled()
    nested = recording and _watched(primals, nums)
    call_args, grouped, treedefs = _prepare(primals, nums, nested)
    inputs = [leaf for group in grouped for leaf in group]
    with grad_mode.enable_grad():
        result = fun(*call_args)
    aux = None
    if has_aux:
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError("with has_aux=True the function must return a pair (out, aux)")
        result, aux = result
    out_leaves, out_tree = pytree.flatten(result)
    outputs = [_tensor_output(leaf) for leaf in out_leaves]
    nested = nested or (
        recording and any(engine.reaches_other_grad_tensors(o, inputs) for o in outputs)
    )

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        cotangent_leaves, cotangent_tree = pytree.flatten(cotangent)
        if cotangent_tree != out_tree:
            raise ValueError(
                f"the cotangent has structure {cotangent_tree.describe()}, the output "
                f"{out_tree.describe()}"
            )
        totals: list[Tensor | None] = [None] * len(inputs)
        for output, raw in zip(outputs, cotangent_leaves, strict=True):
            seed = _cotangent(raw, output)
            if not seed.requires_grad and not seed.data.any():
                continue  # a zero cotangent pulls back to zero (jacrev seeds one output at a time)
            record = nested or seed.requires_grad
            grads = engine.gradients(
                output, inputs, create_graph=record, grad_output=seed, retain_graph=True
            )
            for i, g in enumerate(grads):
                totals[i] = g if totals[i] is None else ops.add(totals[i], g)
        grads = [
            t if t is not None else Tensor._wrap(np.zeros(x.shape, dtype=x.dtype))
            for t, x in zip(totals, inputs, strict=True)
        ]
        return tuple(pytree.unflatten_args(treedefs, grads))

    values = [o if nested else o.detach() for o in outputs]
    out = pytree.unflatten(out_tree, values)
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def _tensor_output(value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number | np.ndarray | np.generic):
        return Tensor._wrap(np.asarray(value, dtype=np.float64))
    raise TypeError(
        f"the function must return Tensors or numbers (or pytrees of them), got "
        f"{type(value).__name__}"
    )


def _cotangent(value: Any, output: Tensor) -> Tensor:
    seed = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
    if seed.shape != output.shape:
        raise ValueError(
            f"the cotangent has shape {seed.shape}, but the output it is paired with has shape "
            f"{output.shape}"
        )
    if seed.dtype != output.dtype:
        seed = ops.astype(seed, output.dtype)
    return seed
