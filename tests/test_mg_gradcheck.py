"""The checking tools themselves: ``numerical_grad``, ``gradcheck``, ``gradgradcheck``.

A gradient checker that never fails is worse than none, so the functions
checked here include deliberately wrong ones: a ``detach`` inside the
computation hides a term from autodiff while finite differences still see it.
The last test compares float32 and float64 runs of the same ops.
"""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg


# ------------------------------------------------------------ numerical_grad
def test_numerical_grad_of_one_argument_is_one_array() -> None:
    x = np.array([1.0, -2.0, 0.5])
    estimate = mg.numerical_grad(lambda t: (t**3).sum(), x)
    assert isinstance(estimate, np.ndarray)
    assert estimate.dtype == np.float64
    assert estimate.shape == x.shape
    np.testing.assert_allclose(estimate, 3 * x**2, rtol=1e-8)


def test_numerical_grad_of_several_arguments_is_a_tuple() -> None:
    x, y = np.array([[1.0, 2.0]]), np.array(3.0)
    estimate = mg.numerical_grad(lambda a, b: (a * a * b).sum(), x, y)
    assert isinstance(estimate, tuple) and len(estimate) == 2
    np.testing.assert_allclose(estimate[0], 2 * x * y, rtol=1e-8)
    np.testing.assert_allclose(estimate[1], (x * x).sum(), rtol=1e-8)
    assert estimate[0].shape == (1, 2)
    assert estimate[1].shape == ()


def test_numerical_grad_passes_integer_arguments_through() -> None:
    index = np.array([0, 0, 2])
    dx, d_index = mg.numerical_grad(lambda t, i: t[i].sum(), np.ones(3), index)
    np.testing.assert_allclose(dx, [2.0, 0.0, 1.0], atol=1e-8)
    assert d_index is None


def test_numerical_grad_works_in_float64_whatever_the_input() -> None:
    x32 = np.array([0.1, 0.7], dtype=np.float32)
    estimate = mg.numerical_grad(lambda t: (mg.exp(t) * 2.0).sum(), x32)
    assert estimate.dtype == np.float64
    # float32 evaluation with eps = 1e-6 would be off by ~10%; float64 is not.
    np.testing.assert_allclose(estimate, 2 * np.exp(x32.astype(np.float64)), rtol=1e-8)


