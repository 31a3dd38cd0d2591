"""Compute a regularized loss: a base loss plus weighted regularizers, with gradient diagnostics.

This module lets you run the whole composition in one call, :func:`compute`
(also ``gradtrack.compute``):

    loss_total = base(logprobs) + Σ_i weight_i · reg_i(logprobs)

and get back a :class:`~gradtrack.types.CustomLossOutput` with every term's
value, contribution and metrics. With ``track_grad_norms=True`` it also
reports, with respect to the logprobs, the norm of each term's gradient, the
norm of the total gradient, and how well each weighted term's gradient lines
up with the total (``grad_alignment``, a cosine: negative means the term
pulls against the overall update).

One backward per term: the base loss and each regularizer are evaluated once
and differentiated once, and the total gradient is the weighted sum of those
gradients, ``g_total = g_base + Σ_i w_i g_i``. The original evaluates every
term three times to get the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gradtrack import telemetry
from gradtrack.executor import (
    RegularizerResult,
    check_max_concurrency,
    check_timeout,
    run_regularizers,
)
from gradtrack.terms import TermEvaluation, as_logprobs_array, check_specs, evaluate_base
from gradtrack.tracker import gradient_or_warn, warn_gradient_failed
from gradtrack.types import CustomLossOutput, RegularizerSpec
from gradtrack.vectors import cosine_from_dot, vector_norm, weighted_sum
from minigrad import kernels

__all__ = ["check_logprobs", "compute"]

BaseLossFn = Callable[[Any, Any], Any]


def check_logprobs(logprobs: Any) -> np.ndarray:
    """The logprobs as an array, or ``ValueError`` if any is NaN or ``+inf``.

    ``-inf`` is allowed: it is the log-probability of an impossible token.
    The message gives the number of bad values and the index of the first.

    Examples
    --------
    >>> check_logprobs([-0.5, float("-inf")])
    array([-0.5, -inf])
    >>> check_logprobs([-0.5, float("nan"), float("inf")])
    Traceback (most recent call last):
    ...
    ValueError: logprobs has 2 NaN or +inf values (the first at index 1); logprobs must be finite or -inf
    """  # noqa: E501
    array = as_logprobs_array(logprobs)
    # One cheap pass for the common case: x < inf is False exactly for NaN and +inf.
    if (array < np.inf).all():
        return array
    bad = np.isnan(array) | np.isposinf(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = first[0] if len(first) == 1 else first
        raise ValueError(
            f"logprobs has {int(bad.sum())} NaN or +inf values (the first at index {where}); "
            "logprobs must be finite or -inf"
        )
    return array


def _check_names(specs: Sequence[RegularizerSpec]) -> None:
    # Each extra occurrence is listed, as the original does: 3 × "a" gives ["a", "a"].
    seen: set[str] = set()
    extras = []
    for spec in specs:
        if spec.name in seen:
            extras.append(spec.name)
        seen.add(spec.name)
    if extras:
        raise ValueError(f"Duplicate regularizer names: {extras}")


def _validated_specs(base_loss_fn: Any, regularizers: Iterable[Any]) -> list[RegularizerSpec]:
    if not callable(base_loss_fn):
        raise TypeError(
            f"base_loss_fn must be a callable (data, logprobs) -> (loss, metrics), "
            f"got {type(base_loss_fn).__name__}"
        )
    specs = check_specs(regularizers)
    for spec in specs:
        # Fields may have been changed since construction: check them again.
        spec.validate()
    _check_names(specs)
    return specs


def compute(
    data: Any,
    logprobs: Any,
    base_loss_fn: BaseLossFn,
    *,
    regularizers: Iterable[RegularizerSpec] = (),
    track_grad_norms: bool = False,
    parallel: bool = True,
    timeout: float = 30.0,
    max_concurrency: int | None = None,
    jit: bool = False,
) -> CustomLossOutput:
    """Evaluate ``base + Σ weight_i · reg_i`` on a batch and report every term.

    Parameters
    ----------
    data : list of Datum
        Passed unchanged to the base loss and to every regularizer.
    logprobs : array-like or Tensor
        Each term receives its own minigrad Tensor of these values (float32
        stays float32). NaN and ``+inf`` are rejected; ``-inf`` is allowed.
    base_loss_fn : callable
        ``base_loss_fn(data, logprobs) -> (loss, metrics)`` with a scalar loss.
    regularizers : iterable of RegularizerSpec
        Names must be unique.
    track_grad_norms : bool
        Also compute, with respect to the logprobs: ``base_loss["grad_norm"]``
        (``‖g_base‖``), each regularizer's ``grad_norm`` (``‖g_i‖``),
        ``total_grad_norm`` (``‖g_base + Σ w_i g_i‖``) and ``grad_alignment``
        (the cosine of each weighted term gradient with the total gradient,
        ``"base"`` included). If the base gradient fails, its ``grad_norm`` is
        ``None`` and a WARNING is logged (the original stays silent); if a
        regularizer's gradient fails, its ``grad_norm`` is ``0.0`` and the
        total falls back to ``0.0``, each with a WARNING naming the term.
    parallel : bool
        Run the regularizers in parallel threads (see
        :func:`gradtrack.executor.execute_all`).
    timeout : float
        Seconds each regularizer may take.
    max_concurrency : int, optional
        Most regularizers running at once; defaults to ``os.cpu_count()``.
    jit : bool
        Compile each term's value and gradient with :func:`minigrad.jit`,
        once per logprobs shape and dtype and ``data`` object (a term that
        cannot be traced runs eagerly). The results are the eager ones to
        float rounding.

    Returns
    -------
    CustomLossOutput

    Raises
    ------
    TypeError, ValueError
        Invalid arguments, found before anything runs: ``base_loss_fn`` not
        callable, an item of ``regularizers`` not a spec (its index is
        named), an invalid spec, duplicate names ("Duplicate regularizer
        names: [...]"), NaN or ``+inf`` logprobs, a bad ``timeout`` or
        ``max_concurrency``.
    PipelineError
        The base loss raised (original as ``__cause__``) or returned
        something other than ``(loss, metrics)`` with a scalar numeric loss.
    RegularizerError, RegularizerTimeoutError
        A regularizer failed or timed out (raised as is, naming it).

    Examples
    --------
    >>> from gradtrack.types import RegularizerSpec
    >>> base = lambda data, lp: (lp.sum(), {})
    >>> l2 = RegularizerSpec(lambda data, lp: ((lp * lp).sum(), {}), weight=0.5, name="l2")
    >>> out = compute([], [1.0, 2.0, 3.0], base, regularizers=[l2], track_grad_norms=True)
    >>> out.loss_total, out.regularizers["l2"].contribution
    (13.0, 7.0)
    >>> round(out.total_grad_norm, 6)  # ‖1 + lp‖ = sqrt(4 + 9 + 16)
    5.385165
    """
    specs = _validated_specs(base_loss_fn, regularizers)
    array = check_logprobs(logprobs)
    timeout = check_timeout(timeout)
    max_concurrency = check_max_concurrency(max_concurrency)
    track = bool(track_grad_norms)

    started = time.perf_counter()
    count = len(specs)
    start_metadata = {"regularizer_count": count, "track_grad_norms": track}
    telemetry.emit(telemetry.PIPELINE_START, {"system_time": time.time()}, start_metadata)
    try:
        base = evaluate_base(base_loss_fn, data, array, track=track, jit=bool(jit))
        results = run_regularizers(
            specs,
            data,
            array,
            parallel=parallel,
            timeout=timeout,
            track_grad_norms=track,
            max_concurrency=max_concurrency,
            jit=bool(jit),
        )
        output = _build_output(base, results, track)
    except BaseException as exc:
        duration = {"duration": time.perf_counter() - started}
        telemetry.emit(telemetry.PIPELINE_EXCEPTION, duration, {"reason": exc})
        raise
    measurements = {
        "duration": time.perf_counter() - started,
        "loss_total": output.loss_total,
        "regularizer_total": output.regularizer_total,
    }
    telemetry.emit(telemetry.PIPELINE_STOP, measurements, {"regularizer_count": count})
    return output


@dataclass(frozen=True)
class _GradientReport:
    base_grad_norm: float | None
    total_grad_norm: float | None
    alignment: dict[str, float] | None


def _gradient_report(base: TermEvaluation, results: Sequence[RegularizerResult]) -> _GradientReport:
    """Norms and alignments from the gradients already taken: nothing is evaluated again."""
    base_grad = gradient_or_warn(base, "base")
    base_grad_norm = None if base_grad is None else vector_norm(base_grad)
    failed = [result.output.name for result in results if result.grad is None]
    if base_grad is None or failed:
        if not results:  # the total is the base alone, and its norm is unknown
            return _GradientReport(base_grad_norm, base_grad_norm, None)
        missing = (["base"] if base_grad is None else []) + failed
        warn_gradient_failed("total", f"no gradient for {missing}")
        return _GradientReport(base_grad_norm, 0.0, None)
    names = ["base"] + [result.output.name for result in results]
    weights = [1.0] + [result.output.weight for result in results]
    grads = [base_grad] + [result.grad for result in results]
    norms = [base_grad_norm] + [result.output.grad_norm for result in results]
    total = weighted_sum(weights, grads)  # g_total = g_base + Σ w_i g_i, in float64
    total_norm = vector_norm(total)
    # Weights are >= 0, so cos(w g, total) = cos(g, total) (0 for w = 0): no weighted copies.
    alignment = {
        name: cosine_from_dot(kernels.dot(grad, total), norm, total_norm) if weight > 0 else 0.0
        for name, weight, grad, norm in zip(names, weights, grads, norms, strict=True)
    }
    return _GradientReport(base_grad_norm, total_norm, alignment)


def _build_output(
    base: TermEvaluation, results: Sequence[RegularizerResult], track: bool
) -> CustomLossOutput:
    outputs = [result.output for result in results]
    if not track:
        return CustomLossOutput.build(base.value, base.metrics, outputs)
    report = _gradient_report(base, results)
    if report.alignment is not None:
        outputs = [
            replace(output, grad_alignment=report.alignment[output.name]) for output in outputs
        ]
    return CustomLossOutput.build(
        base.value,
        base.metrics,
        outputs,
        base_grad_norm=report.base_grad_norm,
        total_grad_norm=report.total_grad_norm,
        grad_alignment=report.alignment,
    )
