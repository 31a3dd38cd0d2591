"""Python's operators and the Tensor methods, each bound to the op of the same name.

This module lets you write ``x * y + 1``, ``x @ w``, ``x[i]``, ``x.sum()``
and ``loss.backward()``: :class:`TensorMethods` spells each of them out as a
call into :mod:`minigrad.ops` (or :mod:`minigrad.engine` for ``backward``),
and importing this module copies them onto :class:`~minigrad.tensor.Tensor`.

Why a separate module: the ops are written in terms of ``Tensor``, so
``tensor.py`` cannot import them without an import cycle. The imports run one
way — ``tensor`` ← ``ops`` ← ``engine`` ← ``methods`` — and this is the only
place where the class learns its operators.

It also answers NumPy's two protocols for the NumPy functions that have a
minigrad op: ``__array_ufunc__`` for ufuncs (``np.exp(t)``,
``np.maximum(t, 0)``, ``array + t``) and ``__array_function__`` for the rest
(``np.sum(t)``, ``np.mean(t, axis=0)``, ``np.concatenate([t, u])`` …): they
return Tensors that carry gradients. Any other NumPy function given a Tensor
raises a ``TypeError`` naming it and suggesting ``t.numpy()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from minigrad import engine, ops
from minigrad.tensor import Tensor

__all__ = ["NUMPY_FUNCTIONS", "NUMPY_UFUNCS", "TensorMethods"]


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

    def __floordiv__(self, other: Any) -> Tensor:
        return ops.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return ops.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return ops.mod(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return ops.mod(other, self)

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

    # ------------------------------------------------ PyTorch-style methods
    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (gradient 1 back to this tensor).

        Examples
        --------
        >>> import minigrad as mg
        >>> x = mg.Tensor([1.0], requires_grad=True)
        >>> y = x.clone()
        >>> y.requires_grad, y.data is x.data
        (True, False)
        """
        return ops.add(self, ops.zeros((), dtype=self.dtype))  # type: ignore[attr-defined]

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Start (or stop) recording operations on this leaf, in place; returns it.

        Examples
        --------
        >>> import minigrad as mg
        >>> mg.zeros(2).requires_grad_().requires_grad
        True
        """
        if not self.is_leaf:  # type: ignore[attr-defined]
            raise RuntimeError(
                "requires_grad_ changes leaves only; this tensor was computed by an operation "
                "(use .detach().requires_grad_() for a new leaf)"
            )
        if requires_grad and self.dtype.kind != "f":  # type: ignore[attr-defined]
            raise TypeError(f"only floating tensors can require grad, got dtype {self.dtype}")  # type: ignore[attr-defined]
        self.requires_grad = bool(requires_grad)  # type: ignore[attr-defined]
        return self  # type: ignore[return-value]

    def pow(self, exponent: Any) -> Tensor:
        """``self ** exponent``."""
        return ops.pow(self, exponent)

    def matmul(self, other: Any) -> Tensor:
        """``self @ other``."""
        return ops.matmul(self, other)

    def add(self, other: Any) -> Tensor:
        """``self + other``."""
        return ops.add(self, other)

    def sub(self, other: Any) -> Tensor:
        """``self - other``."""
        return ops.sub(self, other)

    def mul(self, other: Any) -> Tensor:
        """``self * other``."""
        return ops.mul(self, other)

    def div(self, other: Any) -> Tensor:
        """``self / other``."""
        return ops.div(self, other)

    def neg(self) -> Tensor:
        """``-self``."""
        return ops.neg(self)

    def maximum(self, other: Any) -> Tensor:
        """Elementwise maximum with ``other``."""
        return ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        """Elementwise minimum with ``other``."""
        return ops.minimum(self, other)

    def logaddexp(self, other: Any) -> Tensor:
        """``log(exp(self) + exp(other))``."""
        return ops.logaddexp(self, other)

    def floor_divide(self, other: Any) -> Tensor:
        """``self // other`` (no gradient)."""
        return ops.floor_divide(self, other)

    def remainder(self, other: Any) -> Tensor:
        """``self % other``."""
        return ops.mod(self, other)

    def square(self) -> Tensor:
        """Elementwise ``x**2``."""
        return ops.square(self)

    def log1p(self) -> Tensor:
        """Elementwise ``log(1 + x)``."""
        return ops.log1p(self)

    def expm1(self) -> Tensor:
        """Elementwise ``exp(x) - 1``."""
        return ops.expm1(self)

    def log2(self) -> Tensor:
        """Elementwise base-2 logarithm."""
        return ops.log2(self)

    def log10(self) -> Tensor:
        """Elementwise base-10 logarithm."""
        return ops.log10(self)

    def sign(self) -> Tensor:
        """Elementwise sign."""
        return ops.sign(self)

    def sin(self) -> Tensor:
        """Elementwise sine."""
        return ops.sin(self)

    def cos(self) -> Tensor:
        """Elementwise cosine."""
        return ops.cos(self)

    def tan(self) -> Tensor:
        """Elementwise tangent."""
        return ops.tan(self)

    def arctan(self) -> Tensor:
        """Elementwise inverse tangent."""
        return ops.arctan(self)

    def sinh(self) -> Tensor:
        """Elementwise hyperbolic sine."""
        return ops.sinh(self)

    def cosh(self) -> Tensor:
        """Elementwise hyperbolic cosine."""
        return ops.cosh(self)

    def erf(self) -> Tensor:
        """Elementwise error function."""
        return ops.erf(self)

    def softplus(self) -> Tensor:
        """Elementwise ``log(1 + exp(x))``."""
        return ops.softplus(self)

    def floor(self) -> Tensor:
        """Round down (no gradient)."""
        return ops.floor(self)

    def ceil(self) -> Tensor:
        """Round up (no gradient)."""
        return ops.ceil(self)

    def round(self, decimals: int = 0) -> Tensor:
        """Round to ``decimals`` places (no gradient)."""
        return ops.round(self, decimals)

    def isnan(self) -> Tensor:
        """Where the value is NaN."""
        return ops.isnan(self)

    def isfinite(self) -> Tensor:
        """Where the value is finite."""
        return ops.isfinite(self)

    def softmax(self, axis: Any = -1) -> Tensor:
        """Softmax along ``axis`` (see :func:`minigrad.softmax`)."""
        return ops.softmax(self, axis)

    def log_softmax(self, axis: Any = -1) -> Tensor:
        """Log-softmax along ``axis`` (see :func:`minigrad.log_softmax`)."""
        return ops.log_softmax(self, axis)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Product over ``axis`` (see :func:`minigrad.prod`)."""
        return ops.prod(self, axis, keepdims)

    def cumsum(self, axis: int | None = None) -> Tensor:
        """Running sum along ``axis`` (see :func:`minigrad.cumsum`)."""
        return ops.cumsum(self, axis)

    def norm(self, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Vector or matrix norm (see :func:`minigrad.norm`)."""
        return ops.norm(self, ord, axis, keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Index of the largest value (see :func:`minigrad.argmax`)."""
        return ops.argmax(self, axis, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Index of the smallest value (see :func:`minigrad.argmin`)."""
        return ops.argmin(self, axis, keepdims)

    def argsort(self, axis: int | None = -1) -> Tensor:
        """Indices that sort along ``axis``, stably."""
        return ops.argsort(self, axis)

    def sort(self, axis: int | None = -1) -> Tensor:
        """Sorted values along ``axis`` (a new tensor; stable on ties)."""
        return ops.sort(self, axis)

    def flip(self, axis: Any = None) -> Tensor:
        """Reverse along ``axis`` (see :func:`minigrad.flip`)."""
        return ops.flip(self, axis)

    def roll(self, shift: Any, axis: Any = None) -> Tensor:
        """Shift elements with wrap-around (see :func:`minigrad.roll`)."""
        return ops.roll(self, shift, axis)

    def repeat(self, repeats: Any, axis: int | None = None) -> Tensor:
        """Repeat each element, NumPy's meaning (PyTorch's ``repeat`` is :meth:`tile`)."""
        return ops.repeat(self, repeats, axis)

    def tile(self, reps: Any) -> Tensor:
        """Repeat the whole tensor along each axis (see :func:`minigrad.tile`)."""
        return ops.tile(self, reps)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Exchange two axes."""
        return ops.swapaxes(self, axis1, axis2)

    def moveaxis(self, source: Any, destination: Any) -> Tensor:
        """Move axes to new positions."""
        return ops.moveaxis(self, source, destination)

    def tril(self, k: int = 0) -> Tensor:
        """Lower triangle of the last two axes."""
        return ops.tril(self, k)

    def triu(self, k: int = 0) -> Tensor:
        """Upper triangle of the last two axes."""
        return ops.triu(self, k)

    def split(self, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
        """Split along ``axis`` (see :func:`minigrad.split`)."""
        return ops.split(self, indices_or_sections, axis)

    def outer(self, other: Any) -> Tensor:
        """Outer product with ``other``."""
        return ops.outer(self, other)

    def take_along_axis(self, indices: Any, axis: int | None) -> Tensor:
        """Pick elements at ``indices`` along ``axis``."""
        return ops.take_along_axis(self, indices, axis)

    def gelu(self, approximate: str = "none") -> Tensor:
        """Gaussian error linear unit."""
        return ops.gelu(self, approximate)

    def silu(self) -> Tensor:
        """Sigmoid linear unit ``x σ(x)``."""
        return ops.silu(self)

    # ------------------------------------------------------------------ NumPy
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        op = NUMPY_UFUNCS.get(ufunc)
        if op is None or method != "__call__" or kwargs:
            what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            reason = (
                "has no minigrad op"
                if op is None or method != "__call__"
                else (f"does not take {', '.join(sorted(kwargs))} with Tensors")
            )
            raise TypeError(
                f"{what} {reason}; use minigrad's functions, "
                f"or pass t.numpy() to work on the plain array"
            )
        return op(*inputs)

    def __array_function__(
        self, func: Any, types: tuple[type, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        op = NUMPY_FUNCTIONS.get(func)
        if op is None:
            name = f"{getattr(func, '__module__', None) or 'numpy'}.{func.__name__}"
            raise TypeError(
                f"{name} has no minigrad op and does not take Tensors; "
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
    np.prod: _without_out(ops.prod, "prod"),
    np.cumsum: _without_out(ops.cumsum, "cumsum"),
    np.linalg.norm: ops.norm,
    np.einsum: _without_out(ops.einsum, "einsum"),
    np.outer: _without_out(ops.outer, "outer"),
    np.matmul: _without_out(ops.matmul, "matmul"),
    np.split: ops.split,
    np.pad: ops.pad,
    np.take_along_axis: ops.take_along_axis,
    np.tril: ops.tril,
    np.triu: ops.triu,
    np.flip: ops.flip,
    np.roll: ops.roll,
    np.repeat: ops.repeat,
    np.tile: ops.tile,
    np.moveaxis: ops.moveaxis,
    np.swapaxes: ops.swapaxes,
    np.ravel: ops.flatten,
    np.sort: ops.sort,
    np.argsort: ops.argsort,
    np.argmax: _without_out(ops.argmax, "argmax"),
    np.argmin: _without_out(ops.argmin, "argmin"),
    np.round: _without_out(ops.round, "round"),
    np.around: _without_out(ops.round, "around"),
    np.logaddexp: ops.logaddexp,
    np.zeros_like: ops.zeros_like,
    np.ones_like: ops.ones_like,
    np.full_like: ops.full_like,
    # Questions about the shape answer with plain values, as for an array.
    np.shape: lambda t: t.shape,
    np.ndim: lambda t: t.ndim,
    np.size: lambda t, axis=None: t.size if axis is None else t.shape[axis],
}
"""NumPy functions that, given a Tensor, run the minigrad op of the same meaning."""


def _dot(x: Any, y: Any, out: Any = None) -> Tensor:
    """``np.dot`` where it means a product minigrad has: scalars, vectors and matrices."""
    if out is not None:
        raise TypeError("numpy.dot on a Tensor does not take out=")
    if max(np.ndim(x), np.ndim(y)) > 2:
        raise TypeError(
            "numpy.dot of arrays with more than 2 dimensions has no minigrad op; "
            "use mg.matmul or mg.einsum, or pass t.numpy() to work on the plain array"
        )
    if np.ndim(x) == 0 or np.ndim(y) == 0:
        return ops.mul(x, y)
    return ops.matmul(x, y)


NUMPY_FUNCTIONS[np.dot] = _dot


def _compare(ufunc: np.ufunc) -> Callable[[Any, Any], Tensor]:
    return lambda x, y: ops.compare(ufunc, x, y)


NUMPY_UFUNCS: dict[np.ufunc, Callable[..., Tensor]] = {
    np.add: ops.add,
    np.subtract: ops.sub,
    np.multiply: ops.mul,
    np.true_divide: ops.div,
    np.power: ops.pow,
    np.float_power: ops.pow,
    np.negative: ops.neg,
    np.positive: lambda x: x,
    np.matmul: ops.matmul,
    np.exp: ops.exp,
    np.expm1: ops.expm1,
    np.log: ops.log,
    np.log2: ops.log2,
    np.log10: ops.log10,
    np.log1p: ops.log1p,
    np.sqrt: ops.sqrt,
    np.square: ops.square,
    np.absolute: ops.abs,
    np.fabs: ops.abs,
    np.sign: ops.sign,
    np.sin: ops.sin,
    np.cos: ops.cos,
    np.tan: ops.tan,
    np.arctan: ops.arctan,
    np.sinh: ops.sinh,
    np.cosh: ops.cosh,
    np.tanh: ops.tanh,
    np.maximum: ops.maximum,
    np.minimum: ops.minimum,
    np.logaddexp: ops.logaddexp,
    np.floor_divide: ops.floor_divide,
    np.remainder: ops.mod,
    np.floor: ops.floor,
    np.ceil: ops.ceil,
    np.rint: ops.round,
    np.isnan: ops.isnan,
    np.isfinite: ops.isfinite,
    np.less: _compare(np.less),
    np.less_equal: _compare(np.less_equal),
    np.greater: _compare(np.greater),
    np.greater_equal: _compare(np.greater_equal),
    np.equal: _compare(np.equal),
    np.not_equal: _compare(np.not_equal),
}
"""NumPy ufuncs that, called on a Tensor (``np.exp(t)``, ``array + t``), run the minigrad op."""


def _bind(cls: type) -> None:
    """Copy every operator and method of :class:`TensorMethods` onto ``cls``."""
    for name, value in vars(TensorMethods).items():
        # __hash__ is None here (a class that defines __eq__ loses it); Tensor hashes by id.
        if name in {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__hash__"}:
            continue
        setattr(cls, name, value)


_bind(Tensor)
