"""Check that a regularizer's gradient is right, before training with it.

This module lets you compare what autodiff says a regularizer's gradient is
with central finite differences, and get the answer in plain words:
:func:`check_regularizer` returns a :class:`CheckReport` that prints as
"gradient matches finite differences" or names the element where the two
disagree, with both values.

The usual way to get a wrong gradient is to compute part of the loss with
NumPy on ``logprobs.data`` (or ``np.asarray(logprobs)``): the value is right,
but autodiff sees a constant. The report points this out when the autodiff
gradient is all zeros.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import minigrad as mg
from gradtrack.errors import RegularizerError
from gradtrack.terms import as_logprobs_array, evaluate_regularizer
from gradtrack.types import RegularizerSpec

__all__ = ["CheckReport", "check_regularizer"]

# GradcheckError names the differentiated argument by position: logprobs is
# the second argument of fn(data, logprobs).
_LOGPROBS_ARGNUM = 1


@dataclass(frozen=True, eq=False)
class CheckReport:
    """The outcome of :func:`check_regularizer`.

    Attributes
    ----------
    name
        The regularizer's name.
    passed
        Every element satisfies ``|analytic - numerical| <= atol + rtol * |numerical|``.
    max_abs_error
        The largest ``|analytic - numerical|`` over all elements.
    worst_index
        The index of the element furthest beyond its tolerance (on success:
        the one closest to it).
    analytic, numerical
        The autodiff and finite-difference gradients (float64, the logprobs' shape).
    atol, rtol
        The tolerances used.

    Examples
    --------
    >>> report = CheckReport("l1", True, 0.0, (0,), np.ones(1), np.ones(1), 1e-5, 1e-3)
    >>> print(report)
    regularizer 'l1': gradient matches finite differences (max abs error 0, worst element at index (0,))
    """  # noqa: E501

    name: str
    passed: bool
    max_abs_error: float
    worst_index: tuple[int, ...]
    analytic: np.ndarray
    numerical: np.ndarray
    atol: float
    rtol: float

    def __str__(self) -> str:
        if self.passed:
            return (
                f"regularizer {self.name!r}: gradient matches finite differences "
                f"(max abs error {self.max_abs_error:.3g}, "
                f"worst element at index {self.worst_index})"
            )
        return self._mismatch_text()

    def _mismatch_text(self) -> str:
        analytic = float(self.analytic[self.worst_index])
        numerical = float(self.numerical[self.worst_index])
        tolerance = self.atol + self.rtol * abs(numerical)
        outside = int(np.count_nonzero(~self._within_tolerance()))
        text = (
            f"regularizer {self.name!r}: gradient MISMATCH at index {self.worst_index}: "
            f"autodiff says {analytic:.6g}, finite differences say {numerical:.6g} "
            f"(abs error {abs(analytic - numerical):.3g} > tolerance {tolerance:.3g}); "
            f"{outside} of {self.analytic.size} elements are outside tolerance "
            f"(atol {self.atol:g}, rtol {self.rtol:g})"
        )
        if not np.any(self.analytic) and np.any(self.numerical):
            text += (
                "\nhint: the autodiff gradient is all zeros, so autodiff cannot see how the "
                "loss depends on the logprobs. The loss is probably computed with NumPy "
                "outside minigrad (on logprobs.data or np.asarray(logprobs)); build it from "
                "minigrad operations on the Tensor the regularizer receives."
            )
        return text

    def _within_tolerance(self) -> np.ndarray:
        error = np.abs(self.analytic - self.numerical)
        # NaN compares False, so a NaN anywhere counts as outside tolerance.
        return error <= self.atol + self.rtol * np.abs(self.numerical)

    def raise_for_failure(self) -> None:
        """Raise ``minigrad.GradcheckError`` with this report as its message, if the check failed.

        Examples
        --------
        >>> CheckReport("l1", True, 0.0, (0,), np.ones(1), np.ones(1), 1e-5, 1e-3).raise_for_failure()
        """  # noqa: E501
        if self.passed:
            return
        raise mg.GradcheckError(
            _LOGPROBS_ARGNUM,
            self.worst_index,
            float(self.analytic[self.worst_index]),
            float(self.numerical[self.worst_index]),
            str(self),
        )


def _check_tolerances(eps: float, atol: float, rtol: float) -> None:
    for name, value, smallest in (("eps", eps, None), ("atol", atol, 0.0), ("rtol", rtol, 0.0)):
        valid = isinstance(value, int | float) and not isinstance(value, bool)
        valid = valid and math.isfinite(value)
        valid = valid and (value > 0 if smallest is None else value >= smallest)
        if not valid:
            kind = "positive" if smallest is None else "non-negative"
            raise ValueError(f"{name} must be a {kind} finite number, got {value!r}")


def _finite_logprobs(logprobs: Any) -> np.ndarray:
    array = np.array(as_logprobs_array(logprobs), dtype=np.float64)
    if not np.all(np.isfinite(array)):
        # -inf is a legal logprob, but no finite difference can be taken there.
        raise ValueError("logprobs must be finite to compare with finite differences")
    return array


def check_regularizer(
    spec: RegularizerSpec,
    data: Any,
    logprobs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> CheckReport:
    """Compare a regularizer's autodiff gradient with central finite differences.

    The regularizer is evaluated in float64 at ``logprobs``; a non-scalar loss
    is summed. Its autodiff gradient with respect to the logprobs is compared
    element by element with ``minigrad.numerical_grad`` (which costs two
    evaluations per element, so use small logprobs).

    Parameters
    ----------
    spec : RegularizerSpec
    data : list of Datum
        Passed to the regularizer unchanged.
    logprobs : array-like or Tensor
        Where to check; every value must be finite.
    eps : float
        Finite-difference step.
    atol, rtol : float
        An element passes when ``|analytic - numerical| <= atol + rtol * |numerical|``.

    Returns
    -------
    CheckReport
        ``print`` it for a plain-words verdict; ``raise_for_failure()``
        turns a mismatch into ``minigrad.GradcheckError``.

    Raises
    ------
    RegularizerError
        The regularizer failed, or its gradient could not be taken.
    TypeError, ValueError
        Invalid arguments, or non-finite logprobs.

    Examples
    --------
    >>> from gradtrack.types import RegularizerSpec
    >>> l2 = RegularizerSpec(lambda data, lp: ((lp * lp).sum(), {}), weight=1.0, name="l2")
    >>> check_regularizer(l2, [], [[0.5, -1.0, 2.0]]).passed
    True

    A loss computed with NumPy is invisible to autodiff:

    >>> hidden = RegularizerSpec(lambda data, lp: (float((lp.data**2).sum()), {}), 1.0, "hidden")
    >>> report = check_regularizer(hidden, [], [1.0, 2.0])
    >>> report.passed, report.worst_index
    (False, (1,))
    >>> print(report)  # doctest: +ELLIPSIS
    regularizer 'hidden': gradient MISMATCH at index (1,): autodiff says 0, finite differences say 4 ...
    hint: the autodiff gradient is all zeros, ...
    """  # noqa: E501
    if not isinstance(spec, RegularizerSpec):
        raise TypeError(f"spec must be a RegularizerSpec, got {type(spec).__name__}")
    _check_tolerances(eps, atol, rtol)
    array = _finite_logprobs(logprobs)
    evaluation = evaluate_regularizer(spec, data, array, track=True, sum_nonscalar=True)
    analytic = evaluation.grad
    if not evaluation.connected:
        # What autodiff sees of a loss built outside its graph: nothing. The report's
        # all-zeros hint then tells the user why.
        analytic = np.zeros_like(array)
    if analytic is None:
        raise RegularizerError(
            spec.name, f"its gradient failed: {evaluation.grad_error}"
        ) from evaluation.grad_error

    def summed_loss(leaf: mg.Tensor) -> float:
        evaluated = evaluate_regularizer(spec, data, leaf.data, track=False, sum_nonscalar=True)
        return evaluated.value

    numerical = np.asarray(mg.numerical_grad(summed_loss, array, eps=eps), dtype=np.float64)
    return _report(spec.name, analytic, numerical, atol, rtol)


def _report(
    name: str, analytic: np.ndarray, numerical: np.ndarray, atol: float, rtol: float
) -> CheckReport:
    error = np.abs(analytic - numerical)
    # How far each element is beyond its tolerance (NaN counts as infinitely far).
    excess = np.nan_to_num(error - (atol + rtol * np.abs(numerical)), nan=np.inf)
    if error.size == 0:
        return CheckReport(name, True, 0.0, (), analytic, numerical, atol, rtol)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape))
    passed = bool(np.max(excess) <= 0.0)
    return CheckReport(name, passed, float(np.max(error)), worst, analytic, numerical, atol, rtol)
