"""W3 — one MLP training step: 784 → 256 → 10, ReLU, softmax cross-entropy, SGD.

Batch of 128, float32. One sample is forward, backward and the SGD update, as
in a training loop: each implementation keeps its own parameters and updates
them in place, so every sample is the next step of training. The first step,
taken from the shared initial parameters, is the one checked against the
NumPy reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.harness import Implementation, Outputs

BATCH, N_IN, N_HIDDEN, N_OUT = 128, 784, 256, 10
LR = 0.1


def make_data(seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs, labels and initial parameters."""
    rng = np.random.default_rng(seed)

    def uniform(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        bound = 1 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    return {
        "x": rng.standard_normal((BATCH, N_IN)).astype(np.float32),
        "y": rng.integers(0, N_OUT, BATCH),
        "w1": uniform((N_IN, N_HIDDEN), N_IN),
        "b1": uniform((N_HIDDEN,), N_IN),
        "w2": uniform((N_HIDDEN, N_OUT), N_HIDDEN),
        "b2": uniform((N_OUT,), N_HIDDEN),
    }


def numpy_gradients(d: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    """Forward pass and analytic backward pass, by hand: the loss and each gradient."""
    x, y = d["x"], d["y"]
    pre = x @ d["w1"] + d["b1"]
    hidden = np.maximum(pre, 0)
    logits = hidden @ d["w2"] + d["b2"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    sums = exps.sum(axis=1, keepdims=True)
    rows = np.arange(BATCH)
    loss = np.mean(np.log(sums[:, 0]) - shifted[rows, y])
    g_logits = exps / sums
    g_logits[rows, y] -= 1
    g_logits /= BATCH
    g_hidden = g_logits @ d["w2"].T
    g_pre = g_hidden * (pre > 0)
    grads = {
        "w1": x.T @ g_pre,
        "b1": g_pre.sum(axis=0),
        "w2": hidden.T @ g_logits,
        "b2": g_logits.sum(axis=0),
    }
    return float(loss), grads


def numpy_step(d: dict[str, np.ndarray]) -> Outputs:
    """The reference: the loss and the parameters after one SGD step (new arrays)."""
    loss, grads = numpy_gradients(d)
    return {"loss": loss, **{k: d[k] - LR * g for k, g in grads.items()}}


PARAMETERS = ("w1", "b1", "w2", "b2")


def _numpy(d: dict[str, np.ndarray]):
    state = {**d, **{k: d[k].copy() for k in PARAMETERS}}

    def run() -> Outputs:
        loss, grads = numpy_gradients(state)
        for k, g in grads.items():
            state[k] -= LR * g  # in place, as a training loop would
        return {"loss": loss, **{k: state[k] for k in PARAMETERS}}

    return run


def _minigrad(d: dict[str, np.ndarray]):
    import minigrad as mg

    rows = np.arange(BATCH)

    params = {k: mg.Tensor(d[k].copy(), requires_grad=True) for k in PARAMETERS}
    optimizer = mg.optim.SGD(params.values(), lr=LR)

    def run() -> Outputs:
        optimizer.zero_grad()
        hidden = mg.relu(d["x"] @ params["w1"] + params["b1"])
        logits = hidden @ params["w2"] + params["b2"]
        loss = -mg.log_softmax(logits, axis=1)[rows, d["y"]].mean()
        loss.backward()
        optimizer.step()
        return {"loss": loss.data, **{k: p.data for k, p in params.items()}}

    return run


def _torch(d: dict[str, np.ndarray]):
    import torch

    x, y = torch.from_numpy(d["x"]), torch.from_numpy(d["y"])

    params = {k: torch.tensor(d[k], requires_grad=True) for k in PARAMETERS}

    def run() -> Outputs:
        for p in params.values():
            p.grad = None
        hidden = torch.relu(x @ params["w1"] + params["b1"])
        logits = hidden @ params["w2"] + params["b2"]
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        with torch.no_grad():
            for p in params.values():
                p -= LR * p.grad
        return {"loss": loss.detach(), **params}

    return run


def _jax(d: dict[str, np.ndarray]):
    import jax
    import jax.numpy as jnp

    def loss_fn(params: dict[str, Any], x: Any, y: Any) -> Any:
        hidden = jax.nn.relu(x @ params["w1"] + params["b1"])
        logits = hidden @ params["w2"] + params["b2"]
        return -jnp.mean(jax.nn.log_softmax(logits, axis=1)[jnp.arange(BATCH), y])

    @jax.jit
    def step(params: dict[str, Any], x: Any, y: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return loss, {k: params[k] - LR * grads[k] for k in params}

    state = {k: jnp.asarray(d[k]) for k in PARAMETERS}
    x, y = jnp.asarray(d["x"]), jnp.asarray(d["y"])

    def run() -> Outputs:
        loss, new = step(state, x, y)
        loss.block_until_ready()
        state.update(new)
        return {"loss": np.asarray(loss), **{k: np.asarray(v) for k, v in new.items()}}

    return run


def _autograd(d: dict[str, np.ndarray]):
    import autograd
    import autograd.numpy as anp

    def loss_fn(params: dict[str, Any]) -> Any:
        hidden = anp.maximum(anp.dot(d["x"], params["w1"]) + params["b1"], 0)
        logits = anp.dot(hidden, params["w2"]) + params["b2"]
        shifted = logits - anp.max(logits, axis=1, keepdims=True)
        logp = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
        return -anp.mean(logp[np.arange(BATCH), d["y"]])

    value_and_grad = autograd.value_and_grad(loss_fn)

    params = {k: d[k].copy() for k in PARAMETERS}

    def run() -> Outputs:
        loss, grads = value_and_grad(params)
        for k in PARAMETERS:
            params[k] -= LR * grads[k]
        return {"loss": loss, **params}

    return run


IMPLEMENTATIONS = [
    Implementation("numpy analytic", _numpy),
    Implementation("minigrad", _minigrad),
    Implementation("pytorch eager", _torch, requires="torch"),
    Implementation("jax jit", _jax, requires="jax"),
    Implementation("autograd", _autograd, requires="autograd"),
]
