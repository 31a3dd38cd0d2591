"""The whole route, :func:`forward_backward_custom`: forward, the loss (and regularizers),
gradients, synthetic data, ``forward_backward``."""

from __future__ import annotations

import concurrent.futures
import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack import pipeline
from gradtrack._validate import check_flag, check_max_concurrency, check_timeout
from gradtrack.conflicts import check_conflict_mode
from gradtrack.custom_loss.client import (
    LINEAR_LOSS_FN,
    CustomForwardBackwardOutput,
    LossFn,
    TrainingClient,
)
from gradtrack.custom_loss.steps import (
    build_linear_loss_data,
    evaluate_loss,
    extract_per_datum_logprobs,
    host_metrics,
    scalar_loss,
    target_tokens_of,
)
from gradtrack.errors import NonFiniteError
from gradtrack.terms import check_specs, check_unique_names
from gradtrack.types import (
    CustomLossOutput,
    Datum,
    ForwardBackwardOutput,
    RegularizerSpec,
)

__all__ = ["forward_backward_custom", "forward_backward_custom_async"]


# --------------------------------------------------------- the whole route


def _join(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Per-datum arrays concatenated along their first axis (tokens), in data order."""
    parts = [np.atleast_1d(a) for a in arrays]
    trailing = {part.shape[1:] for part in parts}
    if len(trailing) > 1:
        raise ValueError(
            "per-datum logprobs must agree in all but their first axis to be joined, "
            f"got shapes {[a.shape for a in arrays]}"
        )
    return np.concatenate(parts, axis=0)


def _split(joined: np.ndarray, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Undo :func:`_join`: cut along the first axis and restore each shape."""
    lengths = [shape[0] if shape else 1 for shape in shapes]
    pieces = np.split(joined, np.cumsum(lengths)[:-1], axis=0)
    return [piece.reshape(shape) for piece, shape in zip(pieces, shapes, strict=True)]


def _split_tensor(joined: mg.Tensor, shapes: Sequence[tuple[int, ...]]) -> list[mg.Tensor]:
    """:func:`_split` on a Tensor, differentiably: ``loss_fn`` sees one Tensor per datum."""
    parts = []
    start = 0
    for shape in shapes:
        length = shape[0] if shape else 1
        parts.append(joined[start : start + length].reshape(shape))
        start += length
    return parts


@functools.lru_cache(maxsize=64)
def _per_datum_loss(loss_fn: LossFn, shapes: tuple[tuple[int, ...], ...]) -> Callable[..., Any]:
    """``loss_fn`` as a pipeline term: it takes the joined logprobs and returns a scalar.

    One term per ``loss_fn`` and shapes (cached), so that with ``jit=True`` the
    compiled term is found again at the next step.
    """

    def base_term(data: Any, joined: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
        result = loss_fn(data, _split_tensor(joined, shapes))
        if not (isinstance(result, tuple | list) and len(result) == 2):
            raise TypeError(f"loss_fn must return a (loss, metrics) pair, got {result!r}")
        return scalar_loss(result[0]), host_metrics(result[1])

    return base_term


def _regularized_gradients(
    data: list[Datum],
    logprobs: list[np.ndarray],
    loss_fn: LossFn,
    specs: list[RegularizerSpec],
    options: dict[str, Any],
) -> tuple[list[np.ndarray], dict[str, Any], CustomLossOutput]:
    """Run the pipeline over the joined logprobs; return per-datum ``∂(L + Σ wᵢ Rᵢ)/∂ℓ``."""
    shapes = [lp.shape for lp in logprobs]
    run = pipeline.evaluate(
        data,
        _join(logprobs),
        _per_datum_loss(loss_fn, tuple(shapes)),
        regularizers=specs,
        **options,
    )
    _check_finite_terms(run, specs, shapes)
    grads = [
        g.astype(lp.dtype)
        for g, lp in zip(_split(run.total_gradient, shapes), logprobs, strict=True)
    ]
    return grads, dict(run.output.base_loss["custom"]), run.output


def _check_finite_terms(
    run: pipeline.Evaluation, specs: list[RegularizerSpec], shapes: Sequence[tuple[int, ...]]
) -> None:
    """Name the first term whose gradient would send the server a non-finite weight."""
    _check_finite_gradient("base", run.base_gradient, shapes, run.output)
    # An overflow here is reported as a NonFiniteError naming the term, not as a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        for spec in specs:
            # In the logprobs' dtype: what overflows there is what the server would get.
            gradient = run.gradients[spec.name]
            weighted = (float(spec.weight) * gradient).astype(gradient.dtype, copy=False)
            _check_finite_gradient(spec.name, weighted, shapes, run.output)
        dtype = run.base_gradient.dtype
        _check_finite_gradient("total", run.total_gradient.astype(dtype), shapes, run.output)


def _check_finite_gradient(
    term: str, gradient: np.ndarray, shapes: Sequence[tuple[int, ...]], output: Any = None
) -> None:
    """Raise :class:`NonFiniteError` naming ``term`` and the datum if ``gradient`` is not finite."""
    bad = ~np.isfinite(gradient)
    if not bad.any():
        return
    # The joined gradient's first axis runs over the data's tokens, in data order.
    position = int(np.argwhere(bad)[0][0]) if gradient.ndim else 0
    ends = np.cumsum([shape[0] if shape else 1 for shape in shapes])
    datum = int(np.searchsorted(ends, position, side="right"))
    what = {
        "base": "the gradient of loss_fn",
        "total": "the total gradient",
    }.get(term, f"the weighted gradient of regularizer {term!r}")
    raise NonFiniteError(
        term, f"{what} is not finite (first in data[{datum}])", datum=datum, output=output
    )


def _checked_arguments(
    client: Any,
    data: Any,
    loss_fn: Any,
    regularizers: Iterable[Any],
    options: dict[str, Any],
) -> tuple[list[Datum], list[RegularizerSpec], dict[str, Any]]:
    """Every argument check of :func:`forward_backward_custom`, before any request.

    Returns the data, the specs and the pipeline options, checked.
    """
    if not isinstance(client, TrainingClient):
        raise TypeError(
            "client must have forward(data, loss_fn) and forward_backward(data, loss_fn), "
            f"got {type(client).__name__}"
        )
    data = _checked_data(data)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    specs = check_specs(regularizers)
    for spec in specs:
        spec.validate()
    check_unique_names(specs)
    checked = {
        "track_grad_norms": check_flag("track_grad_norms", options["track_grad_norms"]),
        "parallel": check_flag("parallel", options["parallel"]),
        "timeout": check_timeout(options["timeout"]),
        "max_concurrency": check_max_concurrency(options["max_concurrency"]),
        "jit": check_flag("jit", options["jit"]),
        "conflict": check_conflict_mode(options["conflict"]),
    }
    return data, specs, checked


def _checked_data(data: Any) -> list[Datum]:
    if isinstance(data, Datum) or not isinstance(data, Iterable):
        raise TypeError(f"data must be a list of Datum, got {type(data).__name__}")
    data = list(data)
    if not data:
        raise ValueError("data is empty: there is nothing to train on")
    for index, datum in enumerate(data):
        if not isinstance(datum, Datum):
            raise TypeError(f"data[{index}] must be a Datum, got {type(datum).__name__}")
        tokens = target_tokens_of(datum, index)
        length, targets = datum.model_input.length(), tokens.to_numpy().size
        if length == 0 or targets == 0:
            raise ValueError(
                f"data[{index}] has no tokens (model_input length {length}, {targets} "
                "target_tokens): every datum needs at least one token to train on"
            )
    return data


def _checked_logprobs(data: list[Datum], logprobs: list[mg.Tensor]) -> list[np.ndarray]:
    if len(logprobs) != len(data):
        raise ValueError(
            f"forward returned logprobs for {len(logprobs)} data, expected {len(data)}"
        )
    arrays = []
    for index, (datum, lp) in enumerate(zip(data, logprobs, strict=True)):
        token_shape = datum.loss_fn_inputs["target_tokens"].to_numpy().shape
        if lp.shape != token_shape:
            raise ValueError(
                f"data[{index}]: logprobs shape {lp.shape} does not match "
                f"target_tokens shape {token_shape}"
            )
        bad = ~np.isfinite(lp.data)
        if bad.any():
            raise NonFiniteError(
                "logprobs",
                f"data[{index}]: logprobs are not finite (first at index "
                f"{tuple(int(i) for i in np.argwhere(bad)[0])}); the linearised loss needs "
                "finite logprobs",
                datum=index,
            )
        arrays.append(lp.data)
    return arrays


def forward_backward_custom(
    client: TrainingClient,
    data: Sequence[Datum],
    loss_fn: LossFn,
    *,
    regularizers: Iterable[RegularizerSpec] = (),
    track_grad_norms: bool = False,
    parallel: bool = True,
    timeout: float = 30.0,
    max_concurrency: int | None = None,
    jit: bool = False,
    conflict: str = "none",
) -> CustomForwardBackwardOutput:
    """One training step's forward and backward with a custom loss (see the module docstring).

    Parameters
    ----------
    client : TrainingClient
    data : list of Datum
        Each datum needs ``target_tokens``; its logprobs from the forward pass
        must have their shape and be finite.
    loss_fn : callable
        ``loss_fn(data, logprobs) -> (loss, metrics)``, where ``logprobs`` is a
        list with one Tensor per datum. Called once per step.
    regularizers : iterable of RegularizerSpec
        Added to the loss through :func:`gradtrack.pipeline.compute`: the
        server is trained on ``L + Σ wᵢ Rᵢ``.
    track_grad_norms : bool
        Report gradient norms in ``custom_loss`` (with respect to the logprobs).
    parallel, timeout, max_concurrency
        Passed to the pipeline.
    jit : bool
        Compile ``loss_fn``'s and each regularizer's value and gradient with
        :func:`minigrad.jit` (once per logprobs shapes and ``data``).
    conflict : {"none", "pcgrad"}
        ``"pcgrad"``: the server is trained on the PCGrad-projected total
        gradient of the terms (see :func:`gradtrack.pipeline.compute`), and
        ``custom_loss.total_grad_norm_projected`` reports its norm.

    Returns
    -------
    CustomForwardBackwardOutput
        The server's ``forward_backward`` output, its ``metrics`` updated with
        ``loss_fn``'s metrics (string keys, numbers; your keys override the
        server's), and ``custom_loss``: the pipeline's CustomLossOutput, or
        ``None`` when neither ``regularizers``, ``track_grad_norms`` nor
        ``conflict="pcgrad"`` were given.

    Notes
    -----
    **Data of different lengths.** The pipeline and the regularizers work
    on one logprobs tensor, so the per-datum logprobs are **concatenated
    along their first (token) axis**, in data order, into one tensor (1-D
    for the usual per-token logprobs), and the gradient is split back the
    same way. Regularizers therefore see every token of the batch at once;
    a regularizer that reads a ``loss_fn_inputs`` field gets the field
    joined across data the same way (see :mod:`gradtrack.regularizers`), so
    per-token references line up. ``loss_fn`` itself always receives the
    per-datum list.

    **One evaluation per term.** With regularizers or tracking, ``loss_fn``
    is the base loss of :func:`gradtrack.pipeline.evaluate` (called on the
    joined logprobs split back per datum, differentiably); the pipeline
    evaluates it and each regularizer once, with its gradient, and returns
    the total gradient that is sent to the server.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments, found before any request: a client without
        ``forward``/``forward_backward``, empty data, a datum without
        ``target_tokens`` or without any token (its index is named), a
        non-callable ``loss_fn``, a non-spec regularizer or duplicate names,
        ``track_grad_norms`` or ``parallel`` not a bool, a bad ``timeout``,
        ``max_concurrency`` or ``conflict``; and after the forward pass, logprobs of the
        wrong count or shape.
    NonFiniteError
        (a ``ValueError``) The logprobs of the forward pass, the gradient of
        ``loss_fn`` or a regularizer's weighted gradient is NaN or infinite:
        ``term`` names which, ``datum`` where; nothing is sent to
        ``forward_backward``.
    PipelineError, RegularizerError
        ``loss_fn`` or a regularizer failed inside the pipeline. Without
        regularizers, exceptions of ``loss_fn`` propagate as they are.

    Examples
    --------
    A client that always returns the same logprobs:

    >>> from gradtrack.types import ModelInput, TensorData
    >>> class Fixed:
    ...     def forward(self, data, loss_fn):
    ...         entries = [{"logprobs": TensorData([-1.0, -2.0], "float32")} for _ in data]
    ...         return ForwardBackwardOutput(loss_fn, entries, {})
    ...     def forward_backward(self, data, loss_fn):
    ...         self.weights = [d.loss_fn_inputs["weights"].data for d in data]
    ...         return ForwardBackwardOutput(loss_fn, [], {"loss": 0.25})
    >>> client = Fixed()
    >>> datum = Datum(ModelInput.from_ints([7, 8]), {"target_tokens": [8, 9]})
    >>> loss = lambda data, lps: (-lps[0].mean(), {"nll": -lps[0].mean()})
    >>> out = forward_backward_custom(client, [datum], loss)
    >>> client.weights, out.metrics
    ([[0.5, 0.5]], {'loss': 0.25, 'nll': 1.5})
    """
    data, specs, options = _checked_arguments(
        client,
        data,
        loss_fn,
        regularizers,
        {
            "track_grad_norms": track_grad_norms,
            "parallel": parallel,
            "timeout": timeout,
            "max_concurrency": max_concurrency,
            "jit": jit,
            "conflict": conflict,
        },
    )
    forward = client.forward(data, LINEAR_LOSS_FN)
    logprobs = _checked_logprobs(data, extract_per_datum_logprobs(forward))
    custom_loss = None
    if specs or options["track_grad_norms"] or options["conflict"] != "none":
        grads, metrics, custom_loss = _regularized_gradients(
            data, logprobs, loss_fn, specs, options
        )
    else:
        _, grads, metrics = evaluate_loss(data, logprobs, loss_fn, jit=options["jit"])
        for index, grad in enumerate(grads):
            if not np.isfinite(grad).all():
                message = f"the gradient of loss_fn is not finite (first in data[{index}])"
                raise NonFiniteError("base", message, datum=index)

    backward = client.forward_backward(build_linear_loss_data(data, grads), LINEAR_LOSS_FN)
    if not isinstance(backward, ForwardBackwardOutput):
        raise TypeError(
            f"client.forward_backward must return a ForwardBackwardOutput, "
            f"got {type(backward).__name__}"
        )
    return CustomForwardBackwardOutput(
        backward.loss_fn_output_type,
        list(backward.loss_fn_outputs),
        {**backward.metrics, **metrics},
        custom_loss=custom_loss,
    )


def forward_backward_custom_async(
    client: TrainingClient,
    data: Sequence[Datum],
    loss_fn: LossFn,
    *,
    regularizers: Iterable[RegularizerSpec] = (),
    track_grad_norms: bool = False,
    parallel: bool = True,
    timeout: float = 30.0,
    max_concurrency: int | None = None,
    jit: bool = False,
    conflict: str = "none",
) -> concurrent.futures.Future[CustomForwardBackwardOutput]:
    """:func:`forward_backward_custom` in a background thread; returns its ``Future``.

    The arguments are checked here, before the call returns (the same
    ``TypeError``/``ValueError`` as the synchronous route); everything else
    runs in a daemon thread, and its result or exception lands in the
    future. Wait with ``future.result(timeout=...)``; a daemon thread never
    holds up the interpreter's exit. Two steps in flight on one client must
    be something that client allows (the SDK's futures pipeline requests;
    a local PyTorch model does not take two backwards at once safely).

    Examples
    --------
    >>> from gradtrack.types import ModelInput, TensorData
    >>> class Fixed:
    ...     def forward(self, data, loss_fn):
    ...         entries = [{"logprobs": TensorData([-1.0, -2.0], "float32")} for _ in data]
    ...         return ForwardBackwardOutput(loss_fn, entries, {})
    ...     def forward_backward(self, data, loss_fn):
    ...         return ForwardBackwardOutput(loss_fn, [], {"loss": 0.25})
    >>> datum = Datum(ModelInput.from_ints([7, 8]), {"target_tokens": [8, 9]})
    >>> future = forward_backward_custom_async(Fixed(), [datum], lambda d, lps: (-lps[0].sum(), {}))
    >>> future.result(timeout=30).metrics
    {'loss': 0.25}
    """
    options = {
        "track_grad_norms": track_grad_norms,
        "parallel": parallel,
        "timeout": timeout,
        "max_concurrency": max_concurrency,
        "jit": jit,
        "conflict": conflict,
    }
    data, specs, _ = _checked_arguments(client, data, loss_fn, regularizers, options)
    future: concurrent.futures.Future[CustomForwardBackwardOutput] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return  # cancelled before it started
        try:
            result = forward_backward_custom(
                client,
                data,
                loss_fn,
                regularizers=specs,
                track_grad_norms=track_grad_norms,
                parallel=parallel,
                timeout=timeout,
                max_concurrency=max_concurrency,
                jit=jit,
                conflict=conflict,
            )
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=run, name="gradtrack-forward-backward-custom", daemon=True).start()
    return future
