"""W5 — a gradient penalty, differentiated: second-order autodiff.

``x`` float64 (64, 128); ``f(x) = sum(logsumexp(x, axis=1))``;
``penalty(x) = (‖∇f(x)‖₂ − 1)²``; one sample computes the penalty and its
gradient with respect to ``x``.

Analytically ``∇f = S``, the row-wise softmax, and with ``n = ‖S‖`` and the
softmax Jacobian applied row by row,
``∇penalty = 2 (n − 1) / n · S ⊙ (S − Σ_j S_j²)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import Implementation, Outputs

SHAPE = (64, 128)


def make_data(seed: int = 0) -> np.ndarray:
    """The input, float64."""
    return np.random.default_rng(seed).standard_normal(SHAPE)


def numpy_reference(x: np.ndarray) -> Outputs:
    """Penalty and gradient by hand."""
    shifted = x - x.max(axis=1, keepdims=True)
    s = np.exp(shifted)
    s /= s.sum(axis=1, keepdims=True)
    n = np.sqrt(np.sum(s * s))
    grad = 2 * (n - 1) / n * s * (s - np.sum(s * s, axis=1, keepdims=True))
    return {"penalty": (n - 1) ** 2, "grad": grad}


def _numpy(x: np.ndarray) -> Callable[[], Outputs]:
    return lambda: numpy_reference(x)


def _minigrad(x: np.ndarray) -> Callable[[], Outputs]:
    import minigrad as mg

    grad_f = mg.grad(lambda t: mg.logsumexp(t, axis=1).sum())

    def penalty(t: Any) -> Any:
        g = grad_f(t)
        return (mg.sqrt((g * g).sum()) - 1) ** 2

    value_and_grad = mg.value_and_grad(penalty)

    def run() -> Outputs:
        value, grad = value_and_grad(x)
        return {"penalty": value.data, "grad": grad.data}

    return run


def _minigrad_jit(x: np.ndarray) -> Callable[[], Outputs]:
    import minigrad as mg

    grad_f = mg.grad(lambda t: mg.logsumexp(t, axis=1).sum())

    def penalty(t: Any) -> Any:
        g = grad_f(t)
        return (mg.sqrt((g * g).sum()) - 1) ** 2

    step = mg.jit(mg.value_and_grad(penalty))
    t = mg.Tensor(x)

    def run() -> Outputs:
        value, grad = step(t)
        return {"penalty": value.data, "grad": grad.data}

    return run


def _torch(x: np.ndarray) -> Callable[[], Outputs]:
    import torch

    def run() -> Outputs:
        t = torch.from_numpy(x).requires_grad_(True)
        (g,) = torch.autograd.grad(torch.logsumexp(t, dim=1).sum(), t, create_graph=True)
        penalty = (torch.sqrt((g * g).sum()) - 1) ** 2
        (grad,) = torch.autograd.grad(penalty, t)
        return {"penalty": penalty.detach(), "grad": grad}

    return run


def _jax(x: np.ndarray) -> Callable[[], Outputs]:
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    grad_f = jax.grad(lambda t: jnp.sum(logsumexp(t, axis=1)))
    step = jax.jit(jax.value_and_grad(lambda t: (jnp.sqrt(jnp.sum(grad_f(t) ** 2)) - 1) ** 2))
    xj = jnp.asarray(x)

    def run() -> Outputs:
        value, grad = step(xj)
        return {"penalty": np.asarray(value), "grad": np.asarray(grad)}

    return run


def _autograd(x: np.ndarray) -> Callable[[], Outputs]:
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    grad_f = autograd.grad(lambda t: anp.sum(logsumexp(t, axis=1)))
    value_and_grad = autograd.value_and_grad(lambda t: (anp.sqrt(anp.sum(grad_f(t) ** 2)) - 1) ** 2)

    def run() -> Outputs:
        value, grad = value_and_grad(x)
        return {"penalty": value, "grad": grad}

    return run


IMPLEMENTATIONS = [
    Implementation("numpy analytic", _numpy),
    Implementation("minigrad", _minigrad),
    Implementation("minigrad mg.jit", _minigrad_jit),
    Implementation("pytorch eager", _torch, requires="torch"),
    Implementation("jax jit", _jax, requires="jax"),
    Implementation("autograd", _autograd, requires="autograd"),
]
