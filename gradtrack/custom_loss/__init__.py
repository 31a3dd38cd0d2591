"""Train with any differentiable loss of the logprobs on a server that only knows cross-entropy.

This module lets you fine-tune with a loss the training server does not
implement (a pairwise preference loss, a regularized NLL …):
:func:`forward_backward_custom` runs

1. ``client.forward`` to get each datum's target-token logprobs ``ℓ``;
2. your ``loss_fn(data, [ℓ_0, ℓ_1, …])`` once, with minigrad, for its value,
   metrics and gradients ``g_i = ∂L/∂ℓ_i`` (with ``regularizers``, inside the
   regularizer pipeline: see :func:`forward_backward_custom`);
3. ``client.forward_backward`` on synthetic data whose cross-entropy weights
   are ``−g``.

Why step 3 trains the right thing: the server's weighted cross-entropy is
``CE(θ) = −Σ_{i,t} w_{i,t} ℓ_{i,t}(θ)``. With ``w = −g`` (``g`` evaluated at the
current parameters ``θ₀`` and then held fixed) it is ``Σ g_{i,t} ℓ_{i,t}(θ)``,
whose parameter gradient at ``θ₀`` is ``Σ g_{i,t} ∇θ ℓ_{i,t}(θ₀) = ∇θ L(ℓ(θ))``
by the chain rule. The server's reported ``"loss"`` is this surrogate's
value, not ``L``; your metrics are merged beside it.

The pieces are public too: :func:`extract_per_datum_logprobs`,
:func:`compute_gradients`, :func:`build_linear_loss_data`, and the
:class:`TrainingClient` protocol a client must follow.
"""

from __future__ import annotations

from gradtrack.custom_loss.client import (
    LINEAR_LOSS_FN,
    CustomForwardBackwardOutput,
    TrainingClient,
)
from gradtrack.custom_loss.route import forward_backward_custom, forward_backward_custom_async
from gradtrack.custom_loss.steps import (
    build_linear_loss_data,
    compute_gradients,
    extract_per_datum_logprobs,
)

__all__ = [
    "LINEAR_LOSS_FN",
    "CustomForwardBackwardOutput",
    "TrainingClient",
    "build_linear_loss_data",
    "compute_gradients",
    "extract_per_datum_logprobs",
    "forward_backward_custom",
    "forward_backward_custom_async",
]
