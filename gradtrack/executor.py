"""Run regularizers, one or many, in parallel or in order, each within its timeout.

This module lets you evaluate :class:`~gradtrack.types.RegularizerSpec` s on a
batch: :func:`execute_one` for one, :func:`execute_all` for a list (results
in spec order, whatever order they finish in). With ``track_grad_norms`` each
regularizer is evaluated once and its gradient with respect to the logprobs
taken from that same evaluation.

Every regularizer runs in a daemon thread of its own and gets ``timeout``
seconds, in both modes, synchronous or asynchronous. A regularizer that
overruns is abandoned, not joined: the caller gets a
:class:`~gradtrack.errors.RegularizerTimeoutError` on time even if the thread
never returns, and the thread's concurrency slot goes to the next
regularizer. (A ``ThreadPoolExecutor`` cannot do this: it joins its threads
at interpreter exit, so one hung regularizer would hang the program.)
Abandoned threads keep running until they return; being daemons, they never
hold up exit. minigrad records graphs per thread, so threads do not disturb
each other.
"""

from __future__ import annotations

import contextlib
import inspect
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradtrack import telemetry
from gradtrack._validate import (
    check_flag,
    check_logprobs,
    check_max_concurrency,
    check_timeout,
)
from gradtrack.errors import RegularizerError, RegularizerTimeoutError
from gradtrack.terms import (
    GRAD_FAILED,
    GRAD_OK,
    check_specs,
    evaluate_regularizer,
    gradient_or_warn,
)
from gradtrack.types import RegularizerOutput, RegularizerSpec
from gradtrack.vectors import vector_norm

__all__ = [
    "RegularizerResult",
    "check_max_concurrency",
    "check_timeout",
    "execute_all",
    "execute_one",
    "run_regularizers",
]


@dataclass(frozen=True)
class RegularizerResult:
    """A regularizer's output together with its gradient, for the pipeline.

    ``grad`` is the unweighted gradient with respect to the logprobs (in the
    logprobs' dtype), ``None`` when gradients were not tracked or could not be
    computed; ``grad_error`` is then the exception that stopped it, if any.

    Examples
    --------
    >>> out = RegularizerOutput.from_computation("l1", 6.0, 0.1, {})
    >>> RegularizerResult(out, None).output.contribution
    0.6000000000000001
    """

    output: RegularizerOutput
    grad: np.ndarray | None
    grad_error: BaseException | None = None


def _is_async(spec: RegularizerSpec) -> bool:
    target = getattr(spec.fn, "compute", spec.fn)
    return spec.is_async or inspect.iscoroutinefunction(target)


def _metadata(spec: RegularizerSpec) -> dict[str, Any]:
    return {"regularizer_name": spec.name, "weight": spec.weight, "is_async": _is_async(spec)}


def _emit_start(spec: RegularizerSpec) -> None:
    telemetry.emit(telemetry.REGULARIZER_START, {"system_time": time.time()}, _metadata(spec))


# ------------------------------------------------------------------ threads


class _WorkerThreads:
    """Daemon threads kept between runs, because starting a thread costs ~0.1 ms.

    A task goes to an idle thread, or to a new one when none is idle, so a
    thread stuck in an abandoned (timed-out) regularizer never delays other
    work: it simply stays busy. Daemon threads never block interpreter exit.
    """

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()
        self._started = 0

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
            else:
                self._started += 1
                threading.Thread(
                    target=self._serve, name=f"gradtrack-worker-{self._started}", daemon=True
                ).start()
        self._tasks.put(task)

    def _serve(self) -> None:
        while True:
            task = self._tasks.get()
            # A task hands its own failures to its caller; whatever escapes must not kill
            # the thread (its caller is told through the task, never through this loop).
            with contextlib.suppress(BaseException):
                task()
            with self._lock:
                self._idle += 1


_workers = _WorkerThreads()


# ------------------------------------------------------------------ one job


