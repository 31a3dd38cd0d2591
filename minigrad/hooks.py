"""Tensor hooks: look at, or replace, the gradient with respect to any tensor.

This module lets ``Tensor.register_hook(fn)`` run ``fn(grad)`` when the
backward pass has finished the gradient with respect to that tensor (leaf or
not), and ``Tensor.retain_grad()`` keep that gradient in a non-leaf's
``.grad``. Both are rare, so they live in a side table keyed by tensor
identity rather than in every tensor: the backward pass asks
:func:`any_registered` once and pays nothing more when the table is empty.

The table holds tensors weakly: a tensor that goes away takes its hooks with it.
"""

from __future__ import annotations

import functools
import itertools
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["RemovableHandle", "any_registered", "apply", "register", "retain", "retains_grad"]


class _Entry:
    """The hooks of one tensor, and whether it keeps its gradient."""

    __slots__ = ("hooks", "retain", "tensor")

    def __init__(self, tensor_ref: weakref.ref[Any]) -> None:
        self.tensor = tensor_ref
        self.hooks: dict[int, Callable[[Any], Any]] = {}
        self.retain = False


_lock = threading.RLock()  # RLock: a weakref callback may fire while it is held
_entries: dict[int, _Entry] = {}
_next_id = itertools.count()


def _entry_for(tensor: Any) -> _Entry:
    """The entry of ``tensor``, made on first use (call with ``_lock`` held)."""
    key = id(tensor)
    entry = _entries.get(key)
    if entry is None or entry.tensor() is not tensor:
        # The entry goes away with the tensor, so a later tensor at the same id starts clean.
        ref = weakref.ref(tensor, functools.partial(_forget, key))
        entry = _entries[key] = _Entry(ref)
    return entry


def _forget(key: int, dead: weakref.ref[Any]) -> None:
    """Drop the entry of a tensor that is gone, unless a newer tensor took its id already."""
    with _lock:
        entry = _entries.get(key)
        if entry is not None and entry.tensor is dead:
            del _entries[key]


def _lookup(tensor: Any) -> _Entry | None:
    entry = _entries.get(id(tensor))
    if entry is None or entry.tensor() is not tensor:
        return None
    return entry


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook.

    Removing twice, or after the tensor is gone, does nothing.

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0], requires_grad=True)
    >>> handle = x.register_hook(lambda g: g * 0)
    >>> handle.remove()
    >>> (2 * x).sum().backward()
    >>> x.grad
    Tensor([2.])
    """

    def __init__(self, entry: _Entry, hook_id: int) -> None:
        self._entry = entry
        self._hook_id = hook_id

    def remove(self) -> None:
        """Unregister the hook."""
        with _lock:
            self._entry.hooks.pop(self._hook_id, None)


def register(tensor: Any, fn: Callable[[Any], Any]) -> RemovableHandle:
    """Register ``fn`` as a gradient hook of ``tensor`` (see ``Tensor.register_hook``).

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0], requires_grad=True)
    >>> handle = register(x, lambda g: g * 2)
    >>> (x * 1.0).sum().backward()
    >>> x.grad
    Tensor([2.])
    """
    if not callable(fn):
        raise TypeError(f"a hook must be callable, got {type(fn).__name__} {fn!r}")
    with _lock:
        entry = _entry_for(tensor)
        hook_id = next(_next_id)
        entry.hooks[hook_id] = fn
    return RemovableHandle(entry, hook_id)


def retain(tensor: Any) -> None:
    """Make the backward pass store the gradient of the non-leaf ``tensor`` in its ``.grad``.

    Examples
    --------
    >>> import minigrad as mg
    >>> y = mg.Tensor([1.0], requires_grad=True) * 2
    >>> retain(y)
    >>> retains_grad(y)
    True
    """
    with _lock:
        _entry_for(tensor).retain = True


def retains_grad(tensor: Any) -> bool:
    """Does the non-leaf ``tensor`` keep its gradient (``retain_grad()`` was called)?

    Examples
    --------
    >>> import minigrad as mg
    >>> retains_grad(mg.Tensor([1.0], requires_grad=True) * 2)
    False
    """
    entry = _lookup(tensor)
    return entry is not None and entry.retain


def any_registered() -> bool:
    """Is any tensor hooked or retaining its gradient? (Checked once per backward pass.)

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0], requires_grad=True)
    >>> handle = x.register_hook(print)
    >>> any_registered()
    True
    """
    return bool(_entries)


def apply(node: Any, grad: Any) -> Any:
    """Run ``node``'s hooks on its complete gradient; return the gradient that flows on.

    Hooks run in registration order, each seeing the previous one's result.
    A retained non-leaf then accumulates the final gradient into its ``.grad``
    (after the hooks, as in PyTorch).

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0], requires_grad=True)
    >>> handle = x.register_hook(lambda g: g + 1)
    >>> apply(x, mg.Tensor([1.0]))
    Tensor([2.])
    """
    entry = _lookup(node)
    if entry is None:
        return grad
    for fn in list(entry.hooks.values()):
        replacement = fn(grad)
        if replacement is None:
            continue
        if not isinstance(replacement, type(grad)):
            replacement = type(grad)(replacement, dtype=grad.dtype)
        if replacement.shape != grad.shape:
            raise ValueError(
                f"hook {getattr(fn, '__name__', fn)!r} returned a gradient of shape "
                f"{replacement.shape} for a tensor whose gradient has shape {grad.shape}"
            )
        grad = replacement
    if entry.retain and node._op is not None:
        # A private copy: the same array may travel on as another tensor's gradient.
        kept = grad if grad.requires_grad else type(grad)._wrap(grad.data.copy())
        with _lock:
            node._grad = kept if node._grad is None else node._grad + kept
    return grad
