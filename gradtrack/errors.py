"""The exceptions gradtrack raises.

Every error a run can produce derives from :class:`GradtrackError`, so a caller
can catch the whole family in one ``except``. Invalid *arguments* are reported
with the built-in ``TypeError``/``ValueError`` before any work is done; these
classes are for failures *during* a run.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GradtrackError",
    "NonFiniteError",
    "PipelineError",
    "RegularizerError",
    "RegularizerTimeoutError",
]


class GradtrackError(Exception):
    """Base class of every error raised while a gradtrack run is under way.

    Examples
    --------
    >>> issubclass(RegularizerError, GradtrackError)
    True
    """


class RegularizerError(GradtrackError):
    """A regularizer raised, or returned something other than ``(loss, metrics)``.

    The offending regularizer's name is in ``.name`` and in the message; the
    original exception, when there is one, is ``__cause__``.

    Examples
    --------
    >>> err = RegularizerError("entropy", "returned None")
    >>> err.name, str(err)
    ('entropy', "regularizer 'entropy' failed: returned None")
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"regularizer {name!r} failed: {reason}")
        self.name = name
        self.reason = reason


class RegularizerTimeoutError(RegularizerError, TimeoutError):
    """A regularizer did not finish within its timeout.

    It is both a :class:`RegularizerError` and a built-in ``TimeoutError``.

    Examples
    --------
    >>> err = RegularizerTimeoutError("slow_reg", 0.1)
    >>> isinstance(err, TimeoutError), err.name, err.timeout
    (True, 'slow_reg', 0.1)
    """

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(name, f"timed out after {timeout:g} s")
        self.timeout = timeout


class PipelineError(GradtrackError):
    """The pipeline itself failed, e.g. the base loss raised (see ``__cause__``).

    Examples
    --------
    >>> isinstance(PipelineError("base loss failed"), GradtrackError)
    True
    """


class NonFiniteError(GradtrackError, ValueError):
    """A training step met a NaN or infinite value: the run has diverged.

    ``term`` names what went non-finite first: ``"logprobs"`` (the model's
    output, e.g. after a step with a learning rate far too large), ``"base"``
    (the loss function's gradient) or a regularizer's name (its weighted
    gradient). ``datum`` is the index of the first datum concerned, when
    known. ``output`` is the step's ``CustomLossOutput`` when it was computed
    (its numbers show what overflowed). It is also a ``ValueError``, as the
    non-finite checks were before it existed.

    Examples
    --------
    >>> err = NonFiniteError("l2", "the weighted gradient of regularizer 'l2' is not finite")
    >>> err.term, isinstance(err, ValueError), str(err)
    ('l2', True, "the weighted gradient of regularizer 'l2' is not finite")
    """

    def __init__(
        self, term: str, message: str, *, datum: int | None = None, output: Any = None
    ) -> None:
        super().__init__(message)
        self.term = term
        self.datum = datum
        self.output = output
