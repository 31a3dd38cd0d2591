"""The ``Tensor``: an ``np.ndarray`` that remembers how it was computed.

A Tensor holds its value in ``.data``. When it was produced by an operation
on tensors that require grad, it also holds the recipe that produced it: the
name of the primitive (``_op``), its inputs (``_inputs``) and its non-tensor
parameters (``_params``). Those recipes, linked together, are the graph that
``backward`` walks in reverse (see :mod:`minigrad.engine`).

Arithmetic operators, reductions and shape methods all delegate to the
functions in :mod:`minigrad.ops`, so ``x * y`` and ``mg.mul(x, y)`` are the
same thing.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["Tensor", "as_tensor", "tensor"]

# Every tensor gets a creation number: an operation's output is always created
# after its inputs, so decreasing creation numbers are a topological order.
_creation_counter = itertools.count(1)


class _InplaceClock:
    """Counts in-place changes, so that backward can skip the check when there were none."""

    def __init__(self) -> None:
        self.now = 0
        self._lock = threading.Lock()

    def tick(self) -> int:
        with self._lock:
            self.now += 1
            return self.now


inplace_clock = _InplaceClock()


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    """Convert constructor input to an array, following the contract's dtype rules."""
    if isinstance(data, np.ndarray | np.generic):
        array = np.asarray(data)
    else:
        array = np.asarray(data)
        # Python numbers (and lists of them) become float64; bools stay bool.
        if array.dtype.kind in "iu":
            array = array.astype(np.float64)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"Tensor data must be numeric or bool, got dtype {array.dtype}")
    return array


