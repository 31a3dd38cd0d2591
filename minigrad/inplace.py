"""The in-place log: when each block of memory was last changed in place.

This module lets the backward pass refuse a gradient that an in-place change
would make wrong. It knows nothing of tensors: it logs changes against the
NumPy array that owns the memory, so a change made through any view counts.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

__all__ = ["InplaceLog", "inplace_log", "memory_owner"]


def memory_owner(array: np.ndarray) -> np.ndarray:
    """The array that owns ``array``'s memory (``array`` itself when it is not a view).

    Examples
    --------
    >>> a = np.zeros(4)
    >>> memory_owner(a[1:].reshape(3, 1)) is a
    True
    """
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


class InplaceLog:
    """When each block of memory was last changed in place, on one global clock.

    The clock ticks at every in-place change (``t[i] = v``). A recorded node
    notes the clock when it is made; if the memory of one of its inputs was
    changed later, the backward pass would read the new values where the
    old ones were used, so it refuses (see ``engine``). Changes are logged
    against the array that owns the memory, so a change made through any
    view of a tensor (``t.reshape(...)[0] = v``, ``t.T[1] = v``, a
    ``detach()``-ed alias) counts as a change of the tensor itself.
    """

    def __init__(self) -> None:
        self.now = 0
        self._lock = threading.Lock()
        # id(owner) -> (weak reference to the owner, clock at its latest change)
        self._changed: dict[int, tuple[weakref.ref[np.ndarray], int]] = {}

    def mark_changed(self, array: np.ndarray) -> None:
        """Log an in-place change to ``array``'s memory."""
        owner = memory_owner(array)
        key = id(owner)
        with self._lock:
            self.now += 1
            # The entry goes away with the array, so a later array at the same id
            # does not inherit it.
            forget = weakref.ref(owner, lambda _, key=key: self._changed.pop(key, None))
            self._changed[key] = (forget, self.now)

    def changed_at(self, array: np.ndarray) -> int:
        """The clock at the latest in-place change to ``array``'s memory (0: never)."""
        owner = memory_owner(array)
        entry = self._changed.get(id(owner))
        if entry is None or entry[0]() is not owner:
            return 0
        return entry[1]


inplace_log = InplaceLog()
