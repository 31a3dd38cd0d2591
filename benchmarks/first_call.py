"""First calls of the compiled (``mg.jit``) rows in fresh processes: cold and warm disk cache.

Each measurement is a new Python process that imports minigrad and gradtrack,
builds the workload and times its first call — tracing, Numba's start-up and
compiling (cold: an empty cache folder) or loading from Numba's disk cache
(warm: the same folder again). Run with ``python -m benchmarks --first-call``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

ROWS = {
    "W1": ("w1_pipeline", "gradtrack jit=True sequential"),
    "W2": ("w2_overhead", "minigrad mg.jit"),
    "W4": ("w4_grad_norm", "gradtrack jit=True"),
    "W5": ("w5_gradient_penalty", "minigrad mg.jit"),
}

_SCRIPT = """
import time
start = time.perf_counter()
import importlib
module = importlib.import_module("benchmarks.{module}")
data = module.make_data()
[impl] = [i for i in module.IMPLEMENTATIONS if i.name == {name!r}]
run = impl.build(data)
imported = time.perf_counter()
run()
done = time.perf_counter()
print(f"{{imported - start:.3f}} {{done - imported:.3f}}")
"""


def measure(module: str, name: str, cache: str) -> tuple[float, float]:
    """Seconds to import and build, and seconds of the first call, in a new process."""
    env = {**os.environ, "MINIGRAD_JIT_CACHE_DIR": cache}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(module=module, name=name)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.split()
    return float(out[0]), float(out[1])


def table() -> str:
    """A Markdown table of cold and warm first calls for every compiled row."""
    lines = [
        "### First call of the compiled rows, each in a new process",
        "",
        "| workload | row | import + build s | first call, cold cache s | "
        "first call, warm cache s |",
        "|---|---|---|---|---|",
    ]
    for workload, (module, name) in ROWS.items():
        with tempfile.TemporaryDirectory() as cache:
            _, cold = measure(module, name, cache)
            built, warm = measure(module, name, cache)
        lines.append(f"| {workload} | {name} | {built:.2f} | {cold:.2f} | {warm:.2f} |")
    return "\n".join(lines)
