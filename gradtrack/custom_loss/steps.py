"""The three steps of the linearisation: logprobs out of a forward pass, the user loss's
gradients from one evaluation, and synthetic cross-entropy data weighted by −gradient."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack.custom_loss.client import LossFn
from gradtrack.terms import compiled_for
from gradtrack.types import (
    Datum,
    ForwardBackwardOutput,
    TensorData,
)

__all__ = ["build_linear_loss_data", "compute_gradients", "extract_per_datum_logprobs"]


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


def host_value(value: Any) -> Any:
    if isinstance(value, mg.Tensor):
        value = value.data
    if isinstance(value, np.ndarray | np.generic):
        return value.item() if value.size == 1 else value.tolist()
    return value


def host_metrics(metrics: Any) -> dict[str, Any]:
    """Metrics with string keys and numbers instead of tensors (for the server's metrics dict)."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"loss_fn metrics must be a mapping, got {type(metrics).__name__}")
    return {str(key): host_value(value) for key, value in metrics.items()}


def scalar_loss(loss: Any) -> mg.Tensor:
    """The loss as a scalar Tensor: a non-scalar Tensor is summed, a number is a constant."""
    if isinstance(loss, mg.Tensor):
        # A non-scalar loss is summed, as the original does before differentiating.
        return loss.sum() if loss.size != 1 else loss.reshape(())
    if isinstance(loss, numbers.Real | np.number) and not isinstance(loss, bool | np.bool_):
        return mg.Tensor(float(loss))  # a constant: every gradient is 0
    raise TypeError(f"loss_fn must return a Tensor or a number as its loss, got {loss!r}")


def evaluate_loss(
    data: Sequence[Datum], logprobs: Sequence[Any], loss_fn: LossFn, jit: bool = False
) -> tuple[float, list[np.ndarray], dict[str, Any]]:
    """Value, per-datum gradients and host metrics of ``loss_fn``, from one evaluation.

    With ``jit`` the value and gradients are compiled by :func:`minigrad.jit`
    (once per logprobs shapes for this ``loss_fn`` and ``data``); a loss that
    cannot be traced runs eagerly.
    """
    arrays = [
        _floating(np.asarray(lp.data if isinstance(lp, mg.Tensor) else lp)) for lp in logprobs
    ]

    def loss_and_metrics(*parts: mg.Tensor) -> tuple[mg.Tensor, Any]:
        result = loss_fn(data, list(parts))
        if not (isinstance(result, tuple | list) and len(result) == 2):
            raise TypeError(f"loss_fn must return a (loss, metrics) pair, got {result!r}")
        return scalar_loss(result[0]), result[1]

    positions = tuple(range(len(arrays)))
    both = mg.value_and_grad(loss_and_metrics, positions, has_aux=True)
    if jit:
        compiled = compiled_for(loss_fn, data, lambda: both, len(arrays))
        if compiled is not None and not getattr(compiled, "eager_only", False):
            try:
                (value, metrics), grads = compiled(*arrays)
            except Exception:  # not traceable (or failing): the eager call decides
                compiled.eager_only = True
            else:
                return float(value.data), [np.asarray(g.data) for g in grads], host_metrics(metrics)
    (value, metrics), grads = both(*arrays)
    return float(value.item()), [np.asarray(g.data) for g in grads], host_metrics(metrics)


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
    _, grads, metrics = evaluate_loss(data, logprobs_list, loss_fn)
    return grads, metrics


# ----------------------------------------------------------- synthetic data


def target_tokens_of(datum: Datum, index: int) -> TensorData:
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
        tokens = target_tokens_of(datum, index)
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
