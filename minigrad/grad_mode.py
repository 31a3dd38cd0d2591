"""Whether operations record a graph: ``no_grad``, ``enable_grad`` and friends.

The switch is per thread (a ``threading.local``), because gradtrack builds
graphs in several worker threads at once: one thread leaving ``no_grad`` must
not turn recording off or on in another. A new thread starts with recording on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

__all__ = ["enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled"]


class _GradState(threading.local):
    enabled: bool = True


_state = _GradState()


def is_grad_enabled() -> bool:
    """Tell whether operations in this thread record a graph.

    Examples
    --------
    >>> is_grad_enabled()
    True
    >>> with no_grad():
    ...     is_grad_enabled()
    False
    """
    return _state.enabled


@contextmanager
def set_grad_enabled(mode: bool) -> Iterator[None]:
    """Turn graph recording on or off in this thread for the ``with`` block.

    Examples
    --------
    >>> with set_grad_enabled(False):
    ...     is_grad_enabled()
    False
    """
    previous = _state.enabled
    _state.enabled = bool(mode)
    try:
        yield
    finally:
        _state.enabled = previous


def no_grad() -> AbstractContextManager[None]:
    """Record no graph inside the block (or the decorated function).

    Results computed under ``no_grad`` never require grad, which saves the
    memory and time of recording when only values are wanted.

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0, 2.0], requires_grad=True)
    >>> with mg.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    return set_grad_enabled(False)


def enable_grad() -> AbstractContextManager[None]:
    """Record a graph inside the block, even within an enclosing ``no_grad``.

    Examples
    --------
    >>> with no_grad():
    ...     with enable_grad():
    ...         is_grad_enabled()
    True
    """
    return set_grad_enabled(True)
