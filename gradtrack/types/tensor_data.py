"""``TensorData``: an array in a JSON-friendly form (flat data, dtype name, shape)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from minigrad import Tensor
from gradtrack.types._convert import (
    _cast_array,
    _dtype_name,
    _wire_dtype_for,
)


@dataclass
class TensorData:
    """A tensor in wire form: a flat row-major list of numbers, a dtype name and a shape.

    Parameters
    ----------
    data : sequence of numbers
        The elements in row-major order. They are converted to the Python type of ``dtype``
        (ints become floats for a float dtype); a non-integer float for an int dtype, a
        string or ``None`` raise ``ValueError``.
    dtype : str
        One of ``"float32"``, ``"float64"``, ``"int64"``, ``"int32"`` (a NumPy dtype naming
        one of these is accepted too). float64 is kept as float64.
    shape : list of int, optional
        The dimensions; ``None`` for a scalar or an unshaped vector, which
        :meth:`to_numpy` returns as a 1-D array.

    Examples
    --------
    >>> td = TensorData([1, 2, 3], "float32")
    >>> td.data, td.dtype, td.shape
    ([1.0, 2.0, 3.0], 'float32', None)
    >>> TensorData([1, 2, 3, 4], "int64", [2, 2]).to_numpy()
    array([[1, 2],
           [3, 4]])
    """

    data: list[Any]
    dtype: str
    shape: list[int] | None = None

    def __post_init__(self) -> None:
        self.dtype = _dtype_name(self.dtype)
        flat = _cast_array(self.data, self.dtype)
        if flat.ndim != 1:
            raise ValueError(
                f"TensorData data must be a flat list, got an array of shape {flat.shape}; "
                "use TensorData.from_numpy for nested data"
            )
        self.data = flat.tolist()
        if self.shape is not None:
            self.shape = self._checked_shape(self.shape)

    def _checked_shape(self, shape: Iterable[Any]) -> list[int]:
        dims = list(shape)
        for dim in dims:
            if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 0:
                raise ValueError(f"TensorData shape must hold non-negative ints, got {shape!r}")
        dims = [int(dim) for dim in dims]
        if math.prod(dims) != len(self.data):
            raise ValueError(
                f"TensorData shape {dims} holds {math.prod(dims)} elements "
                f"but data has {len(self.data)}"
            )
        return dims

    @classmethod
    def from_numpy(cls, array: Any) -> TensorData:
        """Build a TensorData from an array, a minigrad Tensor or anything ``np.asarray`` takes.

        float32, float64, int64 and int32 are kept; other integer types, unsigned types and
        bool become int64; anything else (float16, complex, strings) is a ``ValueError``.
        A rank-0 input gets ``shape=None``.

        Examples
        --------
        >>> TensorData.from_numpy(np.array([[1, 2], [3, 4]], dtype=np.int32))
        TensorData(data=[1, 2, 3, 4], dtype='int32', shape=[2, 2])
        >>> TensorData.from_numpy(np.float64(42.5))
        TensorData(data=[42.5], dtype='float64', shape=None)
        >>> TensorData.from_numpy(np.array([True, False])).dtype
        'int64'
        """
        values = np.asarray(array)
        wire_dtype = _wire_dtype_for(values.dtype)
        if values.dtype.kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
            raise ValueError(f"unsigned values above {np.iinfo(np.int64).max} do not fit int64")
        shape = None if values.ndim == 0 else list(values.shape)
        # Passing the flat array (not a list) lets __post_init__ convert it only once.
        return cls(values.astype(wire_dtype).ravel(), wire_dtype, shape)

    def to_numpy(self) -> np.ndarray:
        """Return the data as an array of this dtype, reshaped to ``shape`` if there is one.

        Examples
        --------
        >>> TensorData([1.0, 2.0, 3.0], "float32").to_numpy()
        array([1., 2., 3.], dtype=float32)
        """
        values = np.asarray(self.data, dtype=np.dtype(self.dtype))
        if self.shape is None:
            return values
        return values.reshape(self.shape)

    def to_tensor(self) -> Tensor:
        """Return the data as a ``minigrad.Tensor`` (which does not require grad).

        Examples
        --------
        >>> TensorData([1.0, 2.0], "float32").to_tensor().shape
        (2,)
        """
        # Imported here so that the types can be used (and serialised) without the engine.
        import minigrad

        return minigrad.Tensor(self.to_numpy())

    def tolist(self) -> list[Any]:
        """Return a copy of the flat data list.

        Examples
        --------
        >>> TensorData([1, 2], "int64", [1, 2]).tolist()
        [1, 2]
        """
        return list(self.data)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"data", "dtype", "shape"}``; ``shape`` is present even when ``None``.

        Examples
        --------
        >>> TensorData([1, 2], "int64").to_dict()
        {'data': [1, 2], 'dtype': 'int64', 'shape': None}
        """
        shape = None if self.shape is None else list(self.shape)
        return {"data": list(self.data), "dtype": self.dtype, "shape": shape}
