"""``mg.jit``: trace a function once per signature, fuse it into Numba kernels.

>>> import minigrad as mg
>>> import numpy as np
>>> f = mg.jit(mg.value_and_grad(lambda x: (mg.exp(x) * x).sum()))
>>> value, slope = f(mg.Tensor(np.zeros(3)))
>>> float(value), slope.tolist()
(0.0, [1.0, 1.0, 1.0])

The pieces, each a short module:

* :mod:`minigrad.jit.ir` — the graph: values, equations, constants;
* :mod:`minigrad.jit.trace` — running the function once and recording it;
* :mod:`minigrad.jit.fusion` — the rule that groups nodes into kernels;
* :mod:`minigrad.jit.codegen` — one Numba loop per group, written as Python;
* :mod:`minigrad.jit.eager` — the eager implementation of every other primitive;
* :mod:`minigrad.jit.compiled` — running the plan on new arguments.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from minigrad import grad_mode, kernels, tracing
from minigrad.jit.compiled import CompiledFunction
from minigrad.jit.ir import Graph
from minigrad.jit.trace import Trace, Untraceable, trace
from minigrad.tensor import Tensor
from minigrad.tracing import TracerError

__all__ = ["Jitted", "TracerError", "jit"]

logger = logging.getLogger("minigrad")

_EAGER = object()  # a cache entry meaning: this signature runs eagerly


def jit(fun: Callable[..., Any], static_argnums: int | tuple[int, ...] = ()) -> Jitted:
    """Compile ``fun``: traced on the first call of each signature, then run fused.

    Parameters
    ----------
    fun
        A function of Tensors and arrays (positional arguments are traced;
        Python numbers, strings and other hashable values are part of the
        cache key, as are keyword arguments). It may return Tensors, arrays,
        Python values, and tuples, lists or dicts of them. Wrap
        ``mg.grad``/``mg.value_and_grad`` (or call ``.backward()`` inside) to
        compile the backward pass with the forward one.
    static_argnums
        Positions of arguments that are not traced: their values are part of
        the cache key (each new value traces again).

    Returns
    -------
    Jitted
        A callable with the same results as ``fun`` to float rounding.

    Notes
    -----
    * The cache key is the shapes and dtypes of the traced arguments plus
      the static values. Compiled kernels are cached in memory and on disk
      (Numba's cache), so a new process loads them instead of compiling.
    * Constants the function closes over: scalars are read at trace time
      (as in JAX), arrays are read at every call (an in-place update of one
      is seen).
    * ``bool()``, ``float()``, ``.item()`` … of a traced tensor raise
      :class:`TracerError`. A function the tracer cannot replay (raw NumPy
      on ``.data`` feeding a primitive, an in-place change, ``backward()``
      into the ``.grad`` of a tensor from outside, a primitive unknown to the
      jit) runs eagerly for that signature: never a wrong result, only a
      slower one. (Its first call then runs the function up to that point
      twice: once tracing, once eagerly.) The tracer recognises values
      computed from traced ones by the marked arrays NumPy's ufuncs, views
      and methods return; a copy made with ``np.array``/``np.ascontiguousarray``
      of ``.data`` drops the mark — compute with minigrad's ops instead.
    * With ``MINIGRAD_DISABLE_JIT=1`` (or without Numba) ``jit`` calls
      ``fun`` eagerly. When an argument requires grad and grad mode is on,
      the call is eager too, so that the result stays connected to the graph.

    Examples
    --------
    >>> import minigrad as mg
    >>> f = mg.jit(lambda x, y: (x * y + 1).sum())
    >>> float(f(mg.Tensor([1.0, 2.0]), mg.Tensor([3.0, 4.0])))
    13.0
    """
    if callable(fun) is False:
        raise TypeError(f"jit needs a callable, got {type(fun).__name__}")
    return Jitted(fun, static_argnums)


class Jitted:
    """A function compiled by :func:`jit` (call it like the original)."""

    def __init__(self, fun: Callable[..., Any], static_argnums: int | tuple[int, ...]) -> None:
        nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        for n in nums:
            if not isinstance(n, int):
                raise TypeError(f"static_argnums must be ints, got {n!r}")
        self.fun = fun
        self.static_argnums = frozenset(nums)
        self._cache: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        functools.update_wrapper(self, fun)

    # ---------------------------------------------------------------- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kernels.JIT_DISABLED or kernels.backend() != "numba" or tracing.active() is not None:
            # Inside another function being traced, this one is simply part of that trace.
            return self.fun(*args, **kwargs)
        key, arrays, positions = self._signature(args, kwargs)
        if key is None:
            return self.fun(*args, **kwargs)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._build(key, args, kwargs, positions)
            if entry is not _EAGER:
                return self._first_run(key, entry, arrays, args, kwargs)
        if entry is _EAGER:
            return self.fun(*args, **kwargs)
        return entry(arrays)

    def _first_run(
        self,
        key: Hashable,
        entry: CompiledFunction,
        arrays: list[np.ndarray],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Run a new plan once; if Numba cannot compile it, this signature runs eagerly."""
        try:
            return entry(arrays)
        except Exception as error:
            logger.warning("mg.jit: %s runs eagerly: compiling failed: %s", _name(self.fun), error)
            self._cache[key] = _EAGER
            return self.fun(*args, **kwargs)

    def source(self, *args: Any, **kwargs: Any) -> str:
        """The traced graph, the fusion plan and the generated kernels for these arguments.

        Examples
        --------
        >>> import minigrad as mg
        >>> text = mg.jit(lambda x: mg.exp(x).sum()).source(mg.Tensor([1.0, 2.0]))
        >>> print(text.splitlines()[0])
        graph(%0: float64[2]) {
        """
        key, _, positions = self._signature(args, kwargs, eager_if_grad=False)
        entry = self._cache.get(key)
        if not isinstance(entry, CompiledFunction):
            entry = self._plan(args, kwargs, positions)
        return entry.source()

    def graph(self, *args: Any, **kwargs: Any) -> Graph:
        """The traced graph for these arguments (see :mod:`minigrad.jit.ir`)."""
        _, _, positions = self._signature(args, kwargs, eager_if_grad=False)
        return self._plan(args, kwargs, positions).graph

    # ------------------------------------------------------------- internals
    def _signature(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], eager_if_grad: bool = True
    ) -> tuple[Hashable, list[np.ndarray], list[int]]:
        key: list[Hashable] = []
        arrays: list[np.ndarray] = []
        positions: list[int] = []
        recording = grad_mode.is_grad_enabled()
        for position, value in enumerate(args):
            if position not in self.static_argnums:
                if isinstance(value, Tensor):
                    if eager_if_grad and value.requires_grad and recording:
                        return None, [], []
                    array = value.data
                    key.append(("T", array.shape, array.dtype.str))
                    arrays.append(array)
                    positions.append(position)
                    continue
                if isinstance(value, np.ndarray | np.generic):
                    array = np.asarray(value)
                    key.append(("A", array.shape, array.dtype.str))
                    arrays.append(array)
                    positions.append(position)
                    continue
            key.append(("S", _static(value, f"argument {position}")))
        for name in sorted(kwargs):
            key.append(("K", name, _static(kwargs[name], f"keyword argument {name!r}")))
        key.append(recording)
        return tuple(key), arrays, positions

    def _plan(self, args: tuple[Any, ...], kwargs: dict[str, Any], positions: list[int]):
        recorder, result = trace(lambda *a: self.fun(*a, **kwargs), list(args), positions)
        template = _template(recorder, result)
        recorder.graph.outputs = _outputs(template)
        return CompiledFunction(recorder.graph, template)

    def _build(
        self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any], positions: list[int]
    ) -> Any:
        try:
            compiled = self._plan(args, kwargs, positions)
            compiled.compile()
        except Untraceable as reason:
            logger.info("mg.jit: %s runs eagerly: %s", _name(self.fun), reason)
            compiled = _EAGER
        with self._lock:
            return self._cache.setdefault(key, compiled)


