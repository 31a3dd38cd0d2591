"""The code generator: one group of fused nodes becomes one Numba loop, written as Python.

For a group over an array of shape ``(rows, columns)`` the kernel is::

    for r in range(n_outer):              # one pass over memory
        w0 = 0.0                          # row sums (float64)
        for c in range(n_inner):
            i = r * n_inner + c
            v1 = np.float32(np.exp(a0[i]))   # each node: one expression, cast to its dtype
            v2 = np.float32(v1 * a0[i])
            w0 += v2
        r0[r] = w0

Operands come in as flat arrays (``a0`` read at ``[i]``, ``[r]``, ``[c]`` or
``[0]`` as they broadcast), scalar constants in one float64 array
(``scalars``), outputs as flat arrays to fill (``o0``) and sums as arrays of
one value per row, one per column, or one in all (``r0``). Sums are taken in
float64. The module is written to a cache
folder and imported, so Numba's ``cache=True`` keeps the machine code on disk
between processes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad.jit.ir import Const, Node, Var

if TYPE_CHECKING:
    from minigrad.jit.fusion import Group

__all__ = ["Kernel", "can_fuse", "generate"]

# Each fusable primitive as a scalar expression of its operands {0}, {1}, {2}.
EXPRESSIONS: dict[str, str] = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "div": "{0} / {1}",
    "pow": "np.power({0}, {1})",
    "neg": "-{0}",
    "square": "{0} * {0}",
    "exp": "np.exp({0})",
    "log": "np.log({0})",
    "log1p": "np.log1p({0})",
    "sqrt": "np.sqrt({0})",
    "tanh": "np.tanh({0})",
    "sin": "np.sin({0})",
    "cos": "np.cos({0})",
    "abs": "abs({0})",
    "sign": "_sign({0})",
    "relu": "_relu({0})",
    "sigmoid": "_sigmoid({0})",
    "softplus": "_softplus({0})",
    "maximum": "_maximum({0}, {1})",
    "minimum": "_minimum({0}, {1})",
    "where": "({0} if {2} else {1})",
    "astype": "{0}",
    "cast": "{0}",
    "sum": "{0}",
}

COMPARISONS = {
    "less": "<",
    "less_equal": "<=",
    "greater": ">",
    "greater_equal": ">=",
    "equal": "==",
    "not_equal": "!=",
}

# Helpers with NumPy's exact conventions (NaN propagation, stable formulas).
HELPERS: dict[str, str] = {
    "_sign": """
@numba.njit(error_model="numpy")
def _sign(x):
    # Plain float results: the caller casts to the node's dtype (x - x would be NaN at inf).
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x * 0.0 if x == 0 else x
""",
    "_relu": """
@numba.njit(error_model="numpy")
def _relu(x):
    return x if (x > 0 or x != x) else 0.0
""",
    "_sigmoid": """
@numba.njit(error_model="numpy")
def _sigmoid(x):
    e = np.exp(-abs(x))
    return 1 / (1 + e) if x >= 0 else e / (1 + e)
""",
    "_softplus": """
@numba.njit(error_model="numpy")
def _softplus(x):
    # np.logaddexp(0, x)
    if x == 0:
        return x + np.log(x - x + 2)
    if x > 0:
        return x + np.log1p(np.exp(-x))
    if x <= 0:
        return np.log1p(np.exp(x))
    return x
""",
    "_maximum": """
@numba.njit(error_model="numpy")
def _maximum(a, b):
    if a != a or b != b:
        return a + b  # NaN, as np.maximum
    return a if a >= b else b
""",
    "_minimum": """
@numba.njit(error_model="numpy")
def _minimum(a, b):
    if a != a or b != b:
        return a + b  # NaN, as np.minimum
    return a if a <= b else b
