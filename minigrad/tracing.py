"""The hook that lets :mod:`minigrad.jit` watch a function run.

This module sits at the very bottom of minigrad (it imports only NumPy), so
that :mod:`minigrad.tensor` can report every primitive to a tracer without
knowing what a tracer is. Eager code pays one thread-local read per
primitive; nothing else changes.

While a function is traced, the arrays it computes are :class:`TracedArray`
views: NumPy keeps the subclass through ufuncs, so an array derived from a
traced value by raw NumPy code (outside minigrad's primitives) is still
recognisable as such, and the tracer can refuse to bake it in as a constant.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np

__all__ = ["TracedArray", "TracerError", "active", "is_traced"]


class TracerError(TypeError):
    """Python control flow or a conversion on a value that :func:`minigrad.jit` is tracing.

    While tracing, a tensor stands for every value of its shape and dtype,
    so ``bool(t)``, ``float(t)``, ``t.item()`` and the like have no single
    answer. Make the value a static argument (``static_argnums``), compute
    with ``mg.where`` instead of ``if``, or leave the function un-jitted.

    Examples
    --------
    >>> import minigrad as mg
    >>> issubclass(mg.TracerError, TypeError)  # what a wrong kind of value raises
    True
    """


class TracedArray(np.ndarray):
    """A view marking an array as computed from a function's traced inputs."""

    def __array_finalize__(self, obj: Any) -> None:
        # NumPy makes a ufunc's result as a plain array and then views it as this
        # class: the tracer notes the memory, so plain views of it are known too.
        tracer = _slot.tracer
        if tracer is not None:
            tracer.taint(self)


class Tracer(Protocol):
    """What :mod:`minigrad.tensor` reports to (see :class:`minigrad.jit.trace.Trace`)."""

    def primitive(self, op: str, data: np.ndarray, inputs: tuple[Any, ...], params: dict) -> None:
        """A primitive ``op`` produced ``data`` from ``inputs``; returns the array to keep."""

    def mutation(self) -> None:
        """A tensor is about to be changed in place."""

    def taint(self, array: np.ndarray) -> None:
        """``array`` holds values computed from traced inputs."""

    def grad_written(self, leaf: Any) -> None:
        """``backward()`` is about to accumulate into ``leaf.grad``."""


class _Slot(threading.local):
    tracer: Tracer | None = None


_slot = _Slot()


def active() -> Tracer | None:
    """The tracer watching this thread, or None (the eager case)."""
    return _slot.tracer


def set_active(tracer: Tracer | None) -> Tracer | None:
    """Install ``tracer`` for this thread; returns the one it replaces."""
    previous = _slot.tracer
    _slot.tracer = tracer
    return previous


def is_traced(array: Any) -> bool:
    """Whether ``array`` (or the array it is a view of) was computed from traced inputs."""
    while isinstance(array, np.ndarray):
        if isinstance(array, TracedArray):
            return True
        array = array.base
    return False


def refuse(what: str) -> TracerError:
    """The error for converting a traced tensor with ``what`` (``"bool()"``, ...)."""
    return TracerError(
        f"{what} of a traced tensor inside mg.jit: its value is not known while tracing "
        "(Python control flow on traced values is not supported); use mg.where instead of "
        "if/else, pass the value as a static argument (static_argnums), or call the "
        "function without mg.jit"
    )
