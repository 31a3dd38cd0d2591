"""The second op list: the edge cases the contract names, float32, and NumPy interop.

The op table (``test_mg_ops_gradients.py``) checks values and derivatives in
float64 on drawn shapes. Here: ``prod`` with zeros (exact), ``norm`` at zero
(gradient 0), ``sort`` with ties (stable), the ops without gradient, ``//``
and ``%``, the constructors, every new op in float32, and NumPy's functions
called on tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg


# ------------------------------------------------------------------ prod
def products_of_others(x: np.ndarray, axis: int) -> np.ndarray:
    """Π_{j≠i} x_j along ``axis``, by brute force."""
    out = np.empty_like(x)
    for index in np.ndindex(x.shape):
        line = np.take(x, range(x.shape[axis]), axis=axis)[
            tuple(slice(None) if a == axis else index[a] for a in range(x.ndim))
        ]
        out[index] = np.prod(np.delete(line, index[axis]))
    return out


@pytest.mark.parametrize(
    "x",
    [
        np.array([2.0, 0.0, 3.0, 4.0]),  # one zero: only its gradient is non-zero
        np.array([0.0, 5.0, 0.0, 2.0]),  # two zeros: every gradient is zero
        np.array([0.0, 0.0, 0.0]),
        np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]]),
    ],
)
def test_prod_gradient_is_exact_with_zeros(x: np.ndarray) -> None:
    axis = x.ndim - 1
    gradient = mg.grad(lambda t: mg.prod(t, axis=axis).sum())(x)
    np.testing.assert_array_equal(gradient.data, products_of_others(x, axis))
    assert np.isfinite(gradient.data).all()


def test_prod_with_one_zero_has_the_right_second_derivative() -> None:
    x = np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0]])
    assert mg.gradcheck(lambda t: (mg.prod(t, axis=1) * [1.0, -2.0]).sum(), x)
    assert mg.gradgradcheck(lambda t: (mg.prod(t, axis=1) * [1.0, -2.0]).sum(), x)


def test_prod_over_several_axes_with_zeros() -> None:
    x = np.arange(12.0).reshape(2, 3, 2) - 5.0  # one zero, at [0, 2, 1]
    gradient = mg.grad(lambda t: mg.prod(t, axis=(0, 2)).sum())(x)
    expected = np.zeros_like(x)
    for j in range(3):
        block = x[:, j, :]
        for i in np.ndindex(block.shape):
            expected[i[0], j, i[1]] = np.prod(np.delete(block.reshape(-1), i[0] * 2 + i[1]))
    np.testing.assert_array_equal(gradient.data, expected)


# ------------------------------------------------------------------ norm
@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [
        ((3,), {}),
        ((3,), {"ord": 2}),
        ((3,), {"ord": 3}),
        ((2, 3), {}),
        ((2, 3), {"axis": 1}),
        ((2, 3), {"ord": "fro"}),
        ((2, 3), {"axis": -1, "keepdims": True}),
    ],
)
def test_norm_of_zero_has_gradient_zero(shape: tuple[int, ...], kwargs: dict[str, Any]) -> None:
    gradient = mg.grad(lambda t: mg.norm(t, **kwargs).sum())(np.zeros(shape))
    np.testing.assert_array_equal(gradient.data, np.zeros(shape))
    second = mg.grad(lambda t: mg.grad(lambda u: mg.norm(u, **kwargs).sum())(t).sum())
    assert np.isfinite(second(np.zeros(shape)).data).all()


def test_norm_zero_row_beside_non_zero_row() -> None:
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    gradient = mg.grad(lambda t: mg.norm(t, axis=1).sum())(x)
    np.testing.assert_allclose(gradient.data, [[0.0, 0.0], [0.6, 0.8]])


@pytest.mark.parametrize("ord_", [2, -2, "nuc"])
def test_norm_orders_needing_singular_values_raise(ord_: Any) -> None:
    with pytest.raises(ValueError, match="singular values"):
        mg.norm(np.eye(2), ord=ord_)


@pytest.mark.parametrize(
    ("x", "kwargs"),
    [
        (np.arange(6.0).reshape(2, 3), {"ord": 1}),
        (np.arange(6.0).reshape(2, 3), {"ord": -np.inf}),
        (np.arange(24.0).reshape(2, 3, 4), {"axis": (2, 0)}),
        (np.arange(24.0).reshape(2, 3, 4), {"axis": (1, 2), "ord": np.inf, "keepdims": True}),
        (np.array([0.0, 2.0, -3.0]), {"ord": 0}),
    ],
)
def test_norm_matches_numpy(x: np.ndarray, kwargs: dict[str, Any]) -> None:
    np.testing.assert_allclose(mg.norm(x, **kwargs).data, np.linalg.norm(x, **kwargs))


# ------------------------------------------------------------------ sort
def test_sort_ties_follow_numpys_stable_order() -> None:
    x = np.array([2.0, 1.0, 2.0, 1.0, 2.0])
    weights = np.arange(5.0)
    gradient = mg.grad(lambda t: (mg.sort(t) * weights).sum())(x)
    # Stable order: the 1s at indices 1, 3 take places 0, 1; the 2s at 0, 2, 4 places 2, 3, 4.
    np.testing.assert_array_equal(gradient.data, [2.0, 0.0, 3.0, 1.0, 4.0])
    np.testing.assert_array_equal(mg.argsort(x).data, np.argsort(x, kind="stable"))


def test_sort_along_an_axis_routes_gradients_per_row() -> None:
    x = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    gradient = mg.grad(lambda t: (mg.sort(t, axis=1) * [1.0, 10.0, 100.0]).sum())(x)
    np.testing.assert_array_equal(gradient.data, [[100.0, 1.0, 10.0], [1.0, 100.0, 10.0]])


# -------------------------------------------------- ops without a gradient
@pytest.mark.parametrize(
    ("fun", "reference"),
    [
        (mg.floor, np.floor),
        (mg.ceil, np.ceil),
        (mg.round, np.round),
        (mg.isnan, np.isnan),
        (mg.isfinite, np.isfinite),
        (lambda t: mg.argmax(t, axis=0), lambda a: np.argmax(a, axis=0)),
        (lambda t: mg.argmin(t), np.argmin),
        (lambda t: mg.argsort(t, axis=0), lambda a: np.argsort(a, axis=0, kind="stable")),
        (lambda t: t // 0.7, lambda a: a // 0.7),
    ],
)
def test_ops_without_gradient(fun: Callable[..., Any], reference: Callable[..., Any]) -> None:
    x = np.array([[1.5, -0.5, np.nan], [2.5, np.inf, -2.25]])
    t = mg.Tensor(x, requires_grad=True)
    with np.errstate(invalid="ignore"):  # NumPy warns about // of inf and NaN
        out, expected = fun(t), reference(x)
    assert out.requires_grad is False
    np.testing.assert_array_equal(out.data, expected)


def test_floor_divide_and_mod_operators() -> None:
    x = mg.Tensor([7.5, -7.5, 2.0], requires_grad=True)
    np.testing.assert_array_equal((x // 2).data, [3.0, -4.0, 1.0])
    np.testing.assert_array_equal((x % 2).data, [1.5, 0.5, 0.0])
    np.testing.assert_array_equal((10 % mg.Tensor([3.0, -3.0])).data, [1.0, -2.0])
    np.testing.assert_array_equal((10 // mg.Tensor([3.0, -3.0])).data, [3.0, -4.0])
    (x % 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 1.0])
    y = mg.Tensor([2.0, 3.0], requires_grad=True)
    (7.0 % y).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [-3.0, -2.0])  # -floor(x / y)


# ------------------------------------------------------------- constructors
def test_constructors_take_dtype_and_requires_grad() -> None:
    cases = [
        (mg.zeros((2,), dtype=np.float32, requires_grad=True), np.zeros(2, np.float32)),
        (mg.ones(3, requires_grad=True), np.ones(3)),
        (mg.full((2, 2), 1.5, dtype=np.float32), np.full((2, 2), 1.5, np.float32)),
        (mg.full_like(np.zeros(2, np.float32), 3.0), np.full(2, 3.0, np.float32)),
        (mg.zeros_like(mg.ones(2), requires_grad=True), np.zeros(2)),
        (mg.ones_like([1, 2], dtype=np.float32), np.ones(2, np.float32)),
        (mg.arange(0.0, 1.0, 0.25, requires_grad=True), np.arange(0.0, 1.0, 0.25)),
        (mg.arange(4, dtype=np.float32), np.arange(4, dtype=np.float32)),
        (mg.eye(2, 3, k=1), np.eye(2, 3, k=1)),
    ]
    for tensor, expected in cases:
        assert tensor.dtype == expected.dtype
        np.testing.assert_array_equal(tensor.data, expected)
    assert cases[0][0].requires_grad and not cases[2][0].requires_grad
    assert mg.arange(3).dtype.kind == "i"
    with pytest.raises(TypeError, match="floating"):
        mg.arange(3, requires_grad=True)


def test_clone_and_requires_grad_() -> None:
    x = mg.Tensor([1.0, 2.0]).requires_grad_()
    y = x.clone()
    assert y.data is not x.data and y.requires_grad
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])
    with pytest.raises(RuntimeError, match="leaves"):
        y.requires_grad_()
    assert x.requires_grad_(False).requires_grad is False


def test_tensor_methods_match_the_functions() -> None:
    x = mg.Tensor(np.arange(1.0, 7.0).reshape(2, 3))
    pairs = [
        (x.pow(2), mg.pow(x, 2)),
        (x.matmul(x.T), mg.matmul(x, x.T)),
        (x.softmax(), mg.softmax(x)),
        (x.log_softmax(0), mg.log_softmax(x, 0)),
        (x.square(), mg.square(x)),
        (x.norm(axis=1), mg.norm(x, axis=1)),
        (x.cumsum(1), mg.cumsum(x, 1)),
        (x.prod(0), mg.prod(x, 0)),
        (x.argmax(1), mg.argmax(x, 1)),
        (x.flip(0), mg.flip(x, 0)),
        (x.tril(), mg.tril(x)),
        (x.swapaxes(0, 1), mg.swapaxes(x, 0, 1)),
        (x.expm1(), mg.expm1(x)),
        (x.erf(), mg.erf(x)),
        (x.sort(0), mg.sort(x, 0)),
    ]
    for method, function in pairs:
        np.testing.assert_array_equal(method.data, function.data)


# ------------------------------------------------------------------ float32
FLOAT32_OPS: dict[str, Callable[[mg.Tensor], mg.Tensor]] = {
    "expm1": mg.expm1,
    "log2": lambda t: mg.log2(t * t + 1),
    "log10": lambda t: mg.log10(t * t + 1),
    "tan": lambda t: mg.tan(t * 0.5),
    "arctan": mg.arctan,
    "sinh": mg.sinh,
    "cosh": mg.cosh,
    "erf": mg.erf,
    "gelu": mg.gelu,
    "gelu_tanh": lambda t: mg.gelu(t, approximate="tanh"),
    "silu": mg.silu,
    "logaddexp": lambda t: mg.logaddexp(t, t * 0.5),
    "mod": lambda t: t % 0.7,
    "prod": lambda t: mg.prod(t, axis=1),
    "cumsum": lambda t: mg.cumsum(t, axis=0),
    "norm": lambda t: mg.norm(t, axis=1),
    "einsum": lambda t: mg.einsum("ij,kj->ik", t, t),
    "outer": lambda t: mg.outer(t[0], t[1]),
    "split": lambda t: mg.split(t, [1], axis=1)[1],
    "pad": lambda t: mg.pad(t, 1, constant_values=2.0),
    "take_along_axis": lambda t: mg.take_along_axis(t, np.array([[2, 0], [1, 1]]), 1),
    "tril": mg.tril,
    "triu": mg.triu,
    "flip": mg.flip,
    "roll": lambda t: mg.roll(t, 1, 1),
    "repeat": lambda t: mg.repeat(t, 2, 0),
    "tile": lambda t: mg.tile(t, (2, 1)),
    "moveaxis": lambda t: mg.moveaxis(t, 0, 1),
    "swapaxes": lambda t: mg.swapaxes(t, 0, 1),
    "sort": mg.sort,
}


@pytest.mark.parametrize("name", sorted(FLOAT32_OPS))
def test_float32_stays_float32_and_matches_float64(name: str) -> None:
    fun = FLOAT32_OPS[name]
    x64 = np.array([[0.3, -1.2, 0.8], [1.1, 0.45, -0.6]])
    x32 = mg.Tensor(x64.astype(np.float32), requires_grad=True)
    out32 = fun(x32)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.data, fun(mg.Tensor(x64)).data, rtol=2e-6, atol=1e-6)
    out32.sum().backward()
    assert x32.grad.dtype == np.float32
    expected = mg.grad(lambda t: fun(t).sum())(x64)
    np.testing.assert_allclose(x32.grad.data, expected.data, rtol=1e-5, atol=1e-5)


# -------------------------------------------------------------- einsum edges
def test_einsum_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="2 operands"):
        mg.einsum("ij,jk->ik", np.ones((2, 2)))
    with pytest.raises(ValueError, match="do not match"):
        mg.einsum("ijk->i", np.ones((2, 2)))


@settings(max_examples=25)
@given(
    shapes=hnp.mutually_broadcastable_shapes(signature="(i,j),(j,k)->(i,k)", max_dims=2),
    data=st.data(),
)
def test_einsum_batched_matmul_matches_matmul_gradients(shapes: Any, data: Any) -> None:
    a_shape, b_shape = shapes.input_shapes
    a = data.draw(hnp.arrays(np.float64, a_shape, elements=st.floats(-2, 2)))
    b = data.draw(hnp.arrays(np.float64, b_shape, elements=st.floats(-2, 2)))
    via_einsum = mg.grad(lambda s, t: mg.einsum("...ij,...jk->...ik", s, t).sum(), (0, 1))(a, b)
    via_matmul = mg.grad(lambda s, t: mg.matmul(s, t).sum(), (0, 1))(a, b)
    for got, want in zip(via_einsum, via_matmul, strict=True):
        np.testing.assert_allclose(got.data, want.data, rtol=1e-12, atol=1e-12)


def test_split_errors_and_forms() -> None:
    with pytest.raises(ValueError, match="equal sections"):
        mg.split(np.ones(5), 2)
    parts = mg.split(mg.Tensor(np.arange(6.0)), 3)
    assert [p.data.tolist() for p in parts] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]


def test_gelu_rejects_unknown_approximation() -> None:
    with pytest.raises(ValueError, match="approximate"):
        mg.gelu([1.0], approximate="fast")


def test_erf_matches_math_erf_on_both_kernel_paths() -> None:
    from minigrad.kernels import numpy_backend

    x = np.linspace(-4, 4, 20_000)
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_array_equal(numpy_backend.erf(x), expected)
    np.testing.assert_allclose(mg.erf(x).data, expected, rtol=0, atol=1e-15)
    try:
        from minigrad.kernels import numba_backend
    except ImportError:  # pragma: no cover - numba is a runtime dependency
        return
    np.testing.assert_allclose(numba_backend.erf(x.astype(np.float32)), expected, atol=1e-6)


# -------------------------------------------------------------- NumPy interop
def test_numpy_ufuncs_on_tensors_return_tensors_with_gradients() -> None:
    x = mg.Tensor([0.5, -1.0, 2.0], requires_grad=True)
    loss = (np.exp(x) + np.add(x, 1) * np.maximum(x, 0) + np.ones(3) * x - np.tanh(x)).sum()
    assert isinstance(loss, mg.Tensor)
    loss.backward()
    expected = mg.grad(lambda t: (mg.exp(t) + (t + 1) * mg.maximum(t, 0) + t - mg.tanh(t)).sum())(
        x.data
    )
    np.testing.assert_allclose(x.grad.data, expected.data)


def test_array_on_the_left_still_gives_a_tensor() -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    for result in (np.ones(2) + x, np.ones(2) * x, np.ones(2) - x, np.ones(2) / x, np.ones(2) ** x):
        assert isinstance(result, mg.Tensor) and result.requires_grad
    comparison = np.array([1.5, 1.5]) < x
    assert isinstance(comparison, mg.Tensor)
    assert comparison.data.tolist() == [False, True]


def test_numpy_array_functions_on_tensors() -> None:
    x = mg.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    results = [
        np.sum(x),
        np.mean(x, axis=0),
        np.concatenate([x, x]),
        np.linalg.norm(x),
        np.cumsum(x, axis=1),
        np.prod(x),
        np.einsum("ij->", x),
        np.flip(x),
        np.sort(x, axis=0),
        np.pad(x, 1),
        np.moveaxis(x, 0, 1),
        np.dot(x, x),
        np.dot(x[0], x[1]),
    ]
    for result in results:
        assert isinstance(result, mg.Tensor) and result.requires_grad
    np.sum(x).backward()
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 2)))
    assert np.shape(x) == (2, 2) and np.ndim(x) == 2 and np.size(x) == 4


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda t: np.fft.fft(t), "fft"),
        (lambda t: np.linalg.inv(t), "inv"),
        (lambda t: np.diff(t), "diff"),
        (lambda t: np.arccos(t), "arccos"),
        (lambda t: np.add.reduce(t), "add.reduce"),
        (lambda t: np.dot(t.reshape(1, 2, 2), t), "dot"),
        (lambda t: np.exp(t, out=np.zeros((2, 2))), "exp"),
    ],
)
def test_other_numpy_functions_raise_type_error_naming_them(call: Any, name: str) -> None:
    t = mg.Tensor(np.eye(2))
    with pytest.raises(TypeError, match=rf"{name}.*\.numpy\(\)"):
        call(t)
