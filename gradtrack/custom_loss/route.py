"""The whole route, :func:`forward_backward_custom`: forward, the loss (and regularizers),
gradients, synthetic data, ``forward_backward``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack import pipeline
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
    target_tokens_of,
)
from gradtrack.errors import RegularizerError
from gradtrack.terms import check_specs, evaluate_regularizer
from gradtrack.types import (
    CustomLossOutput,
    Datum,
    ForwardBackwardOutput,
    RegularizerSpec,
)

__all__ = ["forward_backward_custom"]


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


def _linear_surrogate(leaf: mg.Tensor, value: float, gradient: np.ndarray) -> mg.Tensor:
    """``value + ⟨g, ℓ − ℓ₀⟩``: worth ``value`` at ``ℓ₀ = leaf`` and with gradient ``g``.

    Handed to the pipeline in place of a term already evaluated, it lets the
    pipeline read the term's true value and (with tracking) its true
    gradient without evaluating the term again. ``ℓ − ℓ₀`` is exactly 0 for
    the finite logprobs this module accepts.
    """
    offset = leaf - leaf.detach()
    return mg.sum(offset * gradient) + value


@dataclass
class _Gradients:
    """The gradients each term computed inside the pipeline (written from its thread)."""

    base: np.ndarray | None = None
    terms: dict[str, np.ndarray] = field(default_factory=dict)


def _regularizer_term(
    spec: RegularizerSpec, captured: _Gradients, timeout: float, jit: bool = False
) -> Callable[[Any, mg.Tensor], Any]:
    def term(data: Any, leaf: mg.Tensor) -> tuple[mg.Tensor, Any]:
        evaluation = evaluate_regularizer(
            spec, data, leaf.data, track=True, timeout=timeout, jit=jit
        )
        if evaluation.grad is None:
            raise RegularizerError(
                spec.name, f"its gradient failed: {evaluation.grad_error}"
            ) from evaluation.grad_error
        captured.terms[spec.name] = evaluation.grad
        return _linear_surrogate(leaf, evaluation.value, evaluation.grad), evaluation.metrics

    return term


def _regularized_gradients(
    data: list[Datum],
    logprobs: list[np.ndarray],
    loss_fn: LossFn,
    specs: list[RegularizerSpec],
    options: dict[str, Any],
    jit: bool = False,
) -> tuple[list[np.ndarray], dict[str, Any], CustomLossOutput]:
    """Run the pipeline over the joined logprobs; return per-datum ``∂(L + Σ wᵢ Rᵢ)/∂ℓ``."""
    shapes = [lp.shape for lp in logprobs]
    captured = _Gradients()

    def base_term(data: Any, leaf: mg.Tensor) -> tuple[mg.Tensor, Any]:
        value, grads, metrics = evaluate_loss(data, _split(leaf.data, shapes), loss_fn, jit=jit)
        captured.base = _join(grads)
        return _linear_surrogate(leaf, value, captured.base), metrics

    terms = [
        RegularizerSpec(
            _regularizer_term(spec, captured, options["timeout"], jit), spec.weight, spec.name
        )
        for spec in specs
    ]
    output = pipeline.compute(data, _join(logprobs), base_term, regularizers=terms, **options)
    assert captured.base is not None  # the pipeline ran the base term or raised
    total = np.array(captured.base, dtype=np.float64)
    for spec in specs:
        total = total + float(spec.weight) * captured.terms[spec.name]  # g = g_L + Σ wᵢ gᵢ
    grads = [g.astype(lp.dtype) for g, lp in zip(_split(total, shapes), logprobs, strict=True)]
    return grads, dict(output.base_loss["custom"]), output


def _checked_data(data: Any) -> list[Datum]:
    if isinstance(data, Datum) or not isinstance(data, Iterable):
        raise TypeError(f"data must be a list of Datum, got {type(data).__name__}")
    data = list(data)
    if not data:
        raise ValueError("data is empty: there is nothing to train on")
    for index, datum in enumerate(data):
        if not isinstance(datum, Datum):
            raise TypeError(f"data[{index}] must be a Datum, got {type(datum).__name__}")
        target_tokens_of(datum, index)
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
            raise ValueError(
                f"data[{index}]: logprobs are not finite (first at index "
                f"{tuple(int(i) for i in np.argwhere(bad)[0])}); the linearised loss needs "
                "finite logprobs"
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

    Returns
    -------
    CustomForwardBackwardOutput
        The server's ``forward_backward`` output, its ``metrics`` updated with
        ``loss_fn``'s metrics (string keys, numbers; your keys override the
        server's), and ``custom_loss``: the pipeline's CustomLossOutput, or
        ``None`` when neither ``regularizers`` nor ``track_grad_norms`` were given.

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

    **One evaluation per term.** ``loss_fn`` and each regularizer are
    evaluated once, with their gradient; the pipeline is handed linear
    surrogates carrying those values and gradients, so its values and
    gradient norms are the true ones and nothing runs twice.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments, found before any request: a client without
        ``forward``/``forward_backward``, empty data, a datum without
        ``target_tokens``, a non-callable ``loss_fn``, a non-spec
        regularizer or duplicate names; and after the forward pass, logprobs
        of the wrong count or shape, or not finite.
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
    if not isinstance(client, TrainingClient):
        raise TypeError(
            "client must have forward(data, loss_fn) and forward_backward(data, loss_fn), "
            f"got {type(client).__name__}"
        )
    data = _checked_data(data)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    specs = check_specs(regularizers)
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"Duplicate regularizer names: {duplicates}")

    forward = client.forward(data, LINEAR_LOSS_FN)
    logprobs = _checked_logprobs(data, extract_per_datum_logprobs(forward))
    custom_loss = None
    if specs or track_grad_norms:
        options = {
            "track_grad_norms": bool(track_grad_norms),
            "parallel": parallel,
            "timeout": timeout,
            "max_concurrency": max_concurrency,
        }
        grads, metrics, custom_loss = _regularized_gradients(
            data, logprobs, loss_fn, specs, options, bool(jit)
        )
    else:
        _, grads, metrics = evaluate_loss(data, logprobs, loss_fn, jit=bool(jit))

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
