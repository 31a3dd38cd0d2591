"""Learning-rate schedules: ``StepLR``, ``CosineAnnealingLR``, ``LambdaLR``.

A scheduler sets its optimizer's ``lr`` at construction (epoch 0) and at
every :meth:`~LRScheduler.step` (one per epoch, after the optimizer's step),
with PyTorch's formulas — the same recursive forms, so the numbers agree to
the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from minigrad.optim.optimizers import Optimizer

__all__ = ["CosineAnnealingLR", "LRScheduler", "LambdaLR", "StepLR"]


class LRScheduler:
    """Base class: remembers the initial lr and the epoch count."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"expected a minigrad Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self._last_lr = optimizer.lr

    def _next_lr(self) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the optimizer's learning rate."""
        self.last_epoch += 1
        self.optimizer.lr = self._next_lr()
        self._last_lr = self.optimizer.lr

    def get_last_lr(self) -> list[float]:
        """The learning rate set last, in a list (one per parameter group, as PyTorch)."""
        return [self._last_lr]

    def state_dict(self) -> dict[str, Any]:
        """The epoch count and learning rates (not the optimizer)."""
        return {"last_epoch": self.last_epoch, "base_lr": self.base_lr, "last_lr": self._last_lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.last_epoch = int(state["last_epoch"])
        self.base_lr = float(state["base_lr"])
        self._last_lr = float(state["last_lr"])


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Examples
    --------
    >>> from minigrad import Tensor
    >>> from minigrad.optim import SGD
    >>> opt = SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> schedule = StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(4):
    ...     schedule.step()
    ...     lrs.append(schedule.get_last_lr()[0])
    >>> lrs
    [1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_size must be a positive int, got {step_size!r}")
        super().__init__(optimizer)
        self.step_size = step_size
        self.gamma = float(gamma)

    def _next_lr(self) -> float:
        if self.last_epoch % self.step_size != 0:
            return self.optimizer.lr
        return self.optimizer.lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """Anneal from the initial lr to ``eta_min`` along a half cosine over ``T_max`` epochs.

    Examples
    --------
    >>> from minigrad import Tensor
    >>> from minigrad.optim import SGD
    >>> opt = SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> schedule = CosineAnnealingLR(opt, T_max=2)
    >>> schedule.step(); round(schedule.get_last_lr()[0], 6)
    0.5
    >>> schedule.step(); round(schedule.get_last_lr()[0], 6)
    0.0
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"T_max must be a positive int, got {T_max!r}")
        super().__init__(optimizer)
        self.T_max = T_max
        self.eta_min = float(eta_min)

    def _next_lr(self) -> float:
        # PyTorch's recursive form (it also continues past T_max, rising again).
        lr, epoch, period = self.optimizer.lr, self.last_epoch, self.T_max
        if (epoch - 1 - period) % (2 * period) == 0:
            return lr + (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / period)) / 2
        return (1 + math.cos(math.pi * epoch / period)) / (
            1 + math.cos(math.pi * (epoch - 1) / period)
        ) * (lr - self.eta_min) + self.eta_min


class LambdaLR(LRScheduler):
    """Set the learning rate to ``initial lr × lr_lambda(epoch)``.

    Examples
    --------
    >>> from minigrad import Tensor
    >>> from minigrad.optim import SGD
    >>> opt = SGD([Tensor([1.0], requires_grad=True)], lr=0.1)
    >>> schedule = LambdaLR(opt, lambda epoch: 0.5**epoch)
    >>> schedule.step(); schedule.get_last_lr()
    [0.05]
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        if not callable(lr_lambda):
            raise TypeError(f"lr_lambda must be callable, got {type(lr_lambda).__name__}")
        super().__init__(optimizer)
        self.lr_lambda = lr_lambda
        optimizer.lr = self._last_lr = self.base_lr * lr_lambda(0)

    def _next_lr(self) -> float:
        return self.base_lr * self.lr_lambda(self.last_epoch)
