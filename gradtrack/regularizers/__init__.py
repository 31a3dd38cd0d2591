"""Ready-made regularizers for the pipeline, one small class each.

This package lets you add a standard regularizer to a
:func:`gradtrack.pipeline.compute` run (or to
:func:`gradtrack.custom_loss.forward_backward_custom`) without writing it:
construct it with its options, and pass ``reg.spec(weight)``, or
``RegularizerSpec(reg, weight, name)``. Each instance is callable as
``reg(data, logprobs) -> (loss, metrics)``: ``loss`` is a scalar minigrad
Tensor differentiable in the logprobs, and ``metrics`` holds host numbers
read from the computed values.

* :class:`L1` (``l1_sparsity``): ``λ Σ|target|``;
* :class:`L2` (``l2_weight_decay``): ``λ Σ (target − center)²``;
* :class:`ElasticNet` (``elastic_net``): a mix of the two;
* :class:`Entropy` (``entropy``): ``±H`` of the logprob rows;
* :class:`KLDivergence` (``kl_divergence``): the divergence from a reference;
* :class:`Consistency` (``consistency``): disagreement with paired logprobs;
* :class:`Orthogonality` (``orthogonality``): overlap between logprob rows;
* :class:`GradientPenalty` (``gradient_penalty``): ``(‖∇ loss‖ − target)²``.

The name in brackets is the default ``name`` of the regularizer's spec.

All of them are computed the same way with and without gradient tracking,
so every reported gradient norm is the true one (the original returns a
constant 0 for KL and Consistency under tracking).

>>> import numpy as np
>>> from gradtrack.pipeline import compute
>>> from gradtrack.regularizers import L2, Entropy
>>> out = compute(
...     [], np.log([0.7, 0.2, 0.1]), lambda data, lp: (-lp.sum(), {}),
...     regularizers=[L2(lambda_=0.01).spec(1.0), Entropy(mode="maximize").spec(0.1)],
...     track_grad_norms=True,
... )
>>> sorted(out.regularizers), out.regularizers["entropy"].grad_norm > 0
(['entropy', 'l2_weight_decay'], True)
"""

from __future__ import annotations

from gradtrack.regularizers.base import Regularizer
from gradtrack.regularizers.constraints import Consistency, Orthogonality
from gradtrack.regularizers.divergences import Entropy, KLDivergence
from gradtrack.regularizers.gradient_penalty import GradientPenalty
from gradtrack.regularizers.norms import L1, L2, ElasticNet

__all__ = [
    "L1",
    "L2",
    "Consistency",
    "ElasticNet",
    "Entropy",
    "GradientPenalty",
    "KLDivergence",
    "Orthogonality",
    "Regularizer",
]
