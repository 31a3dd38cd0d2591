"""Optimizers, gradient clipping and learning-rate schedules.

* :mod:`minigrad.optim.optimizers` — ``SGD``, ``Adam``, ``AdamW``, each step
  equal to PyTorch's for the same settings, with ``state_dict`` /
  ``load_state_dict``;
* :func:`clip_grad_norm_` — scale gradients to a maximum joint norm;
* :mod:`minigrad.optim.lr_scheduler` — ``StepLR``, ``CosineAnnealingLR``,
  ``LambdaLR``.

>>> import minigrad as mg
>>> w = mg.Tensor([1.0, -2.0], requires_grad=True)
>>> opt = mg.optim.AdamW([w], lr=0.1)
>>> schedule = mg.optim.lr_scheduler.StepLR(opt, step_size=10)
>>> for _ in range(3):
...     opt.zero_grad()
...     (w * w).sum().backward()
...     total = mg.optim.clip_grad_norm_([w], max_norm=1.0)
...     opt.step()
...     schedule.step()
>>> bool(abs(w.data).max() < 2.0)
True
"""

from __future__ import annotations

from minigrad.optim import lr_scheduler
from minigrad.optim.clip import clip_grad_norm_
from minigrad.optim.optimizers import SGD, Adam, AdamW, Optimizer

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "clip_grad_norm_", "lr_scheduler"]
