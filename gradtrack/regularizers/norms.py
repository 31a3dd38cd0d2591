"""Norm regularizers: :class:`L1`, :class:`L2` and :class:`ElasticNet`.

Each penalises a *target*: the logprobs (default), the probabilities
``exp(logprobs)``, or a ``loss_fn_inputs`` field (``("field", key)``, a
constant, so its gradient with respect to the logprobs is 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
from gradtrack import penalties
from gradtrack.penalties._checks import check_choice, check_real
from gradtrack.regularizers.base import Regularizer, check_target, host_number, resolve_target

__all__ = ["L1", "L2", "ElasticNet"]

_REDUCTIONS = ("sum", "mean")


def _mean(values: np.ndarray) -> float:
    # An empty target has no mean; NaN says so without a NumPy warning.
    return float(np.mean(values)) if values.size else float("nan")


class L1(Regularizer):
    """L1 sparsity: ``λ · Σ|target|`` (or the mean), spec name ``"l1_sparsity"``.

    Parameters
    ----------
    target : "logprobs", "probs" or ("field", key)
    reduction : {"sum", "mean"}
    lambda_ : float

    Notes
    -----
    Metrics: ``l1_raw`` (the loss), ``l1_mean`` (``mean|target|``, without ``λ``).

    Examples
    --------
    >>> loss, metrics = L1()(None, np.log([0.5, 0.25, 0.25]))
    >>> round(loss.item(), 7), round(metrics["l1_mean"], 7)
    (3.4657359, 1.1552453)
    """

    name = "l1_sparsity"

    def __init__(
        self, target: Any = "logprobs", reduction: str = "sum", lambda_: float = 1.0
    ) -> None:
        self.target = check_target(target, "L1")
        self.reduction = check_choice("reduction", reduction, _REDUCTIONS, "L1")
        self.lambda_ = check_real("lambda_", lambda_, "L1")

    def _options(self) -> dict[str, Any]:
        return {"target": self.target, "reduction": self.reduction, "lambda_": self.lambda_}

    def _evaluate(self, data: Any, logprobs: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
        values = resolve_target(self.target, data, logprobs, "L1")
        loss = penalties.l1(values, lambda_=self.lambda_, reduction=self.reduction)
        metrics = {"l1_raw": host_number(loss), "l1_mean": _mean(np.abs(values.data))}
        return loss, metrics


class L2(Regularizer):
    """L2 weight decay: ``λ · Σ clip(target − center)²``, spec name ``"l2_weight_decay"``.

    Parameters
    ----------
    target : "logprobs", "probs" or ("field", key)
    reduction : {"sum", "mean"}
    lambda_ : float
    clip : float, optional
        Limit on ``|target − center|`` (see :func:`gradtrack.penalties.l2`).
    center : None, "mean" or number

    Notes
    -----
    Metrics: ``l2_raw`` (the loss), ``l2_mean`` (``mean(target²)``: uncentred,
    unclipped, without ``λ``), ``center`` (the centre, or ``"none"``).

    Examples
    --------
    >>> loss, metrics = L2(center="mean")(None, np.log([0.4, 0.3, 0.3]))
    >>> round(loss.item(), 7), round(metrics["l2_mean"], 7), metrics["center"]
    (0.055174, 1.2462299, 'mean')
    """

    name = "l2_weight_decay"

    def __init__(
        self,
        target: Any = "logprobs",
        reduction: str = "sum",
        lambda_: float = 1.0,
        clip: float | None = None,
        center: Any = None,
    ) -> None:
        self.target = check_target(target, "L2")
        self.reduction = check_choice("reduction", reduction, _REDUCTIONS, "L2")
        self.lambda_ = check_real("lambda_", lambda_, "L2")
        self.clip = None if clip is None else check_real("clip", clip, "L2", positive=True)
        if isinstance(center, str):
            check_choice("center", center, ("mean",), "L2")
        elif center is not None:
            center = check_real("center", center, "L2")
        self.center = center

    def _options(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "reduction": self.reduction,
            "lambda_": self.lambda_,
            "clip": self.clip,
            "center": self.center,
        }

    def _evaluate(self, data: Any, logprobs: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
        values = resolve_target(self.target, data, logprobs, "L2")
        loss = penalties.l2(
            values,
            lambda_=self.lambda_,
            reduction=self.reduction,
            center=self.center,
            clip=self.clip,
        )
        metrics = {
            "l2_raw": host_number(loss),
            "l2_mean": _mean(np.square(values.data)),
            "center": "none" if self.center is None else self.center,
        }
        return loss, metrics


class ElasticNet(Regularizer):
    """Elastic net: ``λ · (α R|target| + (1 − α) R(target²))``, spec name ``"elastic_net"``.

    Parameters
    ----------
    target : "logprobs", "probs" or ("field", key)
    reduction : {"sum", "mean"}
    lambda_ : float
    l1_ratio : float
        ``α``, in ``[0, 1]``.

    Notes
    -----
    Metrics: ``elastic_net`` (the loss), ``l1_ratio``.

    Examples
    --------
    >>> loss, metrics = ElasticNet(l1_ratio=0.5)(None, np.log([0.6, 0.4]))
    >>> round(loss.item(), 7), metrics["l1_ratio"]
    (1.2638239, 0.5)
    """

    name = "elastic_net"

    def __init__(
        self,
        target: Any = "logprobs",
        reduction: str = "sum",
        lambda_: float = 1.0,
        l1_ratio: float = 0.5,
    ) -> None:
        self.target = check_target(target, "ElasticNet")
        self.reduction = check_choice("reduction", reduction, _REDUCTIONS, "ElasticNet")
        self.lambda_ = check_real("lambda_", lambda_, "ElasticNet")
        self.l1_ratio = check_real("l1_ratio", l1_ratio, "ElasticNet", low=0.0, high=1.0)

    def _options(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "reduction": self.reduction,
            "lambda_": self.lambda_,
            "l1_ratio": self.l1_ratio,
        }

    def _evaluate(self, data: Any, logprobs: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
        values = resolve_target(self.target, data, logprobs, "ElasticNet")
        loss = penalties.elastic_net(
            values, lambda_=self.lambda_, l1_ratio=self.l1_ratio, reduction=self.reduction
        )
        return loss, {"elastic_net": host_number(loss), "l1_ratio": self.l1_ratio}
