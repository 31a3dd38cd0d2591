"""The data types gradtrack passes around: tensors on the wire, training data, specs and results.

This module lets you

* move arrays in and out of a JSON-friendly form (:class:`TensorData`),
* describe one training example (:class:`ModelInput` and its chunks, :class:`Datum`),
* declare a regularizer (:class:`RegularizerSpec`), and
* read what a run produced (:class:`RegularizerOutput`, :class:`CustomLossOutput`,
  :class:`ForwardBackwardOutput`).

Every result type has a ``to_dict()`` that returns plain Python values (NumPy scalars and
0-d tensors become numbers), so ``json.dumps(x.to_dict())`` always works.

Two constants describe the tensor dtypes: ``DTYPES`` lists the dtype names a
:class:`TensorData` may carry, and ``LOSS_FN_INPUT_DTYPES`` maps the ``loss_fn_inputs`` keys
that accept plain lists to the dtype such a list is converted to.

>>> DTYPES
('float32', 'float64', 'int64', 'int32')
>>> LOSS_FN_INPUT_DTYPES["target_tokens"], LOSS_FN_INPUT_DTYPES["weights"]
('int64', 'float32')
"""

from __future__ import annotations

from gradtrack.types._convert import DTYPES, LOSS_FN_INPUT_DTYPES
from gradtrack.types.datum import Datum
from gradtrack.types.model_input import (
    EncodedTextChunk,
    ImageAssetPointerChunk,
    ImageChunk,
    ModelInput,
)
from gradtrack.types.outputs import CustomLossOutput, ForwardBackwardOutput, RegularizerOutput
from gradtrack.types.spec import RegularizerSpec
from gradtrack.types.tensor_data import TensorData

__all__ = [
    "DTYPES",
    "LOSS_FN_INPUT_DTYPES",
    "CustomLossOutput",
    "Datum",
    "EncodedTextChunk",
    "ForwardBackwardOutput",
    "ImageAssetPointerChunk",
    "ImageChunk",
    "ModelInput",
    "RegularizerOutput",
    "RegularizerSpec",
    "TensorData",
]
