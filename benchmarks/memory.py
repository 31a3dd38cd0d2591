"""Peak memory of one run of an implementation, measured in a fresh process.

Each implementation runs alone in a child process (so one library's caches
cannot hide another's). The child warms the implementation up (compilation
and tracing excluded), resets the kernel's high-water mark of its resident
set (Linux ``/proc/self/clear_refs``), reads its resident size, runs once,
and reads the high-water mark again: the difference is the extra memory the
run itself needed at its peak — inputs, imports and compilers excluded.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import Any

import numpy as np

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


def _peak_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def measure_here(workload: str, name: str) -> dict[str, Any]:
    """Run implementation ``name`` of ``workload`` once (after a warm-up) in this process."""
    from minigrad.memory import tune_allocator

    tune_allocator()  # as in the timed runs (see benchmarks.__main__)
    module = __import__(f"benchmarks.{workload}", fromlist=["IMPLEMENTATIONS"])
    impl = next(i for i in module.IMPLEMENTATIONS if i.name == name)
    data = module.make_data()
    runner = impl.build(data)
    runner()  # compile, trace and warm caches: not part of the peak we report
    _reset_peak()
    before = _current_rss()
    runner()
    return {"before": before, "peak": _peak_rss()}


def measure(workload: str, name: str) -> float | None:
    """Extra peak memory (MB) of one run of ``name``, or None if it could not run."""
    code = (
        "import json, sys; from benchmarks.memory import measure_here;"
        f"print(json.dumps(measure_here({workload!r}, {name!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    return max(0, numbers["peak"] - numbers["before"]) / 1e6


def table(workload: str, title: str, names: list[str]) -> str:
    """A Markdown table of the extra peak memory of each implementation."""
    lines = [f"### {title}", "", "| implementation | extra peak MB |", "|---|---|"]
    for name in names:
        megabytes = measure(workload, name)
        shown = "not available" if megabytes is None else f"{megabytes:.1f}"
        lines.append(f"| {name} | {shown} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a manual entry point
    np.set_printoptions(precision=3)
    print(table(sys.argv[1], sys.argv[1], sys.argv[2:]))
