"""The one place where minigrad's Numba policy lives.

* Lazy: nothing is compiled at import; a kernel compiles on its first call
  (and this module itself is only imported when a Numba kernel is first used,
  because importing Numba costs a few tenths of a second).
* ``nogil=True``: compiled kernels release the GIL, so gradtrack's parallel
  executor really overlaps them.
* ``cache=True``, guarded: compiled code is written next to the source (or to
  Numba's user cache) so later processes load it in milliseconds; on a
  read-only install with no usable cache location, compilation still works,
  just without the cache.
* No blanket ``fastmath``: its ``nnan``/``ninf`` flags let LLVM assume there
  are no infinities, which breaks ``-inf`` logprobs. Reductions opt into the
  harmless subset below, which only allows reassociating sums (so they
  vectorise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba

# Reassociation and contraction (FMA) only: no assumptions about NaN or inf.
REASSOCIATE = frozenset({"reassoc", "contract"})


def jit(fastmath: frozenset[str] | bool = False) -> Callable[[Callable[..., Any]], Any]:
    """Compile a function with minigrad's Numba policy (lazy, nogil, guarded cache)."""

    def decorate(function: Callable[..., Any]) -> Any:
        options: dict[str, Any] = {"nogil": True, "fastmath": set(fastmath) if fastmath else False}
        try:
            return numba.njit(cache=True, **options)(function)
        except (RuntimeError, OSError):
            # No writable cache location (e.g. a read-only install): compile without one.
            return numba.njit(cache=False, **options)(function)

    return decorate