def test_numerical_grad_does_not_modify_its_inputs() -> None:
    x = np.array([1.0, 2.0])
    mg.numerical_grad(lambda t: (t * t).sum(), x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_numerical_grad_accepts_lists_and_tensors() -> None:
    f = lambda t: (t * t).sum()  # noqa: E731
    for argument in ([1.0, 2.0], mg.Tensor([1.0, 2.0])):
        np.testing.assert_allclose(mg.numerical_grad(f, argument), [2.0, 4.0], rtol=1e-8)


# ------------------------------------------------------------------ gradcheck
@pytest.mark.parametrize(
    "fun",
    [
        lambda x, y: (x * mg.tanh(y)).sum(),
        lambda x, y: mg.logsumexp(x @ y),
        lambda x, y: (mg.softmax(x, axis=0) * mg.exp(y)[0]).sum(),
    ],
    ids=["tanh", "matmul-logsumexp", "softmax"],
)
def test_gradcheck_passes_correct_functions(fun: Any) -> None:
    x = np.array([[0.5, -1.0], [2.0, 0.3]])
    y = np.array([[0.2], [-0.4]])
    assert mg.gradcheck(fun, x, y) is True
    assert mg.gradgradcheck(fun, x, y) is True


def detached_square(x: mg.Tensor, y: mg.Tensor) -> mg.Tensor:
    """Σ x y² written as x · y · detach(y): autodiff misses half of d/dy."""
    return (x * y * y.detach()).sum()


def test_gradcheck_raises_for_a_wrong_derivative() -> None:
    x = np.ones(3)
    y = np.array([0.5, 3.0, -1.0])
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(detached_square, x, y)
    error = info.value
    assert isinstance(error, RuntimeError)
    # d/dy is right for x (argument 0) and wrong by a factor 2 for y: worst at y = 3.
    assert error.argnum == 1
    assert error.index == (1,)
    assert error.analytic == pytest.approx(3.0)
    assert error.numerical == pytest.approx(6.0, rel=1e-6)
    message = str(error)
    assert "argument 1" in message
    assert "(1,)" in message
    assert repr(error.analytic) in message
    assert repr(error.numerical) in message


def test_gradcheck_names_the_first_argument_and_a_2d_index() -> None:
    x = np.array([[1.0, -4.0], [2.0, 0.5]])
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(lambda a: (a * a.detach()).sum(), x)
    assert info.value.argnum == 0
    assert info.value.index == (0, 1)  # |error| = |x| is largest at -4
    assert info.value.analytic == pytest.approx(-4.0)
    assert info.value.numerical == pytest.approx(-8.0, rel=1e-6)
    assert "(0, 1)" in str(info.value)


def test_gradcheck_tolerances_decide() -> None:
    # A derivative 0.5% off passes rtol 1e-2 and fails the default rtol 1e-3.
    def slightly_wrong(x: mg.Tensor) -> mg.Tensor:
        return (x * x + 0.01 * (x - x.detach()) * x.detach()).sum()

    x = np.array([1.0, 2.0])
    # Autodiff: 2x + 0.01x, truth: 2x. Relative error 0.5%.
    assert mg.gradcheck(slightly_wrong, x, rtol=1e-2) is True
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(slightly_wrong, x)


def test_gradcheck_catches_a_nan_gradient() -> None:
    # sqrt(x²) = |x| has central difference 0 at 0, but autodiff gives inf · 0 = NaN.
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(lambda t: mg.sqrt(t * t).sum(), [0.0, 1.0])
    assert info.value.index == (0,)
    assert np.isnan(info.value.analytic)
    assert info.value.numerical == 0.0


def test_gradcheck_is_also_exported_from_the_module() -> None:
    from minigrad.gradcheck import GradcheckError

    assert GradcheckError is mg.GradcheckError


# -------------------------------------------------------------- gradgradcheck
def right_slope_wrong_curvature(x: mg.Tensor) -> mg.Tensor:
    """Σ sin x plus 5 (x - detach x)²: the extra term is 0 with slope 0, so the
    gradient is right, but autodiff sees curvature 10 where there is none."""
    return mg.sin(x).sum() + (5.0 * (x - x.detach()) ** 2).sum()


def test_gradgradcheck_catches_a_wrong_second_derivative() -> None:
    x = np.array([0.3, -1.2])
    assert mg.gradcheck(right_slope_wrong_curvature, x) is True
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradgradcheck(right_slope_wrong_curvature, x)
    error = info.value
    assert error.argnum == 0
    assert error.index in {(0,), (1,)}
    # For the direction v, finite differences give H v = -sin(x) v, and autodiff
    # adds the phantom curvature: -sin(x) v + 10 v.
    i = error.index[0]
    v = error.numerical / -np.sin(x[i])
    assert error.analytic == pytest.approx(error.numerical + 10 * v, rel=1e-5)


def test_gradgradcheck_passes_correct_second_derivatives() -> None:
    x, y = np.array([0.3, -1.2, 0.8]), np.array(0.7)
    assert mg.gradgradcheck(lambda a, b: (mg.exp(a * b) * mg.sin(a)).sum(), x, y) is True


def test_gradgradcheck_catches_it_along_any_direction() -> None:
    x = np.array([0.3, -1.2])
    for seed in (0, 1, 2):
        with pytest.raises(mg.GradcheckError):
            mg.gradgradcheck(right_slope_wrong_curvature, x, seed=seed)


# ------------------------------------------------- float32 against float64
FLOAT_OPS = {
    "exp": lambda x: mg.exp(x),
    "tanh": lambda x: mg.tanh(x),
    "sigmoid": lambda x: mg.sigmoid(x),
    "softplus": lambda x: mg.softplus(x),
    "log": lambda x: mg.log(x * x + 1.0),
    "sin": lambda x: mg.sin(x),
    "softmax": lambda x: mg.softmax(x, axis=-1),
    "log_softmax": lambda x: mg.log_softmax(x, axis=0),
    "logsumexp": lambda x: mg.logsumexp(x, axis=-1),
    "mean": lambda x: mg.mean(x, axis=0),
    "matmul": lambda x: x @ mg.transpose(x),
    "pow": lambda x: (x * x + 0.5) ** 1.5,
}


@settings(max_examples=25)
@given(
    name=st.sampled_from(sorted(FLOAT_OPS)),
    x=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4),
        elements=st.floats(-2.0, 2.0, width=32),
    ),
)
def test_float32_agrees_with_float64(name: str, x: np.ndarray) -> None:
    fun = FLOAT_OPS[name]
    out_shape = fun(mg.Tensor(x)).shape
    weights = np.linspace(-1.0, 1.0, int(np.prod(out_shape))).reshape(out_shape)

    def scalar(t: mg.Tensor) -> mg.Tensor:
        return (fun(t) * mg.Tensor(weights, dtype=t.dtype)).sum()

    value32, grad32 = mg.value_and_grad(scalar)(x)
    value64, grad64 = mg.value_and_grad(scalar)(x.astype(np.float64))
    assert value32.dtype == np.float32
    assert grad32.dtype == np.float32
    assert value64.dtype == np.float64
    # float32 carries ~7 digits; sums of a few terms lose a little more near 0.
    np.testing.assert_allclose(value32.data, value64.data, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad32.data, grad64.data, rtol=1e-5, atol=1e-5)
