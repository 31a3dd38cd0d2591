"""Train with any differentiable loss of the logprobs on a server that only knows cross-entropy.

This module lets you fine-tune with a loss the training server does not
implement (a pairwise preference loss, a regularized NLL …):
:func:`forward_backward_custom` runs

1. ``client.forward`` to get each datum's target-token logprobs ``ℓ``;
2. your ``loss_fn(data, [ℓ_0, ℓ_1, …])`` once, with minigrad, for its value,
   metrics and gradients ``g_i = ∂L/∂ℓ_i`` (with ``regularizers``, inside the
   regularizer pipeline: see :func:`forward_backward_custom`);
3. ``client.forward_backward`` on synthetic data whose cross-entropy weights
   are ``−g``.

Why step 3 trains the right thing: the server's weighted cross-entropy is
``CE(θ) = −Σ_{i,t} w_{i,t} ℓ_{i,t}(θ)``. With ``w = −g`` (``g`` evaluated at the
current parameters ``θ₀`` and then held fixed) it is ``Σ g_{i,t} ℓ_{i,t}(θ)``,
whose parameter gradient at ``θ₀`` is ``Σ g_{i,t} ∇θ ℓ_{i,t}(θ₀) = ∇θ L(ℓ(θ))``
by the chain rule. The server's reported ``"loss"`` is this surrogate's
value, not ``L``; your metrics are merged beside it.

The pieces are public too: :func:`extract_per_datum_logprobs`,
:func:`compute_gradients`, :func:`build_linear_loss_data`, and the
:class:`TrainingClient` protocol a client must follow.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

import minigrad as mg
from gradtrack import pipeline
from gradtrack.errors import RegularizerError
from gradtrack.terms import check_specs, evaluate_regularizer
from gradtrack.types import (
    CustomLossOutput,
    Datum,
    ForwardBackwardOutput,
    RegularizerSpec,
    TensorData,
)

__all__ = [
    "LINEAR_LOSS_FN",
    "CustomForwardBackwardOutput",
    "TrainingClient",
    "build_linear_loss_data",
    "compute_gradients",
    "extract_per_datum_logprobs",
    "forward_backward_custom",
]

LINEAR_LOSS_FN = "cross_entropy"
"""The server loss used for both requests: weighted cross-entropy, ``−Σ w ℓ``."""

# loss_fn(data, per-datum logprobs) -> (scalar loss, metrics)
LossFn = Callable[[Sequence[Datum], list[mg.Tensor]], Any]


@runtime_checkable
class TrainingClient(Protocol):
    """What :func:`forward_backward_custom` needs from a training client.

    ``loss_fn`` is the name of a server loss (here always ``"cross_entropy"``).
    Both methods return a :class:`~gradtrack.types.ForwardBackwardOutput`
    whose ``loss_fn_outputs`` hold one dict per datum with a ``"logprobs"``
    entry (``forward`` may also return a list of outputs, one per chunk).
    ``forward_backward`` also accumulates the parameter gradient of the
    weighted cross-entropy for a later optimizer step.

    Examples
    --------
    >>> class Recorder:
    ...     def forward(self, data, loss_fn):
    ...         return ForwardBackwardOutput(loss_fn, [{"logprobs": [-1.0]}] * len(data), {})
    ...     def forward_backward(self, data, loss_fn):
    ...         return ForwardBackwardOutput(loss_fn, [], {"loss": 0.0})
    >>> isinstance(Recorder(), TrainingClient)
    True
    """

    def forward(
        self, data: Sequence[Datum], loss_fn: str
    ) -> ForwardBackwardOutput | Sequence[ForwardBackwardOutput]:
        """Run the model on ``data`` and return per-datum logprobs, without a backward pass."""
        ...

    def forward_backward(self, data: Sequence[Datum], loss_fn: str) -> ForwardBackwardOutput:
        """Run the model on ``data``, compute ``loss_fn`` and accumulate its parameter gradient."""
        ...


@dataclass
class CustomForwardBackwardOutput(ForwardBackwardOutput):
    """What :func:`forward_backward_custom` returns: the server's output, with your metrics.

    It is a :class:`~gradtrack.types.ForwardBackwardOutput` (usable wherever
    one is expected) whose ``metrics`` are the server's metrics updated with
    the custom loss's metrics (yours win on a shared key), plus
    ``custom_loss``: the pipeline's
    :class:`~gradtrack.types.CustomLossOutput` (values, contributions and,
    with tracking, gradient norms) when regularizers or tracking were
    requested, else ``None``.

    Examples
    --------
    >>> out = CustomForwardBackwardOutput("cross_entropy", [], {"loss": 0.25})
    >>> out.custom_loss is None, isinstance(out, ForwardBackwardOutput)
    (True, True)
    """

    custom_loss: CustomLossOutput | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """The output's dict, with ``custom_loss`` added when there is one.

        Examples
        --------
        >>> sorted(CustomForwardBackwardOutput("cross_entropy").to_dict())
        ['loss_fn_output_type', 'loss_fn_outputs', 'metrics']
        """
        result = super().to_dict()
        if self.custom_loss is not None:
            result["custom_loss"] = self.custom_loss.to_dict()
        return result


# --------------------------------------------------------------- logprobs in


def _floating(array: np.ndarray) -> np.ndarray:
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _logprobs_array(entry: Any, index: int) -> np.ndarray:
    """One datum's logprobs from a ``loss_fn_outputs`` entry (forms of the Tinkex wire)."""
    value = entry.get("logprobs") if isinstance(entry, Mapping) else None
    if isinstance(value, TensorData):
        return _floating(value.to_numpy())
    if isinstance(value, mg.Tensor | np.ndarray):
        return _floating(np.array(value, copy=True))
    if isinstance(value, Mapping) and isinstance(value.get("data"), list):
        dtype = value.get("dtype")
        # An unknown or missing dtype means float32, the wire default.
        array = np.asarray(value["data"], dtype=dtype if dtype in ("float32", "float64") else "f4")
        shape = value.get("shape")
        return array.reshape(shape) if isinstance(shape, list) else array
    if isinstance(value, list):
        return _floating(np.asarray(value))
    raise ValueError(f"loss_fn_outputs[{index}]: missing or invalid logprobs (got {value!r})")


