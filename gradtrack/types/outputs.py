"""What a run produces: ``RegularizerOutput``, ``CustomLossOutput``, ``ForwardBackwardOutput``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gradtrack.types._convert import (
    _as_float,
    _as_optional_float,
    _jsonable,
)
from gradtrack.types.scalars import to_scalars

GRAD_STATUSES: tuple[str | None, ...] = (None, "ok", "no_gradient", "failed")
"""The values ``grad_status`` takes: ``None`` (not tracked), then see RegularizerOutput."""


@dataclass
class RegularizerOutput:
    """What one regularizer produced.

    ``value``, ``weight``, ``contribution`` (``weight * value``) and the optional gradient
    fields are Python floats. ``grad_norm`` is the norm of the regularizer's own (unweighted)
    gradient with respect to the logprobs, ``grad_norm_weighted`` is ``weight * grad_norm``,
    and ``grad_alignment`` is the cosine between this term's weighted gradient and the total
    gradient. ``None`` means "not computed" (or, for ``grad_alignment``, "not defined": the
    total gradient was not finite); ``0.0`` is a real value.

    ``grad_status`` says what the gradient fields mean when gradients were tracked:

    ``"ok"``
        The gradient was computed (it may be zero).
    ``"no_gradient"``
        The loss is not connected to the logprobs in minigrad's graph (computed with
        NumPy, from ``logprobs.data``, or a constant), so autodiff cannot see it:
        ``grad_norm`` is ``None``, not a misleading ``0.0``, and the term adds nothing to
        the total gradient. A WARNING naming it is logged once.
    ``"failed"``
        Taking the gradient raised; ``grad_norm`` is ``0.0`` (as in the original) and a
        WARNING names the term.

    It is ``None`` when gradients were not tracked.

    ``param_grad_norm`` is the norm of the same unweighted gradient with respect to model
    parameters (see :func:`gradtrack.integrations.torch.backward`); its weighted twin is
    ``param_grad_norm * weight``.

    Examples
    --------
    >>> out = RegularizerOutput.from_computation("l1", 10.0, 0.1, {"sum": 100}, grad_norm=5.0)
    >>> out.contribution, out.grad_norm_weighted, out.grad_status
    (1.0, 0.5, 'ok')
    """

    name: str
    value: float
    weight: float
    contribution: float
    grad_norm: float | None = None
    grad_norm_weighted: float | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    grad_alignment: float | None = None
    grad_status: str | None = None
    param_grad_norm: float | None = None

    def __post_init__(self) -> None:
        if self.grad_status not in GRAD_STATUSES:
            raise ValueError(
                f"RegularizerOutput grad_status must be one of {GRAD_STATUSES}, "
                f"got {self.grad_status!r}"
            )
        self.value = _as_float(self.value, "RegularizerOutput value")
        self.weight = _as_float(self.weight, "RegularizerOutput weight")
        self.contribution = _as_float(self.contribution, "RegularizerOutput contribution")
        self.grad_norm = _as_optional_float(self.grad_norm, "RegularizerOutput grad_norm")
        self.grad_norm_weighted = _as_optional_float(
            self.grad_norm_weighted, "RegularizerOutput grad_norm_weighted"
        )
        self.grad_alignment = _as_optional_float(
            self.grad_alignment, "RegularizerOutput grad_alignment"
        )
        self.param_grad_norm = _as_optional_float(
            self.param_grad_norm, "RegularizerOutput param_grad_norm"
        )
        if self.custom is None:
            self.custom = {}
        elif isinstance(self.custom, Mapping):
            self.custom = dict(self.custom)
        else:
            raise TypeError(f"RegularizerOutput custom must be a mapping, got {self.custom!r}")

    @classmethod
    def from_computation(
        cls,
        name: str,
        value: Any,
        weight: float,
        custom: Mapping[str, Any] | None,
        grad_norm: Any = None,
        grad_status: str | None = None,
    ) -> RegularizerOutput:
        """Build an output from a regularizer's loss value and metrics.

        ``contribution = weight * value``; ``grad_norm_weighted = weight * grad_norm`` when a
        grad norm is given (``0.0`` included); ``custom=None`` becomes ``{}``. Without a
        ``grad_status``, a given grad norm means ``"ok"`` and none means not tracked.

        Examples
        --------
        >>> out = RegularizerOutput.from_computation("entropy", 1.5, 0.001, None, grad_norm=0.0)
        >>> out.contribution, out.custom, out.grad_norm, out.grad_norm_weighted
        (0.0015, {}, 0.0, 0.0)
        """
        value = _as_float(value, "RegularizerOutput value")
        weight = _as_float(weight, "RegularizerOutput weight")
        grad_norm = _as_optional_float(grad_norm, "RegularizerOutput grad_norm")
        return cls(
            name=name,
            value=value,
            weight=weight,
            contribution=weight * value,
            grad_norm=grad_norm,
            grad_norm_weighted=None if grad_norm is None else weight * grad_norm,
            custom={} if custom is None else custom,
            grad_status=grad_status if grad_status or grad_norm is None else "ok",
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; the gradient fields appear only when computed.

        ``grad_norm`` and ``grad_norm_weighted`` are present together exactly when
        ``grad_norm is not None``; ``grad_alignment`` only when it is not ``None``;
        ``grad_status`` only when it flags something (``"no_gradient"`` or ``"failed"``:
        ``"ok"`` is implied by a present ``grad_norm``, which keeps the dict as the
        original writes it). Non-finite numbers become ``None``, so the dict is valid
        strict JSON.
        ``param_grad_norm`` appears only when it is not ``None``.

        Examples
        --------
        >>> RegularizerOutput.from_computation("l2", 2.0, 0.5, {}).to_dict()
        {'name': 'l2', 'value': 2.0, 'weight': 0.5, 'contribution': 1.0, 'custom': {}}
        """
        result: dict[str, Any] = {
            "name": self.name,
            "value": _jsonable(self.value),
            "weight": _jsonable(self.weight),
            "contribution": _jsonable(self.contribution),
            "custom": _jsonable(self.custom),
        }
        if self.grad_norm is not None:
            result["grad_norm"] = _jsonable(self.grad_norm)
            result["grad_norm_weighted"] = _jsonable(self.grad_norm_weighted)
        if self.grad_alignment is not None:
            result["grad_alignment"] = _jsonable(self.grad_alignment)
        if self.grad_status not in (None, "ok"):
            result["grad_status"] = self.grad_status
        if self.param_grad_norm is not None:
            result["param_grad_norm"] = _jsonable(self.param_grad_norm)
        return result


