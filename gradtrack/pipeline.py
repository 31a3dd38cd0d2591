"""Compute a regularized loss: a base loss plus weighted regularizers, with gradient diagnostics.

This module lets you run the whole composition in one call, :func:`compute`
(also ``gradtrack.compute``), or :func:`evaluate` when you also need the
gradients themselves (to hand them to a model, as
:mod:`gradtrack.custom_loss` and :mod:`gradtrack.integrations.torch` do):

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

import numpy as np

from gradtrack import telemetry
from gradtrack._validate import (
    check_flag,
    check_logprobs,
    check_max_concurrency,
    check_timeout,
)
from gradtrack.conflicts import check_conflict_mode, pcgrad_coefficients, weighted_gram
from gradtrack.errors import PipelineError, RegularizerError
from gradtrack.executor import RegularizerResult, _run_checked
from gradtrack.terms import (
    GRAD_FAILED,
    TermEvaluation,
    check_specs,
    check_unique_names,
    evaluate_base,
    gradient_or_warn,
    warn_gradient_failed,
)
from gradtrack.types import CustomLossOutput, RegularizerSpec
from gradtrack.vectors import cosine_from_dot, vector_norm, weighted_sum
from minigrad import kernels

# check_logprobs lives in gradtrack._validate; it is re-exported here as before.
__all__ = ["Evaluation", "check_logprobs", "compute", "evaluate"]

BaseLossFn = Callable[[Any, Any], Any]


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
    check_unique_names(specs)
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
    conflict: str = "none",
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
    conflict : {"none", "pcgrad"}
        ``"pcgrad"`` projects away the conflicts between the weighted term
        gradients (PCGrad, see :mod:`gradtrack.conflicts`; the base loss is
        term 0, a term without a gradient counts as zero) and reports the
        norm of the projected total as ``total_grad_norm_projected``. Every
        term's gradient is then taken even without ``track_grad_norms``.
        ``total_grad_norm`` and ``grad_alignment`` stay those of the
        gradient of ``loss_total``. If a gradient fails, the projection is
        unknown: ``total_grad_norm_projected`` is ``None``, with a WARNING.

    Returns
    -------
    CustomLossOutput

    Raises
    ------
    TypeError, ValueError
        Invalid arguments, found before anything runs: ``base_loss_fn`` not
        callable, an item of ``regularizers`` not a spec (its index is
        named), an invalid spec, duplicate names ("Duplicate regularizer
        names: [...]"), NaN or ``+inf`` logprobs, a bad ``timeout``,
        ``max_concurrency`` or ``conflict``.
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

    With PCGrad, each of two conflicting terms loses its part along the other:
    the base's ``(1, 1)`` becomes ``(0, 1)``, the regularizer's ``(-1, 0)``
    becomes ``(-0.5, 0.5)``:

    >>> first = RegularizerSpec(lambda data, lp: (-lp[0], {}), weight=1.0, name="first")
    >>> out = compute([], [1.0, 2.0], base, regularizers=[first], conflict="pcgrad")
    >>> out.total_grad_norm_projected == float(np.hypot(-0.5, 1.5))
    True
    """
    output, _ = _run(
        data,
        logprobs,
        base_loss_fn,
        regularizers,
        track=track_grad_norms,
        with_gradients=False,
        jit=jit,
        parallel=parallel,
        timeout=timeout,
        max_concurrency=max_concurrency,
        conflict=conflict,
    )
    return output


@dataclass(frozen=True)
class Evaluation:
    """A pipeline run with its gradients: what :func:`evaluate` returns.

    Attributes
    ----------
    output : CustomLossOutput
        What :func:`compute` returns for the same arguments.
    base_gradient : np.ndarray
        ``∂ base / ∂ logprobs``, in the logprobs' dtype and shape.
    gradients : dict of str to np.ndarray
        Each regularizer's own (unweighted) gradient ``∂ reg_i / ∂ logprobs``,
        in spec order, in the logprobs' dtype and shape.
    total_gradient : np.ndarray
        ``g_base + Σ_i w_i g_i``, the gradient of ``loss_total``, in float64
        and the logprobs' shape; with ``conflict="pcgrad"``, the projected
        total ``Σᵢ pᵢ`` instead (what training should use).

    Examples
    --------
    >>> base = lambda data, lp: (lp.sum(), {})
    >>> run = evaluate([], [1.0, 2.0], base)
    >>> run.output.loss_total, run.total_gradient
    (3.0, array([1., 1.]))
    """

    output: CustomLossOutput
    base_gradient: np.ndarray
    gradients: dict[str, np.ndarray]
    total_gradient: np.ndarray


