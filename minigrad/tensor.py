"""The ``Tensor``: an ``np.ndarray`` that remembers how it was computed.

A Tensor holds its value in ``.data``. When an operation on tensors that
require grad produces it, it also holds the recipe: the name of the primitive
(``_op``), its inputs (``_inputs``) and its non-tensor parameters
(``_params``). :func:`record` writes that recipe; the recipes, linked
together, are the graph that :mod:`minigrad.engine` walks backwards.

This module is the bottom of the engine: it imports nothing else of
minigrad's but the recording switch and the hooks' side table. The arithmetic lives in
:mod:`minigrad.ops`, and :mod:`minigrad.methods` binds Python's operators
(``x + y``, ``x @ w``, ``x[i]``) and the methods (``x.sum()``) to it, so
``x * y`` and ``mg.mul(x, y)`` are the same thing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import grad_mode, hooks, tracing
from minigrad.inplace import inplace_log

__all__ = ["Tensor", "as_tensor", "derived", "record", "tensor"]


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

    Notes
    -----
    Operators (``+ - * / ** @``, unary ``-``, ``abs``, indexing and the
    comparisons) and the methods ``.sum()``, ``.exp()``, ``.reshape()`` …
    are those of :mod:`minigrad.methods`; each calls the op of the same name
    in :mod:`minigrad.ops`.

    A copy (``copy.deepcopy``) or a pickled-and-loaded tensor is a leaf: it
    carries the data, ``requires_grad`` and ``.grad``, never the graph that
    made the original.

    Examples
    --------
    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    Tensor([2., 4., 6.])
    """

    __slots__ = (
        "__weakref__",
        "_grad",
        "_inputs",
        "_op",
        "_params",
        "_recorded_at",
        "data",
        "requires_grad",
    )

    # NumPy must not turn ``array + tensor`` into an array operation. Until
    # minigrad.methods binds the real __array_ufunc__ (which runs the minigrad op
    # of each ufunc), None makes NumPy defer to Tensor's reflected operators.
    __array_ufunc__ = None

    data: np.ndarray
    _grad: Tensor | None
    requires_grad: bool
    # The recipe (None, (), {} on a leaf). ``_inputs`` is None once a backward pass
    # without ``retain_graph`` has released it.
    _op: str | None
    _inputs: tuple[Tensor, ...] | None
    _params: dict[str, Any]
    # The in-place clock when this node was recorded (see InplaceLog).
    _recorded_at: int

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if not isinstance(requires_grad, bool | np.bool_):
            raise TypeError(
                f"requires_grad must be a bool, got {type(requires_grad).__name__} "
                f"{requires_grad!r}"
            )
        array = data.data if isinstance(data, Tensor) else data
        array = _to_array(array, dtype)
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(
                f"only floating tensors can require grad, got dtype {array.dtype}; "
                "cast with dtype=np.float64 first"
            )
        self._become_leaf(array, bool(requires_grad), None)

    def _become_leaf(self, data: np.ndarray, requires_grad: bool, grad: Tensor | None) -> None:
        self.data = data
        self._grad = grad
        self.requires_grad = requires_grad
        self._op = None
        self._inputs = ()
        self._params = {}
        self._recorded_at = 0

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        """Wrap an array produced by a kernel, skipping the constructor's checks."""
        # Every op's result passes through here: the fields are set inline, not through
        # _become_leaf, which saves a method call per op (about 5 % of W2).
        out = object.__new__(cls)
        out.data = array
        out._grad = None
        out.requires_grad = False
        out._op = None
        out._inputs = ()
        out._params = {}
        out._recorded_at = 0
        return out

    # A copy is a leaf: the graph belongs to the original computation.
    def __getstate__(self) -> dict[str, Any]:
        return {"data": self.data, "requires_grad": self.requires_grad, "grad": self._grad}

    def __setstate__(self, state: dict[str, Any]) -> None:
        data = np.array(state["data"])  # writable and owned, even if the original was a view
        self._become_leaf(data, bool(state["requires_grad"]), state["grad"])

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
        """True for a tensor not produced by a recorded operation (as in PyTorch).

        Tensors made by the user, and results computed from tensors that do
        not require grad (or under ``no_grad``), are leaves.

        Examples
        --------
        >>> x = Tensor([1.0], requires_grad=True)
        >>> x.is_leaf, (x * 2).is_leaf
        (True, False)
        """
        return self._op is None

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient: filled by ``backward`` on leaves (``None`` before).

        A non-leaf keeps no gradient unless :meth:`retain_grad` was called on
        it: reading its ``.grad`` then returns ``None`` with a ``UserWarning``,
        as in PyTorch.

        Examples
        --------
        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> (3 * x).sum().backward()
        >>> x.grad
        Tensor([3., 3.])
        """
        if self._op is not None and not hooks.retains_grad(self):
            warnings.warn(
                "reading .grad of a tensor that is not a leaf: its gradient is not kept "
                "(None is returned); call .retain_grad() on it before backward() to keep "
                "it, or read .grad of the leaf tensors",
                UserWarning,
                stacklevel=2,
            )
            return None
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        self._grad = value

    def register_hook(self, fn: Callable[[Tensor], Tensor | None]) -> hooks.RemovableHandle:
        """Call ``fn(grad)`` when the gradient with respect to this tensor is complete.

        ``fn`` returns ``None`` (keep the gradient) or a replacement gradient,
        which is what flows on to the inputs (and, for a leaf, into
        ``.grad``). Hooks run in the order they were registered, in every
        backward pass and every ``grad`` transform that reaches this tensor.

        Returns
        -------
        RemovableHandle
            ``handle.remove()`` unregisters the hook.

        Examples
        --------
        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> y = x * 3
        >>> handle = y.register_hook(lambda g: g * 10)
        >>> y.sum().backward()
        >>> x.grad
        Tensor([30., 30.])
        >>> handle.remove()
        """
        if not self.requires_grad:
            raise RuntimeError(
                "cannot register a hook on a tensor that does not require grad: no gradient "
                "will ever be computed for it"
            )
        return hooks.register(self, fn)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after ``backward`` (a no-op on a leaf).

        Examples
        --------
        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> y = x * x
        >>> y.retain_grad()
        >>> y.sum().backward()
        >>> y.grad
        Tensor([1., 1.])
        """
        if not self.requires_grad:
            raise RuntimeError("cannot retain the gradient of a tensor that does not require grad")
        if self._op is not None:
            hooks.retain(self)

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

    def _refuse_if_traced(self, what: str) -> None:
        # Under mg.jit a traced tensor stands for every value of its shape: converting
        # it to a Python value would bake one answer into the compiled function.
        if tracing.active() is not None and tracing.is_traced(self.data):
            raise tracing.refuse(what)

    def __bool__(self) -> bool:
        self._refuse_if_traced("bool()")
        return bool(self.data)

    def __float__(self) -> float:
        self._refuse_if_traced("float()")
        return float(self.data)

    def __int__(self) -> int:
        self._refuse_if_traced("int()")
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
        self._refuse_if_traced(".item()")
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
        self._refuse_if_traced(".tolist()")
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
        tracer = tracing.active()
        if tracer is not None:
            tracer.mutation()  # mg.jit's graph has no in-place ops: the function runs eagerly
        self.data[normalize_index(index)] = value.data if isinstance(value, Tensor) else value
        # Graphs that used this memory before now refuse to differentiate through it.
        inplace_log.mark_changed(self.data)


