"""A run's output as flat ``{name: float}`` scalars, the shape metric loggers take."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from gradtrack.types.outputs import CustomLossOutput

__all__ = ["to_scalars"]

# Fields a regularizer reports, under reg/<name>/<key>; None means "not computed": left out.
_REGULARIZER_FIELDS = (
    ("value", "value"),
    ("contribution", "contribution"),
    ("grad_norm", "grad_norm"),
    ("grad_norm_weighted", "grad_norm_weighted"),
    ("alignment", "grad_alignment"),
    ("param_grad_norm", "param_grad_norm"),
)


def to_scalars(output: CustomLossOutput, prefix: str = "") -> dict[str, float]:
    """Flatten a :class:`~gradtrack.types.CustomLossOutput` into ``{name: float}``.

    Keys: ``loss/total``, ``loss/base``, ``loss/regularizers``; with tracking
    ``grad/total_norm``, ``base/grad_norm``, ``base/alignment``; with parameter
    norms ``grad/total_param_norm`` and ``base/param_grad_norm``; with
    ``conflict="pcgrad"`` ``grad/total_norm_projected``; per regularizer
    ``reg/<name>/value|contribution|grad_norm|grad_norm_weighted|alignment|param_grad_norm``
    (each only when computed); and every numeric metric as ``base/<metric>`` or
    ``reg/<name>/<metric>`` (nested mappings joined with ``/``; a one-element
    array or Tensor is read as its number; text, lists and larger arrays are
    left out). A metric whose key would collide with one of the fields above is
    written as ``.../metric/<key>``. ``prefix`` is put before every key. NaN and
    infinities are kept as floats: each logger writes them in its own format.

    Examples
    --------
    >>> from gradtrack.types import CustomLossOutput, RegularizerOutput
    >>> reg = RegularizerOutput.from_computation("l1", 4.0, 0.5, {"l1_mean": 2.0}, grad_norm=1.0)
    >>> scalars = to_scalars(CustomLossOutput.build(1.0, {}, [reg], 3.0, 3.5))
    >>> scalars["loss/total"], scalars["reg/l1/contribution"], scalars["reg/l1/l1_mean"]
    (3.0, 2.0, 2.0)
    >>> scalars["grad/total_norm"], scalars["reg/l1/grad_norm_weighted"]
    (3.5, 0.5)
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    scalars: dict[str, float] = {
        "loss/total": output.loss_total,
        "loss/base": float(output.base_loss.get("value", 0.0)),
        "loss/regularizers": output.regularizer_total,
    }
    alignment = output.grad_alignment or {}
    _put(scalars, "grad/total_norm", output.total_grad_norm)
    _put(scalars, "grad/total_param_norm", output.total_param_grad_norm)
    _put(scalars, "grad/total_norm_projected", output.total_grad_norm_projected)
    _put(scalars, "base/grad_norm", output.base_loss.get("grad_norm"))
    _put(scalars, "base/alignment", alignment.get("base"))
    _put(scalars, "base/param_grad_norm", output.base_loss.get("param_grad_norm"))
    reserved = set(scalars)
    for name, reg in output.regularizers.items():
        for key, attribute in _REGULARIZER_FIELDS:
            _put(scalars, f"reg/{name}/{key}", getattr(reg, attribute))
        reserved |= {f"reg/{name}/{key}" for key, _ in _REGULARIZER_FIELDS}
    _put_metrics(scalars, "base", output.base_loss.get("custom") or {}, reserved)
    for name, reg in output.regularizers.items():
        _put_metrics(scalars, f"reg/{name}", reg.custom, reserved)
    return {prefix + key: value for key, value in scalars.items()}


def _put(scalars: dict[str, float], key: str, value: Any) -> None:
    if value is not None:
        scalars[key] = float(value)


def _put_metrics(
    scalars: dict[str, float], group: str, metrics: Mapping[str, Any], reserved: set[str]
) -> None:
    for key, value in metrics.items():
        name = f"{group}/{key}"
        if isinstance(value, Mapping):
            _put_metrics(scalars, name, value, reserved)
            continue
        number = _number(value)
        if number is None:
            continue
        scalars[f"{group}/metric/{key}" if name in reserved else name] = number


def _number(value: Any) -> float | None:
    """The metric as a float, or ``None`` when it is not one number."""
    if isinstance(value, numbers.Real):  # bools included: True is 1.0
        return float(value)
    data = getattr(value, "data", value)  # a minigrad Tensor holds its array in .data
    if isinstance(data, np.ndarray | np.generic) and data.size == 1 and data.dtype.kind in "biuf":
        return float(data.reshape(()))
    return None
