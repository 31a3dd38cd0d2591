"""Constraint regularizers: :class:`Consistency` and :class:`Orthogonality`."""

from __future__ import annotations

from typing import Any

import minigrad as mg
from gradtrack import penalties
from gradtrack.penalties._checks import check_bool, check_choice
from gradtrack.regularizers.base import (
    Regularizer,
    field_array,
    host_number,
    reference_tensor,
)

__all__ = ["Consistency", "Orthogonality"]


class Consistency(Regularizer):
    """Agreement of the logprobs with a paired set (e.g. on perturbed input), spec name ``"consistency"``.

    Unlike the original adapter, which returns a constant 0 while gradients
    are being tracked (so its reported gradient norm is always 0), this
    regularizer is computed the same way every time: under
    ``track_grad_norms`` it reports its true gradient norm.

    Parameters
    ----------
    pair_field : str
        The ``loss_fn_inputs`` field holding the paired logprobs (joined
        across data); it must have exactly the logprobs' shape.
    metric : {"mse", "l1", "cosine", "kl"}
        See :func:`gradtrack.penalties.consistency`.
    reduction : {"mean", "sum"}

    Notes
    -----
    Metrics: ``consistency`` (the loss), ``consistency_metric``.

    Examples
    --------
    >>> import numpy as np
    >>> from gradtrack.types import Datum, ModelInput
    >>> datum = Datum(ModelInput.from_ints([1]), {"original_logprobs": np.log([0.4, 0.6])})
    >>> loss, metrics = Consistency()([datum], np.log([0.5, 0.5]))
    >>> round(loss.item(), 7), metrics["consistency_metric"]
    (0.0415171, 'mse')
    """  # noqa: E501

    name = "consistency"

    def __init__(
        self, pair_field: str = "original_logprobs", metric: str = "mse", reduction: str = "mean"
    ) -> None:
        if not (isinstance(pair_field, str) and pair_field):
            raise ValueError(f"Consistency: pair_field must be a non-empty str, got {pair_field!r}")
        self.pair_field = pair_field
        self.metric = check_choice("metric", metric, ("mse", "l1", "cosine", "kl"), "Consistency")
        self.reduction = check_choice("reduction", reduction, ("mean", "sum"), "Consistency")

    def _options(self) -> dict[str, Any]:
        return {"pair_field": self.pair_field, "metric": self.metric, "reduction": self.reduction}

    def _evaluate(self, data: Any, logprobs: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
        paired = field_array(data, self.pair_field, "Consistency")
        reference = reference_tensor(paired, logprobs, "consistency")
        loss = penalties.consistency(
            logprobs, reference, metric=self.metric, reduction=self.reduction
        )
        return loss, {"consistency": host_number(loss), "consistency_metric": self.metric}


class Orthogonality(Regularizer):
    """Orthogonality of the rows of the logprobs, spec name ``"orthogonality"``.

    Parameters
    ----------
    mode : {"soft", "hard", "spectral"}
    normalize : bool
    axis : {"rows", "sequence", "vocabulary"}
        See :func:`gradtrack.penalties.orthogonality`.

    Notes
    -----
    Metrics: ``orthogonality`` (the loss).

    Examples
    --------
    >>> import numpy as np
    >>> loss, metrics = Orthogonality()(None, np.log([[0.5, 0.5], [0.4, 0.6]]))
    >>> round(metrics["orthogonality"], 7)
    1.8506159
    """

    name = "orthogonality"

    def __init__(self, mode: str = "soft", normalize: bool = True, axis: str = "rows") -> None:
        self.mode = check_choice("mode", mode, ("soft", "hard", "spectral"), "Orthogonality")
        self.normalize = check_bool("normalize", normalize, "Orthogonality")
        self.axis = check_choice("axis", axis, ("rows", "sequence", "vocabulary"), "Orthogonality")

    def _options(self) -> dict[str, Any]:
        return {"mode": self.mode, "normalize": self.normalize, "axis": self.axis}

    def _evaluate(self, data: Any, logprobs: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
        loss = penalties.orthogonality(
            logprobs, mode=self.mode, normalize=self.normalize, axis=self.axis
        )
        return loss, {"orthogonality": host_number(loss)}
