"""Opt in to keeping freed array memory in the process, so the next array can reuse it.

A backward pass allocates many short-lived arrays of the same few sizes. With
glibc's default settings, arrays above 128 KB are mapped fresh from the OS
and handed back when freed, so every new intermediate pays page faults on
first touch — for a (32, 2048) float32 array that costs more than the
arithmetic itself. PyTorch avoids this with a caching allocator; NumPy uses
the C allocator, whose thresholds :func:`tune_allocator` raises.

**It is opt-in.** ``import minigrad`` never calls it: the thresholds are
process-wide, and a library must not change how its host application's
memory behaves. Call it once at the start of a process that mostly trains
(``gradtrack demo`` and ``python -m benchmarks`` do). Measured on Linux,
glibc, 2 cores (medians):

========================================================  ==========  ==========
                                                          default     tuned
========================================================  ==========  ==========
entropy regularizer, value and gradient, (32, 2048) f32   0.92 ms     0.31 ms
memory kept after the host frees 2.4 GB of 1.6 MB arrays  0 MB        250 MB
========================================================  ==========  ==========

The second row is the price: up to ``TRIM_THRESHOLD`` (256 MB) of freed
memory stays with the process for reuse instead of going back to the OS.
It does nothing off Linux/glibc, or when ``MINIGRAD_TUNE_MALLOC=0`` is set.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["tune_allocator"]

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 2**20
"""Allocations below this come from the heap (glibc's own dynamic ceiling)."""
TRIM_THRESHOLD = 256 * 2**20
"""Free heap memory kept for reuse before any is returned to the OS."""


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds for the whole process; return whether they were set.

    Opt-in (see the module docstring for what it gains and costs); calling it
    again is harmless.

    Examples
    --------
    >>> tune_allocator() in (True, False)
    True
    """
    if not sys.platform.startswith("linux") or os.environ.get("MINIGRAD_TUNE_MALLOC") == "0":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
