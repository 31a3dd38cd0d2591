"""The benchmark harness: validate every implementation, then time them side by side.

A workload gives a NumPy reference result and a list of implementations.
Each implementation is built (its compile or trace time measured on its own),
its result is checked against the reference (1e-4 relative), and then all of
them are timed round-robin — one sample of each in turn, repeated — so that
machine noise hits every implementation alike. Reported: the median of the
samples, and ratios computed from medians taken in this same process.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Outputs = Mapping[str, Any]


@dataclass
class Implementation:
    """One way of computing a workload.

    ``build(data)`` returns a zero-argument function that runs the workload
    once and returns its outputs (a mapping of name to array or number).
    ``requires`` names the module it needs; a missing one skips it cleanly.
    """

    name: str
    build: Callable[[Any], Callable[[], Outputs]]
    requires: str | None = None


@dataclass
class Result:
    """The measurements of one implementation."""

    name: str
    median: float = float("nan")
    samples: list[float] = field(default_factory=list)
    first_call: float = float("nan")
    skipped: str | None = None


def _to_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().numpy()
    return np.asarray(value, dtype=np.float64)


def validate(name: str, outputs: Outputs, reference: Outputs, rtol: float = 1e-4) -> None:
    """Raise ``AssertionError`` unless every reference output is matched to ``rtol``."""
    for key, expected in reference.items():
        if key not in outputs:
            raise AssertionError(f"{name}: output {key!r} is missing")
        got, want = _to_array(outputs[key]), _to_array(expected)
        scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-12)
        error = float(np.max(np.abs(got - want))) / scale if want.size else 0.0
        if got.shape != want.shape or not error <= rtol:
            raise AssertionError(
                f"{name}: output {key!r} differs from the NumPy reference "
                f"(relative error {error:.2e}, shapes {got.shape} vs {want.shape})"
            )


def _module_available(module: str | None) -> bool:
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def run(
    implementations: list[Implementation],
    data: Any,
    reference: Outputs,
    *,
    repeats: int = 15,
    inner: int = 1,
    rtol: float = 1e-4,
) -> list[Result]:
    """Build, validate and time every available implementation round-robin."""
    results: list[Result] = []
    runners: dict[str, Callable[[], Outputs]] = {}
    for impl in implementations:
        result = Result(impl.name)
        results.append(result)
        if not _module_available(impl.requires):
            result.skipped = f"{impl.requires} not installed"
            continue
        runner = impl.build(data)
        start = time.perf_counter()
        outputs = runner()  # includes any JIT compilation or tracing
        result.first_call = time.perf_counter() - start
        validate(impl.name, outputs, reference, rtol)
        for _ in range(2):  # warm caches before timing
            runner()
        runners[impl.name] = runner
    by_name = {r.name: r for r in results}
    for _ in range(repeats):
        for name, runner in runners.items():
            start = time.perf_counter()
            for _ in range(inner):
                runner()
            by_name[name].samples.append((time.perf_counter() - start) / inner)
    for result in results:
        if result.samples:
            result.median = statistics.median(result.samples)
    return results


def table(
    title: str,
    results: list[Result],
    *,
    floor: str,
    unit_scale: float = 1e3,
    unit: str = "ms",
    peer: str = "pytorch eager",
    compiled_peer: str = "jax jit",
    per: float = 1.0,
    per_label: str | None = None,
) -> str:
    """Format results as a Markdown table with ratios to the floor and to two peers.

    Below the table, each implementation's first call (tracing and compiling
    included) gets a line of its own.
    """
    by_name = {r.name: r for r in results}
    floor_median = by_name[floor].median
    peer_median = by_name[peer].median if peer in by_name else float("nan")
    jit_median = by_name[compiled_peer].median if compiled_peer in by_name else float("nan")
    head = f"| implementation | median {unit} |"
    if per_label:
        head += f" {per_label} |"
    head += f" × {floor} | × {peer} | × {compiled_peer} | first call ms |"
    lines = [f"### {title}", "", head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.name} | skipped: {r.skipped} |")
            continue
        row = f"| {r.name} | {r.median * unit_scale:.3f} |"
        if per_label:
            row += f" {r.median / per * 1e6:.2f} |"
        row += f" {r.median / floor_median:.2f} |"
        row += f" {r.median / peer_median:.2f} |" if np.isfinite(peer_median) else " – |"
        row += f" {r.median / jit_median:.2f} |" if np.isfinite(jit_median) else " – |"
        row += f" {r.first_call * 1e3:.1f} |"
        lines.append(row)
    lines.append("")
    for r in results:
        if not r.skipped:
            lines.append(
                f"first call (tracing and compiling included), {r.name}: "
                f"{r.first_call * 1e3:.1f} ms"
            )
    return "\n".join(lines)
