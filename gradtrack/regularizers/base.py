"""What every regularizer class shares: calling, naming, specs, and reading data.

A regularizer is an object called as ``regularizer(data, logprobs)`` that
returns ``(loss, metrics)``: ``loss`` a scalar minigrad Tensor built from the
logprobs (so autodiff sees it) and ``metrics`` a dict of host values (Python
floats, strings, bools) read from the computed numbers, which never touches
the graph.

Targets and references come from the data through these rules:

* ``target="logprobs"`` is the logprobs, ``"probs"`` is ``exp(logprobs)``,
  ``("field", key)`` is the ``loss_fn_inputs[key]`` field (a constant).
* A field is read from **every** datum and the values are joined along the
  first axis, matching logprobs that hold the data one after another (as
  :func:`gradtrack.custom_loss.forward_backward_custom` passes them). With
  one datum this is that datum's field, as in the original, which reads the
  first datum only.
* Empty data with a field to read is a ``ValueError`` naming the field; a
  datum without the field is a ``KeyError`` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

import minigrad as mg
from gradtrack.penalties._checks import floating_tensor
from gradtrack.types import RegularizerSpec, TensorData

__all__ = [
    "Regularizer",
    "check_target",
    "field_array",
    "host_number",
    "reference_tensor",
    "resolve_target",
]

Target = str | tuple[str, str]


class Regularizer:
    """Base class of the built-in regularizers.

    Subclasses set ``name`` (the default name of their spec) and implement
    ``_evaluate(data, logprobs)``, which receives the logprobs as a floating
    Tensor.

    Examples
    --------
    >>> class Total(Regularizer):
    ...     name = "total"
    ...     def _evaluate(self, data, logprobs):
    ...         loss = logprobs.sum()
    ...         return loss, {"total": host_number(loss)}
    >>> Total()(None, [1.0, 2.0])
    (Tensor(3.), {'total': 3.0})
    """

    name: ClassVar[str] = "regularizer"

    def __call__(self, data: Any, logprobs: Any) -> tuple[mg.Tensor, dict[str, Any]]:
        """Return ``(loss, metrics)`` for ``logprobs`` (a Tensor stays in its graph)."""
        return self._evaluate(data, floating_tensor(logprobs))

    def _evaluate(self, data: Any, logprobs: mg.Tensor) -> tuple[mg.Tensor, dict[str, Any]]:
        raise NotImplementedError

    def _options(self) -> dict[str, Any]:
        """The constructor options, for ``repr``."""
        return {}

    def spec(self, weight: float, name: str | None = None) -> RegularizerSpec:
        """A :class:`~gradtrack.types.RegularizerSpec` running this regularizer.

        Parameters
        ----------
        weight : float
            Finite and ``>= 0``.
        name : str, optional
            Defaults to the regularizer's ``name``; give another one to run
            two regularizers of one class in a pipeline.

        Examples
        --------
        >>> from gradtrack.regularizers import L1
        >>> spec = L1().spec(0.01)
        >>> spec.name, spec.weight
        ('l1_sparsity', 0.01)
        """
        return RegularizerSpec(self, weight, self.name if name is None else name)

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self._options().items())
        return f"{type(self).__name__}({options})"


def host_number(value: Any) -> float:
    """A one-element Tensor or array as a Python float (read from its data: no graph).

    Examples
    --------
    >>> host_number(mg.Tensor([2.5], requires_grad=True))
    2.5
    """
    array = np.asarray(value.data if isinstance(value, mg.Tensor) else value)
    return float(array.reshape(()))


def check_target(target: Any, owner: str) -> Target:
    """Return a valid ``target`` (a ``("field", key)`` list becomes a tuple) or raise.

    Examples
    --------
    >>> check_target(["field", "weights"], "L1")
    ('field', 'weights')
    >>> check_target("values", "L1")
    Traceback (most recent call last):
    ...
    ValueError: L1: unsupported target 'values'; expected 'logprobs', 'probs' or ('field', key)
    """
    if isinstance(target, str) and target in ("logprobs", "probs"):
        return target
    if (
        isinstance(target, tuple | list)
        and len(target) == 2
        and target[0] == "field"
        and isinstance(target[1], str)
        and target[1]
    ):
        return ("field", target[1])
    raise ValueError(
        f"{owner}: unsupported target {target!r}; expected 'logprobs', 'probs' or ('field', key)"
    )


def _as_array(value: Any, key: str, owner: str) -> np.ndarray:
    if isinstance(value, TensorData):
        return value.to_numpy()
    if isinstance(value, mg.Tensor):
        return value.data
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise ValueError(f"{owner}: field {key!r} is not numeric: {value!r}")
    return array


def field_array(data: Sequence[Any] | None, key: str, owner: str) -> np.ndarray:
    """``loss_fn_inputs[key]`` of every datum, joined along the first axis.

    Raises
    ------
    ValueError
        ``data`` is empty, a datum has no ``loss_fn_inputs``, or the values
        cannot be joined.
    KeyError
        A datum does not have the field.

    Examples
    --------
    >>> from gradtrack.types import Datum, ModelInput
    >>> datum = lambda values: Datum(ModelInput.from_ints([1]), {"ref": np.array(values)})
    >>> field_array([datum([1.0, 2.0]), datum([3.0])], "ref", "KLDivergence")
    array([1., 2., 3.])
    >>> field_array([], "ref", "KLDivergence")
    Traceback (most recent call last):
    ...
    ValueError: KLDivergence: data is empty, so field 'ref' cannot be read
    """
    datums = [] if data is None else list(data)
    if not datums:
        raise ValueError(f"{owner}: data is empty, so field {key!r} cannot be read")
    parts = []
    for index, datum in enumerate(datums):
        inputs = getattr(datum, "loss_fn_inputs", None)
        if not isinstance(inputs, Mapping):
            raise ValueError(
                f"{owner}: data[{index}] has no loss_fn_inputs to read field {key!r} from"
            )
        if key not in inputs:
            raise KeyError(
                f"{owner}: field {key!r} is missing from loss_fn_inputs of data[{index}] "
                f"(it has {sorted(inputs)})"
            )
        parts.append(_as_array(inputs[key], key, owner))
    if len(parts) == 1:
        return parts[0]
    parts = [np.atleast_1d(part) for part in parts]
    try:
        return np.concatenate(parts, axis=0)
    except ValueError:
        shapes = [part.shape for part in parts]
        raise ValueError(
            f"{owner}: field {key!r} cannot be joined across data along the first axis "
            f"(shapes {shapes})"
        ) from None


def resolve_target(target: Target, data: Any, logprobs: mg.Tensor, owner: str) -> mg.Tensor:
    """The tensor a norm regularizer penalises (see the module docstring).

    Examples
    --------
    >>> resolve_target("probs", None, mg.Tensor([0.0]), "L1")
    Tensor([1.])
    """
    if target == "logprobs":
        return logprobs
    if target == "probs":
        return mg.exp(logprobs)
    return floating_tensor(field_array(data, target[1], owner))


def reference_tensor(reference: Any, logprobs: mg.Tensor, what: str) -> mg.Tensor:
    """``reference`` as a constant of the logprobs' dtype, with exactly their shape.

    Raises
    ------
    ValueError
        The shapes differ; the message shows both.

    Examples
    --------
    >>> reference_tensor([0.0, 0.0, 0.0], mg.Tensor([0.0, 0.0]), "KL divergence")
    Traceback (most recent call last):
    ...
    ValueError: Shape mismatch in KL divergence. logprobs: (2,), reference: (3,)
    """
    if isinstance(reference, TensorData):
        array = reference.to_numpy()
    elif isinstance(reference, mg.Tensor):
        array = reference.data
    else:
        array = np.asarray(reference)
    if array.shape != logprobs.shape:
        raise ValueError(
            f"Shape mismatch in {what}. logprobs: {logprobs.shape}, reference: {array.shape}"
        )
    return mg.Tensor(np.asarray(array, dtype=logprobs.dtype))
