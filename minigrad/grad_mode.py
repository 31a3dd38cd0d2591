"""Whether operations record a graph: ``no_grad``, ``enable_grad`` and friends.

The switch is per thread (a ``threading.local``), because gradtrack builds
graphs in several worker threads at once: one thread leaving ``no_grad`` must
not turn recording off or on in another. A new thread starts with recording on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ContextDecorator
from typing import Any

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


class _GradSwitch(ContextDecorator):
    """Set this thread's recording mode on entering a block, restore it on leaving.

    Also a decorator: each call of the decorated function gets a fresh switch,
    so recursion and threads never share the saved modes.
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._saved: list[bool] = []

    def __enter__(self) -> None:
        self._saved.append(_state.enabled)
        _state.enabled = self.mode

    def __exit__(self, *exc_info: object) -> None:
        _state.enabled = self._saved.pop()

    def _recreate_cm(self) -> _GradSwitch:
        return _GradSwitch(self.mode)


# Lower-case: it is called like a function, as in PyTorch.
class set_grad_enabled(_GradSwitch):
    """Turn graph recording on or off in this thread: now, or for a ``with`` block.

    As in PyTorch, the mode is set as soon as it is called. Called on its
    own, ``set_grad_enabled(False)`` turns recording off in this thread until
    it is turned on again; used as ``with set_grad_enabled(mode):`` the
    previous mode comes back at the end of the block; used as a decorator,
    it applies to each call of the function (and nothing at decoration time).
    Other threads are never affected.

    Examples
    --------
    >>> with set_grad_enabled(False):
    ...     is_grad_enabled()
    False
    >>> is_grad_enabled()
    True
    >>> _ = set_grad_enabled(False)  # a plain call
    >>> is_grad_enabled()
    False
    >>> _ = set_grad_enabled(True)
    """

    def __init__(self, mode: bool) -> None:
        super().__init__(mode)
        self._saved.append(_state.enabled)
        _state.enabled = self.mode

    def __enter__(self) -> None:
        pass  # already set by the call

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:  # type: ignore[override]
        # As a decorator: undo the call's immediate effect; each call of func switches.
        _state.enabled = self._saved.pop()
        return super().__call__(func)


def no_grad() -> _GradSwitch:
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
    return _GradSwitch(False)


def enable_grad() -> _GradSwitch:
    """Record a graph inside the block, even within an enclosing ``no_grad``.

    Examples
    --------
    >>> with no_grad():
    ...     with enable_grad():
    ...         is_grad_enabled()
    True
    """
    return _GradSwitch(True)
