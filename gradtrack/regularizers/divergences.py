"""Distribution regularizers: :class:`Entropy` and :class:`KLDivergence`.

Both read the logprobs as rows of log-probabilities (classes on the last
axis; a 1-D tensor is one row) and reduce over rows by ``"mean"`` or
``"sum"``. A regularizer's loss must be a scalar, so the per-row
``"none"`` of the primitives is not offered here (use
:mod:`gradtrack.penalties` for per-row values).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack import penalties
from gradtrack._validate import check_finite_array
from gradtrack.penalties._checks import check_bool, check_choice, check_real, reduce
from gradtrack.regularizers.base import (
    Regularizer,
    field_array,
    host_number,
    reference_tensor,
)
from gradtrack.types import TensorData

__all__ = ["Entropy", "KLDivergence"]

_REDUCTIONS = ("mean", "sum")
# The adapter's modes name what training should do to the entropy; the
# primitive's name what is returned: maximising entropy means penalising −H.
_ENTROPY_MODES = {"maximize": "penalty", "minimize": "bonus"}


class Entropy(Regularizer):
    """Entropy regularizer, spec name ``"entropy"``.

    Parameters
    ----------
    mode : {"minimize", "maximize"}
        What minimising the loss does to the entropy: ``"minimize"`` returns
        ``+H`` (pushes towards confident predictions), ``"maximize"`` returns
        ``−H`` (pushes towards spread-out ones).
    reduction : {"mean", "sum"}
        Over rows.
    normalize : bool
        Divide by ``log V`` (needs ``V ≥ 2`` classes).
    temperature : float
        Re-normalise the rows at this temperature first.

    Notes
    -----
    Metrics: ``entropy`` (the signed loss), ``mode``, ``temperature``.

    Examples
    --------
    >>> loss, metrics = Entropy(mode="maximize")(None, np.log([0.6, 0.3, 0.1]))
    >>> round(loss.item(), 7), metrics["mode"]
    (-0.8979457, 'maximize')
    """

    name = "entropy"

    def __init__(
        self,
        mode: str = "minimize",
        reduction: str = "mean",
        normalize: bool = False,
        temperature: float = 1.0,
    ) -> None:
        self.mode = check_choice("mode", mode, tuple(_ENTROPY_MODES), "Entropy")
        self.reduction = check_choice("reduction", reduction, _REDUCTIONS, "Entropy")
        self.normalize = check_bool("normalize", normalize, "Entropy")
        self.temperature = check_real("temperature", temperature, "Entropy", positive=True)

    def _options(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "reduction": self.reduction,
            "normalize": self.normalize,
            "temperature": self.temperature,
        }

    def _evaluate(self, data: Any, logprobs: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
        loss = penalties.entropy(
            logprobs,
            mode=_ENTROPY_MODES[self.mode],
            reduction=self.reduction,
            normalize=self.normalize,
            temperature=self.temperature,
        )
        metrics = {
            "entropy": host_number(loss),
            "mode": self.mode,
            "temperature": self.temperature,
        }
        return loss, metrics


def _constant_array(reference: Any) -> np.ndarray:
    if isinstance(reference, TensorData):
        return reference.to_numpy()
    if isinstance(reference, mg.Tensor):
        return reference.data
    return np.asarray(reference)


def _checked_reference(array: np.ndarray, source: str) -> np.ndarray:
    """The reference as a floating array, or ``ValueError`` naming ``source``."""
    if array.dtype.kind not in "fiu":
        raise ValueError(
            f"KLDivergence: {source} must hold numeric log-probabilities, got dtype {array.dtype}"
        )
    return check_finite_array(array.astype(np.float64, copy=False), f"KLDivergence: {source}")


class KLDivergence(Regularizer):
    """KL divergence of the logprobs from a reference distribution, spec name ``"kl_divergence"``.

    Unlike the original adapter, which returns a constant 0 while gradients
    are being tracked (so its reported gradient norm is always 0 and it is
    missing from the total), this regularizer is computed the same way every
    time: under ``track_grad_norms`` it reports its true gradient norm.

    Parameters
    ----------
    reference_logprobs : array-like, Tensor or TensorData, optional
        A fixed reference, used first when given.
    reference_field : str, optional
        Otherwise, a ``loss_fn_inputs`` field (joined across data).
    compute_reference : callable, optional
        Otherwise, ``compute_reference(data)`` returns the reference.
    direction : {"forward", "reverse"}
        ``KL(P‖Q)`` or ``KL(Q‖P)``, with ``P`` the logprobs and ``Q`` the reference.
    symmetric : bool
        Average of both directions.
    reduction : {"mean", "sum"}
        Over rows.

    Notes
    -----
    At least one reference source is required (``ValueError`` otherwise).
    The reference must have exactly the logprobs' shape: a mismatch is a
    ``ValueError`` showing both shapes. It must be numeric log-probabilities:
    a NaN or ``+inf`` (or a non-numeric dtype) is a ``ValueError`` naming
    where the reference came from (``reference_logprobs``, checked at
    construction; ``reference_field '<name>'`` or ``compute_reference``,
    checked when evaluated). ``-inf`` (a zero probability) is allowed.

    Metrics: ``kl_divergence`` (the loss), ``kl_direction``, ``kl_symmetric``,
    ``kl_max`` and ``kl_min`` (over the per-row divergences).

    Examples
    --------
    >>> kl = KLDivergence(reference_logprobs=np.log([0.25, 0.25, 0.5]))
    >>> loss, metrics = kl(None, np.log([0.4, 0.3, 0.3]))
    >>> round(loss.item(), 7), metrics["kl_direction"], metrics["kl_symmetric"]
    (0.0894502, 'forward', False)
    """

    name = "kl_divergence"

    def __init__(
        self,
        reference_logprobs: Any = None,
        reference_field: str | None = None,
        compute_reference: Callable[[Sequence[Any]], Any] | None = None,
        direction: str = "forward",
        symmetric: bool = False,
        reduction: str = "mean",
    ) -> None:
        if reference_logprobs is None and reference_field is None and compute_reference is None:
            raise ValueError(
                "KLDivergence requires a reference via reference_logprobs, reference_field, "
                "or compute_reference"
            )
        if reference_field is not None and not (
            isinstance(reference_field, str) and reference_field
        ):
            raise ValueError(
                f"KLDivergence: reference_field must be a non-empty str, got {reference_field!r}"
            )
        if compute_reference is not None and not callable(compute_reference):
            raise TypeError(
                "KLDivergence: compute_reference must be callable, "
                f"got {type(compute_reference).__name__}"
            )
        self.reference_logprobs = (
            None
            if reference_logprobs is None
            else _checked_reference(_constant_array(reference_logprobs), "reference_logprobs")
        )
        self.reference_field = reference_field
        self.compute_reference = compute_reference
        self.direction = check_choice(
            "direction", direction, ("forward", "reverse"), "KLDivergence"
        )
        self.symmetric = check_bool("symmetric", symmetric, "KLDivergence")
        self.reduction = check_choice("reduction", reduction, _REDUCTIONS, "KLDivergence")

    def _options(self) -> dict[str, Any]:
        source = (
            "reference_logprobs"
            if self.reference_logprobs is not None
            else "reference_field"
            if self.reference_field is not None
            else "compute_reference"
        )
        return {
            source: getattr(self, source),
            "direction": self.direction,
            "symmetric": self.symmetric,
            "reduction": self.reduction,
        }

    def _reference(self, data: Any) -> np.ndarray:
        if self.reference_logprobs is not None:
            return _checked_reference(self.reference_logprobs, "reference_logprobs")
        if self.reference_field is not None:
            array = field_array(data, self.reference_field, "KLDivergence")
            return _checked_reference(array, f"reference_field {self.reference_field!r}")
        assert self.compute_reference is not None  # checked in __init__
        computed = _constant_array(self.compute_reference(data))
        return _checked_reference(computed, "compute_reference")

    def _evaluate(self, data: Any, logprobs: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
        reference = reference_tensor(self._reference(data), logprobs, "KL divergence")
        # One evaluation gives both the per-row values (for kl_max/kl_min) and the loss.
        rows = penalties.kl_divergence(
            logprobs,
            reference,
            reduction="none",
            direction=self.direction,
            symmetric=self.symmetric,
        )
        loss = reduce(rows, self.reduction)
        metrics = {
            "kl_divergence": host_number(loss),
            "kl_direction": self.direction,
            "kl_symmetric": self.symmetric,
            "kl_max": float(np.max(rows.data)),
            "kl_min": float(np.min(rows.data)),
        }
        return loss, metrics
