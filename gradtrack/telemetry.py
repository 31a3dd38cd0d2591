"""Observe gradtrack runs: attach handlers to the events the pipeline and executor emit.

This module lets you watch a run without changing it: attach a function with
:func:`attach`, or turn on ready-made log lines with :func:`attach_logger`. A handler is
called as ``handler(event, measurements, metadata, config)`` in the thread that emitted the
event; it must not mutate the dicts it receives. A handler that raises an ``Exception`` is
detached (and a ``WARNING`` naming it is logged); a run never fails because of telemetry.
``KeyboardInterrupt`` and ``SystemExit`` are not errors of the handler but requests to stop:
they reach the caller of the run unchanged, in sequential mode too (where events are emitted
by a worker thread), the handler stays attached, and the next run works.

Events are tuples of strings (all six are in ``EVENTS``). Durations are in **seconds**
(floats from ``time.perf_counter``); ``system_time`` is wall-clock ``time.time()``.

Measurements and metadata of each event:

``("gradtrack", "pipeline", "start")``
    measurements ``system_time``; metadata ``regularizer_count``, ``track_grad_norms``.
``("gradtrack", "pipeline", "stop")``
    measurements ``duration``, ``loss_total``, ``regularizer_total``,
    ``total_grad_norm`` (``None`` when gradient norms are not tracked); metadata
    ``regularizer_count``.
``("gradtrack", "pipeline", "exception")``
    measurements ``duration``; metadata ``reason`` (the exception).
``("gradtrack", "regularizer", "start")``
    measurements ``system_time``; metadata ``regularizer_name``, ``weight``, ``is_async``.
``("gradtrack", "regularizer", "stop")``
    measurements ``duration``, ``value``, ``contribution``, ``grad_norm`` (``None`` when
    gradient norms are not tracked); metadata ``regularizer_name``, ``weight``, ``is_async``.
``("gradtrack", "regularizer", "exception")``
    measurements ``duration``; metadata ``regularizer_name``, ``weight``, ``reason`` (the
    exception).

Examples
--------
>>> seen = []
>>> attach("doc-demo", [PIPELINE_STOP], lambda event, m, md, config: seen.append(m["loss_total"]))
>>> emit(PIPELINE_STOP, {"duration": 0.01, "loss_total": 2.5, "regularizer_total": 0.5},
...      {"regularizer_count": 1})
>>> seen
[2.5]
>>> detach("doc-demo")
True
"""

from __future__ import annotations

import itertools
import logging
import numbers
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EVENTS",
    "PIPELINE_EXCEPTION",
    "PIPELINE_START",
    "PIPELINE_STOP",
    "REGULARIZER_EXCEPTION",
    "REGULARIZER_START",
    "REGULARIZER_STOP",
    "Event",
    "Handler",
    "attach",
    "attach_logger",
    "detach",
    "emit",
]

Event = tuple[str, str, str]
Handler = Callable[[Event, Mapping[str, Any], Mapping[str, Any], Any], object]

PIPELINE_START: Event = ("gradtrack", "pipeline", "start")
PIPELINE_STOP: Event = ("gradtrack", "pipeline", "stop")
PIPELINE_EXCEPTION: Event = ("gradtrack", "pipeline", "exception")
REGULARIZER_START: Event = ("gradtrack", "regularizer", "start")
REGULARIZER_STOP: Event = ("gradtrack", "regularizer", "stop")
REGULARIZER_EXCEPTION: Event = ("gradtrack", "regularizer", "exception")

EVENTS: tuple[Event, ...] = (
    PIPELINE_START,
    PIPELINE_STOP,
    PIPELINE_EXCEPTION,
    REGULARIZER_START,
    REGULARIZER_STOP,
    REGULARIZER_EXCEPTION,
)

_logger = logging.getLogger("gradtrack.telemetry")


@dataclass(frozen=True)
class _Attachment:
    handler_id: str
    events: frozenset[Event]
    handler: Handler
    config: Any


# The registry is only changed under _lock. After every change the routing table is rebuilt
# and rebound in one assignment, so emit() can read it without taking the lock: it sees
# either the old table or the new one, never a half-built one.
_lock = threading.Lock()
_attachments: dict[str, _Attachment] = {}
_routes: dict[Event, tuple[_Attachment, ...]] = {}
_logger_ids = itertools.count(1)


