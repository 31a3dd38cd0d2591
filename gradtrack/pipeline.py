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

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gradtrack import telemetry
from gradtrack._validate import (
    check_flag,
    check_logprobs,
    check_max_concurrency,
    check_timeout,
)
from gradtrack.executor import RegularizerResult, _run_checked
from gradtrack.terms import GRAD_FAILED, TermEvaluation, check_specs, evaluate_base
from gradtrack.tracker import gradient_or_warn, warn_gradient_failed
from gradtrack.types import CustomLossOutput, RegularizerSpec
from gradtrack.vectors import cosine_from_dot, vector_norm, weighted_sum
from minigrad import kernels

__all__ = ["check_logprobs", "compute"]  # check_logprobs lives in gradtrack._validate

BaseLossFn = Callable[[Any, Any], Any]


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
        A term whose loss is not connected to the logprobs (computed with
        NumPy, say) is marked ``grad_status="no_gradient"`` with
        ``grad_norm=None`` and no alignment, adds nothing to the total, and
        is named in a WARNING (once per name). If the total gradient is not
        finite, every alignment is ``None``.
    parallel : bool
        Run the regularizers in parallel threads (see
        :func:`gradtrack.executor.execute_all`).
    timeout : float
        Seconds each regularizer may take.
    max_concurrency : int, optional
        Most regularizers running at once; defaults to ``os.cpu_count()``.

    Returns
    -------
    CustomLossOutput

    Raises
    ------
    TypeError, ValueError
        Invalid arguments, found before anything runs: ``base_loss_fn`` not
        callable, an item of ``regularizers`` not a spec (its index is
        named), an invalid spec, duplicate names ("Duplicate regularizer
        names: [...]"), NaN or ``+inf`` logprobs, ``track_grad_norms`` or
        ``parallel`` not a bool, a bad ``timeout`` or ``max_concurrency``.
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
    track = check_flag("track_grad_norms", track_grad_norms)
    parallel = check_flag("parallel", parallel)
    timeout = check_timeout(timeout)
    max_concurrency = check_max_concurrency(max_concurrency)

    started = time.perf_counter()
    count = len(specs)
    start_metadata = {"regularizer_count": count, "track_grad_norms": track}
    telemetry.emit(telemetry.PIPELINE_START, {"system_time": time.time()}, start_metadata)
    try:
        base = evaluate_base(base_loss_fn, data, array, track=track)
        results = _run_checked(
            specs,
            data,
            array,
            parallel=parallel,
            timeout=timeout,
            track=track,
            max_concurrency=max_concurrency,
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
    alignment: dict[str, float | None] | None


def _gradient_report(base: TermEvaluation, results: Sequence[RegularizerResult]) -> _GradientReport:
    """Norms and alignments from the gradients already taken: nothing is evaluated again.

    A term without a gradient (``no_gradient``) adds nothing to the total and
    has no alignment; a failed gradient makes the total unknown (reported as
    ``0.0`` with a warning, as the original does); a non-finite total has no
    alignments at all (every cosine with it would be a made-up number).
    """
    base_status = base.grad_status
    if base_status == GRAD_FAILED:
        gradient_or_warn(base, "base")  # logs the WARNING naming the base loss
    base_grad = base.grad
    base_grad_norm = None if base_grad is None else vector_norm(base_grad)
    failed = (["base"] if base_status == GRAD_FAILED else []) + [
        result.output.name for result in results if result.output.grad_status == GRAD_FAILED
    ]
    if failed:
        if not results:  # the total is the base alone, and its norm is unknown
            return _GradientReport(base_grad_norm, base_grad_norm, None)
        warn_gradient_failed("total", f"no gradient for {failed}")
        return _GradientReport(base_grad_norm, 0.0, None)
    names = ["base"] + [result.output.name for result in results]
    weights = [1.0] + [result.output.weight for result in results]
    grads = [base_grad] + [result.grad for result in results]
    norms = [base_grad_norm] + [result.output.grad_norm for result in results]
    present = [index for index, grad in enumerate(grads) if grad is not None]
    alignment: dict[str, float | None] = dict.fromkeys(names)
    if not present:  # no term is connected: autodiff's total gradient is exactly zero
        return _GradientReport(base_grad_norm, 0.0, alignment)
    # g_total = g_base + Σ w_i g_i over the terms that have a gradient, in float64.
    total = weighted_sum([weights[i] for i in present], [grads[i] for i in present])
    total_norm = vector_norm(total)
    if math.isfinite(total_norm):
        # Weights are >= 0, so cos(w g, total) = cos(g, total) (0 for w = 0): no weighted copies.
        for i in present:
            grad, norm = grads[i], norms[i]
            assert grad is not None and norm is not None
            if not math.isfinite(norm):
                continue
            cosine = cosine_from_dot(kernels.dot(grad, total), norm, total_norm)
            alignment[names[i]] = cosine if weights[i] > 0 else 0.0
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
        base_grad_status=base.grad_status,
    )
