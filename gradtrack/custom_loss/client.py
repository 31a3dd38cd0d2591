"""The client side of custom-loss training: the ``TrainingClient`` protocol and its output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import minigrad as mg
from gradtrack.types import (
    CustomLossOutput,
    Datum,
    ForwardBackwardOutput,
)

__all__ = ["LINEAR_LOSS_FN", "CustomForwardBackwardOutput", "LossFn", "TrainingClient"]

LINEAR_LOSS_FN = "cross_entropy"
"""The server loss used for both requests: weighted cross-entropy, ``−Σ w ℓ``."""

# loss_fn(data, per-datum logprobs) -> (scalar loss, metrics)
LossFn = Callable[[Sequence[Datum], list[mg.Tensor]], Any]


@runtime_checkable
class TrainingClient(Protocol):
    """What :func:`forward_backward_custom` needs from a training client.

    ``loss_fn`` is the name of a server loss (here always ``"cross_entropy"``).
    Both methods return a :class:`~gradtrack.types.ForwardBackwardOutput`
    whose ``loss_fn_outputs`` hold one dict per datum with a ``"logprobs"``
    entry (``forward`` may also return a list of outputs, one per chunk).
    ``forward_backward`` also accumulates the parameter gradient of the
    weighted cross-entropy for a later optimizer step.

    Examples
    --------
    >>> class Recorder:
    ...     def forward(self, data, loss_fn):
    ...         return ForwardBackwardOutput(loss_fn, [{"logprobs": [-1.0]}] * len(data), {})
    ...     def forward_backward(self, data, loss_fn):
    ...         return ForwardBackwardOutput(loss_fn, [], {"loss": 0.0})
    >>> isinstance(Recorder(), TrainingClient)
    True
    """

    def forward(
        self, data: Sequence[Datum], loss_fn: str
    ) -> ForwardBackwardOutput | Sequence[ForwardBackwardOutput]:
        """Run the model on ``data`` and return per-datum logprobs, without a backward pass."""
        ...

    def forward_backward(self, data: Sequence[Datum], loss_fn: str) -> ForwardBackwardOutput:
        """Run the model on ``data``, compute ``loss_fn`` and accumulate its parameter gradient."""
        ...


@dataclass
class CustomForwardBackwardOutput(ForwardBackwardOutput):
    """What :func:`forward_backward_custom` returns: the server's output, with your metrics.

    It is a :class:`~gradtrack.types.ForwardBackwardOutput` (usable wherever
    one is expected) whose ``metrics`` are the server's metrics updated with
    the custom loss's metrics (yours win on a shared key), plus
    ``custom_loss``: the pipeline's
    :class:`~gradtrack.types.CustomLossOutput` (values, contributions and,
    with tracking, gradient norms) when regularizers or tracking were
    requested, else ``None``.

    Examples
    --------
    >>> out = CustomForwardBackwardOutput("cross_entropy", [], {"loss": 0.25})
    >>> out.custom_loss is None, isinstance(out, ForwardBackwardOutput)
    (True, True)
    """

    custom_loss: CustomLossOutput | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """The output's dict, with ``custom_loss`` added when there is one.

        Examples
        --------
        >>> sorted(CustomForwardBackwardOutput("cross_entropy").to_dict())
        ['loss_fn_output_type', 'loss_fn_outputs', 'metrics']
        """
        result = super().to_dict()
        if self.custom_loss is not None:
            result["custom_loss"] = self.custom_loss.to_dict()
        return result