def _rebuild_routes() -> None:
    """Recompute the event → handlers table; the caller holds ``_lock``."""
    global _routes
    routes: dict[Event, list[_Attachment]] = {}
    for attachment in _attachments.values():
        for event in attachment.events:
            routes.setdefault(event, []).append(attachment)
    _routes = {event: tuple(handlers) for event, handlers in routes.items()}


def _as_events(events: Event | Iterable[Event]) -> frozenset[Event]:
    """Normalise one event or an iterable of events, rejecting names not in ``EVENTS``."""
    if isinstance(events, tuple) and events and all(isinstance(part, str) for part in events):
        events = [events]  # a single event tuple rather than a collection of them
    result = set()
    for event in events:
        key = tuple(event) if isinstance(event, (list, tuple)) else event
        if key not in EVENTS:
            raise ValueError(f"unknown telemetry event {event!r}; known events: {list(EVENTS)}")
        result.add(key)
    if not result:
        raise ValueError("attach needs at least one event")
    return frozenset(result)


def attach(
    handler_id: str,
    events: Event | Iterable[Event],
    handler: Handler,
    config: Any = None,
) -> None:
    """Call ``handler(event, measurements, metadata, config)`` whenever one of ``events`` fires.

    Parameters
    ----------
    handler_id : str
        A unique id, used to :func:`detach` the handler later.
    events : event tuple or iterable of event tuples
        Each must be one of ``EVENTS``.
    handler : callable
        Called in the emitting thread; handlers attached to the same event run in the
        order they were attached.
    config : any, optional
        Passed to every call unchanged.

    Raises
    ------
    ValueError
        ``handler_id`` is already attached, or an event is not in ``EVENTS`` (the message
        names it).
    TypeError
        ``handler_id`` is not a str or ``handler`` is not callable.

    Examples
    --------
    >>> attach("doc-attach", REGULARIZER_STOP, lambda *args: None)
    >>> attach("doc-attach", REGULARIZER_STOP, lambda *args: None)
    Traceback (most recent call last):
    ...
    ValueError: telemetry handler id 'doc-attach' is already attached
    >>> detach("doc-attach")
    True
    """
    if not isinstance(handler_id, str):
        raise TypeError(f"handler_id must be a str, got {handler_id!r}")
    if not callable(handler):
        raise TypeError(f"handler must be callable, got {handler!r}")
    attachment = _Attachment(handler_id, _as_events(events), handler, config)
    with _lock:
        if handler_id in _attachments:
            raise ValueError(f"telemetry handler id {handler_id!r} is already attached")
        _attachments[handler_id] = attachment
        _rebuild_routes()


def detach(handler_id: str) -> bool:
    """Remove the handler attached as ``handler_id``; return ``False`` if there is none.

    Examples
    --------
    >>> detach("never-attached")
    False
    """
    with _lock:
        if _attachments.pop(handler_id, None) is None:
            return False
        _rebuild_routes()
        return True


def _detach_failed(attachment: _Attachment) -> None:
    """Detach ``attachment``, unless its id has since been re-attached to something else."""
    with _lock:
        if _attachments.get(attachment.handler_id) is attachment:
            del _attachments[attachment.handler_id]
            _rebuild_routes()


