"""Gradient norms of losses and regularizers with respect to the logprobs.

This module lets you ask how hard each term of a regularized loss pulls on
the logprobs: :func:`compute_grad_norm` for any loss function,
:func:`grad_norm_for_regularizer` for one :class:`~gradtrack.types.RegularizerSpec`,
:func:`total_grad_norm` for ``base + Σ weight_i · reg_i``, and
:func:`grad_conflicts` for the cosine between every pair of weighted term
gradients (do two terms pull the same way, or fight?).

All gradients are taken with respect to the logprobs, never model parameters.
Norms and sums of gradients are accumulated in float64, whatever the dtype the
terms were evaluated in.

Each term is evaluated once and differentiated once (see
:mod:`gradtrack.terms`); the total gradient is the weighted sum of the terms'
gradients (see :mod:`gradtrack.vectors`), never a re-evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack._validate import check_logprobs
from gradtrack.errors import PipelineError, RegularizerError
from gradtrack.terms import (
    GRAD_FAILED,
    TermFn,
    check_specs,
    compiled_for,
    evaluate_base,
    evaluate_regularizer,
    evaluate_term,
    gradient_or_warn,
    warn_gradient_failed,
    warn_no_gradient,
)
from gradtrack.types import RegularizerSpec
from gradtrack.vectors import cosine_matrix, vector_norm, weighted_sum
from minigrad import engine

__all__ = [
    "compute_grad_norm",
    "grad_conflicts",
    "grad_norm_for_regularizer",
    "total_grad_norm",
]


# ------------------------------------------------------------------- the norms


def compute_grad_norm(
    loss_fn: Callable[[mg.Tensor], Any], logprobs: Any, *, jit: bool = False
) -> float:
    """The norm ``sqrt(sum(g²))`` of the gradient of ``loss_fn`` at ``logprobs``.

    ``loss_fn`` receives a Tensor and returns a scalar loss. A loss that does
    not depend on its input has norm ``0.0``; if it is not connected to the
    input in minigrad's graph at all (computed with NumPy, say), a WARNING
    naming ``"loss_fn"`` says so (once). Errors propagate (a non-scalar loss
    is a ``ValueError``; NaN or ``+inf`` logprobs are a ``ValueError`` before
    ``loss_fn`` is called).

    With ``jit`` the loss, its gradient and the norm are compiled together by
    :func:`minigrad.jit` (once per logprobs shape and dtype for this
    ``loss_fn``): the gradient is never stored, only its sum of squares
    (accumulated in float64) comes out. A loss that cannot be traced runs
    eagerly.

    Examples
    --------
    >>> compute_grad_norm(lambda lp: (lp * lp).sum(), [1.0, 2.0, 3.0])  # sqrt(4 + 16 + 36)
    7.483314773547883
    """
    array = check_logprobs(logprobs)
    if jit:
        norm = _compiled_grad_norm(loss_fn, array)
        if norm is not None:
            return norm
    evaluation = evaluate_term(lambda _, leaf: (loss_fn(leaf), None), None, array, track=True)
    if not evaluation.connected:
        warn_no_gradient("loss_fn")
        return 0.0
    if evaluation.grad is None:
        raise evaluation.grad_error or RuntimeError("the gradient could not be computed")
    return vector_norm(evaluation.grad)


_NO_DATA = object()


def _compiled_grad_norm(loss_fn: Callable[[mg.Tensor], Any], array: np.ndarray) -> float | None:
    def squared_norm(lp: np.ndarray) -> mg.Tensor:
        leaf = mg.Tensor(lp, requires_grad=True)
        with mg.enable_grad():
            loss = loss_fn(leaf)
        if not isinstance(loss, mg.Tensor) or loss.size != 1:
            raise ValueError("not a scalar Tensor loss: the eager route reports it")
        (grad,) = engine.gradients(loss, [leaf])
        wide = mg.astype(grad, np.float64)
        return mg.sum(wide * wide)

    compiled = compiled_for(loss_fn, _NO_DATA, lambda: squared_norm, "norm")
    if compiled is None or getattr(compiled, "eager_only", False):
        return None
    try:
        total = compiled(array)
    except Exception:  # not traceable, or failing: the eager route decides
        compiled.eager_only = True
        return None
    return float(np.sqrt(total.data))


def grad_norm_for_regularizer(spec: RegularizerSpec, data: Any, logprobs: Any) -> float:
    """The gradient norm of one regularizer's (summed) loss with respect to the logprobs.

    A non-scalar loss is summed first. If anything fails, the result is
    ``0.0`` and a WARNING naming the regularizer is logged on the
    ``gradtrack`` logger; a loss not connected to the logprobs in minigrad's
    graph also gives ``0.0``, with a WARNING (once per name) that says so.
    NaN or ``+inf`` logprobs are a ``ValueError``, raised before the
    regularizer runs.

    Examples
    --------
    >>> from gradtrack.types import RegularizerSpec
    >>> spec = RegularizerSpec(lambda data, lp: (lp.abs(), {}), weight=1.0, name="l1")
    >>> round(grad_norm_for_regularizer(spec, None, [1.0, -2.0, 3.0]), 6)  # sqrt(3)
    1.732051
    """
    if not isinstance(spec, RegularizerSpec):
        raise TypeError(f"spec must be a RegularizerSpec, got {type(spec).__name__}")
    array = check_logprobs(logprobs)
    try:
        evaluation = evaluate_regularizer(spec, data, array, track=True, sum_nonscalar=True)
    except Exception as exc:
        warn_gradient_failed(spec.name, exc)
        return 0.0
    if not evaluation.connected:
        return 0.0  # evaluate_regularizer has logged why
    grad = gradient_or_warn(evaluation, spec.name)
    return 0.0 if grad is None else vector_norm(grad)


def total_grad_norm(
    base_loss_fn: TermFn, regularizers: Sequence[RegularizerSpec], data: Any, logprobs: Any
) -> float:
    """The gradient norm of ``base + Σ weight_i · reg_i`` with respect to the logprobs.

    Every term is evaluated once and its gradient taken once; the total
    gradient is the weighted sum of those. Terms must be scalars. If anything
    fails the result is ``0.0`` and a WARNING naming ``"total"`` is logged. A
    term not connected to the logprobs adds nothing (with a WARNING naming
    it). NaN or ``+inf`` logprobs and items that are not specs are refused
    (``ValueError``, ``TypeError``) before anything runs.

    Examples
    --------
    >>> from gradtrack.types import RegularizerSpec
    >>> base = lambda data, lp: (lp.sum(), {})
    >>> l2 = RegularizerSpec(lambda data, lp: ((lp * lp).sum(), {}), weight=0.5, name="l2")
    >>> round(total_grad_norm(base, [l2], None, [1.0, 2.0, 3.0]), 6)  # |1 + lp| = sqrt(29)
    5.385165
    """
    specs = check_specs(regularizers)
    array = check_logprobs(logprobs)
    try:
        _, weighted = _weighted_gradients(base_loss_fn, specs, data, array)
    except Exception as exc:
        warn_gradient_failed("total", exc)
        return 0.0
    return vector_norm(weighted_sum([1.0] * len(weighted), weighted))


def grad_conflicts(
    base_loss_fn: TermFn, regularizers: Sequence[RegularizerSpec], data: Any, logprobs: Any
) -> tuple[list[str], np.ndarray]:
    """Cosines between the weighted gradients of the base loss and each regularizer.

    Returns the term names (``"base"`` first, then the regularizers in order)
    and a symmetric float64 matrix whose entry ``[i, j]`` is the cosine of the
    angles between ``w_i g_i`` and ``w_j g_j`` (``w = 1`` for the base). A
    negative entry means the two terms pull the logprobs in opposing
    directions. A term with a zero gradient (or weight 0) has cosine ``0.0``
    with everything, itself included; so has a term not connected to the
    logprobs, which is also named in a WARNING.

    Raises
    ------
    RegularizerError, PipelineError
        A regularizer, or the base loss, failed or its gradient could not be taken.
    TypeError, ValueError
        An item is not a spec, or NaN or ``+inf`` logprobs; before anything runs.

    Examples
    --------
    >>> from gradtrack.types import RegularizerSpec
    >>> base = lambda data, lp: (lp.sum(), {})
    >>> push_down = RegularizerSpec(lambda data, lp: (-lp.sum(), {}), weight=0.1, name="down")
    >>> names, cosines = grad_conflicts(base, [push_down], None, [1.0, 2.0])
    >>> names, cosines.round(6).tolist()
    (['base', 'down'], [[1.0, -1.0], [-1.0, 1.0]])
    """
    specs = check_specs(regularizers)
    array = check_logprobs(logprobs)
    names, weighted = _weighted_gradients(base_loss_fn, specs, data, array)
    return names, cosine_matrix(weighted)


def _weighted_gradients(
    base_loss_fn: TermFn, regularizers: Sequence[RegularizerSpec], data: Any, logprobs: Any
) -> tuple[list[str], list[np.ndarray]]:
    """Names and ``w_i g_i`` of every term, base first; raises on any failure."""
    specs = check_specs(regularizers)
    base = evaluate_base(base_loss_fn, data, logprobs, track=True)
    if base.grad_status == GRAD_FAILED:
        raise PipelineError(f"the gradient of the base loss failed: {base.grad_error}")
    zeros = np.zeros(np.shape(logprobs))
    # A term without a gradient (warned about by evaluate_*) contributes nothing.
    names, weighted = ["base"], [zeros if base.grad is None else base.grad]
    for spec in specs:
        evaluation = evaluate_regularizer(spec, data, logprobs, track=True)
        if evaluation.grad_status == GRAD_FAILED:
            raise RegularizerError(spec.name, f"its gradient failed: {evaluation.grad_error}")
        names.append(spec.name)
        grad = zeros if evaluation.grad is None else evaluation.grad
        weighted.append(float(spec.weight) * grad)
    return names, weighted
