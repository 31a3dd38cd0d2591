"""New tensors: zeros, ones, a constant, a range, an identity matrix, or shaped like another.

Each constructor takes ``dtype=`` and ``requires_grad=`` (which, as for
:class:`~minigrad.tensor.Tensor`, needs a floating dtype).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.tensor import Tensor

__all__ = [
    "arange",
    "eye",
    "full",
    "full_like",
    "ones",
    "ones_like",
    "zeros",
    "zeros_like",
]


def _made(array: np.ndarray, requires_grad: bool) -> Tensor:
    if requires_grad:
        return Tensor(array, requires_grad=True)
    return Tensor._wrap(array)


def _like_dtype(x: Any, dtype: Any) -> Any:
    if dtype is not None:
        return dtype
    return x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype


def _shape_of(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Tensor) else np.shape(x)


def zeros(
    shape: int | tuple[int, ...], dtype: Any = np.float64, requires_grad: bool = False
) -> Tensor:
    """A tensor of zeros.

    Examples
    --------
    >>> zeros(2)
    Tensor([0., 0.])
    """
    return _made(np.zeros(shape, dtype=dtype), requires_grad)


def ones(
    shape: int | tuple[int, ...], dtype: Any = np.float64, requires_grad: bool = False
) -> Tensor:
    """A tensor of ones.

    Examples
    --------
    >>> ones((1, 2))
    Tensor([[1., 1.]])
    """
    return _made(np.ones(shape, dtype=dtype), requires_grad)


def full(
    shape: int | tuple[int, ...], fill_value: float, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """A tensor filled with ``fill_value`` (float64 unless ``dtype`` says otherwise).

    Examples
    --------
    >>> full((2,), 7)
    Tensor([7., 7.])
    """
    return _made(
        np.full(shape, fill_value, dtype=np.float64 if dtype is None else dtype), requires_grad
    )


def zeros_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and, unless ``dtype`` is given, the dtype) of ``x``.

    Examples
    --------
    >>> zeros_like(np.ones(2, np.float32))
    Tensor([0., 0.], dtype=float32)
    """
    return _made(np.zeros(_shape_of(x), dtype=_like_dtype(x, dtype)), requires_grad)


def ones_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and, unless ``dtype`` is given, the dtype) of ``x``.

    Examples
    --------
    >>> ones_like([1.0, 2.0])
    Tensor([1., 1.])
    """
    return _made(np.ones(_shape_of(x), dtype=_like_dtype(x, dtype)), requires_grad)


def full_like(x: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with the shape (and, unless ``dtype`` is given, the dtype) of ``x``.

    Examples
    --------
    >>> full_like([1.0, 2.0], 0.5)
    Tensor([0.5, 0.5])
    """
    return _made(np.full(_shape_of(x), fill_value, dtype=_like_dtype(x, dtype)), requires_grad)


def arange(
    start: float,
    stop: float | None = None,
    step: float = 1,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Evenly spaced values in ``[start, stop)``, as ``np.arange`` (integers stay integers).

    Examples
    --------
    >>> arange(3)
    Tensor([0, 1, 2], dtype=int64)
    >>> arange(0.0, 1.0, 0.5, requires_grad=True)
    Tensor([0. , 0.5], requires_grad=True)
    """
    values = (
        np.arange(start, step=step, dtype=dtype)
        if stop is None
        else np.arange(start, stop, step, dtype=dtype)
    )
    return _made(values, requires_grad)


def eye(
    n: int, m: int | None = None, k: int = 0, dtype: Any = np.float64, requires_grad: bool = False
) -> Tensor:
    """An ``n × m`` matrix with ones on diagonal ``k`` and zeros elsewhere.

    Examples
    --------
    >>> eye(2)
    Tensor([[1., 0.],
            [0., 1.]])
    """
    return _made(np.eye(n, m, k, dtype=dtype), requires_grad)