def emit(event: Event, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
    """Send an event to every handler attached to it. Never raises.

    This is the entry point the pipeline and the executor call. With no handler attached
    it returns after one dictionary check.

    Examples
    --------
    >>> emit(PIPELINE_START, {"system_time": 0.0}, {"regularizer_count": 0,
    ...                                            "track_grad_norms": False})
    """
    routes = _routes
    if not routes:
        return
    for attachment in routes.get(event, ()):
        try:
            attachment.handler(event, measurements, metadata, attachment.config)
        except Exception:
            _detach_failed(attachment)
            _logger.warning(
                "telemetry handler %r raised on event %s and was detached",
                attachment.handler_id,
                ".".join(event),
                exc_info=True,
            )


# ---------------------------------------------------------------------------
# The logging handler
# ---------------------------------------------------------------------------


def _number(value: Any) -> str:
    """Format a measurement: reals rounded to 4 decimal places, everything else as is."""
    if value is None or isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return str(round(float(value), 4))
    item = getattr(value, "item", None)  # a 0-d array or tensor
    if callable(item):
        try:
            return _number(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _ms(seconds: Any) -> str:
    try:
        return _number(float(seconds) * 1000.0) + " ms"
    except (TypeError, ValueError):
        return "? ms"


def _regularizer_line(stage: str, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    name = meta.get("regularizer_name", "?")
    weight = _number(meta.get("weight"))
    if stage == "start":
        suffix = " (async)" if meta.get("is_async") else ""
        return f"regularizer {name} started (weight={weight}){suffix}"
    duration = _ms(measurements.get("duration"))
    if stage == "stop":
        line = (
            f"regularizer {name} finished in {duration}: value={_number(measurements.get('value'))}"
            f", contribution={_number(measurements.get('contribution'))}"
        )
        # 0.0 is a real gradient norm; only a missing one (None) is left out.
        if measurements.get("grad_norm") is not None:
            line += f", grad_norm={_number(measurements['grad_norm'])}"
        return line
    return f"regularizer {name} failed after {duration}: {meta.get('reason')!r}"


def _pipeline_line(stage: str, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    count = meta.get("regularizer_count", "?")
    if stage == "start":
        tracking = meta.get("track_grad_norms")
        return f"pipeline started: {count} regularizers, track_grad_norms={tracking}"
    duration = _ms(measurements.get("duration"))
    if stage == "stop":
        norm = measurements.get("total_grad_norm")
        tracked = "" if norm is None else f", total_grad_norm={_number(norm)}"
        return (
            f"pipeline finished in {duration}: loss_total={_number(measurements.get('loss_total'))}"
            f", regularizer_total={_number(measurements.get('regularizer_total'))}{tracked}"
            f" ({count} regularizers)"
        )
    return f"pipeline failed after {duration}: {meta.get('reason')!r}"


def _format_event(event: Event, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    if event[:2] == ("gradtrack", "regularizer"):
        return _regularizer_line(event[2], measurements, meta)
    if event[:2] == ("gradtrack", "pipeline"):
        return _pipeline_line(event[2], measurements, meta)
    return f"event {'.'.join(event)}: measurements={dict(measurements)} metadata={dict(meta)}"


def _log_event(
    event: Event, measurements: Mapping[str, Any], metadata: Mapping[str, Any], level: int
) -> None:
    if _logger.isEnabledFor(level):
        _logger.log(level, "%s", _format_event(event, measurements, metadata))


def _check_level(level: Any) -> int:
    """``level`` as a logging level number, accepting what ``Logger.setLevel`` accepts."""
    if isinstance(level, numbers.Integral) and not isinstance(level, bool):
        return int(level)
    if isinstance(level, str):
        # getLevelName maps a registered name to its number (and anything else to a str).
        number = logging.getLevelName(level)
        if isinstance(number, int):
            return number
        raise ValueError(
            f"level {level!r} is not a logging level name; use one of "
            "'CRITICAL', 'ERROR', 'WARNING', 'INFO', 'DEBUG' or a number such as logging.INFO"
        )
    raise TypeError(f"level must be an int or a logging level name, got {level!r}")


def attach_logger(level: int | str = logging.INFO, handler_id: str | None = None) -> str:
    """Log one line per event on the ``gradtrack.telemetry`` logger; return the handler id.

    Durations are shown in milliseconds, floats rounded to 4 decimal places, ``grad_norm``
    only when it was computed, and async regularizer starts are marked ``(async)``.
    The default id is ``"gradtrack-logger-<n>"``.

    Parameters
    ----------
    level : int or str
        What ``logging`` accepts: a number (``logging.INFO``) or a registered level
        name (``"INFO"``). Anything else is refused here, not at the first event.
    handler_id : str, optional

    Raises
    ------
    TypeError, ValueError
        ``level`` is neither an int nor a registered level name.

    Examples
    --------
    >>> handler_id = attach_logger("DEBUG")
    >>> handler_id.startswith("gradtrack-logger-")
    True
    >>> detach(handler_id)
    True
    >>> attach_logger("LOUD")
    Traceback (most recent call last):
    ...
    ValueError: level 'LOUD' is not a logging level name; use one of 'CRITICAL', 'ERROR', 'WARNING', 'INFO', 'DEBUG' or a number such as logging.INFO
    """  # noqa: E501
    level = _check_level(level)
    if handler_id is None:
        with _lock:
            # Skip numbers a caller has already used as explicit ids.
            handler_id = f"gradtrack-logger-{next(_logger_ids)}"
            while handler_id in _attachments:
                handler_id = f"gradtrack-logger-{next(_logger_ids)}"
    attach(handler_id, EVENTS, _log_event, level)
    return handler_id