@dataclass
class CustomLossOutput:
    """The result of a pipeline run: the total loss and how each term contributed.

    ``loss_total = base_loss["value"] + regularizer_total``, where ``regularizer_total`` is
    the sum of the regularizers' contributions. ``base_loss`` is
    ``{"value", "grad_norm", "custom"}``; ``regularizers`` maps each name to its
    :class:`RegularizerOutput`, in spec order. ``total_grad_norm`` is the norm of the
    gradient of ``loss_total``; ``grad_alignment`` maps ``"base"`` and each regularizer name
    to the cosine between that term's weighted gradient and the total gradient. Both are
    ``None`` unless gradient tracking was on. An alignment is ``None`` for a term without a
    gradient (``grad_status="no_gradient"``) and for every term when the total gradient is
    not finite (no cosine is defined then). When the base loss has no gradient (or it
    failed), ``base_loss`` also has ``grad_status`` (see :class:`RegularizerOutput`).
    ``total_param_grad_norm`` (and ``base_loss["param_grad_norm"]``, present only then) are
    the parameter-space norms of :func:`gradtrack.integrations.torch.backward` with
    ``param_norms``. ``total_grad_norm_projected`` is the norm of the total gradient after
    PCGrad (a run with ``conflict="pcgrad"``, see :mod:`gradtrack.conflicts`): the gradient
    training then uses; ``total_grad_norm`` and ``grad_alignment`` stay those of the
    gradient of ``loss_total``. It is ``None`` without ``conflict="pcgrad"``.

    Examples
    --------
    >>> reg = RegularizerOutput.from_computation("l1", 10.0, 0.1, {})
    >>> out = CustomLossOutput.build(1.0, {"nll": 1.0}, [reg])
    >>> out.loss, out.regularizer_total, list(out.regularizers)
    (2.0, 1.0, ['l1'])
    """

    loss_total: float
    base_loss: dict[str, Any]
    regularizers: dict[str, RegularizerOutput]
    regularizer_total: float
    total_grad_norm: float | None = None
    grad_alignment: dict[str, float | None] | None = None
    total_param_grad_norm: float | None = None
    total_grad_norm_projected: float | None = None

    def __post_init__(self) -> None:
        self.loss_total = _as_float(self.loss_total, "CustomLossOutput loss_total")
        self.regularizer_total = _as_float(
            self.regularizer_total, "CustomLossOutput regularizer_total"
        )
        self.total_grad_norm = _as_optional_float(
            self.total_grad_norm, "CustomLossOutput total_grad_norm"
        )
        self.total_param_grad_norm = _as_optional_float(
            self.total_param_grad_norm, "CustomLossOutput total_param_grad_norm"
        )
        self.total_grad_norm_projected = _as_optional_float(
            self.total_grad_norm_projected, "CustomLossOutput total_grad_norm_projected"
        )

    @classmethod
    def build(
        cls,
        base_value: Any,
        base_custom: Mapping[str, Any] | None,
        outputs: Iterable[RegularizerOutput],
        base_grad_norm: Any = None,
        total_grad_norm: Any = None,
        grad_alignment: Mapping[str, Any] | None = None,
        base_grad_status: str | None = None,
    ) -> CustomLossOutput:
        """Assemble the output from the base loss and the regularizer outputs.

        Raises ``TypeError`` for an item of ``outputs`` that is not a
        :class:`RegularizerOutput` and ``ValueError`` for two outputs with the same name
        (their contributions could not both be shown).

        Examples
        --------
        >>> a = RegularizerOutput.from_computation("a", 0.224, 1.0, {})
        >>> b = RegularizerOutput.from_computation("b", 0.15, 1.0, {})
        >>> round(CustomLossOutput.build(2.5, {}, [a, b]).loss_total, 3)
        2.874
        >>> CustomLossOutput.build(1.0, None, []).base_loss
        {'value': 1.0, 'grad_norm': None, 'custom': {}}
        """
        outputs = list(outputs)
        regularizers: dict[str, RegularizerOutput] = {}
        for output in outputs:
            if not isinstance(output, RegularizerOutput):
                raise TypeError(f"outputs must hold RegularizerOutput objects, got {output!r}")
            if output.name in regularizers:
                raise ValueError(f"Duplicate regularizer name in outputs: {output.name!r}")
            regularizers[output.name] = output
        # fsum keeps the total independent of rounding order, whatever the term sizes.
        regularizer_total = math.fsum(output.contribution for output in outputs)
        base_value = _as_float(base_value, "base_value")
        alignment = None
        if grad_alignment is not None:
            alignment = {
                str(k): _as_optional_float(v, f"grad_alignment[{k!r}]")
                for k, v in grad_alignment.items()
            }
        if base_grad_status not in GRAD_STATUSES:
            raise ValueError(
                f"base_grad_status must be one of {GRAD_STATUSES}, got {base_grad_status!r}"
            )
        base_loss = {
            "value": base_value,
            "grad_norm": _as_optional_float(base_grad_norm, "base_grad_norm"),
            "custom": {} if base_custom is None else dict(base_custom),
        }
        if base_grad_status not in (None, "ok"):
            base_loss["grad_status"] = base_grad_status
        return cls(
            loss_total=base_value + regularizer_total,
            base_loss=base_loss,
            regularizers=regularizers,
            regularizer_total=regularizer_total,
            total_grad_norm=total_grad_norm,
            grad_alignment=alignment,
        )

    @property
    def loss(self) -> float:
        """The total loss (the same as ``loss_total``).

        Examples
        --------
        >>> CustomLossOutput.build(2.5, None, []).loss
        2.5
        """
        return self.loss_total

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict.

        ``base_loss`` always has ``value``, ``grad_norm`` (``None`` when not computed) and
        ``custom`` (and ``grad_status`` when it flags something, as for a regularizer);
        each regularizer entry is its
        :meth:`RegularizerOutput.to_dict`; ``total_grad_norm``, ``grad_alignment`` and
        ``total_grad_norm_projected`` appear only when they are not ``None``. Non-finite numbers (a diverged run's ``inf`` or
        ``nan``) become ``None``, so the dict is valid strict JSON; the attributes keep
        the real floats.

        Examples
        --------
        >>> CustomLossOutput.build(2.5, {"perplexity": 12.18}, []).to_dict()
        {'loss_total': 2.5, 'regularizer_total': 0.0, 'base_loss': {'value': 2.5, 'grad_norm': None, 'custom': {'perplexity': 12.18}}, 'regularizers': {}}
        """  # noqa: E501
        base = self.base_loss or {}
        base_dict = {
            "value": _jsonable(base.get("value")),
            "grad_norm": _jsonable(base.get("grad_norm")),
            "custom": _jsonable(base.get("custom") or {}),
        }
        if base.get("grad_status") not in (None, "ok"):
            base_dict["grad_status"] = base["grad_status"]
        result: dict[str, Any] = {
            "loss_total": _jsonable(self.loss_total),
            "regularizer_total": _jsonable(self.regularizer_total),
            "base_loss": base_dict,
            "regularizers": {name: out.to_dict() for name, out in self.regularizers.items()},
        }
        if base.get("param_grad_norm") is not None:
            result["base_loss"]["param_grad_norm"] = _jsonable(base["param_grad_norm"])
        if self.total_grad_norm is not None:
            result["total_grad_norm"] = _jsonable(self.total_grad_norm)
        if self.grad_alignment is not None:
            result["grad_alignment"] = _jsonable(self.grad_alignment)
        if self.total_param_grad_norm is not None:
            result["total_param_grad_norm"] = _jsonable(self.total_param_grad_norm)
        if self.total_grad_norm_projected is not None:
            result["total_grad_norm_projected"] = _jsonable(self.total_grad_norm_projected)
        return result

    def to_scalars(self, prefix: str = "") -> dict[str, float]:
        """Flat ``{name: float}`` for metric loggers (see :func:`gradtrack.loggers.to_scalars`).

        Examples
        --------
        >>> CustomLossOutput.build(2.5, {"nll": 2.5}, []).to_scalars("train/")
        {'train/loss/total': 2.5, 'train/loss/base': 2.5, 'train/loss/regularizers': 0.0, 'train/base/nll': 2.5}
        """  # noqa: E501
        return to_scalars(self, prefix)

    def to_json(self, **json_kwargs: Any) -> str:
        """Return :meth:`to_dict` as a strict JSON string; keyword arguments go to ``json.dumps``.

        Non-finite numbers are written as ``null`` (never ``NaN`` or ``Infinity``, which
        are not JSON).

        Examples
        --------
        >>> CustomLossOutput.build(1.0, None, []).to_json(sort_keys=True)
        '{"base_loss": {"custom": {}, "grad_norm": null, "value": 1.0}, "loss_total": 1.0, "regularizer_total": 0.0, "regularizers": {}}'
        """  # noqa: E501
        json_kwargs.setdefault("allow_nan", False)
        return json.dumps(self.to_dict(), **json_kwargs)


@dataclass
class ForwardBackwardOutput:
    """What a training client's ``forward`` or ``forward_backward`` returns.

    ``loss_fn_outputs`` holds one dict per datum, such as ``{"logprobs": TensorData}``;
    ``metrics`` maps metric names to numbers.

    Examples
    --------
    >>> from gradtrack.types import TensorData
    >>> out = ForwardBackwardOutput(
    ...     "cross_entropy", [{"logprobs": TensorData([-1.0, -2.0], "float32")}], {"loss": 0.25}
    ... )
    >>> out.to_dict()["loss_fn_outputs"][0]["logprobs"]["data"]
    [-1.0, -2.0]
    """

    loss_fn_output_type: str
    loss_fn_outputs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (tensors as their dicts, NumPy numbers as Python numbers).

        Examples
        --------
        >>> import numpy as np
        >>> out = ForwardBackwardOutput("cross_entropy", [], {"loss": np.float32(0.5)})
        >>> out.to_dict()["metrics"]
        {'loss': 0.5}
        """
        return {
            "loss_fn_output_type": self.loss_fn_output_type,
            "loss_fn_outputs": _jsonable(self.loss_fn_outputs),
            "metrics": _jsonable(self.metrics),
        }
