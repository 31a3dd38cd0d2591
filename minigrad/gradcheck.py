"""Checking gradients against finite differences.

This module lets you verify any differentiable function — a new primitive,
a regularizer, a loss — the way the test suite verifies minigrad's own ops:

* :func:`numerical_grad` estimates the gradient by central differences,
  ``(f(x + ε eᵢ) - f(x - ε eᵢ)) / 2ε``, in float64. Its error is O(ε²) from
  truncation plus O(u/ε) from rounding (u ≈ 1e-16), smallest near
  ε ≈ (6u|f|/|f'''|)^(1/3): about 1e-5 for a well-scaled function, lower for a
  steep one; the default ε = 1e-6 stays near the bottom for both.
* :func:`gradcheck` compares autodiff with that estimate element by element
  and raises :class:`GradcheckError` naming the worst element.
* :func:`gradgradcheck` checks second derivatives: it gradchecks the function
  ``x ↦ ⟨∇f(x), v⟩`` for a fixed random direction ``v``, whose gradient is the
  Hessian-vector product ``H v``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import grad_mode
from minigrad.tensor import Tensor
from minigrad.transforms import value_and_grad

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck", "numerical_grad"]


class GradcheckError(RuntimeError):
    """Autodiff and finite differences disagree.

    Attributes ``argnum``, ``index``, ``analytic`` and ``numerical`` describe
    the worst element; the message says the same in words.

    Examples
    --------
    >>> err = GradcheckError(0, (1,), 2.0, 1.0, "mismatch")
    >>> err.argnum, err.index
    (0, (1,))
    """

    def __init__(
        self, argnum: int, index: tuple[int, ...], analytic: float, numerical: float, message: str
    ) -> None:
        super().__init__(message)
        self.argnum = argnum
        self.index = index
        self.analytic = analytic
        self.numerical = numerical


def _as_float64(value: Any) -> Any:
    """Floating arguments as float64 arrays; anything else (indices, masks) untouched."""
    array = value.data if isinstance(value, Tensor) else value
    if isinstance(array, np.ndarray) and array.dtype.kind != "f":
        return value
    try:
        converted = np.array(array, dtype=np.float64)
    except (TypeError, ValueError):
        return value
    return converted


def _differentiable_positions(args: tuple[Any, ...]) -> tuple[int, ...]:
    return tuple(i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f")


def _evaluate(fun: Callable[..., Any], args: list[Any]) -> float:
    with grad_mode.no_grad():
        out = fun(*[Tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    value = np.asarray(out.data if isinstance(out, Tensor) else out, dtype=np.float64)
    if value.size != 1:
        raise ValueError(f"the function must return a scalar, got shape {value.shape}")
    return float(value.reshape(()))


def numerical_grad(fun: Callable[..., Any], *args: Any, eps: float = 1e-6) -> Any:
    """Central-difference gradient of a scalar function, in float64.

    Every floating argument is differentiated; other arguments (integer
    indices, bool masks, options) are passed through and get ``None``.

    Returns
    -------
    np.ndarray or tuple
        One array for one argument, a tuple (one entry per argument) for several.

    Examples
    --------
    >>> import minigrad as mg
    >>> mg.numerical_grad(lambda x: (x ** 2).sum(), [1.0, -2.0]).round(6)
    array([ 2., -4.])
    """
    values = [_as_float64(a) for a in args]
    results: list[np.ndarray | None] = []
    for position in range(len(values)):
        if position not in _differentiable_positions(tuple(values)):
            results.append(None)
            continue
        x = values[position]
        estimate = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            original = x[index]
            x[index] = original + eps
            upper = _evaluate(fun, values)
            x[index] = original - eps
            lower = _evaluate(fun, values)
            x[index] = original
            estimate[index] = (upper - lower) / (2 * eps)
        results.append(estimate)
    return results[0] if len(results) == 1 else tuple(results)


def gradcheck(
    fun: Callable[..., Any],
    *args: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Compare autodiff gradients of ``fun`` with central differences, in float64.

    Each element must satisfy ``|analytic - numerical| <= atol + rtol * |numerical|``.

    Returns
    -------
    bool
        ``True`` when every floating argument passes.

    Raises
    ------
    GradcheckError
        Naming the argument, the worst element's index, and both values.

    Examples
    --------
    >>> import minigrad as mg
    >>> mg.gradcheck(lambda x, y: (x * mg.tanh(y)).sum(), [1.0, 2.0], [[0.5], [-0.3]])
    True
    """
    values = tuple(_as_float64(a) for a in args)
    positions = _differentiable_positions(values)
    if not positions:
        raise TypeError("gradcheck needs at least one floating argument")
    _, analytic = value_and_grad(fun, argnums=positions)(*values)
    numerical = numerical_grad(fun, *values, eps=eps)
    if len(values) == 1:
        numerical = (numerical,)
    for position, autodiff in zip(positions, analytic, strict=True):
        _compare(position, np.asarray(autodiff.data), numerical[position], atol, rtol)
    return True


def _compare(position: int, analytic: np.ndarray, numerical: np.ndarray, atol: float, rtol: float):
    if analytic.shape != numerical.shape:
        raise GradcheckError(
            position,
            (),
            float("nan"),
            float("nan"),
            f"argument {position}: gradient shape {analytic.shape} != argument shape "
            f"{numerical.shape}",
        )
    excess = np.abs(analytic - numerical) - (atol + rtol * np.abs(numerical))
    excess = np.where(np.isnan(excess), np.inf, excess)
    if excess.size == 0 or np.max(excess) <= 0:
        return
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
    a, n = float(analytic[worst]), float(numerical[worst])
    raise GradcheckError(
        position,
        tuple(int(i) for i in worst),
        a,
        n,
        f"gradient of argument {position} is wrong at index {tuple(int(i) for i in worst)}: "
        f"autodiff gives {a!r}, finite differences give {n!r} "
        f"(|difference| {abs(a - n):.3g} > atol {atol:g} + rtol {rtol:g} * |numerical|)",
    )


def gradgradcheck(
    fun: Callable[..., Any],
    *args: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check second derivatives by gradchecking the gradient function itself.

    For a fixed random direction ``vᵢ`` per argument, the scalar function
    ``h(x) = Σᵢ ⟨∇ᵢ f(x), vᵢ⟩`` is built with ``create_graph`` and gradchecked;
    its gradient is the Hessian-vector product, so every second derivative
    along ``v`` is verified.

    Examples
    --------
    >>> import minigrad as mg
    >>> mg.gradgradcheck(lambda x: (mg.exp(x) * mg.sin(x)).sum(), [0.3, -1.2])
    True
    """
    values = tuple(_as_float64(a) for a in args)
    positions = _differentiable_positions(values)
    rng = np.random.default_rng(seed)
    directions = {p: rng.standard_normal(values[p].shape) for p in positions}
    gradient_fn = value_and_grad(fun, argnums=positions)

    def directional(*inputs: Any) -> Tensor:
        _, grads = gradient_fn(*inputs)
        total: Any = 0.0
        for p, g in zip(positions, grads, strict=True):
            total = total + (g * directions[p]).sum()
        return total

    # Inside gradcheck's autodiff pass the inputs require grad, so the inner
    # value_and_grad records its backward pass and can be differentiated.
    return gradcheck(directional, *values, eps=eps, atol=atol, rtol=rtol)
