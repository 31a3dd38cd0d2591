"""Forward-mode autodiff: a tangent carried alongside every value.

This module lets you push a direction ``t`` through a function in the same
pass that computes its value: ``mg.jvp(f, (x,), (t,))`` returns ``f(x)`` and
the Jacobian-vector product ``J t`` — one forward pass, no backward pass.

How it works. Inside :func:`jvp` a *level* is open: a table from tensors to
their tangents, seeded with the primals' tangents. Every primitive's result
passes through :func:`minigrad.tensor.record`, which shows it to
:func:`_propagate`; when some input has a tangent at an open level, the
primitive's JVP rules (the table in :mod:`minigrad.jvps`) turn the input
tangents into the output's tangent:

    tangent(out) = Σᵢ jvp_ruleᵢ(tᵢ, out, *inputs, **params)

(each term broadcast to the output's shape — the mirror image of the
reverse pass's ``unbroadcast``). Rules are written with minigrad ops, so a
tangent is itself an ordinary tensor: it can be differentiated in reverse
mode, or carry a tangent of an outer level. That is what makes ``jvp`` of
``jvp``, ``jvp`` of ``grad`` (forward-over-reverse: ``hessian``, ``hvp``) and
``grad`` of ``jvp`` work.

Levels nest. While a level's rule runs, that level and every level opened
inside it are switched off, so the ops computing a tangent are seen only by
the levels outside it — an inner derivative is never mistaken for an outer
one ("perturbation confusion").

Outside ``jvp`` nothing is installed: the only cost to the rest of minigrad
is one truthiness test in ``record``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad import ops, pytree
from minigrad.tensor import Tensor, record_watchers

__all__ = [
    "argnum_jvp_rules",
    "carry_tangents",
    "defjvp",
    "defjvp_argnum",
    "has_tangent",
    "jvp",
    "jvp_rules",
]

# A rule maps (t, ans, *inputs, **params) to input i's share of the output's tangent.
JvpRule = Callable[..., Tensor | None]

jvp_rules: dict[str, tuple[JvpRule | None, ...]] = {}
"""Per-input JVP rules, keyed by primitive name (filled by :mod:`minigrad.jvps`)."""

argnum_jvp_rules: dict[str, Callable[..., Tensor | None]] = {}
"""JVP rules of variadic primitives: ``rule(argnum, t, ans, *inputs, **params)``."""


def defjvp(op: str, *rules: JvpRule | None) -> None:
    """Register the JVP rules of primitive ``op``, one per input (None: no dependence).

    Rule ``i`` receives the tangent ``t`` of input ``i`` (of that input's
    shape), the output ``ans``, the inputs and the parameters, and returns
    that input's contribution to the output's tangent; the contributions
    are broadcast to the output's shape and summed.

    Examples
    --------
    >>> defjvp("my_double", lambda t, ans, x: 2 * t)
    >>> "my_double" in jvp_rules
    True
    >>> del jvp_rules["my_double"]
    """
    jvp_rules[op] = rules


def defjvp_argnum(op: str, rule: Callable[..., Tensor | None]) -> None:
    """Register one JVP rule for a variadic primitive; it receives the input's position.

    Examples
    --------
    >>> defjvp_argnum("my_join", lambda argnum, t, ans, *parts: None)
    >>> "my_join" in argnum_jvp_rules
    True
    >>> del argnum_jvp_rules["my_join"]
    """
    argnum_jvp_rules[op] = rule


class _Level:
    """The tangents of one ``jvp`` call: tensor -> tangent, by identity.

    The table holds the tensors themselves, so an id is never reused while
    the level is open; everything goes when the ``jvp`` call returns.
    """

    __slots__ = ("tangents",)

    def __init__(self) -> None:
        self.tangents: dict[int, tuple[Tensor, Tensor]] = {}

    def get(self, value: Tensor) -> Tensor | None:
        entry = self.tangents.get(id(value))
        return entry[1] if entry is not None and entry[0] is value else None

    def set(self, value: Tensor, tangent: Tensor) -> None:
        self.tangents[id(value)] = (value, tangent)


class _ThreadLevels(threading.local):
    # The open levels of this thread, outermost first. Replaced, never mutated, so that
    # switching levels off while a rule runs is restoring a saved tuple.
    open: tuple[_Level, ...] = ()


_levels = _ThreadLevels()
_lock = threading.Lock()
_threads_using = 0


def _output_tangent(
    op: str, out: Tensor, inputs: tuple[Tensor, ...], tangents: list[Tensor | None], params: Any
) -> Tensor | None:
    """Sum of the JVP rules' contributions, each broadcast to the output's shape."""
    argnum_rule = argnum_jvp_rules.get(op)
    rules = jvp_rules.get(op)
    if argnum_rule is None and rules is None:
        raise NotImplementedError(
            f"no JVP rule is defined for primitive {op!r}, so forward mode (jvp, jacfwd, "
            f"hessian, hvp) cannot go through it; register one with "
            f"minigrad.forward.defjvp({op!r}, ...) in minigrad/jvps.py"
        )
    total: Tensor | None = None
    for argnum, tangent in enumerate(tangents):
        if tangent is None:
            continue
        if argnum_rule is not None:
            part = argnum_rule(argnum, tangent, out, *inputs, **params)
        else:
            rule = rules[argnum] if argnum < len(rules) else None  # type: ignore[index]
            part = None if rule is None else rule(tangent, out, *inputs, **params)
        if part is None:
            continue
        if part.shape != out.shape:
            part = ops.broadcast_to(part, out.shape)
        if part.dtype != out.dtype:
            part = ops.astype(part, out.dtype)
        total = part if total is None else ops.add(total, part)
    return total


def _propagate(out: Tensor, op: str, inputs: tuple[Tensor, ...], params: dict[str, Any]) -> None:
    """The record watcher: give ``out`` its tangent at every open level that reaches it."""
    levels = _levels.open
    if not levels or out.dtype.kind != "f":
        return
    # Outermost first: a rule at level k may use ``ans``, whose tangents at the levels
    # outside k (the only ones active while the rule runs) must already be known.
    for depth, level in enumerate(levels):
        tangents = [level.get(t) for t in inputs]
        if all(t is None for t in tangents):
            continue
        # Only the levels outside this one see the ops that compute its tangent.
        _levels.open = levels[:depth]
        try:
            tangent = _output_tangent(op, out, inputs, tangents, params)
        finally:
            _levels.open = levels
        if tangent is not None:
            level.set(out, tangent)


def has_tangent(value: Any) -> bool:
    """Does ``value`` carry a tangent at any open level of this thread?

    Examples
    --------
    >>> seen = []
    >>> _ = jvp(lambda x: seen.append(has_tangent(x)) or x, (1.0,), (1.0,))
    >>> seen, has_tangent(Tensor(1.0))
    ([True], False)
    """
    return isinstance(value, Tensor) and any(level.get(value) is not None for level in _levels.open)


def carry_tangents(source: Tensor, target: Tensor) -> None:
    """Give ``target`` the tangents of ``source`` at every open level.

    Transforms that replace an argument by a fresh leaf (``grad`` does, to
    differentiate by it) call this, so that an enclosing ``jvp`` still sees
    the leaf move with its argument: that is forward-over-reverse.

    Examples
    --------
    >>> def f(x):
    ...     copy = Tensor(x.data)
    ...     carry_tangents(x, copy)
    ...     return copy * 3
    >>> jvp(f, (1.0,), (1.0,))[1]
    Tensor(3.)
    """
    for level in _levels.open:
        tangent = level.get(source)
        if tangent is not None:
            level.set(target, tangent)


class _OpenLevel:
    """Context manager: a new innermost level in this thread, and the watcher installed."""

    def __init__(self) -> None:
        self.level = _Level()

    def __enter__(self) -> _Level:
        global _threads_using
        with _lock:
            if _threads_using == 0:
                record_watchers.append(_propagate)
            _threads_using += 1
        self._saved = _levels.open
        _levels.open = (*self._saved, self.level)
        return self.level

    def __exit__(self, *exc: object) -> None:
        global _threads_using
        _levels.open = self._saved
        with _lock:
            _threads_using -= 1
            if _threads_using == 0:
                record_watchers.remove(_propagate)


def _fresh_primal(value: Any, where: str) -> Tensor:
    """A tensor of its own for a primal: one object per argument, however it was passed."""
    if isinstance(value, Tensor):
        if value.dtype.kind != "f":
            raise TypeError(f"{where} has dtype {value.dtype}: only floating values have tangents")
        if value.requires_grad or has_tangent(value):
            # A recorded copy stays connected to an outer grad or jvp.
            return ops.add(value, 0.0)
        return Tensor._wrap(value.data)
    primal = Tensor(value)
    if primal.dtype.kind != "f":
        raise TypeError(f"{where} has dtype {primal.dtype}: only floating values have tangents")
    return primal


def _as_tangent(value: Any, primal: Tensor, where: str) -> Tensor:
    tangent = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
    if tangent.shape != primal.shape:
        raise ValueError(
            f"the tangent for {where} has shape {tangent.shape}, but the primal has shape "
            f"{primal.shape}"
        )
    if tangent.dtype != primal.dtype:
        tangent = (
            ops.astype(tangent, primal.dtype)
            if tangent.dtype.kind == "f"
            else Tensor(tangent.data.astype(primal.dtype))
        )
    return tangent


def _as_output(value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value
    try:
        return Tensor(value)
    except TypeError:
        raise TypeError(
            f"the function must return Tensors, numbers or arrays (or pytrees of them), got "
            f"{type(value).__name__}"
        ) from None


def jvp(
    fun: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False
) -> tuple[Any, ...]:
    """Evaluate ``fun(*primals)`` and its Jacobian-vector product, in one forward pass.

    Parameters
    ----------
    fun
        A function of tensors returning a Tensor (or a pytree of them).
    primals
        A tuple (or list) of arguments: arrays, numbers, Tensors, or nested
        dicts/lists/tuples of them.
    tangents
        One tangent per primal, of the same structure and shapes.
    has_aux
        ``fun`` returns a pair ``(out, aux)``; ``aux`` is returned as it is.

    Returns
    -------
    tuple
        ``(out, tangent_out)``: the value of ``fun`` and the directional
        derivative ``J · tangents``, of the same structure; with
        ``has_aux``, ``(out, tangent_out, aux)``.

    Raises
    ------
    NotImplementedError
        ``fun`` uses a primitive that has no JVP rule (named in the message).
    TypeError
        ``fun`` calls a ``custom_vjp`` function (it has no forward-mode
        rule), or a primal is not floating.

    Examples
    --------
    >>> import minigrad as mg
    >>> out, slope = mg.jvp(lambda x: mg.sin(x) * x, (2.0,), (1.0,))
    >>> bool(abs(float(slope) - (np.cos(2.0) * 2 + np.sin(2.0))) < 1e-12)
    True
    """
    if not isinstance(primals, tuple | list) or not isinstance(tangents, tuple | list):
        raise TypeError(
            "jvp takes the primals and the tangents as two tuples, e.g. "
            "jvp(f, (x,), (t,)); got "
            f"{type(primals).__name__} and {type(tangents).__name__}"
        )
    if len(primals) != len(tangents):
        raise ValueError(f"jvp got {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    primal_leaves, primal_trees = pytree.flatten_args(primals)
    tangent_leaves, tangent_trees = pytree.flatten_args(tangents)
    for position, (primal_tree, tangent_tree) in enumerate(
        zip(primal_trees, tangent_trees, strict=True)
    ):
        if primal_tree != tangent_tree:
            raise ValueError(
                f"the tangent of primal {position} has structure {tangent_tree.describe()}, "
                f"the primal {primal_tree.describe()}"
            )
    with _OpenLevel() as level:
        inputs = []
        for position, (value, direction) in enumerate(
            zip(primal_leaves, tangent_leaves, strict=True)
        ):
            where = f"primal leaf {position}"
            primal = _fresh_primal(value, where)
            level.set(primal, _as_tangent(direction, primal, where))
            inputs.append(primal)
        out = fun(*pytree.unflatten_args(primal_trees, inputs))
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("with has_aux=True the function must return a pair (out, aux)")
            out, aux = out
        out_leaves, out_tree = pytree.flatten(out)
        out_leaves = [_as_output(leaf) for leaf in out_leaves]
        out_tangents = []
        for leaf in out_leaves:
            tangent = level.get(leaf)
            if tangent is None:  # the output does not depend on the primals
                tangent = Tensor._wrap(np.zeros(leaf.shape, dtype=leaf.dtype))
            out_tangents.append(tangent)
    out = pytree.unflatten(out_tree, out_leaves)
    tangent_out = pytree.unflatten(out_tree, out_tangents)
    return (out, tangent_out, aux) if has_aux else (out, tangent_out)