def evaluate(
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
    conflict: str = "none",
) -> Evaluation:
    """:func:`compute`, returning every term's gradient with respect to the logprobs too.

    Takes the same arguments as :func:`compute`, and ``evaluate(...).output``
    equals ``compute(...)``. Each term is still evaluated once and
    differentiated once (whatever ``track_grad_norms`` says: the gradients
    are what this function is for); ``track_grad_norms`` only decides whether
    the output reports the norms and alignments, which then cost nothing more.

    Returns
    -------
    Evaluation

    Raises
    ------
    PipelineError
        As :func:`compute`, and also when the base loss's gradient cannot be
        computed (the value alone is of no use here).
    RegularizerError
        As :func:`compute`, and also when a regularizer's gradient cannot be
        computed (it is named; the exception is ``__cause__``).

    Examples
    --------
    >>> from gradtrack.types import RegularizerSpec
    >>> base = lambda data, lp: (lp.sum(), {})
    >>> l2 = RegularizerSpec(lambda data, lp: ((lp * lp).sum(), {}), weight=0.5, name="l2")
    >>> run = evaluate([], [1.0, 2.0, 3.0], base, regularizers=[l2])
    >>> run.base_gradient, run.gradients["l2"], run.total_gradient
    (array([1., 1., 1.]), array([2., 4., 6.]), array([2., 3., 4.]))
    >>> run.output.loss_total
    13.0
    >>> down = RegularizerSpec(lambda data, lp: (-lp.sum(), {}), weight=0.5, name="down")
    >>> evaluate([], [1.0, 2.0], base, regularizers=[down], conflict="pcgrad").total_gradient
    array([0., 0.])
    """
    _, evaluation = _run(
        data,
        logprobs,
        base_loss_fn,
        regularizers,
        track=track_grad_norms,
        with_gradients=True,
        jit=jit,
        parallel=parallel,
        timeout=timeout,
        max_concurrency=max_concurrency,
        conflict=conflict,
    )
    assert evaluation is not None  # gradients=True always builds one
    return evaluation


def _run(
    data: Any,
    logprobs: Any,
    base_loss_fn: BaseLossFn,
    regularizers: Iterable[RegularizerSpec],
    *,
    track: bool,
    with_gradients: bool,
    jit: bool,
    parallel: bool,
    timeout: float,
    max_concurrency: int | None,
    conflict: str = "none",
) -> tuple[CustomLossOutput, Evaluation | None]:
    """The one pipeline run behind :func:`compute` and :func:`evaluate`.

    ``track`` decides what the output reports; ``with_gradients`` whether an
    :class:`Evaluation` is built (every gradient then required). Terms are
    differentiated when either asks for it.
    """
    specs = _validated_specs(base_loss_fn, regularizers)
    array = check_logprobs(logprobs)
    track = check_flag("track_grad_norms", track)
    parallel = check_flag("parallel", parallel)
    jit = check_flag("jit", jit)
    project = check_conflict_mode(conflict) == "pcgrad"
    # PCGrad needs every term's gradient, whatever the output reports.
    gradients = track or with_gradients or project
    timeout = check_timeout(timeout)
    max_concurrency = check_max_concurrency(max_concurrency)

    started = time.perf_counter()
    count = len(specs)
    start_metadata = {"regularizer_count": count, "track_grad_norms": track}
    telemetry.emit(telemetry.PIPELINE_START, {"system_time": time.time()}, start_metadata)
    try:
        base = evaluate_base(base_loss_fn, data, array, track=gradients, jit=jit)
        results = _run_checked(
            specs,
            data,
            array,
            parallel=parallel,
            timeout=timeout,
            track=gradients,
            max_concurrency=max_concurrency,
            jit=jit,
        )
        if with_gradients:
            _require_gradients(base, results)
        output = _build_output(base, results, track)
        total = None
        if project:
            total = _projected_total(base, results, array.shape)
            norm = None if total is None else vector_norm(total)
            output = replace(output, total_grad_norm_projected=norm)
        evaluation = _evaluation(output, base, results, array, total) if with_gradients else None
    except BaseException as exc:
        duration = {"duration": time.perf_counter() - started}
        telemetry.emit(telemetry.PIPELINE_EXCEPTION, duration, {"reason": exc})
        raise
    measurements = {
        "duration": time.perf_counter() - started,
        "loss_total": output.loss_total,
        "regularizer_total": output.regularizer_total,
        "total_grad_norm": output.total_grad_norm,
    }
    telemetry.emit(telemetry.PIPELINE_STOP, measurements, {"regularizer_count": count})
    return output, evaluation


