"""``RegularizerSpec``: a regularizer function with its weight and name, validated."""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from gradtrack.types.datum import Datum


def _compute_method(fn: Any) -> Callable[..., Any] | None:
    """Return ``fn.compute`` when ``fn`` follows the ``compute(data, logprobs, opts)`` protocol."""
    compute = getattr(fn, "compute", None)
    return compute if callable(compute) else None


def _accepts(signature: inspect.Signature, count: int) -> bool:
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True


def _positional_args(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments to call a regularizer function with: 2, 3, or None if neither.

    A function gets ``opts`` as a third argument when it needs three arguments, or when it
    can take a third one whose parameter is called ``opts``. Callables without an
    inspectable signature (some builtins) are called with two. The answer is cached per
    function: reading a signature costs more than many a small regularizer.
    """
    try:
        return _POSITIONAL_ARGS[fn]
    except (KeyError, TypeError):  # not seen yet, or not weak-referenceable
        count = _inspect_positional_args(fn)
    with contextlib.suppress(TypeError):
        _POSITIONAL_ARGS[fn] = count
    return count


# Weak keys: the cache never keeps a regularizer (or what its closure holds) alive.
_POSITIONAL_ARGS: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()


def _inspect_positional_args(fn: Callable[..., Any]) -> int | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return 2
    takes_two, takes_three = _accepts(signature, 2), _accepts(signature, 3)
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    third_is_opts = len(positional) >= 3 and positional[2].name == "opts"
    if takes_three and (not takes_two or third_is_opts):
        return 3
    if takes_two:
        return 2
    return None


def _check_fn(fn: Any) -> None:
    compute = _compute_method(fn)
    if compute is not None:
        if not _accepts_three(compute):
            raise TypeError(
                f"RegularizerSpec fn.compute must accept (data, logprobs, opts), got {fn!r}"
            )
        return
    if not callable(fn):
        raise TypeError(
            "RegularizerSpec fn must be callable or have a compute(data, logprobs, opts) "
            f"method, got {fn!r}"
        )
    if _positional_args(fn) is None:
        raise TypeError(
            "RegularizerSpec fn must accept (data, logprobs) or (data, logprobs, opts), "
            f"got {fn!r} with signature {inspect.signature(fn)}"
        )


def _accepts_three(fn: Callable[..., Any]) -> bool:
    try:
        return _accepts(inspect.signature(fn), 3)
    except (TypeError, ValueError):
        return True


def _check_weight(weight: Any) -> None:
    # bool is an int subclass in Python; a weight of True is almost certainly a mistake.
    if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, numbers.Real):
        raise TypeError(f"RegularizerSpec weight must be a real number, got {weight!r}")
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(
            f"RegularizerSpec weight must be a finite non-negative number, got {weight!r}"
        )


def _check_name(name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"RegularizerSpec name must be a non-empty string, got {name!r}")
    if not name:
        raise ValueError(f"RegularizerSpec name must be a non-empty string, got {name!r}")


@dataclass
class RegularizerSpec:
    """A regularizer to run: its function, weight and name.

    Parameters
    ----------
    fn : callable or object with ``compute``
        Returns ``(loss, metrics)``. Three shapes are accepted: ``fn(data, logprobs)``;
        ``fn(data, logprobs, opts)`` (chosen when ``fn`` needs three arguments, or when its
        third parameter is called ``opts``); or an object with a
        ``compute(data, logprobs, opts)`` method (it need not be callable itself).
    weight : real number
        Finite and ``>= 0``; the output's contribution is ``weight * loss``.
    name : str
        Non-empty; names the regularizer in outputs, errors and telemetry.
    is_async : bool
        When true, ``fn`` returns an awaitable or a ``concurrent.futures.Future`` that the
        executor waits for.
    opts : mapping, optional
        Passed (as a fresh ``dict``; ``{}`` when ``None``) to a three-argument ``fn`` or to
        ``compute``.

    Raises
    ------
    TypeError
        ``fn`` has none of the shapes above, ``weight`` is not a real number (bool, str,
        None and complex are rejected), ``name`` is not a str, ``is_async`` is not a bool, or
        ``opts`` is neither a mapping nor None.
    ValueError
        ``weight`` is negative, NaN or infinite, or ``name`` is empty.

    Examples
    --------
    >>> spec = RegularizerSpec(lambda data, lp: (sum(lp), {}), weight=0.5, name="total")
    >>> spec.is_async, spec.invoke([], [1.0, 2.0])
    (False, (3.0, {}))
    >>> RegularizerSpec(lambda data, lp: (0.0, {}), weight=-1, name="bad")
    Traceback (most recent call last):
    ...
    ValueError: RegularizerSpec weight must be a finite non-negative number, got -1
    """

    fn: Any
    weight: float
    name: str
    is_async: bool = False
    opts: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field again (they may have been changed since construction).

        Raises the same ``TypeError``/``ValueError`` as the constructor.

        Examples
        --------
        >>> spec = RegularizerSpec(lambda data, lp: (0.0, {}), 1.0, "zero")
        >>> spec.name = ""
        >>> spec.validate()
        Traceback (most recent call last):
        ...
        ValueError: RegularizerSpec name must be a non-empty string, got ''
        """
        _check_fn(self.fn)
        _check_weight(self.weight)
        _check_name(self.name)
        if not isinstance(self.is_async, bool):
            raise TypeError(f"RegularizerSpec is_async must be a boolean, got {self.is_async!r}")
        if self.opts is not None and not isinstance(self.opts, Mapping):
            raise TypeError(f"RegularizerSpec opts must be a mapping or None, got {self.opts!r}")

    def invoke(self, data: Sequence[Datum], logprobs: Any) -> Any:
        """Call ``fn`` in the way its shape asks for and return what it returns.

        The result is not checked here (and for an async spec it is the awaitable).

        Examples
        --------
        >>> def scaled(data, lp, opts):
        ...     return opts["scale"] * sum(lp), {}
        >>> RegularizerSpec(scaled, 1.0, "scaled", opts={"scale": 2.0}).invoke([], [1, 2, 3])
        (12.0, {})
        """
        opts = {} if self.opts is None else dict(self.opts)
        compute = _compute_method(self.fn)
        if compute is not None:
            return compute(data, logprobs, opts)
        if _positional_args(self.fn) == 3:
            return self.fn(data, logprobs, opts)
        return self.fn(data, logprobs)