def normalize_index(index: Any) -> Any:
    """An index with tensors and lists replaced by arrays, ready for NumPy.

    Examples
    --------
    >>> normalize_index((Tensor([0.0]) < 1, [1, 0]))
    (array([ True]), array([1, 0]))
    """
    if isinstance(index, tuple):
        return tuple(normalize_index(part) for part in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


RecordWatcher = Callable[["Tensor", str, tuple["Tensor", ...], dict[str, Any]], None]

record_watchers: list[RecordWatcher] = []
"""Functions shown every primitive's result, ``watcher(out, op, inputs, params)``.

Empty unless forward mode (:mod:`minigrad.forward`) or anomaly detection
(:mod:`minigrad.anomaly`) is in use somewhere, so :func:`record` pays one
truthiness test for them. The watchers are added and removed by those modules.
"""


def record(op: str, data: np.ndarray, inputs: tuple[Tensor, ...], **params: Any) -> Tensor:
    """Wrap a primitive's result, recording how it was made if a graph is wanted.

    A node is recorded only when grad mode is on and some input requires grad;
    otherwise the result is a plain constant tensor.

    Examples
    --------
    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> y = record("neg", -x.data, (x,))
    >>> y._op, y.requires_grad
    ('neg', True)
    """
    if not isinstance(data, np.ndarray):
        # NumPy returns scalars, not 0-d arrays, from operations on 0-d arrays.
        data = np.asarray(data)
    tracer = tracing.active()
    if tracer is not None:
        data = tracer.primitive(op, data, inputs, params)
    out = Tensor._wrap(data)
    if grad_mode.is_grad_enabled():
        for t in inputs:
            if t.requires_grad:
                out.requires_grad = True
                out._op = op
                out._inputs = inputs
                out._params = params
                out._recorded_at = inplace_log.now
                break
    if record_watchers:
        for watcher in tuple(record_watchers):
            watcher(out, op, inputs, params)
    return out


def derived(op: str, data: np.ndarray, inputs: tuple[Tensor, ...], **params: Any) -> Tensor:
    """Wrap a value computed from tensors that carries no gradient (a comparison, a copy).

    Eagerly this is just a wrap; under :func:`minigrad.jit` the tracer learns
    how the value was made, so the compiled function recomputes it instead of
    keeping the traced call's answer.

    Examples
    --------
    >>> x = Tensor([1.0, -1.0], requires_grad=True)
    >>> mask = derived("compare", x.data > 0, (x, Tensor(0.0)), ufunc=np.greater)
    >>> mask.requires_grad, mask.dtype
    (False, dtype('bool'))
    """
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    tracer = tracing.active()
    if tracer is not None:
        data = tracer.primitive(op, data, inputs, params)
    return Tensor._wrap(data)


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