class Tensor:
    """An array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data
        A scalar, a nested list, an ``np.ndarray`` or another ``Tensor``.
        Floating arrays keep their dtype (float32 stays float32); Python
        numbers and lists of them become float64. An ``np.ndarray`` is used
        without a copy, as ``np.asarray`` would.
    requires_grad
        Record operations on this tensor so that gradients flow back to it.
        Only floating tensors can require grad (``TypeError`` otherwise).
    dtype
        Cast the data to this dtype first.

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    Tensor([2., 4., 6.])
    """

    # ``_clock`` reads the in-place clock: for a recorded node, its value when the
    # node was recorded; for a tensor changed in place, its value at the latest change.
    __slots__ = (
        "__weakref__",
        "_clock",
        "_inputs",
        "_op",
        "_params",
        "_sequence",
        "data",
        "grad",
        "requires_grad",
    )

    # NumPy must not turn ``array + tensor`` into an array operation: with this,
    # it returns NotImplemented and Python calls Tensor.__radd__ instead.
    __array_ufunc__ = None

    data: np.ndarray
    grad: Tensor | None
    requires_grad: bool

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        array = data.data if isinstance(data, Tensor) else data
        array = _to_array(array, dtype)
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(
                f"only floating tensors can require grad, got dtype {array.dtype}; "
                "cast with dtype=np.float64 first"
            )
        self.data = array
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._op = None
        self._inputs = ()
        self._params = {}
        self._clock = 0
        self._sequence = next(_creation_counter)

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        """Wrap an array produced by a kernel, skipping the constructor's checks."""
        out = object.__new__(cls)
        out.data = array
        out.grad = None
        out.requires_grad = False
        out._op = None
        out._inputs = ()
        out._params = {}
        out._clock = 0
        out._sequence = next(_creation_counter)
        return out

    # ----------------------------------------------------------------- basics
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``.data``."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """The number of dimensions of ``.data``."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """The number of elements of ``.data``."""
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        """The dtype of ``.data``."""
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for a tensor not produced by a recorded operation."""
        return self._op is None

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extras = ""
        if self.data.dtype != np.float64 and self.data.size > 0:
            extras += f", dtype={self.data.dtype}"
        if self.requires_grad:
            extras += ", requires_grad=True"
        return f"Tensor({body}{extras})"

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    # Tensors are compared elementwise by ``==``, so hashing must be by identity.
    __hash__ = object.__hash__

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number.

        Examples
        --------
        >>> Tensor(2.5).item()
        2.5
        """
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The value as an ``np.ndarray`` (the array itself, not a copy).

        Examples
        --------
        >>> Tensor([1.0, 2.0]).numpy()
        array([1., 2.])
        """
        return self.data

    def tolist(self) -> Any:
        """The value as (nested) Python lists."""
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A tensor with the same data that is cut off from the graph.

        It shares memory with this tensor. When this tensor requires grad, the
        shared data is read-only: the backward pass may still need the values,
        so writing through the alias would silently corrupt gradients (copy
        first: ``Tensor(t.data.copy())``).

        Examples
        --------
        >>> x = Tensor([1.0], requires_grad=True)
        >>> (x * 2).detach().requires_grad
        False
        """
        if not self.requires_grad:
            return Tensor._wrap(self.data)
        view = self.data.view()
        view.flags.writeable = False
        return Tensor._wrap(view)

    def astype(self, dtype: Any) -> Tensor:
        """Cast to ``dtype`` (differentiable between floating dtypes)."""
        return _ops.astype(self, dtype)

    def backward(self, grad: Any = None, create_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of every leaf.

        Parameters
        ----------
        grad
            The gradient of some scalar with respect to this tensor; required
            when this tensor is not a scalar, as in PyTorch.
        create_graph
            Record the backward pass itself, so that the resulting ``.grad``
            tensors can be differentiated again.

        Examples
        --------
        >>> x = Tensor(3.0, requires_grad=True)
        >>> (x ** 2).backward()
        >>> x.grad
        Tensor(6.)
        """
        from minigrad.engine import backward

        backward(self, grad, create_graph=create_graph)

    def __setitem__(self, index: Any, value: Any) -> None:
        if self.requires_grad:
            raise RuntimeError(
                "in-place change to a tensor that requires grad: its old value may be "
                "needed by the backward pass; build a new tensor instead "
                "(e.g. mg.where(mask, new, x))"
            )
        if not self.data.flags.writeable:
            raise RuntimeError(
                "in-place change to read-only data: this tensor shares memory with one that "
                "requires grad (e.g. it came from detach()), whose values the backward pass may "
                "still need; copy it first: Tensor(t.data.copy())"
            )
        self.data[_ops.normalize_index(index)] = value.data if isinstance(value, Tensor) else value
        # Graphs that used this tensor before now detect the change in backward.
        self._clock = inplace_clock.tick()

    # -------------------------------------------------------------- operators
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    def __lt__(self, other: Any) -> Tensor:
        return _ops.compare(np.less, self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ops.compare(np.less_equal, self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _ops.compare(np.greater, self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ops.compare(np.greater_equal, self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.compare(np.equal, self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.compare(np.not_equal, self, other)

    # ---------------------------------------------------------------- methods
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (see :func:`minigrad.sum`)."""
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (see :func:`minigrad.mean`)."""
        return _ops.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Maximum over ``axis`` (see :func:`minigrad.max`)."""
        return _ops.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Minimum over ``axis`` (see :func:`minigrad.min`)."""
        return _ops.min(self, axis, keepdims)

    def var(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
        """Variance over ``axis`` (see :func:`minigrad.var`)."""
        return _ops.var(self, axis, ddof, keepdims)

    def std(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
        """Standard deviation over ``axis`` (see :func:`minigrad.std`)."""
        return _ops.std(self, axis, ddof, keepdims)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Stable ``log(sum(exp(x)))`` over ``axis`` (see :func:`minigrad.logsumexp`)."""
        return _ops.logsumexp(self, axis, keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        """Reshape; accepts ``reshape(2, 3)`` and ``reshape((2, 3))``, with ``-1``."""
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        """Permute axes; no argument reverses them all."""
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)

    @property
    def T(self) -> Tensor:
        """All axes reversed."""
        return _ops.transpose(self, None)

    def flatten(self) -> Tensor:
        """A 1-D view of all elements."""
        return _ops.reshape(self, (-1,))

    def squeeze(self, axis: Any = None) -> Tensor:
        """Drop axes of length one (all of them, or those in ``axis``)."""
        return _ops.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        """Insert an axis of length one at ``axis``."""
        return _ops.unsqueeze(self, axis)

    def broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        """Broadcast to ``shape``; the gradient is summed back."""
        return _ops.broadcast_to(self, shape)

    def exp(self) -> Tensor:
        """Elementwise ``exp``."""
        return _ops.exp(self)

    def log(self) -> Tensor:
        """Elementwise natural logarithm."""
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        """Elementwise square root."""
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        """Elementwise absolute value."""
        return _ops.abs(self)

    def tanh(self) -> Tensor:
        """Elementwise hyperbolic tangent."""
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        """Elementwise logistic function."""
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        """Elementwise ``max(x, 0)``."""
        return _ops.relu(self)

    def clip(self, lo: Any = None, hi: Any = None) -> Tensor:
        """Clamp to ``[lo, hi]``; the gradient passes inside and at the bounds."""
        return _ops.clip(self, lo, hi)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a :class:`Tensor` (the same as calling ``Tensor``).

    Examples
    --------
    >>> tensor([1, 2]).dtype
    dtype('float64')
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """Return ``value`` as a Tensor, without copying one that already is.

    A Python number next to a floating tensor ``like`` takes its dtype, so
    that ``x32 * 2.0`` stays float32 (as NumPy does with Python scalars).

    Examples
    --------
    >>> import numpy as np
    >>> as_tensor(2.0, like=Tensor(np.ones(2, np.float32))).dtype
    dtype('float32')
    """
    if isinstance(value, Tensor):
        return value
    # type() rather than isinstance(numbers.Number): this runs for every scalar operand.
    if like is not None and type(value) in _PYTHON_NUMBERS and like.data.dtype.kind == "f":
        return Tensor._wrap(np.asarray(value, dtype=like.data.dtype))
    return Tensor(value)


_PYTHON_NUMBERS = (float, int)


from minigrad import ops as _ops  # noqa: E402  (ops needs Tensor defined first)
