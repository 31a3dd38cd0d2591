"""The ``Tensor`` as a user meets it: construction, dtypes, operators, methods, errors.

Gradients of every op are checked against finite differences in
``test_mg_ops_gradients.py``; here the questions are the ones the contract
answers in words: which dtype does a tensor get, does float32 stay float32,
do Python numbers and arrays mix on either side of an operator, what do
comparisons, ``__array__``, ``.item()`` and ``.detach()`` give, and does a
mistake produce an error that names the shapes involved.
"""

from __future__ import annotations

import operator
import re
from typing import Any

import numpy as np
import pytest

import minigrad as mg


def leaf(values: Any, dtype: Any = np.float64) -> mg.Tensor:
    return mg.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def gradient_of(fun: Any, x: mg.Tensor) -> np.ndarray:
    """Run ``fun(x).backward()`` on a fresh ``.grad`` and return it as an array."""
    x.grad = None
    fun(x).backward()
    assert x.grad is not None
    return x.grad.data


def assert_names_shapes(message: str, *shapes: tuple[int, ...]) -> None:
    """Each shape appears in the message, written ``(2, 3)`` or NumPy's ``(2,3)``."""
    compact = message.replace(" ", "")
    for shape in shapes:
        assert str(shape).replace(" ", "") in compact, (shape, message)


# ------------------------------------------------------------ construction
@pytest.mark.parametrize(
    ("data", "shape"),
    [(1, ()), (2.5, ()), ([], (0,)), ([1, 2, 3], (3,)), ([[1, 2.5], [3, 4]], (2, 2))],
)
def test_python_numbers_and_lists_become_float64(data: Any, shape: tuple[int, ...]) -> None:
    t = mg.Tensor(data)
    assert t.dtype == np.float64
    assert t.shape == shape
    assert isinstance(t.data, np.ndarray)
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float64))


def test_mg_tensor_is_the_constructor() -> None:
    t = mg.tensor([1, 2], requires_grad=True)
    assert isinstance(t, mg.Tensor)
    assert t.dtype == np.float64
    assert t.requires_grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_floating_arrays_keep_their_dtype(dtype: Any) -> None:
    array = np.array([1.5, -2.0], dtype=dtype)
    t = mg.Tensor(array, requires_grad=True)
    assert t.dtype == dtype
    assert t.requires_grad
    assert mg.Tensor(np.float32(1.5)).dtype == np.float32


def test_dtype_argument_casts() -> None:
    assert mg.Tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert mg.Tensor(np.array([1, 2]), dtype=np.float64).dtype == np.float64


def test_tensor_of_tensor_shares_the_value_not_the_graph() -> None:
    x = leaf([1.0, 2.0])
    y = mg.Tensor(x * 2)
    assert not y.requires_grad
    assert y.is_leaf
    np.testing.assert_array_equal(y.data, [2.0, 4.0])


@pytest.mark.parametrize("array", [np.arange(3), np.array([1, 2], dtype=np.int32)])
def test_integer_arrays_stay_integer_and_cannot_require_grad(array: np.ndarray) -> None:
    t = mg.Tensor(array)
    assert t.dtype == array.dtype
    assert not t.requires_grad
    with pytest.raises(TypeError):
        mg.Tensor(array, requires_grad=True)


def test_bool_data_cannot_require_grad() -> None:
    assert mg.Tensor([True, False]).dtype == np.bool_
    with pytest.raises(TypeError):
        mg.Tensor(np.array([True, False]), requires_grad=True)


def test_attributes() -> None:
    t = mg.Tensor(np.zeros((2, 3, 4), dtype=np.float32), requires_grad=True)
    assert (t.shape, t.ndim, t.size, t.dtype) == ((2, 3, 4), 3, 24, np.float32)
    assert t.grad is None
    assert t.numpy() is t.data