class _Job:
    """One regularizer evaluated in a daemon thread that may be abandoned."""

    def __init__(
        self,
        spec: RegularizerSpec,
        data: Any,
        logprobs: np.ndarray,
        track: bool,
        timeout: float,
        jit: bool = False,
    ) -> None:
        self.jit = jit
        self.spec = spec
        self.data = data
        self.logprobs = logprobs
        self.track = track
        self.timeout = timeout
        self.started = 0.0
        self.duration = 0.0
        self.result: RegularizerResult | None = None
        self.error: RegularizerError | None = None

    @property
    def deadline(self) -> float:
        return self.started + self.timeout

    def launch(self, finished: queue.SimpleQueue[tuple[_Job, Any, float]]) -> None:
        self.started = time.perf_counter()
        _workers.submit(lambda: self._work(finished))

    def _work(self, finished: queue.SimpleQueue[tuple[_Job, Any, float]]) -> None:
        finished.put((self, self.run(), time.perf_counter()))

    def run(self) -> RegularizerResult | RegularizerError:
        """Evaluate the regularizer here and now; failures are returned, not raised."""
        try:
            return self._compute()
        except RegularizerError as exc:
            return exc
        except BaseException as exc:  # reported to the caller, never lost in a thread
            error = RegularizerError(self.spec.name, f"raised {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            return error

    def _compute(self) -> RegularizerResult:
        spec = self.spec
        evaluation = evaluate_regularizer(
            spec, self.data, self.logprobs, track=self.track, timeout=self.timeout, jit=self.jit
        )
        grad, grad_norm, status = None, None, None
        if self.track:
            status = evaluation.grad_status
            if status == GRAD_OK:
                grad = evaluation.grad
                grad_norm = vector_norm(grad)
            elif status == GRAD_FAILED:
                # A failed gradient reports 0.0 (with a warning), as the original does.
                gradient_or_warn(evaluation, spec.name)
                grad_norm = 0.0
            # NO_GRADIENT: evaluate_regularizer has warned; the norm stays None (unknown).
        output = RegularizerOutput.from_computation(
            spec.name,
            evaluation.value,
            spec.weight,
            evaluation.metrics,
            grad_norm=grad_norm,
            grad_status=status,
        )
        return RegularizerResult(output, grad, evaluation.grad_error)

    def settle(self, outcome: Any, finished_at: float) -> None:
        self.duration = finished_at - self.started
        if isinstance(outcome, RegularizerError):
            self.error = outcome
        else:
            self.result = outcome

    def abandon(self) -> None:
        self.settle(RegularizerTimeoutError(self.spec.name, self.timeout), time.perf_counter())

    def emit_end(self) -> None:
        """Emit this job's stop or exception event, from the caller's thread."""
        if self.result is None:
            metadata = {
                "regularizer_name": self.spec.name,
                "weight": self.spec.weight,
                "reason": self.error,
            }
            telemetry.emit(telemetry.REGULARIZER_EXCEPTION, {"duration": self.duration}, metadata)
            return
        output = self.result.output
        measurements = {
            "duration": self.duration,
            "value": output.value,
            "contribution": output.contribution,
            "grad_norm": output.grad_norm,
        }
        telemetry.emit(telemetry.REGULARIZER_STOP, measurements, _metadata(self.spec))

    def outcome(self) -> RegularizerResult:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _run_jobs(jobs: Sequence[_Job], max_concurrency: int) -> None:
    """Run ``jobs`` with at most ``max_concurrency`` at once until each finished or timed out.

    Each job's end event is emitted here, in the caller's thread, as it ends.
    """
    waiting = deque(jobs)
    running: set[_Job] = set()
    finished: queue.SimpleQueue[tuple[_Job, Any, float]] = queue.SimpleQueue()
    while waiting or running:
        while waiting and len(running) < max_concurrency:
            job = waiting.popleft()
            job.launch(finished)
            running.add(job)
        wait = max(0.0, min(job.deadline for job in running) - time.perf_counter())
        try:
            job, outcome, finished_at = finished.get(timeout=wait)
        except queue.Empty:
            now = time.perf_counter()
            for job in sorted(running, key=lambda j: j.deadline):
                if job.deadline <= now:
                    # Abandon it: its thread may run on, but its slot is free again.
                    running.discard(job)
                    job.abandon()
                    job.emit_end()
            continue
        if job in running:  # a late answer from an abandoned job is dropped
            running.discard(job)
            job.settle(outcome, finished_at)
            job.emit_end()


class _InOrder:
    """Sequential mode: one worker thread runs the jobs in order; the caller watches deadlines.

    One hand-off per run instead of two per regularizer. The caller sleeps
    until the batch is done or the running job's deadline passes; then that
    job is abandoned, and with it the rest of the batch (sequential mode stops
    at the first failure anyway). Events are emitted by the worker, in order.
    """

    def __init__(self, jobs: Sequence[_Job]) -> None:
        self.jobs = jobs
        self.current = 0
        self.cancelled = False
        self.done = threading.Event()
        self.lock = threading.Lock()
        # KeyboardInterrupt or SystemExit raised in the worker (by a telemetry handler).
        self.interrupt: BaseException | None = None

    def run(self) -> None:
        self.jobs[0].started = time.perf_counter()
        _workers.submit(self._work)
        try:
            self._watch()
        except BaseException:
            # Ctrl-C while waiting: the worker stops after the regularizer it is running.
            with self.lock:
                self.cancelled = True
            raise
        if self.interrupt is not None:
            # Handed to the caller as is: Ctrl-C in a handler is the caller's Ctrl-C.
            raise self.interrupt

    def _work(self) -> None:
        try:
            self._work_in_order()
        except BaseException as exc:  # only telemetry handlers can raise here
            self.interrupt = exc
        finally:
            self.done.set()

    def _work_in_order(self) -> None:
        for index, job in enumerate(self.jobs):
            with self.lock:
                if self.cancelled:
                    return
                job.started = time.perf_counter()
                self.current = index
            _emit_start(job.spec)
            outcome = job.run()
            with self.lock:
                if self.cancelled:  # abandoned meanwhile: the caller has moved on
                    return
                job.settle(outcome, time.perf_counter())
            job.emit_end()
            if job.error is not None:
                return

    def _watch(self) -> None:
        while True:
            job = self.jobs[self.current]
            if self.done.wait(max(0.0, job.deadline - time.perf_counter())):
                return
            with self.lock:
                if job.result is None and job.error is None and job.deadline <= time.perf_counter():
                    self.cancelled = True
                    job.abandon()
                    break
        job.emit_end()


# ---------------------------------------------------------------- the API


def execute_one(
    spec: RegularizerSpec,
    data: Any,
    logprobs: Any,
    *,
    track_grad_norms: bool = False,
    timeout: float = 30.0,
) -> RegularizerOutput:
    """Evaluate one regularizer within ``timeout`` seconds.

    Emits the regularizer ``start`` event, then ``stop`` (with ``duration``,
    ``value``, ``contribution``, ``grad_norm``) or ``exception``.

    Parameters
    ----------
    spec : RegularizerSpec
    data : list of Datum
        Passed to the regularizer unchanged.
    logprobs : array-like or Tensor
        The regularizer receives them as a minigrad Tensor (requiring grad
        when ``track_grad_norms``).
    track_grad_norms : bool
        Also compute ``grad_norm``, the norm of the loss's gradient with
        respect to the logprobs, from the same single evaluation. If the
        gradient fails, ``grad_norm`` is ``0.0`` and a WARNING is logged.
    timeout : float
        Seconds the regularizer may take, waiting for an asynchronous result included.

    Raises
    ------
    RegularizerError
        The regularizer raised (original as ``__cause__``) or returned
        something other than ``(loss, metrics)`` with a scalar numeric loss.
    RegularizerTimeoutError
        It did not finish within ``timeout``; its thread is abandoned.
    TypeError, ValueError
        Invalid arguments, found before the regularizer runs: ``spec`` not a
        valid RegularizerSpec, NaN or ``+inf`` logprobs (``-inf`` is allowed),
        ``track_grad_norms`` not a bool, a ``timeout`` that is not a positive
        finite number.

    Examples
    --------
    >>> spec = RegularizerSpec(lambda data, lp: (lp.mean(), {"mean": True}), 0.5, "mean")
    >>> out = execute_one(spec, [], [2.0, 4.0, 6.0])
    >>> out.value, out.contribution, out.custom
    (4.0, 2.0, {'mean': True})
    """
    if not isinstance(spec, RegularizerSpec):
        raise TypeError(f"spec must be a RegularizerSpec, got {type(spec).__name__}")
    spec.validate()
    array = check_logprobs(logprobs)
    track = check_flag("track_grad_norms", track_grad_norms)
    timeout = check_timeout(timeout)
    job = _Job(spec, data, array, track, timeout)
    _emit_start(spec)
    _run_jobs([job], 1)
    return job.outcome().output


def execute_all(
    regularizers: Iterable[RegularizerSpec],
    data: Any,
    logprobs: Any,
    *,
    parallel: bool = True,
    timeout: float = 30.0,
    track_grad_norms: bool = False,
    max_concurrency: int | None = None,
) -> list[RegularizerOutput]:
    """Evaluate every regularizer; return their outputs in spec order.

    Parallel (the default): emit ``start`` for every spec in order, then run
    at most ``max_concurrency`` at once; when all have finished or timed out,
    raise the first failure in spec order, if any. Sequential: one after
    another, each ``start`` just before it runs; stop at the first failure.
    In both modes each regularizer has its own ``timeout``.

    Parameters
    ----------
    regularizers : iterable of RegularizerSpec
    data, logprobs
        As for :func:`execute_one`.
    parallel : bool
    timeout : float
        Seconds per regularizer (positive, finite).
    track_grad_norms : bool
        Also compute each ``grad_norm`` (see :func:`execute_one`).
    max_concurrency : int, optional
        Most regularizers running at once; defaults to ``os.cpu_count()``.

    Raises
    ------
    RegularizerError, RegularizerTimeoutError
        As for :func:`execute_one`, naming the regularizer.
    TypeError
        An item is not a RegularizerSpec (the message gives its index), or
        ``parallel`` or ``track_grad_norms`` is not a bool.
    ValueError
        NaN or ``+inf`` logprobs, or an invalid ``timeout`` or
        ``max_concurrency``. All arguments are checked before anything runs.

    Examples
    --------
    >>> a = RegularizerSpec(lambda data, lp: (lp.sum(), {}), 0.1, "a")
    >>> b = RegularizerSpec(lambda data, lp: ((lp * lp).sum(), {}), 0.5, "b")
    >>> [(out.name, out.value) for out in execute_all([a, b], [], [1.0, 2.0, 3.0])]
    [('a', 6.0), ('b', 14.0)]
    """
    results = run_regularizers(
        regularizers,
        data,
        logprobs,
        parallel=parallel,
        timeout=timeout,
        track_grad_norms=track_grad_norms,
        max_concurrency=max_concurrency,
    )
    return [result.output for result in results]


def run_regularizers(
    regularizers: Iterable[RegularizerSpec],
    data: Any,
    logprobs: Any,
    *,
    parallel: bool = True,
    timeout: float = 30.0,
    track_grad_norms: bool = False,
    max_concurrency: int | None = None,
    jit: bool = False,
) -> list[RegularizerResult]:
    """:func:`execute_all`, keeping each regularizer's gradient array as well.

    The pipeline uses the gradients to build the total gradient without
    evaluating anything again. With ``jit`` each regularizer's value and
    gradient are compiled by :func:`minigrad.jit` (see
    :func:`gradtrack.terms.evaluate_term`).

    Examples
    --------
    >>> spec = RegularizerSpec(lambda data, lp: ((lp * lp).sum(), {}), 0.5, "l2")
    >>> [result] = run_regularizers([spec], [], [1.0, 2.0], track_grad_norms=True)
    >>> result.grad, result.output.grad_norm_weighted
    (array([2., 4.]), 2.23606797749979)
    """
    specs = check_specs(regularizers)
    for spec in specs:
        spec.validate()  # fields may have been changed since construction
    return _run_checked(
        specs,
        data,
        check_logprobs(logprobs),
        parallel=check_flag("parallel", parallel),
        timeout=check_timeout(timeout),
        track=check_flag("track_grad_norms", track_grad_norms),
        max_concurrency=check_max_concurrency(max_concurrency),
        jit=check_flag("jit", jit),
    )


def _run_checked(
    specs: Sequence[RegularizerSpec],
    data: Any,
    array: np.ndarray,
    *,
    parallel: bool,
    timeout: float,
    track: bool,
    max_concurrency: int,
    jit: bool = False,
) -> list[RegularizerResult]:
    """:func:`run_regularizers` for arguments its caller has already checked.

    The pipeline checks everything before its base loss runs; checking the
    logprobs a second time here would cost a pass over them per call.

    Examples
    --------
    >>> spec = RegularizerSpec(lambda data, lp: (lp.sum(), {}), 1.0, "sum")
    >>> [result] = _run_checked(
    ...     [spec], [], np.ones(2), parallel=False, timeout=1.0, track=False, max_concurrency=1
    ... )
    >>> result.output.value
    2.0
    """
    if not specs:
        return []
    jobs = [_Job(spec, data, array, track, timeout, jit) for spec in specs]
    if not parallel:
        _InOrder(jobs).run()
        # Raises at the first failure (later specs never started).
        return [job.outcome() for job in jobs]
    for job in jobs:
        _emit_start(job.spec)
    _run_jobs(jobs, max_concurrency)
    return [job.outcome() for job in jobs]
