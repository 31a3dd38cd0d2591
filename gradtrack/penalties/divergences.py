"""Divergences and entropy of distributions given as log-probabilities.

The last axis holds the classes; every other axis indexes rows (one
distribution per row). Each function first computes one value per row and
then reduces over rows: ``"mean"`` (the default), ``"sum"``, or ``"none"``
(the shape of the input without its last axis).

Zero-probability classes (``-inf`` logprobs) follow the convention
``0 · log 0 = 0``: they contribute nothing, and neither the value nor the
gradient becomes NaN. The masks are built from the values (they are
constants for autodiff), and every masked entry is replaced by a finite
stand-in *before* it is multiplied, because ``where`` differentiates both of
its branches and ``0 · (−∞)`` would poison the unused one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack._validate import check_finite_array
from gradtrack.penalties._checks import (
    check_bool,
    check_choice,
    check_real,
    check_same_shape,
    floating_tensor,
    reduce,
)

__all__ = ["entropy", "js_divergence", "kl_divergence"]

_REDUCTIONS = ("mean", "sum", "none")
_DIRECTIONS = ("forward", "reverse")
_MODES = ("bonus", "penalty")

# exp(p) at or below this is treated as a zero probability (as NxPenalties does).
_MIN_PROBABILITY = 1e-10
# Log-ratios are clipped to ±100 so that a zero-probability reference class
# (q = −∞) adds a large but finite amount, as in NxPenalties.
_MAX_LOG_RATIO = 100.0
# Entropy ignores classes with logprob ≤ −50 (probability below 2e-22).
_ENTROPY_FLOOR = -50.0


def _distributions(p: Any, q: Any, where: str) -> tuple[mg.Tensor, mg.Tensor]:
    p, q = floating_tensor(p), floating_tensor(q)
    check_same_shape(p, q, ("p", "q"), where)
    # NaN or +inf is no log-probability; clipping would turn it into a plausible number
    # (a +inf reference gives a KL of -100).
    check_finite_array(p.data, f"{where}: p")
    check_finite_array(q.data, f"{where}: q")
    if p.ndim == 0:
        raise ValueError(f"{where}: inputs need a class axis (at least 1-D), got shape ()")
    return p, q


def kl_rows(p: mg.Tensor, q: mg.Tensor) -> mg.Tensor:
    """``KL(P‖Q)`` per row: ``Σ_last m · exp(p) · clip(p − q, −100, 100)``.

    The mask ``m = [exp(p) > 1e-10]`` drops zero-probability classes of ``P``.

    Examples
    --------
    >>> kl_rows(mg.log(mg.Tensor([0.5, 0.5])), mg.log(mg.Tensor([0.5, 0.5])))
    Tensor(0.)
    """
    probability = mg.exp(p)
    live = probability.data > _MIN_PROBABILITY
    # Dead entries become 0 − 0 before subtracting: −∞ − (−∞) would be NaN.
    ratio = mg.where(live, p, 0.0) - mg.where(live, q, 0.0)
    ratio = mg.clip(ratio, -_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    return mg.sum(mg.where(live, probability * ratio, 0.0), axis=-1)


def kl_divergence(
    p: Any,
    q: Any,
    *,
    reduction: str = "mean",
    direction: str = "forward",
    symmetric: bool = False,
) -> mg.Tensor:
    """Kullback–Leibler divergence ``KL(P‖Q) = Σ exp(p) · (p − q)`` between logprob rows.

    Parameters
    ----------
    p, q : array-like or Tensor
        Log-probabilities of the same shape, classes on the last axis. NaN
        or ``+inf`` is a ``ValueError`` naming ``p`` or ``q``; ``-inf`` (a
        zero probability) is allowed.
    reduction : {"mean", "sum", "none"}
        Over rows.
    direction : {"forward", "reverse"}
        ``"forward"`` is ``KL(P‖Q)``, ``"reverse"`` is ``KL(Q‖P)``.
    symmetric : bool
        ``(KL(P‖Q) + KL(Q‖P)) / 2``; ``direction`` is then ignored.

    Returns
    -------
    Tensor
        A scalar, or one value per row for ``"none"``.

    Notes
    -----
    Classes with ``exp(p) ≤ 1e-10`` contribute 0 (``0 · log 0 = 0``), and
    log-ratios are clipped to ``[−100, 100]``, so a class that ``P`` allows but
    ``Q`` forbids adds ``100 · exp(p)`` instead of ``∞``.

    Examples
    --------
    >>> p, q = np.log([0.4, 0.3, 0.3]), np.log([0.25, 0.25, 0.5])
    >>> round(kl_divergence(p, q).item(), 7)
    0.0894502
    >>> round(kl_divergence(p, q, direction="reverse").item(), 7)
    0.0923315
    >>> kl_divergence([0.0, -np.inf], [np.log(0.5), np.log(0.5)])  # log 2
    Tensor(0.69314718)
    """
    reduction = check_choice("reduction", reduction, _REDUCTIONS, "kl_divergence")
    direction = check_choice("direction", direction, _DIRECTIONS, "kl_divergence")
    symmetric = check_bool("symmetric", symmetric, "kl_divergence")
    p, q = _distributions(p, q, "kl_divergence")
    if symmetric:
        rows = (kl_rows(p, q) + kl_rows(q, p)) * 0.5
    elif direction == "forward":
        rows = kl_rows(p, q)
    else:
        rows = kl_rows(q, p)
    return reduce(rows, reduction)


def js_divergence(p: Any, q: Any, *, reduction: str = "mean") -> mg.Tensor:
    """Jensen–Shannon divergence ``(KL(P‖M) + KL(Q‖M)) / 2`` with ``M = (P + Q) / 2``.

    Symmetric and bounded by ``log 2``. ``M`` is floored at ``1e-10`` before
    its logarithm, so two zero-probability classes stay finite.

    Parameters
    ----------
    p, q : array-like or Tensor
        Log-probabilities of the same shape, classes on the last axis.
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> js_divergence([0.0, -np.inf], [-np.inf, 0.0])  # disjoint supports: log 2
    Tensor(0.69314718)
    """
    reduction = check_choice("reduction", reduction, _REDUCTIONS, "js_divergence")
    p, q = _distributions(p, q, "js_divergence")
    mixture = mg.maximum((mg.exp(p) + mg.exp(q)) * 0.5, _MIN_PROBABILITY)
    log_mixture = mg.log(mixture)
    rows = (kl_rows(p, log_mixture) + kl_rows(q, log_mixture)) * 0.5
    return reduce(rows, reduction)


def _tempered(logprobs: mg.Tensor, temperature: float) -> mg.Tensor:
    """``p/T − logsumexp(p/T)`` over the last axis: the logprobs of ``softmax(p/T)``."""
    scaled = logprobs * (1.0 / temperature)
    normaliser = mg.logsumexp(scaled, axis=-1, keepdims=True)
    # A row with no probability at all has normaliser −∞; use 0 so that its
    # entries stay −∞ (and are masked below) instead of becoming −∞ − (−∞).
    normaliser = mg.where(np.isfinite(normaliser.data), normaliser, 0.0)
    return scaled - normaliser


def entropy(
    logprobs: Any,
    *,
    mode: str = "bonus",
    reduction: str = "mean",
    normalize: bool = False,
    temperature: float = 1.0,
) -> mg.Tensor:
    """Shannon entropy ``H(P) = −Σ exp(p) · p`` of logprob rows.

    Parameters
    ----------
    logprobs : array-like or Tensor
        Classes on the last axis.
    mode : {"bonus", "penalty"}
        ``"bonus"`` returns ``H``, ``"penalty"`` returns ``−H``. (Adding a
        bonus to a loss that is minimised *lowers* entropy; the names are
        NxPenalties'.)
    reduction : {"mean", "sum", "none"}
        Over rows.
    normalize : bool
        Divide each row by ``log V`` (``V`` classes), the largest possible
        entropy, so that the result is in ``[0, 1]``. Needs ``V ≥ 2``.
    temperature : float
        When not 1, the rows are first re-normalised at temperature ``T``:
        ``p ← p/T − logsumexp(p/T)``.

    Returns
    -------
    Tensor
        A scalar, or one value per row for ``"none"``.

    Notes
    -----
    Classes with logprob ``≤ −50`` (``−∞`` included) contribute 0.

    Examples
    --------
    >>> round(entropy(np.log([0.25, 0.25, 0.25, 0.25])).item(), 7)  # log 4
    1.3862944
    >>> entropy([0.0, -np.inf])  # a certain outcome
    Tensor(0.)
    >>> entropy(np.log([0.5, 0.5]), normalize=True, mode="penalty")
    Tensor(-1.)
    """
    mode = check_choice("mode", mode, _MODES, "entropy")
    reduction = check_choice("reduction", reduction, _REDUCTIONS, "entropy")
    normalize = check_bool("normalize", normalize, "entropy")
    temperature = check_real("temperature", temperature, "entropy", positive=True)
    logprobs = floating_tensor(logprobs)
    if logprobs.ndim == 0:
        raise ValueError("entropy: logprobs need a class axis (at least 1-D), got shape ()")
    classes = logprobs.shape[-1]
    if normalize and classes < 2:
        raise ValueError(
            f"entropy: normalize=True needs at least 2 classes (log V > 0), got V = {classes}"
        )
    if temperature != 1.0:
        logprobs = _tempered(logprobs, temperature)
    live = logprobs.data > _ENTROPY_FLOOR
    # −exp(p)·p with p replaced by 0 where masked: finite in both branches of where.
    safe = mg.where(live, logprobs, 0.0)
    rows = mg.sum(mg.where(live, -mg.exp(safe) * safe, 0.0), axis=-1)
    if normalize:
        rows = rows * (1.0 / math.log(classes))
    value = reduce(rows, reduction)
    return value if mode == "bonus" else -value
