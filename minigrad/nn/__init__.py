"""Layers, losses and the ``Module`` base class, for small models.

This package lets you build and train the networks of the notebooks and the
demo, up to a small GPT:

* :mod:`minigrad.nn.module` — :class:`Module`, which finds parameters and
  submodules in attributes, lists, tuples and dicts, with ``state_dict``,
  ``train``/``eval`` and a readable ``repr``;
* :mod:`minigrad.nn.layers` — ``Linear``, ``Embedding``, ``MLP``,
  ``Sequential``, ``LayerNorm``, ``Dropout``, ``CausalSelfAttention``;
* :mod:`minigrad.nn.functional` — losses, ``layer_norm``, ``dropout``,
  ``one_hot`` and attention as plain functions.

>>> import minigrad as mg
>>> model = mg.nn.Sequential(mg.nn.Linear(3, 4, rng=0), mg.relu, mg.nn.Linear(4, 2, rng=1))
>>> logits = model(np.ones((5, 3), dtype=np.float32))
>>> loss = mg.nn.functional.cross_entropy(logits, np.array([0, 1, 0, 1, 1]))
>>> loss.backward()
>>> model[0].weight.grad.shape
(3, 4)
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (the doctest above uses it)

from minigrad.nn import functional
from minigrad.nn.layers import (
    MLP,
    CausalSelfAttention,
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
    Sequential,
)
from minigrad.nn.module import Module

__all__ = [
    "MLP",
    "CausalSelfAttention",
    "Dropout",
    "Embedding",
    "LayerNorm",
    "Linear",
    "Module",
    "Sequential",
    "functional",
]