# ------------------------------------------------------------------ float32
FLOAT32_FUNCTIONS = {
    "arithmetic": lambda x: ((2.0 * x - 1) / (x * x + 1.0)).sum(),
    "power": lambda x: (x**2 + x**3).sum(),
    "reverse power": lambda x: (2.0**x).sum(),
    "exp log": lambda x: (mg.exp(x) + mg.log(x * x + 1)).sum(),
    "unary": lambda x: (mg.tanh(x) + mg.sigmoid(x) + mg.softplus(x) + mg.sqrt(x * x + 1)).sum(),
    "trig": lambda x: (mg.sin(x) * mg.cos(x)).sum(),
    "kinks": lambda x: (mg.relu(x) + mg.abs(x) + x.clip(-0.5, 0.5) + mg.maximum(x, 0.3)).sum(),
    "softmax": lambda x: (mg.softmax(x) * mg.Tensor(np.arange(3, dtype=np.float32))).sum(),
    "log_softmax": lambda x: mg.log_softmax(x)[0],
    "logsumexp": lambda x: x.logsumexp(),
    "statistics": lambda x: x.mean() + x.var() + x.std() + x.max() - x.min(),
    "matmul": lambda x: (x @ np.ones((3, 2), dtype=np.float32)).sum(),
    "indexing": lambda x: x[[0, 0, 2]].sum(),
    "where": lambda x: mg.where(x > 0, x, 0.0).sum(),
    "shape": lambda x: mg.stack([x, x]).reshape(3, 2).T.sum(),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_FUNCTIONS))
def test_float32_stays_float32_through_ops_and_gradients(name: str) -> None:
    fun = FLOAT32_FUNCTIONS[name]
    values = [0.5, -1.25, 2.0]
    x32, x64 = leaf(values, np.float32), leaf(values, np.float64)
    out32, out64 = fun(x32), fun(x64)
    assert out32.dtype == np.float32
    out32.backward()
    out64.backward()
    assert x32.grad is not None and x64.grad is not None
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(out32.data, out64.data, rtol=1e-5)
    np.testing.assert_allclose(x32.grad.data, x64.grad.data, rtol=1e-5, atol=1e-6)


def test_float32_gradient_is_float32_even_when_float64_is_mixed_in() -> None:
    x = leaf([1.0, 2.0], np.float32)
    out = (x * np.array([3.0, 4.0])).sum()  # NumPy promotes the product to float64
    assert out.dtype == np.float64
    out.backward()
    assert x.grad is not None
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


def test_grad_transform_keeps_float32() -> None:
    gradient = mg.grad(lambda x: (x * x).sum())(np.array([1.0, 2.0], dtype=np.float32))
    assert gradient.dtype == np.float32
    np.testing.assert_array_equal(gradient.data, [2.0, 4.0])


# --------------------------------------------------- operands on either side
SCALAR_EXPRESSIONS = {
    "2.0 * x": (lambda x: 2.0 * x, lambda v: 2.0 * v, lambda v: np.full_like(v, 2.0)),
    "x * 2": (lambda x: x * 2, lambda v: v * 2, lambda v: np.full_like(v, 2.0)),
    "x - 1": (lambda x: x - 1, lambda v: v - 1, np.ones_like),
    "1 - x": (lambda x: 1 - x, lambda v: 1 - v, lambda v: -np.ones_like(v)),
    "x + 1.5": (lambda x: x + 1.5, lambda v: v + 1.5, np.ones_like),
    "1.5 + x": (lambda x: 1.5 + x, lambda v: 1.5 + v, np.ones_like),
    "1 / x": (lambda x: 1 / x, lambda v: 1 / v, lambda v: -1 / v**2),
    "x / 4": (lambda x: x / 4, lambda v: v / 4, lambda v: np.full_like(v, 0.25)),
    "x ** 2": (lambda x: x**2, lambda v: v**2, lambda v: 2 * v),
    "2 ** x": (lambda x: 2**x, lambda v: 2.0**v, lambda v: 2.0**v * np.log(2.0)),
    "-x": (lambda x: -x, lambda v: -v, lambda v: -np.ones_like(v)),
    "np.ones(3) + x": (lambda x: np.ones(3) + x, lambda v: 1 + v, np.ones_like),
    "np.full(3, 2.0) * x": (lambda x: np.full(3, 2.0) * x, lambda v: 2 * v, lambda v: 2 + 0 * v),
    "np.ones(3) - x": (lambda x: np.ones(3) - x, lambda v: 1 - v, lambda v: -np.ones_like(v)),
    "np.ones(3) / x": (lambda x: np.ones(3) / x, lambda v: 1 / v, lambda v: -1 / v**2),
    "np.eye(3) @ x": (lambda x: np.eye(3) @ x, lambda v: v, np.ones_like),
    "x @ np.eye(3)": (lambda x: x @ np.eye(3), lambda v: v, np.ones_like),
    "[1, 2, 3] * x": (
        lambda x: mg.mul([1.0, 2.0, 3.0], x),
        lambda v: v * [1, 2, 3],
        lambda v: 0 * v + [1, 2, 3],
    ),
}