""",
}


SUPPORTED_DTYPES = frozenset({np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.bool_)})


def can_fuse(node: Node) -> bool:
    """Whether the code generator can write ``node`` into a fused loop."""
    dtypes = [o.dtype for o in node.inputs] + [node.out.dtype]
    if not all(dtype in SUPPORTED_DTYPES for dtype in dtypes):
        return False
    if node.op == "compare":
        return node.params["ufunc"].__name__ in COMPARISONS
    if node.op == "clip":
        return all(_is_scalar(node.params[k]) for k in ("lo", "hi"))
    if node.op == "sum":  # a sum over no axis at all is a copy: left to NumPy
        return node.inputs[0].dtype.kind == "f" and bool(node.params["axes"] or not node.out.shape)
    if node.op == "pow":
        return all(_kind(o) == "f" for o in node.inputs)
    return node.op in EXPRESSIONS


def _kind(operand: Var | Const) -> str:
    return operand.dtype.kind if isinstance(operand, Var) else operand.value.dtype.kind


def _is_scalar(value: Any) -> bool:
    return value is None or (np.ndim(value) == 0 and np.asarray(value).dtype.kind in "fiub")


@dataclass
class Kernel:
    """A generated kernel: its source, its compiled function, and how to call it."""

    name: str
    source: str
    reads: list[tuple[Var | Const, str]]
    scalars: np.ndarray
    stores: list[Var]
    sums: list[tuple[Var, str]]
    function: Any = None


def _dtype_name(dtype: np.dtype) -> str:
    return "np.bool_" if dtype.kind == "b" else f"np.{dtype.name}"


def generate(group: Group) -> Kernel:
    """Write the kernel of ``group`` (not yet compiled)."""
    names: dict[int, str] = {}  # Var index -> local name inside the loop
    reads: list[tuple[Var | Const, str]] = []
    read_names: dict[tuple[int, str], str] = {}
    scalars: list[float] = []
    before: list[str] = []  # once per call
    row_reads: list[str] = []  # once per row
    body: list[str] = []  # once per element
    helpers: set[str] = set()
    sums: list[tuple[Var, str]] = []
    after_row: list[str] = []
    after_all: list[str] = []
    row_init: list[str] = []

    def scalar_const(value: Any, dtype: np.dtype) -> str:
        if isinstance(value, np.ndarray) and (id(value), "k") in read_names:
            return read_names[(id(value), "k")]
        scalars.append(float(np.asarray(value).reshape(())))
        name = f"k{len(scalars) - 1}"
        cast = "" if dtype.kind == "b" else _dtype_name(dtype)
        expr = f"scalars[{len(scalars) - 1}]"
        before.append(f"{name} = {cast}({expr})" if cast else f"{name} = {expr} != 0")
        if isinstance(value, np.ndarray):
            read_names[(id(value), "k")] = name
        return name

    def operand(node: Node, slot: int) -> str:
        value = node.inputs[slot]
        read = group.reads.get((id(node), slot))
        if read is None:
            return names[value.index]
        source, kind = read.source, read.kind
        if isinstance(source, Var) and source.index in group.members:
            return names[source.index]
        if isinstance(source, Const) and kind == "scalar":
            return scalar_const(source.value, source.value.dtype)
        key = (id(source), kind)
        if key not in read_names:
            arg = f"a{len(reads)}"
            reads.append((source, kind))
            if kind == "scalar":
                before.append(f"{arg}_0 = {arg}[0]")
                read_names[key] = f"{arg}_0"
            elif kind == "row":
                row_reads.append(f"{arg}_r = {arg}[r]")
                read_names[key] = f"{arg}_r"
            else:
                read_names[key] = f"{arg}[{'i' if kind == 'full' else 'c'}]"
        return read_names[key]

    for node in group.nodes:
        args = [operand(node, slot) for slot in range(len(node.inputs))]
        out = node.out
        if node.op == "sum":
            axes = node.params["axes"]
            kind = "all" if len(axes) == len(group.shape) else "row" if axes[0] > 0 else "col"
            target = f"r{len(sums)}"
            sums.append((out, kind))
            if kind == "all":
                acc = f"t{len(sums) - 1}"
                before.append(f"{acc} = 0.0")
                after_all.append(f"{target}[0] = {acc}")
            elif kind == "row":
                acc = f"w{len(sums) - 1}"
                row_init.append(f"{acc} = 0.0")
                after_row.append(f"{target}[r] = {acc}")
            else:
                acc = f"q{len(sums) - 1}[c]"
                before.append(f"q{len(sums) - 1} = np.zeros(n_inner)")
                after_all.append(f"{target}[:] = q{len(sums) - 1}")
            body.append(f"{acc} += {args[0]}")
            continue
        if node.op == "compare":
            expr = f"({args[0]} {COMPARISONS[node.params['ufunc'].__name__]} {args[1]})"
        elif node.op == "clip":
            expr = args[0]
            lo, hi = node.params["lo"], node.params["hi"]
            if lo is not None:
                helpers.add("_maximum")
                expr = f"_maximum({expr}, {scalar_const(lo, out.dtype)})"
            if hi is not None:
                helpers.add("_minimum")
                expr = f"_minimum({expr}, {scalar_const(hi, out.dtype)})"
        else:
            template = EXPRESSIONS[node.op]
            expr = template.format(*args)
            helpers.update(h for h in HELPERS if h + "(" in template)
        local = f"v{out.index}"
        if out.dtype.kind == "b":
            body.append(f"{local} = {expr}")
        else:
            body.append(f"{local} = {_dtype_name(out.dtype)}({expr})")
        names[out.index] = local
    stores = list(group.stores)
    for number, var in enumerate(stores):
        body.append(f"o{number}[i] = {names[var.index]}")
    params = ["n_outer", "n_inner", "scalars"]
    params += [f"a{k}" for k in range(len(reads))]
    params += [f"o{k}" for k in range(len(stores))]
    params += [f"r{k}" for k in range(len(sums))]
    lines = [f"def kernel({', '.join(params)}):"]
    lines += [f"    {line}" for line in before]
    lines.append("    for r in range(n_outer):")
    lines += [f"        {line}" for line in row_init + row_reads]
    lines.append("        for c in range(n_inner):")
    lines.append("            i = r * n_inner + c")
    lines += [f"            {line}" for line in body]
    lines += [f"        {line}" for line in after_row]
    lines += [f"    {line}" for line in after_all]
    kernel_text = "\n".join(lines) + "\n"
    digest = hashlib.sha1(kernel_text.encode()).hexdigest()[:16]
    name = f"fused_{digest}"
    source = _module_source(name, kernel_text.replace("def kernel(", f"def {name}(", 1), helpers)
    return Kernel(name, source, reads, np.array(scalars, dtype=np.float64), stores, sums)


_HEADER = '''"""Generated by minigrad.jit: one fused loop."""
import numba
import numpy as np
'''

_DECORATOR = '@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})\n'


def _module_source(name: str, kernel_text: str, helpers: set[str]) -> str:
    parts = [_HEADER]
    parts += [HELPERS[h] for h in sorted(helpers)]
    parts.append("\n" + _DECORATOR + kernel_text)
    return "".join(parts)


# ------------------------------------------------------------------ compiling

_compiled: dict[str, Any] = {}
_lock = threading.Lock()


def cache_dir() -> Path | None:
    """Where generated modules (and Numba's cache of them) live; None if nowhere is writable."""
    configured = os.environ.get("MINIGRAD_JIT_CACHE_DIR")
    if configured:
        root = Path(configured)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = Path(base) / "minigrad" / "jit"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return root if os.access(root, os.W_OK) else None


def compile_kernel(kernel: Kernel) -> Any:
    """The compiled function of ``kernel``: from memory, from disk, or freshly compiled."""
    with _lock:
        function = _compiled.get(kernel.name)
        if function is not None:
            return function
        function = _load(kernel)
        _compiled[kernel.name] = function
        return function


def _load(kernel: Kernel) -> Any:
    folder = cache_dir()
    if folder is not None:
        path = folder / f"{kernel.name}.py"
        try:
            if not path.exists() or path.read_text() != kernel.source:
                temporary = path.with_suffix(f".{os.getpid()}.tmp")
                temporary.write_text(kernel.source)
                os.replace(temporary, path)
            spec = importlib.util.spec_from_file_location(f"minigrad_jit_{kernel.name}", path)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
                return getattr(module, kernel.name)
        except (OSError, RuntimeError):
            pass  # fall through: compile without the disk cache
    namespace: dict[str, Any] = {}
    exec(
        compile(kernel.source.replace("cache=True", "cache=False"), kernel.name, "exec"), namespace
    )
    return namespace[kernel.name]
