"""The core stays a straight line for a reader: small files, imports one way.

A student should be able to read ``tensor.py``, ``engine.py`` and
``vjps.py`` in one sitting, bottom to top, without meeting a module that
imports back into one already read. These tests keep it so.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import minigrad

PACKAGE = Path(minigrad.__file__).parent

# Each module of the core, and the minigrad modules it may import (directly or not).
LAYERS = {
    "tensor": set(),
    "ops": {"tensor", "kernels"},
    "engine": {"tensor", "ops", "kernels", "anomaly"},
    "vjps": {"tensor", "ops", "kernels", "engine"},
    "methods": {"tensor", "ops", "kernels", "engine"},
}
# Infrastructure any layer may use, none of it importing other minigrad modules: the
# recording switch, the in-place log, the hooks' side table and the tracer's hook.
ANYWHERE = {"grad_mode", "inplace", "hooks", "tracing"}

LINE_BUDGET = 500


def _sources(name: str) -> list[Path]:
    path = PACKAGE / name
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def _minigrad_imports(path: Path) -> set[str]:
    """The top-level minigrad modules that ``path`` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("minigrad"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "minigrad" and len(parts) > 1:
                    found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_core_imports_run_one_way(layer: str) -> None:
    allowed = LAYERS[layer] | ANYWHERE | {layer}
    for path in _sources(layer):
        imported = _minigrad_imports(path)
        assert imported <= allowed, f"{path.name} imports {sorted(imported - allowed)}"


@pytest.mark.parametrize("name", ["tensor.py", "engine.py", "vjps.py"])
def test_core_files_read_in_one_sitting(name: str) -> None:
    lines = len((PACKAGE / name).read_text().splitlines())
    assert lines <= LINE_BUDGET, f"{name} has {lines} lines (budget {LINE_BUDGET})"