@pytest.mark.parametrize("name", sorted(SCALAR_EXPRESSIONS))
def test_numbers_and_arrays_mix_on_either_side(name: str) -> None:
    expression, value, derivative = SCALAR_EXPRESSIONS[name]
    v = np.array([0.5, -2.0, 3.0])
    x = leaf(v)
    out = expression(x)
    assert isinstance(out, mg.Tensor)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, value(v))
    out.backward(np.ones(out.shape))
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, derivative(v))


def test_numpy_array_on_the_left_returns_a_tensor_for_every_operator() -> None:
    x = leaf([1.0, 2.0])
    a = np.array([3.0, 4.0])
    for op in (operator.add, operator.sub, operator.mul, operator.truediv, operator.pow):
        result = op(a, x)
        assert isinstance(result, mg.Tensor), op
        assert result.requires_grad
        np.testing.assert_allclose(result.data, op(a, x.data))


# -------------------------------------------------------------- comparisons
COMPARISONS = [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne]


@pytest.mark.parametrize("op", COMPARISONS, ids=lambda op: op.__name__)
def test_comparisons_return_bool_tensors_without_grad(op: Any) -> None:
    v = np.array([1.0, 2.0, 3.0])
    x = leaf(v)
    for other in (2.0, np.array([3.0, 2.0, 1.0]), mg.Tensor([3.0, 2.0, 1.0])):
        for result, expected in (
            (op(x, other), op(v, np.asarray(other))),
            (op(other, x), op(np.asarray(other), v)),
        ):
            assert isinstance(result, mg.Tensor)
            assert result.dtype == np.bool_
            assert not result.requires_grad
            assert result.is_leaf
            np.testing.assert_array_equal(result.data, expected)


def test_a_comparison_used_as_a_mask_carries_no_gradient() -> None:
    x = leaf([-1.0, 2.0])
    gradient = gradient_of(lambda t: mg.where(t > 0, t * 3.0, t * 5.0).sum(), x)
    np.testing.assert_array_equal(gradient, [5.0, 3.0])


# ---------------------------------------------- __array__, item, detach
def test_array_protocol_works_with_numpy_helpers() -> None:
    x = leaf([1.0, 2.0])
    y = x * 2
    assert isinstance(np.asarray(y), np.ndarray)
    np.testing.assert_allclose(y, [2.0, 4.0])
    np.testing.assert_array_equal(np.asarray(y, dtype=np.float32), np.float32([2.0, 4.0]))
    assert np.asarray(y).dtype == np.float64


def test_array_protocol_works_for_0d_results() -> None:
    """Every 0-d result, not just reductions, must convert to an ndarray."""
    x = leaf(3.0)
    for result in (x * 2.0, x + 1.0, -x, mg.exp(x), mg.sign(x), x.sum() * 2.0):
        array = np.asarray(result)
        assert isinstance(array, np.ndarray)
        assert array.shape == ()
        np.testing.assert_allclose(result, result.data)


def test_item() -> None:
    x = leaf([[2.5]])
    value = x.item()
    assert type(value) is float
    assert value == 2.5
    assert (x.sum() * 2).item() == 5.0
    with pytest.raises(ValueError):
        leaf([1.0, 2.0]).item()