def extract_per_datum_logprobs(
    outputs: ForwardBackwardOutput | Sequence[ForwardBackwardOutput],
) -> list[mg.Tensor]:
    """One logprobs Tensor per datum, from a forward output (or a list of chunk outputs).

    Each ``loss_fn_outputs`` entry must have ``"logprobs"`` as a
    :class:`~gradtrack.types.TensorData`, an array or Tensor, a wire dict
    ``{"data": [...], "dtype": ..., "shape": [...]}`` (unknown dtype: float32)
    or a plain list. Lengths may differ between data: nothing is padded.
    Chunk outputs are read in order and their data concatenated.

    Raises
    ------
    TypeError
        ``outputs`` is not a ForwardBackwardOutput or a list of them.
    ValueError
        An entry has no usable logprobs (its index is named).

    Examples
    --------
    >>> entries = [{"logprobs": TensorData([-1.0, -2.0], "float32")}, {"logprobs": [-0.5]}]
    >>> [lp.shape for lp in extract_per_datum_logprobs(ForwardBackwardOutput("x", entries))]
    [(2,), (1,)]
    """
    if isinstance(outputs, ForwardBackwardOutput):
        chunks = [outputs]
    elif isinstance(outputs, Sequence) and all(
        isinstance(chunk, ForwardBackwardOutput) for chunk in outputs
    ):
        chunks = list(outputs)
    else:
        raise TypeError(
            f"expected a ForwardBackwardOutput or a list of them, got {type(outputs).__name__}"
        )
    logprobs: list[mg.Tensor] = []
    for chunk in chunks:
        for entry in chunk.loss_fn_outputs:
            logprobs.append(mg.Tensor(_logprobs_array(entry, len(logprobs))))
    return logprobs


