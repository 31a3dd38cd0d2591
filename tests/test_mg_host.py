"""minigrad as a guest in someone else's process: no side effects on import, PyTorch habits work.

``import minigrad`` must leave the C allocator alone (tuning it is opt-in),
``Module`` finds parameters wherever PyTorch users keep them, and
``set_grad_enabled`` works called on its own, in a ``with`` block and as a
decorator, in the calling thread only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

REPO = Path(__file__).resolve().parents[1]

# A host program's work: 300 MB in 1 MB arrays, then freed. How much stays with the process?
_KEPT_AFTER_FREE = """
import sys
import numpy as np
import minigrad
if sys.argv[1] == "tuned":
    assert minigrad.memory.tune_allocator()

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 1e6

before = resident_mb()
arrays = [np.ones(131_072) for _ in range(300)]
del arrays
print(resident_mb() - before)
"""


def kept_after_free(mode: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _KEPT_AFTER_FREE, mode],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "MINIGRAD_TUNE_MALLOC": "1"},
        timeout=120,
        check=True,
    )
    return float(result.stdout.strip())


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and os.path.exists("/proc/self/statm")),
    reason="the allocator tuning exists on Linux/glibc only",
)
def test_import_leaves_the_allocator_alone_and_tuning_is_opt_in() -> None:
    untouched = kept_after_free("import-only")
    assert untouched < 20  # freed memory goes back to the OS, as without minigrad
    # The control: the opt-in tuning is what keeps freed memory, so the check above can fail.
    assert kept_after_free("tuned") > untouched + 20


def test_the_demo_opts_in_to_the_allocator_tuning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradtrack.demo import run

    calls: list[int] = []
    monkeypatch.setattr(run, "tune_allocator", lambda: calls.append(1) or True)
    config = run.DemoConfig(steps=1, out=tmp_path / "run", plot=False, quiet=True)
    run.run_demo(config)
    assert calls == [1]


# ---------------------------------------------------------------- Module


class Heads(nn.Module):
    def __init__(self) -> None:
        self.heads = {"a": nn.Linear(3, 2, rng=0), "b": nn.Linear(3, 1, rng=1)}
        self.scales = {"a": mg.Tensor(np.ones(2), requires_grad=True)}
        self.nested = [({"deep": nn.Linear(3, 1, rng=2)},)]
        self.frozen = {"table": mg.Tensor(np.ones(3))}  # no grad: not a parameter

    def forward(self, x: Any) -> mg.Tensor:
        a = self.heads["a"](x) * self.scales["a"]
        return a.sum() + self.heads["b"](x).sum() + self.nested[0][0]["deep"](x).sum()


def test_module_finds_parameters_in_dicts_lists_and_tuples() -> None:
    model = Heads()
    found = model.parameters()
    expected = [
        model.heads["a"].weight,
        model.heads["a"].bias,
        model.heads["b"].weight,
        model.heads["b"].bias,
        model.scales["a"],
        model.nested[0][0]["deep"].weight,
        model.nested[0][0]["deep"].bias,
    ]
    assert [id(p) for p in found] == [id(p) for p in expected]
    # Training updates them all, as PyTorch users expect.
    before = [p.data.copy() for p in found]
    model(np.ones((4, 3), dtype=np.float32)).backward()
    mg.optim.SGD(found, lr=0.1).step()
    assert all(not np.array_equal(b, p.data) for b, p in zip(before, found, strict=True))


# ------------------------------------------------------------ set_grad_enabled


def test_set_grad_enabled_as_a_plain_call_sets_this_threads_mode() -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    seen_elsewhere: list[bool] = []
    try:
        mg.set_grad_enabled(False)
        assert not mg.is_grad_enabled()
        assert not (x * 2).requires_grad
        other = threading.Thread(target=lambda: seen_elsewhere.append(mg.is_grad_enabled()))
        other.start()
        other.join(timeout=10)
        assert seen_elsewhere == [True]  # other threads keep their own mode
    finally:
        mg.set_grad_enabled(True)
    assert mg.is_grad_enabled() and (x * 2).requires_grad


def test_set_grad_enabled_as_a_block_and_a_decorator_restores_the_mode() -> None:
    with mg.set_grad_enabled(False):
        assert not mg.is_grad_enabled()
        with mg.set_grad_enabled(True):
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()

    @mg.set_grad_enabled(False)
    def values_only(x: mg.Tensor) -> bool:
        return (x * 2).requires_grad

    assert mg.is_grad_enabled()  # decorating changed nothing
    assert values_only(mg.Tensor([1.0], requires_grad=True)) is False
    assert mg.is_grad_enabled()

    @mg.no_grad()
    def recursive(depth: int) -> bool:
        return mg.is_grad_enabled() if depth == 0 else recursive(depth - 1)

    assert recursive(3) is False and mg.is_grad_enabled()
