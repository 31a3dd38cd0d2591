"""Calling a term once — and, when tracking, taking its gradient from that same call.

A *term* is the base loss or a regularizer: ``fn(data, logprobs) -> (loss,
metrics)``. :func:`evaluate_term` is the one routine that evaluates a term;
the executor, the pipeline, the tracker and the checker all use it, so a term
is never re-run just to get its gradient. (The original evaluates every term
three times under tracking: for its value, its own norm and the total.)
:func:`call_regularizer` calls a spec's function in the shape it asks for and
waits for an asynchronous result.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import inspect
import logging
import numbers
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack import _validate
from gradtrack.errors import PipelineError, RegularizerError, RegularizerTimeoutError
from gradtrack.types import RegularizerSpec
from minigrad import engine

__all__ = [
    "GRAD_FAILED",
    "GRAD_OK",
    "NO_GRADIENT",
    "TermEvaluation",
    "as_logprobs_array",
    "call_regularizer",
    "check_specs",
    "check_unique_names",
    "compiled_for",
    "evaluate_base",
    "evaluate_regularizer",
    "evaluate_term",
    "gradient_or_warn",
    "warn_gradient_failed",
    "warn_no_gradient",
]

logger = logging.getLogger("gradtrack")

# A term is called as fn(data, logprobs) and returns (loss, metrics).
TermFn = Callable[[Any, mg.Tensor], Any]


class _BadResult(Exception):
    """A term returned something other than a ``(loss, metrics)`` pair with a usable loss."""


class _BadResultType(_BadResult, TypeError):
    """Not a pair, or a loss that is not a number."""


class _NonScalarLoss(_BadResult, ValueError):
    """A loss with more than one element where a scalar is required."""


@dataclass(frozen=True)
class TermEvaluation:
    """What one evaluation of a term produced.

    Attributes
    ----------
    value
        The loss as a Python float.
    metrics
        The second half of the term's ``(loss, metrics)`` pair, untouched.
    grad
        The gradient of the loss with respect to the logprobs (float64, the
        logprobs' shape), or ``None`` when not tracked or when it failed.
    grad_error
        The exception that stopped the gradient, if one did.
    connected
        Whether the loss depends on the logprobs through minigrad's graph.
        ``False`` (tracking only) means autodiff cannot see the term at all:
        it was computed with NumPy, from ``logprobs.data``, or is a constant.
        Its gradient is then unknown, not zero, and ``grad`` is ``None``.

    Examples
    --------
    >>> evaluation = TermEvaluation(value=2.0, metrics={}, grad=None)
    >>> evaluation.value, evaluation.grad_error is None, evaluation.grad_status
    (2.0, True, 'failed')
    """

    value: float
    metrics: Any
    grad: np.ndarray | None
    grad_error: BaseException | None = None
    connected: bool = True

    @property
    def grad_status(self) -> str:
        """``"ok"``, ``"no_gradient"`` (not connected) or ``"failed"`` (see the constants)."""
        if not self.connected:
            return NO_GRADIENT
        return GRAD_OK if self.grad is not None else GRAD_FAILED


GRAD_OK = "ok"
"""``grad_status`` of a term whose gradient was computed (it may be zero)."""
NO_GRADIENT = "no_gradient"
"""``grad_status`` of a term whose loss is not connected to the logprobs' graph."""
GRAD_FAILED = "failed"
"""``grad_status`` of a term whose gradient raised an error."""

_warned_lock = threading.Lock()
_warned_no_gradient: set[str] = set()


def warn_no_gradient(name: str) -> None:
    """Log, once per term name, the WARNING that a term has no gradient and why.

    A regularizer computed with NumPy (on ``logprobs.data`` or
    ``np.asarray(logprobs)``) gives a right value but no gradient: autodiff
    sees a constant. Reporting its gradient norm as ``0.0`` would look like
    a real measurement, so the term is marked ``grad_status="no_gradient"``
    with ``grad_norm=None`` and this warning (on the ``gradtrack`` logger)
    says so the first time each name is seen in the process.

    Examples
    --------
    >>> warn_no_gradient("doc-example")
    """
    with _warned_lock:
        if name in _warned_no_gradient:
            return
        _warned_no_gradient.add(name)
    logger.warning(
        "%s has no gradient with respect to the logprobs: its loss is not connected to "
        "them in minigrad's graph (computed with NumPy, from logprobs.data, or a constant). "
        "It is reported with grad_norm=None and grad_status='no_gradient', and adds "
        "nothing to the total gradient; build it from minigrad operations on the Tensor "
        "it receives.",
        "the base loss" if name == "base" else f"regularizer {name!r}",
    )


def as_logprobs_array(logprobs: Any) -> np.ndarray:
    """The logprobs as a floating ``np.ndarray``.

    A floating array or Tensor keeps its dtype (float32 stays float32, as in
    minigrad); Python numbers, lists and integer arrays become float64.

    Examples
    --------
    >>> as_logprobs_array([1, 2, 3])
    array([1., 2., 3.])
    >>> as_logprobs_array(np.zeros(2, dtype=np.float32)).dtype
    dtype('float32')
    """
    return _validate.as_logprobs_array(logprobs)


# --------------------------------------------------------------- calling terms


def call_regularizer(
    spec: RegularizerSpec, data: Any, logprobs: mg.Tensor, *, timeout: float | None = None
) -> Any:
    """Call ``spec.fn`` however it is shaped and wait for it if it is asynchronous.

    The call follows :meth:`RegularizerSpec.invoke <gradtrack.types.RegularizerSpec.invoke>`:
    ``fn(data, logprobs)``, ``fn(data, logprobs, opts)``, or
    ``fn.compute(data, logprobs, opts)``. A coroutine, any other awaitable, or
    a ``concurrent.futures.Future`` it returns is awaited, for at most
    ``timeout`` seconds (``None``: no limit) — whether or not the spec says
    ``is_async``, since a pending result is never a usable loss.

    Raises
    ------
    RegularizerTimeoutError
        The awaited result did not arrive within ``timeout``.

    Examples
    --------
    >>> from gradtrack.types import RegularizerSpec
    >>> def scaled(data, lp, opts):
    ...     return lp.sum() * opts["scale"], {}
    >>> spec = RegularizerSpec(scaled, weight=1.0, name="scaled", opts={"scale": 2.0})
    >>> loss, metrics = call_regularizer(spec, None, mg.Tensor([1.0, 2.0]))
    >>> loss.item()
    6.0
    """
    # The spec knows its own calling convention (RegularizerSpec.invoke); only the
    # waiting for an asynchronous result is added here.
    return _resolve(spec.invoke(data, logprobs), spec.name, timeout)


def _resolve(result: Any, name: str, timeout: float | None) -> Any:
    # The OS refuses waits beyond TIMEOUT_MAX (OverflowError); none of ours outlives it.
    wait = None if timeout is None else min(timeout, threading.TIMEOUT_MAX)
    if isinstance(result, concurrent.futures.Future):
        try:
            return result.result(timeout=wait)
        except concurrent.futures.TimeoutError:
            if result.done():  # the future's own TimeoutError, not ours
                raise
            raise RegularizerTimeoutError(name, timeout or 0.0) from None
    if inspect.isawaitable(result):
        return _run_coroutine(_await_within(result, name, wait))
    return result


async def _await_within(awaitable: Any, name: str, timeout: float | None) -> Any:
    # asyncio.wait (unlike wait_for) tells our timeout apart from a TimeoutError
    # raised by the regularizer itself.
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        raise RegularizerTimeoutError(name, timeout or 0.0)
    return task.result()


def _run_coroutine(coroutine: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # An event loop already runs in this thread (a notebook, say), where
    # asyncio.run refuses to start: run the coroutine on a loop of its own.
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed back to the caller below
            box["error"] = exc

    thread = threading.Thread(target=run, name="gradtrack-await", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


# ------------------------------------------------------------ evaluating terms


def check_specs(regularizers: Iterable[Any]) -> list[RegularizerSpec]:
    """The regularizers as a list, or ``TypeError`` naming the first item that is not a spec.

    Examples
    --------
    >>> check_specs([lambda data, lp: (0.0, {})])
    Traceback (most recent call last):
    ...
    TypeError: regularizers[0] must be a RegularizerSpec, got function
    """
    if isinstance(regularizers, RegularizerSpec):
        raise TypeError("regularizers must be an iterable of RegularizerSpec, got a single spec")
    try:
        specs = list(regularizers)
    except TypeError:
        raise TypeError(
            "regularizers must be an iterable of RegularizerSpec, "
            f"got {type(regularizers).__name__}"
        ) from None
    for index, spec in enumerate(specs):
        if not isinstance(spec, RegularizerSpec):
            raise TypeError(
                f"regularizers[{index}] must be a RegularizerSpec, got {type(spec).__name__}"
            )
    return specs


def check_unique_names(specs: Iterable[RegularizerSpec]) -> None:
    """``ValueError`` if two specs share a name; the one duplicate check of every entry point.

    Each extra occurrence is listed, as the original does: three specs named
    ``"a"`` give ``['a', 'a']``.

    Examples
    --------
    >>> spec = RegularizerSpec(lambda data, lp: (0.0, {}), weight=1.0, name="a")
    >>> check_unique_names([spec, spec, spec])
    Traceback (most recent call last):
    ...
    ValueError: Duplicate regularizer names: ['a', 'a']
    """
    seen: set[str] = set()
    extras = []
    for spec in specs:
        if spec.name in seen:
            extras.append(spec.name)
        seen.add(spec.name)
    if extras:
        raise ValueError(f"Duplicate regularizer names: {extras}")


# --------------------------------------------------------- compiled terms (jit=True)

_COMPILED_LIMIT = 64
_compiled: collections.OrderedDict[tuple[Any, ...], tuple[Any, Any, Any]] = (
    collections.OrderedDict()
)
_compiled_lock = threading.Lock()
_misses: dict[tuple[int, Any], int] = {}
_MISSES_BEFORE_EAGER = 3


def compiled_for(
    key: Any, data: Any, build: Callable[[], Callable[..., Any]], variant: Any = None
) -> Any:
    """The ``mg.jit`` of ``build()`` for a term ``key`` and this ``data`` object.

    A term closes over ``data`` (and whatever it reads from it), so a
    compilation is only reused for the same ``data``: the same object, or a
    list or tuple of the same items. The entry holds them, so no id can be
    reused while it lives. The most recent
    64 are kept. Within one entry, ``mg.jit`` compiles once per logprobs
    shape and dtype. ``variant`` (hashable) tells apart compilations of one term.
    Returns None (run eagerly) once a term has met new data more than three
    times in a row: tracing at every call would cost more than it saves.

    Examples
    --------
    >>> data = {"scale": 2.0}
    >>> f = compiled_for("doc", data, lambda: lambda lp: lp * data["scale"])
    >>> f is compiled_for("doc", data, lambda: lambda lp: lp)
    True
    """
    held = _held(data)
    ident = (id(key), tuple(id(part) for part in held), variant)
    term = (id(key), variant)
    with _compiled_lock:
        entry = _compiled.get(ident)
        if entry is not None and entry[0] is key and _same_parts(entry[1], held):
            _compiled.move_to_end(ident)
            _misses.pop(term, None)
            return entry[2]
        # New data at every call (a training loop over fresh batches) would trace the
        # term every time, which costs more than evaluating it: after a few such
        # misses in a row the term runs eagerly.
        _misses[term] = _misses.get(term, 0) + 1
        if _misses[term] > _MISSES_BEFORE_EAGER:
            return None
        compiled = mg.jit(build())
        _compiled[ident] = (key, held, compiled)
        while len(_compiled) > _COMPILED_LIMIT:
            _compiled.popitem(last=False)
        return compiled


def _held(data: Any) -> tuple[Any, ...]:
    """What identifies ``data`` for the cache: a list or tuple by its items (so a new
    list of the same items, or a fresh empty one, is the same data), anything else
    by itself."""
    if type(data) in (list, tuple):
        return ("sequence", *data)
    return ("object", data)


def _same_parts(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _compiled_evaluation(
    fn: TermFn, key: Any, data: Any, array: np.ndarray, track: bool, sum_nonscalar: bool
) -> TermEvaluation | None:
    """The evaluation through ``mg.jit``, or None when the term cannot be compiled."""

    def run(lp: np.ndarray) -> Any:
        if not track:
            return _scalar_loss(fn(data, mg.Tensor(lp)), sum_nonscalar)
        leaf = mg.Tensor(lp, requires_grad=True)
        with mg.enable_grad():
            loss, metrics = _scalar_loss(fn(data, leaf), sum_nonscalar)
        (grad,) = engine.gradients(loss, [leaf])
        return loss, metrics, grad.data

    compiled = compiled_for(key, data, lambda: run, (track, sum_nonscalar))
    if compiled is None or getattr(compiled, "eager_only", False):
        return None
    try:
        result = compiled(array)
    except mg.TracerError as exc:
        # The term reads a traced value (e.g. .item() in its metrics): it runs eagerly.
        logger.info("jit: term %r runs eagerly: %s", key, exc)
        compiled.eager_only = True
        return None
    except Exception:
        # The eager route reproduces the error (or reports the gradient failure).
        compiled.eager_only = True
        return None
    if track:
        loss, metrics, grad = result
        return TermEvaluation(float(loss.data), metrics, grad)
    loss, metrics = result
    return TermEvaluation(float(loss.data), metrics, None)


def evaluate_term(
    fn: TermFn,
    data: Any,
    logprobs: Any,
    *,
    track: bool,
    sum_nonscalar: bool = False,
    jit: bool = False,
    jit_key: Any = None,
) -> TermEvaluation:
    """Evaluate ``fn(data, logprobs)`` once and, if ``track``, take its gradient once.

    ``fn`` receives the logprobs as a fresh minigrad Tensor (requiring grad
    when tracking) and must return ``(loss, metrics)`` with a numeric loss: a
    one-element Tensor, or a Python or NumPy number. A loss with several
    elements is an error unless ``sum_nonscalar`` is set, in which case it is
    summed. The gradient comes from the same evaluation as the value, and
    touches no ``.grad`` of any tensor the term closes over. A loss that is
    not connected to the logprobs in minigrad's graph (a constant, or
    computed with NumPy) has no gradient: ``connected=False``, ``grad=None``.

    With ``jit`` the value and the gradient are compiled together by
    :func:`minigrad.jit`, once per logprobs shape and dtype for this term
    (``jit_key``, default ``fn``) and this ``data`` object; a term that
    cannot be traced (Python control flow on the logprobs' values, say)
    runs eagerly, with the same results.

    Errors raised by ``fn`` propagate unchanged; a result of the wrong kind
    raises ``TypeError`` (not a pair, not numeric) or ``ValueError`` (not a
    scalar). A failure of the gradient itself is not raised: it is reported
    in ``grad_error`` with ``grad=None``, so the value is not lost.

    Examples
    --------
    >>> def square(data, lp):
    ...     return (lp * lp).sum(), {"n": lp.size}
    >>> evaluation = evaluate_term(square, None, [1.0, 2.0], track=True)
    >>> evaluation.value, evaluation.metrics, evaluation.grad
    (5.0, {'n': 2}, array([2., 4.]))
    """
    array = _read_only(as_logprobs_array(logprobs))
    if jit:
        key = fn if jit_key is None else jit_key
        evaluation = _compiled_evaluation(fn, key, data, array, track, sum_nonscalar)
        if evaluation is not None:
            return evaluation
    if not track:
        loss, metrics = _scalar_loss(fn(data, mg.Tensor(array)), sum_nonscalar)
        return TermEvaluation(float(loss.item()), metrics, None)
    # The engine directly, not mg.value_and_grad: the same backward pass without the
    # transform's per-call set-up, which costs as much as a small term. Gradients go
    # to the leaf only; no tensor the term closes over gets a .grad.
    leaf = mg.Tensor(array, requires_grad=True)
    with mg.enable_grad():
        loss, metrics = _scalar_loss(fn(data, leaf), sum_nonscalar)
    value = float(loss.item())
    if not _depends_on(loss, leaf):
        # Autodiff would say "zero"; the truth is "unknown": say that instead.
        return TermEvaluation(value, metrics, None, connected=False)
    try:
        (grad,) = engine.gradients(loss, [leaf])
    except Exception as exc:  # the value is known; only the gradient failed
        return TermEvaluation(value, metrics, None, exc)
    # Kept in the logprobs' dtype: norms and sums accumulate in float64 without copies.
    return TermEvaluation(value, metrics, grad.data)


def _depends_on(loss: mg.Tensor, leaf: mg.Tensor) -> bool:
    """Whether ``loss`` was computed from ``leaf`` through recorded operations."""
    if not loss.requires_grad:
        return False
    seen: set[int] = set()
    stack = [loss]
    while stack:
        node = stack.pop()
        if node is leaf:
            return True
        if id(node) in seen or not node.requires_grad:
            continue
        seen.add(id(node))
        stack.extend(node._inputs)
    return False


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view: every term shares the logprobs, and none can change them in place."""
    view = array.view()
    view.flags.writeable = False
    return view


def _scalar_loss(result: Any, sum_nonscalar: bool) -> tuple[mg.Tensor, Any]:
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise _BadResultType(f"returned {_describe(result)}; expected a (loss, metrics) pair")
    loss, metrics = result
    tensor = _loss_tensor(loss)
    if tensor.size != 1:
        if not sum_nonscalar:
            raise _NonScalarLoss(
                f"returned a loss of shape {tensor.shape}; expected a scalar (reduce it, "
                "e.g. with .sum() or .mean())"
            )
        tensor = tensor.sum()
    return tensor.reshape(()), metrics


def _loss_tensor(loss: Any) -> mg.Tensor:
    if isinstance(loss, mg.Tensor):
        tensor = loss
    elif isinstance(loss, bool | np.bool_):
        tensor = None  # True/False is a bug, not a loss
    elif isinstance(loss, np.ndarray | np.generic):
        tensor = mg.Tensor(loss) if loss.dtype.kind in "fiu" else None
    elif isinstance(loss, numbers.Real):
        tensor = mg.Tensor(float(loss))
    else:
        tensor = None
    if tensor is None or tensor.dtype.kind not in "fiu":
        raise _BadResultType(
            f"returned {_describe(loss)} as its loss; expected a number or a scalar Tensor"
        )
    return tensor


_describe = _validate.describe


def evaluate_regularizer(
    spec: RegularizerSpec,
    data: Any,
    logprobs: Any,
    *,
    track: bool,
    timeout: float | None = None,
    sum_nonscalar: bool = False,
    jit: bool = False,
) -> TermEvaluation:
    """:func:`evaluate_term` for a regularizer, with its failures named.

    Raises
    ------
    RegularizerError
        ``spec.fn`` raised (the original exception is ``__cause__``) or
        returned something other than ``(loss, metrics)`` with a scalar
        numeric loss (the message says what it returned).
    RegularizerTimeoutError
        An asynchronous result did not arrive within ``timeout`` seconds.

    Notes
    -----
    When tracking, a loss not connected to the logprobs (see
    :func:`evaluate_term`) logs :func:`warn_no_gradient` for ``spec.name``.

    Examples
    --------
    >>> from gradtrack.types import RegularizerSpec
    >>> spec = RegularizerSpec(lambda data, lp: ("oops", {}), weight=1.0, name="bad")
    >>> evaluate_regularizer(spec, None, [1.0], track=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gradtrack.errors.RegularizerError: regularizer 'bad' failed: returned 'oops' (str) ...
    """

    def term(data: Any, leaf: mg.Tensor) -> Any:
        return call_regularizer(spec, data, leaf, timeout=timeout)

    try:
        evaluation = evaluate_term(
            term,
            data,
            logprobs,
            track=track,
            sum_nonscalar=sum_nonscalar,
            jit=jit,
            jit_key=spec,
        )
    except RegularizerError:
        raise
    except _BadResult as exc:
        raise RegularizerError(spec.name, str(exc)) from None
    except Exception as exc:
        raise RegularizerError(spec.name, f"raised {type(exc).__name__}: {exc}") from exc
    if not evaluation.connected:
        warn_no_gradient(spec.name)
    return evaluation


def evaluate_base(
    base_loss_fn: TermFn, data: Any, logprobs: Any, *, track: bool, jit: bool = False
) -> TermEvaluation:
    """:func:`evaluate_term` for the base loss, its failures reported as ``PipelineError``.

    Raises
    ------
    PipelineError
        ``base_loss_fn`` raised (the original is ``__cause__``) or returned
        something other than ``(loss, metrics)`` with a scalar numeric loss.

    Examples
    --------
    >>> evaluate_base(lambda data, lp: (-lp.mean(), {}), None, [-1.0, -3.0], track=False).value
    2.0
    """
    try:
        evaluation = evaluate_term(base_loss_fn, data, logprobs, track=track, jit=jit)
    except _BadResult as exc:
        raise PipelineError(f"base loss {exc}") from None
    except Exception as exc:
        raise PipelineError(f"base loss raised {type(exc).__name__}: {exc}") from exc
    if not evaluation.connected:
        warn_no_gradient("base")
    return evaluation


# ------------------------------------------------------- failed gradients


def gradient_or_warn(evaluation: TermEvaluation, name: str) -> np.ndarray | None:
    """The evaluation's gradient, or ``None`` after a WARNING naming the term.

    Examples
    --------
    >>> gradient_or_warn(TermEvaluation(1.0, {}, np.ones(2)), "l1")
    array([1., 1.])
    """
    if evaluation.grad is None:
        warn_gradient_failed(name, evaluation.grad_error)
    return evaluation.grad


def warn_gradient_failed(name: str, reason: object) -> None:
    """Log the WARNING (on the ``gradtrack`` logger) that a term's gradient could not be computed.

    Examples
    --------
    >>> warn_gradient_failed("l1", ValueError("boom"))
    """
    logger.warning("Gradient computation failed for %r: %s", name, reason)
