"""``Datum``: one training example — its model input and the inputs of its loss."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gradtrack.types._convert import (
    LOSS_FN_INPUT_DTYPES,
    _cast_array,
    _is_array_like,
)
from gradtrack.types.model_input import ModelInput
from gradtrack.types.tensor_data import TensorData


def _loss_fn_input(key: str, value: Any) -> TensorData:
    """Convert one ``loss_fn_inputs`` value to TensorData (rules in :class:`Datum`)."""
    if isinstance(value, TensorData):
        return value
    if isinstance(value, (list, tuple)):
        dtype = LOSS_FN_INPUT_DTYPES.get(key)
        if dtype is None:
            raise ValueError(
                f"Unsupported list value for loss_fn_inputs key {key!r}; use TensorData, an "
                f"array or a Tensor, or one of the keys {sorted(LOSS_FN_INPUT_DTYPES)}"
            )
        try:
            array = _cast_array(value, dtype)
        except ValueError as exc:
            raise ValueError(f"loss_fn_inputs key {key!r}: {exc}") from exc
        return TensorData(array.ravel(), dtype, list(array.shape))
    if _is_array_like(value):
        try:
            return TensorData.from_numpy(value)
        except ValueError as exc:
            raise ValueError(f"loss_fn_inputs key {key!r}: {exc}") from exc
    raise ValueError(
        f"Unsupported value for loss_fn_inputs key {key!r}: {type(value).__name__}; "
        "expected a TensorData, an array, a Tensor or a list"
    )


@dataclass
class Datum:
    """One training example: the model input and the named tensors the loss reads.

    Parameters
    ----------
    model_input : ModelInput
    loss_fn_inputs : mapping of str to TensorData, array, Tensor or list
        Converted to ``dict[str, TensorData]`` at construction. Arrays and Tensors go through
        :meth:`TensorData.from_numpy` under any key. Lists are accepted only under the keys of
        ``LOSS_FN_INPUT_DTYPES`` and are cast to that key's dtype, keeping their nested shape.
        Any other value, or a list under another key, is a ``ValueError`` naming the key; a
        key that is not a ``str`` is a ``TypeError``.

    Examples
    --------
    >>> d = Datum(ModelInput.from_ints([1, 2]), {"weights": [1, 2], "target_tokens": [[9, 8]]})
    >>> d.loss_fn_inputs["weights"]
    TensorData(data=[1.0, 2.0], dtype='float32', shape=[2])
    >>> d.loss_fn_inputs["target_tokens"].shape
    [1, 2]
    """

    model_input: ModelInput
    loss_fn_inputs: dict[str, TensorData] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model_input, ModelInput):
            raise TypeError(f"Datum model_input must be a ModelInput, got {self.model_input!r}")
        inputs = {} if self.loss_fn_inputs is None else self.loss_fn_inputs
        if not isinstance(inputs, Mapping):
            raise TypeError(f"Datum loss_fn_inputs must be a mapping, got {inputs!r}")
        converted: dict[str, TensorData] = {}
        for key, value in inputs.items():
            if not isinstance(key, str):
                raise TypeError(f"loss_fn_inputs keys must be str, got {key!r}")
            converted[key] = _loss_fn_input(key, value)
        self.loss_fn_inputs = converted

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"model_input", "loss_fn_inputs"}`` with every tensor as its dict.

        Examples
        --------
        >>> Datum(ModelInput.from_ints([1]), {"target_tokens": [2]}).to_dict()["loss_fn_inputs"]
        {'target_tokens': {'data': [2], 'dtype': 'int64', 'shape': [1]}}
        """
        return {
            "model_input": self.model_input.to_dict(),
            "loss_fn_inputs": {key: td.to_dict() for key, td in self.loss_fn_inputs.items()},
        }