def _name(fun: Any) -> str:
    return getattr(fun, "__qualname__", None) or type(fun).__name__


def _static(value: Any, what: str) -> Hashable:
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"mg.jit: {what} is a {type(value).__name__}, which is neither a Tensor nor an "
            "array (traced) nor hashable (a static value); pass arrays as separate arguments"
        ) from None
    return (type(value), value)


def _template(recorder: Trace, value: Any) -> Any:
    """The function's result with every array replaced by the graph value it holds."""
    if isinstance(value, Tensor):
        return ("tensor", recorder.operand(value.data, "an output"))
    if isinstance(value, np.ndarray):
        return ("array", recorder.operand(value, "an output"))
    if isinstance(value, tuple) and type(value) is tuple:
        return ("tuple", [_template(recorder, v) for v in value])
    if isinstance(value, list):
        return ("list", [_template(recorder, v) for v in value])
    if isinstance(value, dict) and type(value) is dict:
        return ("dict", {k: _template(recorder, v) for k, v in value.items()})
    if isinstance(value, np.generic) or (hasattr(value, "__dict__") and not callable(value)):
        raise Untraceable(f"the function returned a {type(value).__name__}")
    return ("static", value)


def _outputs(template: Any) -> list[Any]:
    kind, body = template
    if kind in ("tensor", "array"):
        return [body]
    if kind == "dict":
        return [o for t in body.values() for o in _outputs(t)]
    if kind in ("tuple", "list"):
        return [o for t in body for o in _outputs(t)]
    return []
