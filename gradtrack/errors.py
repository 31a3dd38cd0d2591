"""The exceptions gradtrack raises.

Every error a run can produce derives from :class:`GradtrackError`, so a caller
can catch the whole family in one ``except``. Invalid *arguments* are reported
with the built-in ``TypeError``/``ValueError`` before any work is done; these
classes are for failures *during* a run.
"""

from __future__ import annotations

__all__ = [
    "GradtrackError",
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
