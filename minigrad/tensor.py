"""The ``Tensor``: an ``np.ndarray`` that remembers how it was computed.

A Tensor holds its value in ``.data``. When an operation on tensors that
require grad produces it, it also holds the recipe: the name of the primitive
(``_op``), its inputs (``_inputs``) and its non-tensor parameters
(``_params``). :func:`record` writes that recipe; the recipes, linked
together, are the graph that :mod:`minigrad.engine` walks backwards.

This module is the bottom of the engine: it imports nothing else of
minigrad's but the recording switch. The arithmetic lives in
:mod:`minigrad.ops`, and :mod:`minigrad.methods` binds Python's operators
(``x + y``, ``x @ w``, ``x[i]``) and the methods (``x.sum()``) to it, so
``x * y`` and ``mg.mul(x, y)`` are the same thing.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from minigrad import grad_mode, tracing

__all__ = [
    "Tensor",
    "as_tensor",
    "derived",
    "inplace_log",
    "memory_owner",
    "record",
    "tensor",
]


def memory_owner(array: np.ndarray) -> np.ndarray:
    """The array that owns ``array``'s memory (``array`` itself when it is not a view).

    Examples
    --------
    >>> a = np.zeros(4)
    >>> memory_owner(a[1:].reshape(3, 1)) is a
    True
    """
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


class InplaceLog:
    """When each block of memory was last changed in place, on one global clock.

    The clock ticks at every in-place change (``t[i] = v``). A recorded node
    notes the clock when it is made; if the memory of one of its inputs was
    changed later, the backward pass would read the new values where the
    old ones were used, so it refuses (see ``engine``). Changes are logged
    against the array that owns the memory, so a change made through any
    view of a tensor (``t.reshape(...)[0] = v``, ``t.T[1] = v``, a
    ``detach()``-ed alias) counts as a change of the tensor itself.
    """

    def __init__(self) -> None:
        self.now = 0
        self._lock = threading.Lock()
        # id(owner) -> (weak reference to the owner, clock at its latest change)
        self._changed: dict[int, tuple[weakref.ref[np.ndarray], int]] = {}

    def mark_changed(self, array: np.ndarray) -> None:
        """Log an in-place change to ``array``'s memory."""
        owner = memory_owner(array)
        key = id(owner)
        with self._lock:
            self.now += 1
            # The entry goes away with the array, so a later array at the same id
            # does not inherit it.
            forget = weakref.ref(owner, lambda _, key=key: self._changed.pop(key, None))
            self._changed[key] = (forget, self.now)

    def changed_at(self, array: np.ndarray) -> int:
        """The clock at the latest in-place change to ``array``'s memory (0: never)."""
        owner = memory_owner(array)
        entry = self._changed.get(id(owner))
        if entry is None or entry[0]() is not owner:
            return 0
        return entry[1]


inplace_log = InplaceLog()


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
        "_inputs",
        "_op",
        "_params",
        "_recorded_at",
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
        self.grad = grad
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
        out.grad = None
        out.requires_grad = False
        out._op = None
        out._inputs = ()
        out._params = {}
        out._recorded_at = 0
        return out

    # A copy is a leaf: the graph belongs to the original computation.
    def __getstate__(self) -> dict[str, Any]:
        return {"data": self.data, "requires_grad": self.requires_grad, "grad": self.grad}

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
