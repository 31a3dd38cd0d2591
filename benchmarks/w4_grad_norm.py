"""W4 — the gradient norm of a big tensor: ``compute_grad_norm(lambda x: (x * x).sum(), x)``.

``x`` is float32 with 16 M elements (64 MB). The floor is memory bandwidth, so
the table is followed by the bytes each route moves and the machine's copy
bandwidth. The norm must be exact: accumulated in float64, it is checked
against a float64 reference to 1e-7 relative (float32 accumulation drifts by
~1e-4 at this size).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import Implementation, Outputs

SIZE = 1 << 24


def make_data(seed: int = 0) -> np.ndarray:
    """The input, float32."""
    return np.random.default_rng(seed).standard_normal(SIZE, dtype=np.float32)


def reference(x: np.ndarray) -> Outputs:
    """The exact norm of the gradient 2x, in float64."""
    g = 2 * x.astype(np.float64)
    return {"norm": math.sqrt(float(g @ g))}


def copy_bandwidth(x: np.ndarray, repeats: int = 5) -> float:
    """Bytes per second of a plain array copy (read + write), the best of a few."""
    out = np.empty_like(x)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(out, x)
        best = min(best, time.perf_counter() - start)
    return 2 * x.nbytes / best


def _numpy(x: np.ndarray) -> Callable[[], Outputs]:
    def run() -> Outputs:
        g = 2 * x  # the stored gradient
        # Accumulate in float64 without a float64 copy of g (einsum casts in blocks).
        return {"norm": math.sqrt(float(np.einsum("i,i->", g, g, dtype=np.float64)))}

    return run


def _gradtrack(x: np.ndarray) -> Callable[[], Outputs]:
    from gradtrack.tracker import compute_grad_norm

    return lambda: {"norm": compute_grad_norm(lambda t: (t * t).sum(), x)}


def _gradtrack_jit(x: np.ndarray) -> Callable[[], Outputs]:
    from gradtrack.tracker import compute_grad_norm

    def loss(t: Any) -> Any:
        return (t * t).sum()

    return lambda: {"norm": compute_grad_norm(loss, x, jit=True)}


def _torch(x: np.ndarray) -> Callable[[], Outputs]:
    import torch

    def run() -> Outputs:
        t = torch.from_numpy(x).requires_grad_(True)
        (t * t).sum().backward()
        return {"norm": float(torch.linalg.vector_norm(t.grad, dtype=torch.float64))}

    return run


def _jax(x: np.ndarray) -> Callable[[], Outputs]:
    import jax
    import jax.numpy as jnp

    norm = jax.jit(
        lambda v: jnp.sqrt(
            jnp.sum(jnp.square(jax.grad(lambda t: jnp.sum(t * t))(v).astype(jnp.float64)))
        )
    )
    xj = jnp.asarray(x)
    return lambda: {"norm": float(norm(xj))}


def _autograd(x: np.ndarray) -> Callable[[], Outputs]:
    import autograd
    import autograd.numpy as anp

    gradient = autograd.grad(lambda t: anp.sum(t * t))

    def run() -> Outputs:
        g = gradient(x)
        return {"norm": math.sqrt(float(np.einsum("i,i->", g, g, dtype=np.float64)))}

    return run


IMPLEMENTATIONS = [
    Implementation("numpy analytic", _numpy),
    Implementation("gradtrack", _gradtrack),
    Implementation("gradtrack jit=True", _gradtrack_jit),
    Implementation("pytorch eager", _torch, requires="torch"),
    Implementation("jax jit", _jax, requires="jax"),
    Implementation("autograd", _autograd, requires="autograd"),
]
