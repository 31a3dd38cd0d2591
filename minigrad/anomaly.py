"""Anomaly detection: find the operation that first produced a NaN.

This module lets you wrap a computation in ``with mg.detect_anomaly():`` and
get, instead of a NaN loss a hundred steps later, a ``FloatingPointError``
at the first primitive whose result (forward pass) or input gradient
(backward pass) holds a NaN, naming the primitive, the pass, and the file and
line of your code that called it.

How: while a ``detect_anomaly`` block is open in some thread, a watcher is
shown every primitive's result (see ``minigrad.tensor.record_watchers``). It
notes where in the user's code each graph node was recorded, and checks the
result for NaN. The backward pass asks :func:`checked` once per pass for its
rule-calling function and, inside a block, gets one that checks every input
gradient it computes. Outside any
block the watcher is not installed: nothing is checked and nothing is paid
but one truthiness test per primitive.

A NaN that comes in with the data is not "produced": the forward check
fires only when no input of the primitive held a NaN already.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from minigrad.tensor import Tensor, record_watchers

__all__ = ["backward_pass", "checked", "detect_anomaly", "recorded_at"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class _ThreadState(threading.local):
    depth: int = 0
    in_backward: int = 0


_state = _ThreadState()
_lock = threading.Lock()
_threads_watching = 0
# id(node) -> (weak reference to the node, "file:line" of the user code that recorded it)
_locations: dict[int, tuple[weakref.ref[Tensor], str]] = {}


def _user_location() -> str:
    """``file:line`` of the innermost caller outside the minigrad package."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _has_nan(value: Tensor) -> bool:
    return value.dtype.kind in "fc" and bool(np.isnan(value.data).any())


def _watch(out: Tensor, op: str, inputs: tuple[Tensor, ...], params: dict[str, Any]) -> None:
    """The record watcher: remember where nodes were made; catch a forward NaN."""
    if not _state.depth:
        return
    location = _user_location()
    if out._op is not None:
        key = id(out)
        _locations[key] = (weakref.ref(out, functools.partial(_forget, key)), location)
    # Inside a backward pass the ops belong to some primitive's rule: a NaN there is
    # reported by the gradient check, under that primitive's name.
    if not _state.in_backward and _has_nan(out) and not any(_has_nan(t) for t in inputs):
        raise FloatingPointError(
            f"NaN produced by primitive {op!r} in the forward pass, recorded at {location} "
            f"(output shape {out.shape})"
        )


def _forget(key: int, dead: weakref.ref[Tensor]) -> None:
    """Drop the location of a node that is gone, unless a newer node took its id already."""
    entry = _locations.get(key)
    if entry is not None and entry[0] is dead:
        del _locations[key]


def recorded_at(node: Tensor) -> str:
    """Where ``node`` was recorded, if it was recorded inside ``detect_anomaly``.

    Examples
    --------
    >>> x = Tensor([1.0], requires_grad=True)
    >>> recorded_at(x * 2)
    '<unknown: recorded outside detect_anomaly>'
    """
    entry = _locations.get(id(node))
    if entry is None or entry[0]() is not node:
        return "<unknown: recorded outside detect_anomaly>"
    return entry[1]


InputGradient = Callable[[Tensor, int, Tensor], "Tensor | None"]


def checked(input_gradient: InputGradient) -> InputGradient:
    """``input_gradient`` itself outside ``detect_anomaly``; inside, one that checks for NaN.

    The backward pass asks once per pass, so outside a block every rule call
    costs exactly what it did before.

    Examples
    --------
    >>> rule = lambda node, argnum, g: g
    >>> checked(rule) is rule
    True
    >>> with detect_anomaly():
    ...     checked(rule) is rule
    False
    """
    if not _state.depth:
        return input_gradient

    def checked_input_gradient(node: Tensor, argnum: int, g: Tensor) -> Tensor | None:
        gradient = input_gradient(node, argnum, g)
        if gradient is not None and _has_nan(gradient):
            raise FloatingPointError(
                f"NaN produced by primitive {node._op!r} in the backward pass (the gradient "
                f"of its input {argnum}), recorded at {recorded_at(node)}"
            )
        return gradient

    return checked_input_gradient


_NOT_WATCHING = contextlib.nullcontext()


def backward_pass() -> contextlib.AbstractContextManager[None]:
    """Mark this thread as running a backward pass, inside ``detect_anomaly``.

    The ops that the rules run then count as backward-pass ops: a NaN among
    them is reported by :func:`checked`, under the primitive's name, not as a
    forward NaN. Outside a block, a do-nothing context.

    Examples
    --------
    >>> with np.errstate(invalid="ignore"), detect_anomaly(), backward_pass():
    ...     y = Tensor([-1.0]) ** 0.5  # a NaN, but not a forward-pass one: not reported here
    """
    return _marked_backward() if _state.depth else _NOT_WATCHING


@contextlib.contextmanager
def _marked_backward() -> Iterator[None]:
    _state.in_backward += 1
    try:
        yield
    finally:
        _state.in_backward -= 1


class detect_anomaly(contextlib.ContextDecorator):
    """Raise ``FloatingPointError`` at the first NaN produced, forward or backward.

    Use it as a context manager (or a decorator). It applies to the current
    thread and nests. The message names the primitive (e.g. ``'log'``), the
    pass (``forward`` or ``backward``) and the file and line of your code
    where the primitive was called. Checking costs time (every result is
    scanned, and every node's call site is noted): use it to debug.

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([0.0, 1.0], requires_grad=True)
    >>> with mg.detect_anomaly():
    ...     loss = (mg.sqrt(x) * 3.0).sum()  # d sqrt at 0 is inf; times 0 below is NaN
    ...     (loss * 0.0).backward()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FloatingPointError: NaN produced by primitive 'sqrt' in the backward pass ...
    """

    def __enter__(self) -> detect_anomaly:
        global _threads_watching
        with _lock:
            if _threads_watching == 0:
                record_watchers.append(_watch)
            _threads_watching += 1
        _state.depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        global _threads_watching
        _state.depth -= 1
        with _lock:
            _threads_watching -= 1
            if _threads_watching == 0:
                record_watchers.remove(_watch)
