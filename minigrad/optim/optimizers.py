"""Optimizers that update parameters from their ``.grad``: ``SGD``, ``Adam``, ``AdamW``.

Each step follows PyTorch's update formulas operation by operation (the
default, single-tensor code paths), so that the same settings give the same
numbers. An optimizer changes ``p.data`` in place — the one sanctioned
in-place change to a tensor that requires grad, made between training steps,
when no graph still needs the old value.

The learning rate lives in ``opt.lr``, where the schedulers of
:mod:`minigrad.optim.lr_scheduler` change it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from minigrad.tensor import Tensor

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]


def _non_negative(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


class Optimizer:
    """Base class: holds the parameters, the learning rate and per-parameter state.

    ``state[i]`` is a dict of arrays and counters for parameter ``i``;
    :meth:`state_dict` returns it with the hyperparameters, ready for
    :func:`minigrad.save`.
    """

    hyperparameters: tuple[str, ...] = ("lr",)

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimizer got no parameters")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"parameter {i} is not a Tensor that requires grad")
        if isinstance(lr, bool) or not (isinstance(lr, int | float) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        self.lr = float(lr)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget the accumulated gradients (set every ``.grad`` to None, as PyTorch does)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        raise NotImplementedError

    def _gradients(self) -> Iterable[tuple[Tensor, np.ndarray, dict[str, Any]]]:
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is not None:
                yield p, p.grad.data, state

    def state_dict(self) -> dict[str, Any]:
        """The hyperparameters and a copy of every parameter's state.

        Examples
        --------
        >>> w = Tensor([1.0], requires_grad=True)
        >>> opt = SGD([w], lr=0.1, momentum=0.9)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> opt.state_dict()["state"]["0"]["momentum_buffer"]
        array([2.])
        """
        return {
            "hyperparameters": {name: getattr(self, name) for name in self.hyperparameters},
            "state": {
                str(i): {
                    key: value.copy() if isinstance(value, np.ndarray) else value
                    for key, value in state.items()
                }
                for i, state in enumerate(self.state)
                if state
            },
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by :meth:`state_dict`.

        Examples
        --------
        >>> w = Tensor([1.0], requires_grad=True)
        >>> opt = Adam([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> fresh = Adam([w], lr=0.5)
        >>> fresh.load_state_dict(opt.state_dict())
        >>> fresh.lr, fresh.state[0]["step"]
        (0.1, 1)
        """
        for key in ("hyperparameters", "state"):
            if key not in state_dict:
                raise KeyError(f"optimizer state dict has no {key!r} entry")
        unknown = sorted(set(state_dict["hyperparameters"]) - set(self.hyperparameters))
        if unknown:
            raise KeyError(f"unknown hyperparameters {unknown} for {type(self).__name__}")
        new_state: list[dict[str, Any]] = [{} for _ in self.params]
        for key, entry in state_dict["state"].items():
            index = int(key)
            if not 0 <= index < len(self.params):
                raise KeyError(f"state for parameter {index}, but there are {len(self.params)}")
            for name, value in entry.items():
                if isinstance(value, np.ndarray | Tensor):
                    array = np.array(value.data if isinstance(value, Tensor) else value)
                    if array.shape != self.params[index].shape:
                        raise ValueError(
                            f"state {name!r} of parameter {index} has shape {array.shape}, "
                            f"the parameter {self.params[index].shape}"
                        )
                    value = array.astype(self.params[index].dtype)
                new_state[index][name] = value
        for name, value in state_dict["hyperparameters"].items():
            setattr(self, name, tuple(value) if isinstance(value, list | np.ndarray) else value)
        self.state = new_state


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

    As PyTorch: ``d = g + wd p``; with momentum ``b = d`` at the first step
    and ``b = μ b + d`` after; ``d = d + μ b`` (Nesterov) or ``d = b``;
    ``p -= lr d``.

    Examples
    --------
    >>> w = Tensor([1.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.data
    array([0.8])
    """

    hyperparameters = ("lr", "momentum", "weight_decay", "nesterov")

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _non_negative("momentum", momentum)
        self.weight_decay = _non_negative("weight_decay", weight_decay)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        self.nesterov = bool(nesterov)

    def step(self) -> None:
        """One SGD update of every parameter that has a gradient."""
        for p, g, state in self._gradients():
            d = g + self.weight_decay * p.data if self.weight_decay else g
            if self.momentum:
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    buffer = np.array(d, dtype=p.dtype)
                else:
                    buffer *= self.momentum
                    buffer += d
                state["momentum_buffer"] = buffer
                d = d + self.momentum * buffer if self.nesterov else buffer
            p.data -= (self.lr * d).astype(p.dtype, copy=False)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` adds ``wd p`` to the gradient.

    As PyTorch: ``m = β₁ m + (1-β₁) g``, ``v = β₂ v + (1-β₂) g²``,
    ``p -= lr/(1-β₁ᵗ) · m / (√v / √(1-β₂ᵗ) + eps)``, with ``t`` counted per
    parameter.

    Examples
    --------
    >>> w = Tensor([1.0, -1.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> np.round(w.data, 6)
    array([ 0.9, -0.9])
    """

    hyperparameters = ("lr", "betas", "eps", "weight_decay")
    decoupled = False

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = _non_negative("eps", eps)
        self.weight_decay = _non_negative("weight_decay", weight_decay)

    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        beta1, beta2 = self.betas
        for p, g, state in self._gradients():
            if not state:
                state.update(
                    step=0, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data)
                )
            state["step"] += 1
            if self.weight_decay:
                if self.decoupled:
                    p.data *= 1 - self.lr * self.weight_decay
                else:
                    g = g + self.weight_decay * p.data
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m += (g - m) * (1 - beta1)  # PyTorch's lerp: m + (1-β₁)(g - m)
            v *= beta2
            v += (1 - beta2) * g * g
            step = state["step"]
            step_size = self.lr / (1 - beta1**step)
            denom = np.sqrt(v) / math.sqrt(1 - beta2**step) + self.eps
            p.data -= (step_size * (m / denom)).astype(p.dtype, copy=False)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr·wd`` before the Adam step.

    Examples
    --------
    >>> w = Tensor([1.0], requires_grad=True)
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> np.round(w.data, 6)
    array([0.85])
    """

    decoupled = True

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