# ------------------------------------------------------------- the user loss


def _host_value(value: Any) -> Any:
    if isinstance(value, mg.Tensor):
        value = value.data
    if isinstance(value, np.ndarray | np.generic):
        return value.item() if value.size == 1 else value.tolist()
    return value


def _host_metrics(metrics: Any) -> dict[str, Any]:
    """Metrics with string keys and numbers instead of tensors (for the server's metrics dict)."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"loss_fn metrics must be a mapping, got {type(metrics).__name__}")
    return {str(key): _host_value(value) for key, value in metrics.items()}


def _scalar_loss(loss: Any) -> mg.Tensor:
    if isinstance(loss, mg.Tensor):
        # A non-scalar loss is summed, as the original does before differentiating.
        return loss.sum() if loss.size != 1 else loss.reshape(())
    if isinstance(loss, numbers.Real | np.number) and not isinstance(loss, bool | np.bool_):
        return mg.Tensor(float(loss))  # a constant: every gradient is 0
    raise TypeError(f"loss_fn must return a Tensor or a number as its loss, got {loss!r}")


def _evaluate_loss(
    data: Sequence[Datum], logprobs: Sequence[Any], loss_fn: LossFn
) -> tuple[float, list[np.ndarray], dict[str, Any]]:
    """Value, per-datum gradients and host metrics of ``loss_fn``, from one evaluation."""
    arrays = [
        _floating(np.asarray(lp.data if isinstance(lp, mg.Tensor) else lp)) for lp in logprobs
    ]

    def loss_and_metrics(*parts: mg.Tensor) -> tuple[mg.Tensor, Any]:
        result = loss_fn(data, list(parts))
        if not (isinstance(result, tuple | list) and len(result) == 2):
            raise TypeError(f"loss_fn must return a (loss, metrics) pair, got {result!r}")
        return _scalar_loss(result[0]), result[1]

    positions = tuple(range(len(arrays)))
    (value, metrics), grads = mg.value_and_grad(loss_and_metrics, positions, has_aux=True)(*arrays)
    return float(value.item()), [np.asarray(g.data) for g in grads], _host_metrics(metrics)


def compute_gradients(
    data: Sequence[Datum], logprobs_list: Sequence[Any], loss_fn: LossFn
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Gradients of ``loss_fn(data, logprobs_list)`` with respect to each datum's logprobs.

    ``loss_fn`` is called **once**, with one Tensor per datum, and returns
    ``(loss, metrics)``; the gradients and the metrics come from that one
    evaluation (the original calls it a second time only to read the
    metrics). A non-scalar loss is summed; a plain number is a constant
    (all gradients 0). Exceptions raised by ``loss_fn`` propagate.

    Parameters
    ----------
    data : list of Datum
        Passed to ``loss_fn`` unchanged.
    logprobs_list : list of array-like or Tensor
        One per datum; lengths may differ.
    loss_fn : callable

    Returns
    -------
    grads : list of np.ndarray
        Same shapes, dtypes and order as ``logprobs_list``.
    metrics : dict
        ``loss_fn``'s metrics with string keys and tensors turned into numbers.
        An empty ``logprobs_list`` gives ``([], {})`` without calling ``loss_fn``.

    Examples
    --------
    >>> def nll(data, logprobs):
    ...     loss = -sum(lp.sum() for lp in logprobs)
    ...     return loss, {"nll": loss}
    >>> grads, metrics = compute_gradients([], [[-1.0, -2.0], [-0.5]], nll)
    >>> [g.tolist() for g in grads], metrics
    ([[-1.0, -1.0], [-1.0]], {'nll': 3.5})
    """
    if len(logprobs_list) == 0:
        return [], {}
    _, grads, metrics = _evaluate_loss(data, logprobs_list, loss_fn)
    return grads, metrics


