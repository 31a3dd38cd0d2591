"""gradtrack on the Tinker training service, through its Python SDK (extra ``tinker``).

This module lets a Tinker user train with gradtrack's regularizer pipeline
and gradient tracking: :class:`TinkerTrainingClient` wraps the SDK's
``TrainingClient`` in gradtrack's
:class:`~gradtrack.custom_loss.TrainingClient` protocol, so

.. code-block:: python

    import tinker
    from gradtrack.custom_loss import forward_backward_custom
    from gradtrack.integrations.tinker import TinkerTrainingClient

    service = tinker.ServiceClient()  # reads TINKER_API_KEY
    sdk_client = service.create_lora_training_client(base_model="Qwen/Qwen3-4B-Instruct-2507")
    client = TinkerTrainingClient(sdk_client, timeout=600)
    out = forward_backward_custom(client, data, loss_fn, regularizers=specs, track_grad_norms=True)
    client.optim_step(tinker.AdamParams(learning_rate=1e-4))

runs one ``forward`` on the service for the logprobs, evaluates the loss and
regularizers locally with minigrad, and sends one ``forward_backward`` with
``cross_entropy`` weights ``−gradient``: the service's parameter gradient is
then that of your loss (see :mod:`gradtrack.custom_loss`).

The adapter converts gradtrack's ``Datum``/``ModelInput``/``TensorData`` to
the SDK's types and back, and waits on the SDK's futures for at most
``timeout`` seconds each. The service accepts ``int64`` and ``float32``
tensors only: ``int32`` values are sent as ``int64`` and ``float64`` values
(weights from a float64 gradient, say) as ``float32``.
"""

from __future__ import annotations

import concurrent.futures
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tinker

from gradtrack.types import Datum, ForwardBackwardOutput, TensorData

__all__ = ["TinkerTrainingClient", "from_tinker_output", "to_tinker_datum"]

# What the service accepts, for each of gradtrack's dtypes.
_WIRE_DTYPES = {"float32": np.float32, "float64": np.float32, "int64": np.int64, "int32": np.int64}


def to_tinker_datum(datum: Datum, index: int = 0) -> tinker.Datum:
    """A gradtrack :class:`~gradtrack.types.Datum` as the SDK's ``tinker.Datum``.

    The model input goes as its tokens; every ``loss_fn_inputs`` entry as a
    ``tinker.TensorData`` of the service's dtype (float64 → float32, int32 →
    int64) and the same shape.

    Raises
    ------
    TypeError
        ``datum`` is not a gradtrack Datum (``index`` names it).
    ValueError
        Its model input holds something other than tokens.

    Examples
    --------
    >>> from gradtrack.types import ModelInput
    >>> datum = Datum(ModelInput.from_ints([1, 2]), {"target_tokens": [2, 3]})
    >>> wire = to_tinker_datum(datum)
    >>> wire.model_input.to_ints(), wire.loss_fn_inputs["target_tokens"].tolist()
    ([1, 2], [2, 3])
    """
    if not isinstance(datum, Datum):
        raise TypeError(f"data[{index}] must be a gradtrack Datum, got {type(datum).__name__}")
    try:
        tokens = datum.model_input.to_ints()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"data[{index}]: only token inputs can be sent ({exc})") from exc
    inputs = {}
    for key, value in datum.loss_fn_inputs.items():
        array = value.to_numpy()
        inputs[key] = tinker.TensorData.from_numpy(
            np.ascontiguousarray(array, dtype=_WIRE_DTYPES[value.dtype])
        )
    return tinker.Datum(model_input=tinker.ModelInput.from_ints(tokens), loss_fn_inputs=inputs)


def from_tinker_output(output: Any) -> ForwardBackwardOutput:
    """The SDK's ``ForwardBackwardOutput`` as gradtrack's (tensors as gradtrack TensorData).

    Examples
    --------
    >>> wire = tinker.ForwardBackwardOutput(
    ...     "ArrayRecord",
    ...     [{"logprobs": tinker.TensorData.from_numpy(np.array([-1.5], np.float32))}],
    ...     {"loss:sum": 1.5},
    ... )
    >>> out = from_tinker_output(wire)
    >>> out.loss_fn_outputs[0]["logprobs"].data, out.metrics
    ([-1.5], {'loss:sum': 1.5})
    """
    entries = []
    for entry in output.loss_fn_outputs:
        entries.append(
            {
                key: TensorData.from_numpy(value.to_numpy())
                if isinstance(value, tinker.TensorData)
                else value
                for key, value in entry.items()
            }
        )
    return ForwardBackwardOutput(
        output.loss_fn_output_type, entries, {str(k): v for k, v in output.metrics.items()}
    )


class TinkerTrainingClient:
    """gradtrack's ``TrainingClient`` protocol over the Tinker SDK's ``TrainingClient``.

    Parameters
    ----------
    training_client : tinker.TrainingClient
        Or anything with its ``forward``, ``forward_backward`` and
        ``optim_step`` methods returning futures with ``result(timeout)``.
    timeout : float, optional
        Seconds to wait on each future; ``None`` waits as long as the service
        takes. A wait that runs out raises ``TimeoutError`` naming the call.

    Examples
    --------
    >>> TinkerTrainingClient(object())
    Traceback (most recent call last):
    ...
    TypeError: training_client must have forward, forward_backward and optim_step (a tinker.TrainingClient), got object
    """  # noqa: E501

    def __init__(self, training_client: Any, timeout: float | None = None) -> None:
        needed = ("forward", "forward_backward", "optim_step")
        if not all(callable(getattr(training_client, name, None)) for name in needed):
            raise TypeError(
                "training_client must have forward, forward_backward and optim_step "
                f"(a tinker.TrainingClient), got {type(training_client).__name__}"
            )
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ValueError(
                f"timeout must be a positive number of seconds or None, got {timeout!r}"
            )
        self.training_client = training_client
        self.timeout = timeout

    def forward(self, data: Sequence[Datum], loss_fn: str) -> ForwardBackwardOutput:
        """The service's ``forward``: per-datum logprobs, no gradient."""
        wire = [to_tinker_datum(datum, i) for i, datum in enumerate(data)]
        return from_tinker_output(
            self._wait(self.training_client.forward(wire, loss_fn), "forward")
        )

    def forward_backward(self, data: Sequence[Datum], loss_fn: str) -> ForwardBackwardOutput:
        """The service's ``forward_backward``: the gradient of ``loss_fn`` is accumulated there."""
        wire = [to_tinker_datum(datum, i) for i, datum in enumerate(data)]
        future = self.training_client.forward_backward(wire, loss_fn)
        return from_tinker_output(self._wait(future, "forward_backward"))

    def optim_step(self, adam_params: Any = None) -> dict[str, Any]:
        """One optimizer step on the service; returns its metrics.

        ``adam_params`` is a ``tinker.AdamParams`` (the SDK's defaults when
        ``None``).
        """
        params = tinker.AdamParams() if adam_params is None else adam_params
        response = self._wait(self.training_client.optim_step(params), "optim_step")
        metrics = getattr(response, "metrics", None)
        return dict(metrics) if isinstance(metrics, Mapping) else {}

    def _wait(self, future: Any, call: str) -> Any:
        try:
            return future.result(timeout=self.timeout)
        except (TimeoutError, concurrent.futures.TimeoutError) as exc:
            raise TimeoutError(
                f"Tinker {call} did not finish within {self.timeout} seconds"
            ) from exc