def test_detach_cuts_the_graph_and_keeps_the_value() -> None:
    x = leaf([1.0, 2.0])
    d = (x * 3).detach()
    assert not d.requires_grad
    assert d.is_leaf
    np.testing.assert_array_equal(d.data, [3.0, 6.0])
    # x * detach(x): autodiff sees a constant factor, so the gradient is x, not 2x.
    np.testing.assert_array_equal(gradient_of(lambda t: (t * t.detach()).sum(), x), [1.0, 2.0])


# --------------------------------------------------------------- reductions
REDUCTION_METHODS = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
    "var": np.var,
    "std": np.std,
    "logsumexp": lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims)),
}


AXES = [None, 0, 2, -1, -3, (0, 2), (-1, 0), (1,), ()]
# std over no axis at all is sqrt(0), which has no derivative: left out.
REDUCTION_CASES = [
    (method, axis)
    for method in sorted(REDUCTION_METHODS)
    for axis in AXES
    if not (method == "std" and axis == ())
]


@pytest.mark.parametrize(("method", "axis"), REDUCTION_CASES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_methods(method: str, axis: Any, keepdims: bool) -> None:
    values = np.random.default_rng(7).permutation(24).reshape(2, 3, 4) / 7.0
    x = leaf(values)
    out = getattr(x, method)(axis=axis, keepdims=keepdims)
    expected = REDUCTION_METHODS[method](values, axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    # The method and the function are the same operation.
    np.testing.assert_allclose(getattr(mg, method)(x, axis=axis, keepdims=keepdims).data, expected)
    out.backward(np.ones(out.shape))
    assert x.grad is not None
    assert x.grad.shape == x.shape


def test_reduction_axis_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError):
        leaf(np.ones((2, 3))).sum(axis=2)
    with pytest.raises(ValueError):
        leaf(np.ones((2, 3))).sum(axis=(0, -2))


def test_var_and_std_take_ddof_like_numpy() -> None:
    values = np.array([[1.0, 4.0, 2.0], [0.5, 3.0, -1.0]])
    x = leaf(values)
    np.testing.assert_allclose(x.var(axis=1, ddof=1).data, np.var(values, axis=1, ddof=1))
    np.testing.assert_allclose(mg.std(x, axis=0, ddof=1).data, np.std(values, axis=0, ddof=1))
    np.testing.assert_allclose(mg.var(x).data, np.var(values))


# ---------------------------------------------------------------- shape ops
def test_shape_methods() -> None:
    values = np.arange(6.0)
    x = leaf(values)
    cases = [
        (x.reshape(2, 3), values.reshape(2, 3)),
        (x.reshape((2, 3)), values.reshape(2, 3)),
        (x.reshape([3, -1]), values.reshape(3, 2)),
        (x.reshape(-1, 1, 2), values.reshape(-1, 1, 2)),
        (x.reshape(2, 3).T, values.reshape(2, 3).T),
        (x.reshape(2, 3).transpose(1, 0), values.reshape(2, 3).T),
        (x.reshape(2, 3).transpose((1, 0)), values.reshape(2, 3).T),
        (x.reshape(1, 2, 3).transpose(), values.reshape(1, 2, 3).T),
        (x.reshape(1, 2, 3).transpose(2, 0, 1), values.reshape(1, 2, 3).transpose(2, 0, 1)),
        (x.reshape(1, 6, 1).squeeze(), values),
        (x.reshape(1, 6, 1).squeeze(0), values.reshape(6, 1)),
        (x.reshape(1, 6, 1).squeeze(-1), values.reshape(1, 6)),
        (x.unsqueeze(0), values[None]),
        (x.unsqueeze(-1), values[:, None]),
        (x.reshape(2, 3).flatten(), values),
        (x.reshape(2, 3).broadcast_to((4, 2, 3)), np.broadcast_to(values.reshape(2, 3), (4, 2, 3))),
        (mg.transpose(x.reshape(2, 3)), values.reshape(2, 3).T),
        (mg.flatten(x.reshape(3, 2)), values),
    ]
    weights = np.random.default_rng(3)
    for result, expected in cases:
        assert result.shape == expected.shape
        np.testing.assert_array_equal(result.data, expected)
        # The gradient puts each weight back where its element came from.
        w = weights.standard_normal(expected.shape)
        x.grad = None
        (result * w).sum().backward()
        assert x.grad is not None
        np.testing.assert_allclose(x.grad.data, _pull_back(values, expected, w))


def _pull_back(values: np.ndarray, expected: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Sum the weights of every output element that holds each input value (all distinct)."""
    grad = np.zeros_like(values)
    for i, v in enumerate(values):
        grad[i] = w[expected == v].sum()
    return grad


def test_squeeze_of_a_non_unit_axis_is_an_error() -> None:
    with pytest.raises(ValueError):
        leaf(np.ones((2, 3))).squeeze(0)


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "op",
    [
        operator.add,
        operator.sub,
        operator.mul,
        operator.truediv,
        operator.pow,
        mg.maximum,
        mg.minimum,
        operator.lt,
    ],
    ids=lambda op: getattr(op, "__name__", str(op)),
)
def test_shapes_that_do_not_broadcast_name_both_shapes(op: Any) -> None:
    x, y = leaf(np.ones((2, 3))), leaf(np.ones((4,)))
    with pytest.raises(ValueError) as info:
        op(x, y)
    assert_names_shapes(str(info.value), (2, 3), (4,))


def test_where_with_shapes_that_do_not_broadcast_names_them() -> None:
    with pytest.raises(ValueError) as info:
        mg.where(np.ones((2, 3), dtype=bool), leaf(np.ones(4)), 0.0)
    assert_names_shapes(str(info.value), (2, 3), (4,))


def test_broadcast_to_an_incompatible_shape_names_both_shapes() -> None:
    with pytest.raises(ValueError) as info:
        leaf(np.ones((2, 3))).broadcast_to((4, 2))
    assert_names_shapes(str(info.value), (2, 3), (4, 2))


@pytest.mark.parametrize("new_shape", [(4,), (4, -1), (5, 2)])
def test_bad_reshape_names_both_shapes(new_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError) as info:
        leaf(np.ones((2, 3))).reshape(new_shape)
    assert_names_shapes(str(info.value), (2, 3), new_shape)


@pytest.mark.parametrize(
    ("left", "right"),
    [((2, 3), (2, 3)), ((3,), (4,)), ((2, 3), (4,)), ((5,), (2, 3)), ((2, 3, 4), (5, 4, 2))],
)
def test_matmul_mismatch_names_both_shapes(left: tuple[int, ...], right: tuple[int, ...]) -> None:
    with pytest.raises(ValueError) as info:
        leaf(np.ones(left)) @ leaf(np.ones(right))
    assert_names_shapes(str(info.value), left, right)


def test_matmul_of_a_0d_tensor_is_an_error() -> None:
    with pytest.raises(ValueError) as info:
        mg.matmul(leaf(2.0), leaf(np.ones(3)))
    assert_names_shapes(str(info.value), (), (3,))


@pytest.mark.parametrize(
    ("left", "right", "axis"),
    [((2, 3), (2, 4), 0), ((2, 3), (3, 3), 1), ((2, 3), (6,), 0), ((2, 3), (2, 3, 1), 0)],
)
def test_concatenate_mismatch_names_both_shapes(
    left: tuple[int, ...], right: tuple[int, ...], axis: int
) -> None:
    with pytest.raises(ValueError) as info:
        mg.concatenate([leaf(np.ones(left)), leaf(np.ones(right))], axis=axis)
    assert_names_shapes(str(info.value), left, right)


def test_stack_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError) as info:
        mg.stack([leaf(np.ones((2, 3))), leaf(np.ones((3, 2)))])
    assert_names_shapes(str(info.value), (2, 3), (3, 2))


def test_concatenate_of_0d_tensors_is_an_error() -> None:
    with pytest.raises(ValueError, match=re.escape("()")):
        mg.concatenate([leaf(1.0), leaf(2.0)])


def test_backward_grad_of_the_wrong_shape_names_both_shapes() -> None:
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(ValueError) as info:
        (x * 2).backward(np.ones((2,)))
    assert_names_shapes(str(info.value), (2,), (3,))