# ----------------------------------------------------------- synthetic data


def _target_tokens(datum: Datum, index: int) -> TensorData:
    tokens = datum.loss_fn_inputs.get("target_tokens")
    if tokens is None:
        raise ValueError(f"target_tokens missing from loss_fn_inputs of data[{index}]")
    return tokens


def build_linear_loss_data(data: Sequence[Datum], grads: Sequence[Any]) -> list[Datum]:
    """Data whose weighted cross-entropy has the gradient ``grads``: ``weights = −grad``.

    Each new datum keeps the original's ``model_input`` and ``target_tokens``
    (the same objects) and gets ``weights = TensorData.from_numpy(−g)`` in the
    gradient's dtype (float64 stays float64). Every other ``loss_fn_inputs``
    entry is dropped: the server's cross-entropy reads only these two.

    Raises
    ------
    ValueError
        The counts differ, a datum has no ``target_tokens``, a gradient's
        shape differs from its ``target_tokens`` (both shapes are shown), or
        a gradient is not finite.

    Examples
    --------
    >>> from gradtrack.types import ModelInput
    >>> datum = Datum(ModelInput.from_ints([1, 2, 3]), {"target_tokens": [4, 5, 6]})
    >>> [linear] = build_linear_loss_data([datum], [np.array([0.5, 0.25, 0.0])])
    >>> linear.loss_fn_inputs["weights"].data, linear.model_input is datum.model_input
    ([-0.5, -0.25, -0.0], True)
    """
    data, grads = list(data), list(grads)
    if len(grads) != len(data):
        raise ValueError(
            f"Gradient count does not match data count: {len(grads)} gradients, {len(data)} data"
        )
    linear = []
    for index, (datum, grad) in enumerate(zip(data, grads, strict=True)):
        tokens = _target_tokens(datum, index)
        gradient = _floating(np.asarray(grad.data if isinstance(grad, mg.Tensor) else grad))
        token_shape = tokens.to_numpy().shape
        if gradient.shape != token_shape:
            raise ValueError(
                f"data[{index}]: gradient shape {gradient.shape} does not match "
                f"target_tokens shape {token_shape}"
            )
        if not np.all(np.isfinite(gradient)):
            raise ValueError(f"data[{index}]: the gradient of the loss is not finite")
        weights = TensorData.from_numpy(-gradient)
        linear.append(Datum(datum.model_input, {"target_tokens": tokens, "weights": weights}))
    return linear


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
    spec: RegularizerSpec, captured: _Gradients, timeout: float
) -> Callable[[Any, mg.Tensor], Any]:
    def term(data: Any, leaf: mg.Tensor) -> tuple[mg.Tensor, Any]:
        evaluation = evaluate_regularizer(spec, data, leaf.data, track=True, timeout=timeout)
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
) -> tuple[list[np.ndarray], dict[str, Any], CustomLossOutput]:
    """Run the pipeline over the joined logprobs; return per-datum ``∂(L + Σ wᵢ Rᵢ)/∂ℓ``."""
    shapes = [lp.shape for lp in logprobs]
    captured = _Gradients()

    def base_term(data: Any, leaf: mg.Tensor) -> tuple[mg.Tensor, Any]:
        value, grads, metrics = _evaluate_loss(data, _split(leaf.data, shapes), loss_fn)
        captured.base = _join(grads)
        return _linear_surrogate(leaf, value, captured.base), metrics

    terms = [
        RegularizerSpec(
            _regularizer_term(spec, captured, options["timeout"]), spec.weight, spec.name
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
        _target_tokens(datum, index)
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

    >>> from gradtrack.types import ModelInput
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
            data, logprobs, loss_fn, specs, options
        )
    else:
        _, grads, metrics = _evaluate_loss(data, logprobs, loss_fn)

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
