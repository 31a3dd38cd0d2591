"""Python's operators and the Tensor methods, each bound to the op of the same name.

This module lets you write ``x * y + 1``, ``x @ w``, ``x[i]``, ``x.sum()``
and ``loss.backward()``: :class:`TensorMethods` spells each of them out as a
call into :mod:`minigrad.ops` (or :mod:`minigrad.engine` for ``backward``),
and importing this module copies them onto :class:`~minigrad.tensor.Tensor`.

Why a separate module: the ops are written in terms of ``Tensor``, so
``tensor.py`` cannot import them without an import cycle. The imports run one
way — ``tensor`` ← ``ops`` ← ``engine`` ← ``methods`` — and this is the only
place where the class learns its operators.

It also answers NumPy's ``__array_function__`` protocol for the NumPy
functions that have a minigrad op (``np.sum(t)``, ``np.mean(t, axis=0)``,
``np.concatenate([t, u])`` …): they return Tensors that carry gradients.
Any other NumPy function given a Tensor raises a ``TypeError`` naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from minigrad import engine, ops
from minigrad.tensor import Tensor

__all__ = ["NUMPY_FUNCTIONS", "TensorMethods"]


class TensorMethods:
    """The operators and methods of :class:`~minigrad.tensor.Tensor`.

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> loss = (x * 2 + 1).sum()
    >>> loss.backward()
    >>> x.grad
    Tensor([[2., 2.],
            [2., 2.]])
    """

    # ------------------------------------------------------------ arithmetic
    def __add__(self, other: Any) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __pos__(self) -> Tensor:
        return self  # type: ignore[return-value]

    def __abs__(self) -> Tensor:
        return ops.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):  # type: ignore[arg-type]
            yield ops.getitem(self, i)

    # ----------------------------------------------- comparisons (no gradient)
    def __lt__(self, other: Any) -> Tensor:
        return ops.compare(np.less, self, other)

    def __le__(self, other: Any) -> Tensor:
        return ops.compare(np.less_equal, self, other)

    def __gt__(self, other: Any) -> Tensor:
        return ops.compare(np.greater, self, other)

    def __ge__(self, other: Any) -> Tensor:
        return ops.compare(np.greater_equal, self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.compare(np.equal, self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.compare(np.not_equal, self, other)

    # --------------------------------------------------------------- autodiff
    def backward(
        self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of every leaf.

        Parameters
        ----------
        grad
            The gradient of some scalar with respect to this tensor; required
            when this tensor is not a scalar, as in PyTorch.
        retain_graph
            Keep the graph for another backward pass through it. Defaults to
            ``create_graph``; otherwise the graph's nodes release their
            inputs (and the activations they hold) once the pass is done.
        create_graph
            Record the backward pass itself, so that the resulting ``.grad``
            tensors can be differentiated again.

        Examples
        --------
        >>> import minigrad as mg
        >>> x = mg.Tensor(3.0, requires_grad=True)
        >>> (x ** 2).backward()
        >>> x.grad
        Tensor(6.)
        """
        engine.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)  # type: ignore[arg-type]

    def astype(self, dtype: Any) -> Tensor:
        """Cast to ``dtype`` (differentiable between floating dtypes)."""
        return ops.astype(self, dtype)

    # ------------------------------------------------------------- reductions
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (see :func:`minigrad.sum`)."""
        return ops.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (see :func:`minigrad.mean`)."""
        return ops.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Maximum over ``axis`` (see :func:`minigrad.max`)."""
        return ops.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Minimum over ``axis`` (see :func:`minigrad.min`)."""
        return ops.min(self, axis, keepdims)

    def var(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
        """Variance over ``axis`` (see :func:`minigrad.var`)."""
        return ops.var(self, axis, ddof, keepdims)

    def std(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
        """Standard deviation over ``axis`` (see :func:`minigrad.std`)."""
        return ops.std(self, axis, ddof, keepdims)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Stable ``log(sum(exp(x)))`` over ``axis`` (see :func:`minigrad.logsumexp`)."""
        return ops.logsumexp(self, axis, keepdims)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: Any) -> Tensor:
        """Reshape; accepts ``reshape(2, 3)`` and ``reshape((2, 3))``, with ``-1``."""
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        """Permute axes; no argument reverses them all (see :func:`minigrad.transpose`)."""
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    @property
    def T(self) -> Tensor:
        """All axes reversed."""
        return ops.transpose(self, None)

    def flatten(self) -> Tensor:
        """A 1-D view of all elements."""
        return ops.reshape(self, (-1,))

    def squeeze(self, axis: Any = None) -> Tensor:
        """Drop axes of length one (all of them, or those in ``axis``)."""
        return ops.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        """Insert an axis of length one at ``axis``."""
        return ops.unsqueeze(self, axis)

    def broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        """Broadcast to ``shape``; the gradient is summed back."""
        return ops.broadcast_to(self, shape)

    # ------------------------------------------------------------ elementwise
    def exp(self) -> Tensor:
        """Elementwise ``exp``."""
        return ops.exp(self)

    def log(self) -> Tensor:
        """Elementwise natural logarithm."""
        return ops.log(self)

    def sqrt(self) -> Tensor:
        """Elementwise square root."""
        return ops.sqrt(self)

    def abs(self) -> Tensor:
        """Elementwise absolute value."""
        return ops.abs(self)

    def tanh(self) -> Tensor:
        """Elementwise hyperbolic tangent."""
        return ops.tanh(self)

    def sigmoid(self) -> Tensor:
        """Elementwise logistic function."""
        return ops.sigmoid(self)

    def relu(self) -> Tensor:
        """Elementwise ``max(x, 0)``."""
        return ops.relu(self)

    def clip(self, lo: Any = None, hi: Any = None) -> Tensor:
        """Clamp to ``[lo, hi]``; the gradient passes inside and at the bounds."""
        return ops.clip(self, lo, hi)

    # ------------------------------------------------------------------ NumPy
    def __array_function__(
        self, func: Any, types: tuple[type, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        op = NUMPY_FUNCTIONS.get(func)
        if op is None:
            raise TypeError(
                f"numpy.{func.__name__} has no minigrad op and does not take Tensors; "
                f"use minigrad's functions, or pass t.numpy() to work on the plain array"
            )
        return op(*args, **kwargs)


def _without_out(op: Callable[..., Tensor], name: str) -> Callable[..., Tensor]:
    """``op`` taking NumPy's signature; NumPy-only options such as ``out=`` are refused."""

    def call(*args: Any, out: Any = None, dtype: Any = None, **kwargs: Any) -> Tensor:
        if out is not None or dtype is not None:
            raise TypeError(f"numpy.{name} on a Tensor does not take out= or dtype=")
        return op(*args, **kwargs)

    return call


NUMPY_FUNCTIONS: dict[Callable[..., Any], Callable[..., Tensor]] = {
    np.sum: _without_out(ops.sum, "sum"),
    np.mean: _without_out(ops.mean, "mean"),
    np.max: _without_out(ops.max, "max"),
    np.min: _without_out(ops.min, "min"),
    np.amax: _without_out(ops.max, "amax"),
    np.amin: _without_out(ops.min, "amin"),
    np.var: _without_out(ops.var, "var"),
    np.std: _without_out(ops.std, "std"),
    np.clip: _without_out(ops.clip, "clip"),
    np.reshape: ops.reshape,
    np.transpose: ops.transpose,
    np.squeeze: ops.squeeze,
    np.expand_dims: ops.unsqueeze,
    np.broadcast_to: ops.broadcast_to,
    np.concatenate: ops.concatenate,
    np.stack: ops.stack,
    np.where: ops.where,
}
"""NumPy functions that, given a Tensor, run the minigrad op of the same meaning."""


def _bind(cls: type) -> None:
    """Copy every operator and method of :class:`TensorMethods` onto ``cls``."""
    for name, value in vars(TensorMethods).items():
        # __hash__ is None here (a class that defines __eq__ loses it); Tensor hashes by id.
        if name in {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__hash__"}:
            continue
        setattr(cls, name, value)


_bind(Tensor)
