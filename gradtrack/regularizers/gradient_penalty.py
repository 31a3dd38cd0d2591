"""The :class:`GradientPenalty` regularizer: keep the gradient of a loss near a target norm."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack import penalties
from gradtrack.penalties._checks import check_choice, check_real
from gradtrack.regularizers.base import Regularizer, field_array, reference_tensor

__all__ = ["GradientPenalty"]


class GradientPenalty(Regularizer):
    """``(‖∇ loss_fn‖ − target_norm)²`` at the logprobs, spec name ``"gradient_penalty"``.

    The gradient of ``loss_fn`` is taken with respect to the logprobs, so
    differentiating this regularizer (as ``track_grad_norms`` does) is a
    second derivative; minigrad computes it exactly.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(logprobs) -> scalar Tensor``, written with minigrad operations.
    mode : {"output", "interpolated"}
        ``"output"``: the gradient at the logprobs. ``"interpolated"``
        (WGAN-GP): at ``ε · logprobs + (1 − ε) · reference`` with
        ``ε ~ U[0, 1)``.
    target_norm : float
    reference_field : str
        The ``loss_fn_inputs`` field holding the reference (joined across
        data), for ``"interpolated"``; it must have the logprobs' shape.
    rng : numpy.random.Generator, int or None
        Source of ``ε`` for ``"interpolated"``: a seed draws the same ``ε`` on
        every call, a Generator advances, ``None`` is fresh each call.

    Notes
    -----
    Metrics: none (``{}``), as in the original.

    Examples
    --------
    >>> penalty = GradientPenalty(lambda lp: lp.sum())
    >>> loss, metrics = penalty(None, np.log([0.5, 0.5]))
    >>> round(loss.item(), 7), metrics  # ‖(1, 1)‖ = √2: (√2 − 1)²
    (0.1715729, {})
    """

    name = "gradient_penalty"

    def __init__(
        self,
        loss_fn: Callable[[mg.Tensor], Any],
        mode: str = "output",
        target_norm: float = 1.0,
        reference_field: str = "reference_logprobs",
        rng: np.random.Generator | int | None = None,
    ) -> None:
        if not callable(loss_fn):
            raise TypeError(
                f"GradientPenalty: loss_fn must be callable, got {type(loss_fn).__name__}"
            )
        self.loss_fn = loss_fn
        self.mode = check_choice("mode", mode, ("output", "interpolated"), "GradientPenalty")
        self.target_norm = check_real("target_norm", target_norm, "GradientPenalty")
        if not (isinstance(reference_field, str) and reference_field):
            raise ValueError(
                f"GradientPenalty: reference_field must be a non-empty str, got {reference_field!r}"
            )
        self.reference_field = reference_field
        self.rng = rng

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "loss_fn": self.loss_fn,
            "mode": self.mode,
            "target_norm": self.target_norm,
        }
        if self.mode == "interpolated":
            options["reference_field"] = self.reference_field
        return options

    def _evaluate(self, data: Any, logprobs: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
        if self.mode == "output":
            loss = penalties.gradient_penalty(self.loss_fn, logprobs, target_norm=self.target_norm)
            return loss, {}
        paired = field_array(data, self.reference_field, "GradientPenalty")
        reference = reference_tensor(paired, logprobs, "gradient penalty")
        loss = penalties.interpolated_gradient_penalty(
            self.loss_fn, logprobs, reference, target_norm=self.target_norm, rng=self.rng
        )
        return loss, {}
