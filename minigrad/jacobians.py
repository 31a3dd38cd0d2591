"""Whole Jacobians and Hessians, and Hessian-vector products.

This module lets you ask for the full matrix of derivatives of a function:

* :func:`jacrev` builds the Jacobian row by row, one reverse pass (a
  vector-Jacobian product) per output element — cheap when there are few
  outputs;
* :func:`jacfwd` builds it column by column, one forward pass (a
  Jacobian-vector product) per input element — cheap when there are few
  inputs;
* :func:`hessian` is ``jacfwd(jacrev(f))``: forward mode over reverse mode,
  the usual best way to a Hessian;
* :func:`hvp` is one forward-over-reverse pass, ``H v`` without building ``H``.

A Jacobian has shape ``out.shape + arg.shape``. With a tuple ``argnums`` each
transform returns a tuple (one Jacobian per argument); a pytree argument gives
a pytree of Jacobians, and a pytree output an outer pytree of them, as in JAX.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import ops, pytree
from minigrad.forward import jvp
from minigrad.tensor import Tensor
from minigrad.transforms import _argnum_tuple, grad, vjp

__all__ = ["hessian", "hvp", "jacfwd", "jacrev"]


def _as_leaf(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value)


def _assemble(
    out_leaves: list[Tensor],
    out_tree: pytree.TreeDef,
    arg_leaves: list[Tensor],
    arg_trees: list[pytree.TreeDef],
    blocks: list[list[Tensor]],
    single: bool,
) -> Any:
    """Put ``blocks[k][i]`` (output leaf k by argument leaf i) into the nested result."""
    per_output = []
    for k in range(len(out_leaves)):
        per_argument = pytree.unflatten_args(arg_trees, blocks[k])
        per_output.append(per_argument[0] if single else tuple(per_argument))
    return pytree.unflatten(out_tree, per_output)


def _block(pieces: list[Tensor], axis: int, shape: tuple[int, ...], dtype: Any) -> Tensor:
    """Stack rows (axis 0) or columns (axis -1) of a Jacobian and give it its shape."""
    if not pieces:
        return Tensor._wrap(np.zeros(shape, dtype=dtype))
    return ops.reshape(ops.stack(pieces, axis=axis), shape)


def jacrev(fun: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """Make a function returning the Jacobian of ``fun``, by reverse mode (one VJP per row).

    Parameters
    ----------
    fun
        A function of tensors returning a Tensor (or a pytree of them).
    argnums
        The argument (int) or arguments (tuple) to differentiate by; each may
        be a pytree.

    Returns
    -------
    callable
        The Jacobian, of shape ``out.shape + arg.shape`` (a tuple of them for
        a tuple ``argnums``).

    Examples
    --------
    >>> import minigrad as mg
    >>> mg.jacrev(lambda x: x ** 2)(np.array([1.0, 3.0]))
    Tensor([[2., 0.],
            [0., 6.]])
    """

    @functools.wraps(fun)
    def jacobian(*args: Any, **kwargs: Any) -> Any:
        nums = _argnum_tuple(argnums, len(args))

        def of_chosen(*chosen: Any) -> Any:
            call_args = list(args)
            for n, value in zip(nums, chosen, strict=True):
                call_args[n] = value
            return fun(*call_args, **kwargs)

        out, pullback = vjp(of_chosen, *(args[n] for n in nums))
        out_leaves, out_tree = pytree.flatten(out)
        arg_leaves, arg_trees = pytree.flatten_args([args[n] for n in nums])
        arg_leaves = [_as_leaf(leaf) for leaf in arg_leaves]
        blocks = []
        for k, output in enumerate(out_leaves):
            rows: list[list[Tensor]] = [[] for _ in arg_leaves]
            for j in range(output.size):
                cotangents = [np.zeros(o.shape, dtype=o.dtype) for o in out_leaves]
                cotangents[k].flat[j] = 1.0
                pulled, _ = pytree.flatten_args(pullback(pytree.unflatten(out_tree, cotangents)))
                for i, g in enumerate(pulled):
                    rows[i].append(ops.reshape(g, (-1,)))
            blocks.append(
                [
                    _block(rows[i], 0, output.shape + leaf.shape, leaf.dtype)
                    for i, leaf in enumerate(arg_leaves)
                ]
            )
        return _assemble(
            out_leaves, out_tree, arg_leaves, arg_trees, blocks, isinstance(argnums, int)
        )

    return jacobian


def jacfwd(fun: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """Make a function returning the Jacobian of ``fun``, by forward mode (one JVP per column).

    The same Jacobian as :func:`jacrev`, computed with one :func:`~minigrad.jvp`
    per input element: cheaper when the inputs are fewer than the outputs.

    Examples
    --------
    >>> import minigrad as mg
    >>> mg.jacfwd(lambda x: mg.stack([x.sum(), (x * x).sum()]))(np.array([1.0, 3.0]))
    Tensor([[1., 1.],
            [2., 6.]])
    """

    @functools.wraps(fun)
    def jacobian(*args: Any, **kwargs: Any) -> Any:
        nums = _argnum_tuple(argnums, len(args))
        arg_leaves, arg_trees = pytree.flatten_args([args[n] for n in nums])
        arg_leaves = [_as_leaf(leaf) for leaf in arg_leaves]

        def with_leaf(i: int, value: Tensor) -> Any:
            leaves = list(arg_leaves)
            leaves[i] = value
            call_args = list(args)
            for n, chosen in zip(nums, pytree.unflatten_args(arg_trees, leaves), strict=True):
                call_args[n] = chosen
            return fun(*call_args, **kwargs)

        columns: list[list[list[Tensor]]] = []  # columns[i][k]: leaf i, output leaf k
        out = None
        for i, leaf in enumerate(arg_leaves):
            per_output: list[list[Tensor]] | None = None
            for j in range(leaf.size):
                direction = np.zeros(leaf.shape, dtype=leaf.dtype)
                direction.flat[j] = 1.0
                out, tangent = jvp(functools.partial(with_leaf, i), (leaf,), (direction,))
                tangent_leaves, _ = pytree.flatten(tangent)
                if per_output is None:
                    per_output = [[] for _ in tangent_leaves]
                for k, t in enumerate(tangent_leaves):
                    per_output[k].append(t)
            columns.append(per_output or [])
        if out is None:  # no input element at all: evaluate once for the output's shape
            out = fun(*args, **kwargs)
        out_leaves, out_tree = pytree.flatten(out)
        out_leaves = [_as_leaf(o) for o in out_leaves]
        blocks = [
            [
                _block(
                    columns[i][k] if columns[i] else [],
                    -1,
                    output.shape + leaf.shape,
                    output.dtype,
                )
                for i, leaf in enumerate(arg_leaves)
            ]
            for k, output in enumerate(out_leaves)
        ]
        return _assemble(
            out_leaves, out_tree, arg_leaves, arg_trees, blocks, isinstance(argnums, int)
        )

    return jacobian


def hessian(fun: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """Make a function returning the Hessian of a scalar ``fun``: ``jacfwd(jacrev(fun))``.

    Forward mode over reverse mode: one reverse pass, differentiated in
    forward mode once per input element. For a scalar ``fun`` the Hessian
    has shape ``arg.shape + arg.shape``; a tuple ``argnums`` gives a tuple
    of tuples of blocks (``H[i][j]`` = d²f / d argᵢ d argⱼ).

    Examples
    --------
    >>> import minigrad as mg
    >>> mg.hessian(lambda x: (x[0] ** 2) * x[1])(np.array([1.0, 2.0]))
    Tensor([[4., 2.],
            [2., 0.]])
    """
    return jacfwd(jacrev(fun, argnums), argnums)


def hvp(fun: Callable[..., Any], x: Any, v: Any) -> Any:
    """The Hessian-vector product ``H(x) v`` of a scalar ``fun``, forward-over-reverse.

    One forward-mode pass through the gradient computation: the cost of a
    couple of gradients, whatever the size of ``x``; ``H`` is never built.
    ``x`` and ``v`` may be pytrees of the same structure.

    Examples
    --------
    >>> import minigrad as mg
    >>> mg.hvp(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    Tensor([ 6., 12.])
    """
    return jvp(grad(fun), (x,), (v,))[1]