def _require_gradients(base: TermEvaluation, results: Sequence[RegularizerResult]) -> None:
    """Refuse to hand out gradients when one failed (a term not connected counts as zero)."""
    if base.grad_status == GRAD_FAILED:
        raise PipelineError(
            f"the gradient of the base loss could not be computed: {base.grad_error}"
        ) from base.grad_error
    for result in results:
        if result.output.grad_status == GRAD_FAILED:
            raise RegularizerError(
                result.output.name, f"its gradient could not be computed: {result.grad_error}"
            ) from result.grad_error


def _term_gradients(
    base: TermEvaluation, results: Sequence[RegularizerResult]
) -> tuple[list[float], list[np.ndarray | None]]:
    """Every term's weight and own gradient, base first (``None``: not connected)."""
    weights = [1.0] + [result.output.weight for result in results]
    return weights, [base.grad] + [result.grad for result in results]


def _projected_total(
    base: TermEvaluation, results: Sequence[RegularizerResult], shape: tuple[int, ...]
) -> np.ndarray | None:
    """``Σᵢ pᵢ`` after PCGrad on the weighted term gradients, in float64 (flat).

    ``None`` when a gradient failed (the projection is then unknown; the
    failure is logged with a WARNING naming the term).
    """
    failed = (["base"] if base.grad_status == GRAD_FAILED else []) + [
        result.output.name for result in results if result.output.grad_status == GRAD_FAILED
    ]
    if failed:
        warn_gradient_failed("total (projected)", f"no gradient for {failed}")
        return None
    weights, grads = _term_gradients(base, results)
    coefficients = pcgrad_coefficients(weighted_gram(weights, grads))
    present = [i for i, grad in enumerate(grads) if grad is not None]
    if not present:  # nothing is connected to the logprobs: the gradient is zero
        return np.zeros(shape)
    total = weighted_sum(
        [coefficients[i] * weights[i] for i in present], [grads[i] for i in present]
    )
    return total.reshape(shape)


def _evaluation(
    output: CustomLossOutput,
    base: TermEvaluation,
    results: Sequence[RegularizerResult],
    array: np.ndarray,
    projected: np.ndarray | None = None,
) -> Evaluation:
    # A term not connected to the logprobs' graph (grad_status "no_gradient", warned
    # about already) has no gradient: it adds zeros, which is what training gets from it.
    def gradient_of(grad: np.ndarray | None) -> np.ndarray:
        return np.zeros(array.shape, dtype=array.dtype) if grad is None else grad

    base_gradient = gradient_of(base.grad)
    gradients = {result.output.name: gradient_of(result.grad) for result in results}
    weights = [1.0] + [result.output.weight for result in results]
    grads = [base_gradient, *gradients.values()]
    # conflict="pcgrad": Σᵢ pᵢ is what training uses; else g_base + Σ w_i g_i, in float64.
    total = projected if projected is not None else weighted_sum(weights, grads)
    return Evaluation(output, base_gradient, gradients, total.reshape(array.shape))


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
        # evaluate() takes gradients either way; without tracking no norm is reported.
        outputs = [
            replace(out, grad_norm=None, grad_norm_weighted=None, grad_status=None)
            for out in outputs
        ]
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
