"""W2 — per-op overhead: a 200-op chain on a 16-element float64 vector, then backward.

The chain cycles through ``* 1.01``, ``+ 0.1``, ``tanh``, ``exp(y * 0.01)`` and
``- 0.05`` (``exp(y * 0.01)`` counts as one link of the chain), then sums.
One sample is the forward pass and the backward pass; the table reports
microseconds per link.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.harness import Implementation, Outputs

LINKS = 200
SIZE = 16


def make_data(seed: int = 0) -> np.ndarray:
    """The input vector."""
    return np.random.default_rng(seed).uniform(-1, 1, SIZE)


def _chain(y: Any, exp: Any, tanh: Any) -> Any:
    for i in range(LINKS):
        step = i % 5
        if step == 0:
            y = y * 1.01
        elif step == 1:
            y = y + 0.1
        elif step == 2:
            y = tanh(y)
        elif step == 3:
            y = exp(y * 0.01)
        else:
            y = y - 0.05
    return y


def numpy_reference(x: np.ndarray) -> Outputs:
    """Forward with a tape of local derivatives, then the backward product by hand."""
    y = x.copy()
    slopes = []
    for i in range(LINKS):
        step = i % 5
        if step == 0:
            y = y * 1.01
            slopes.append(1.01)
        elif step == 1:
            y = y + 0.1
            slopes.append(1.0)
        elif step == 2:
            y = np.tanh(y)
            slopes.append(1 - y * y)
        elif step == 3:
            y = np.exp(y * 0.01)
            slopes.append(0.01 * y)
        else:
            y = y - 0.05
            slopes.append(1.0)
    g = np.ones_like(y)
    for slope in reversed(slopes):
        g = g * slope
    return {"value": y.sum(), "grad": g}


def _numpy(x: np.ndarray):
    return lambda: numpy_reference(x)


def _minigrad(x: np.ndarray):
    import minigrad as mg

    def run() -> Outputs:
        t = mg.Tensor(x, requires_grad=True)
        out = _chain(t, mg.exp, mg.tanh).sum()
        out.backward()
        return {"value": out.data, "grad": t.grad.data}

    return run


def _torch(x: np.ndarray):
    import torch

    def run() -> Outputs:
        t = torch.tensor(x, requires_grad=True)
        out = _chain(t, torch.exp, torch.tanh).sum()
        out.backward()
        return {"value": out.detach(), "grad": t.grad}

    return run


def _autograd(x: np.ndarray):
    import autograd
    import autograd.numpy as anp

    value_and_grad = autograd.value_and_grad(lambda t: anp.sum(_chain(t, anp.exp, anp.tanh)))

    def run() -> Outputs:
        value, grad = value_and_grad(x)
        return {"value": value, "grad": grad}

    return run


def _minigrad_jit(x: np.ndarray):
    import minigrad as mg

    step = mg.jit(mg.value_and_grad(lambda t: _chain(t, mg.exp, mg.tanh).sum()))
    t = mg.Tensor(x)

    def run() -> Outputs:
        value, grad = step(t)
        return {"value": value.data, "grad": grad.data}

    return run


def _jax(x: np.ndarray):
    import jax
    import jax.numpy as jnp

    step = jax.jit(jax.value_and_grad(lambda t: jnp.sum(_chain(t, jnp.exp, jnp.tanh))))
    xj = jnp.asarray(x)

    def run() -> Outputs:
        value, grad = step(xj)
        return {"value": np.asarray(value), "grad": np.asarray(grad)}

    return run


IMPLEMENTATIONS = [
    Implementation("numpy analytic", _numpy),
    Implementation("minigrad", _minigrad),
    Implementation("minigrad mg.jit", _minigrad_jit),
    Implementation("pytorch eager", _torch, requires="torch"),
    Implementation("jax jit", _jax, requires="jax"),
    Implementation("autograd", _autograd, requires="autograd"),
]
