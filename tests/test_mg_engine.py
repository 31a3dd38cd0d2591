"""The engine's sore spots, each pinned by a test.

These are the places where small autodiff engines usually go wrong: a node
reached along two paths, ``backward`` run twice, very deep graphs, ``-inf``
and huge logits, negative bases, in-place changes, the subgradient
conventions at kinks, the per-thread ``no_grad`` switch, higher-order
derivatives, and the JAX-style ``grad``/``value_and_grad`` transforms.
Expected values are worked out by hand (or with NumPy) in each test.
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any

import numpy as np
import pytest

import minigrad as mg


def leaf(values: Any, dtype: Any = np.float64) -> mg.Tensor:
    return mg.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def grad_array(x: mg.Tensor) -> np.ndarray:
    assert x.grad is not None
    return x.grad.data


# ------------------------------------------------------- graph structure
def test_shared_subexpression_used_twice() -> None:
    x = leaf([1.5, -2.0])
    y = x * x
    z = (y + y).sum()
    z.backward()
    np.testing.assert_allclose(grad_array(x), 4 * x.data)


def test_shared_subexpression_at_different_depths() -> None:
    v = np.array([0.3, -0.7])
    x = leaf(v)
    y = x * x
    (y * mg.exp(y) + y).sum().backward()
    y_value = v * v
    np.testing.assert_allclose(grad_array(x), (np.exp(y_value) * (1 + y_value) + 1) * 2 * v)


def test_same_leaf_on_both_sides() -> None:
    x = leaf(3.0)
    (x * x * x - x / x).backward()
    assert float(grad_array(x)) == pytest.approx(27.0)


def test_backward_twice_accumulates() -> None:
    x = leaf([1.0, -2.0])
    z = (x * x).sum()
    z.backward(retain_graph=True)
    np.testing.assert_allclose(grad_array(x), [2.0, -4.0])
    z.backward()
    np.testing.assert_allclose(grad_array(x), [4.0, -8.0])
    # A second graph adds to the same .grad as well.
    (3 * x).sum().backward()
    np.testing.assert_allclose(grad_array(x), [7.0, -5.0])


def test_intermediate_nodes_get_no_grad() -> None:
    x = leaf([1.0, 2.0])
    y = x * 2
    y.sum().backward()
    # Reading it is allowed, with PyTorch's warning (retain_grad() keeps it).
    with pytest.warns(UserWarning, match="not a leaf"):
        assert y.grad is None
    assert x.grad is not None


def test_grad_of_a_sum_is_writable_memory_of_its_own() -> None:
    x = leaf([1.0, 2.0, 3.0])
    x.sum().backward()
    assert x.grad is not None
    x.grad.data[0] = 5.0  # the gradient of a sum must not be a read-only broadcast view
    np.testing.assert_array_equal(grad_array(x), [5.0, 1.0, 1.0])


def test_leaf_grads_do_not_share_memory() -> None:
    """Writing into one leaf's .grad (as in-place clipping does) must leave the
    other leaves' gradients, and the caller's seed array, alone."""
    x, z = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    ((x + z) * 1.0).sum().backward()
    assert x.grad is not None and z.grad is not None
    assert not np.shares_memory(x.grad.data, z.grad.data)
    x.grad.data *= 0.5
    np.testing.assert_array_equal(grad_array(z), [1.0, 1.0])

    x, z = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    seed = np.array([1.0, -1.0])
    (x + z).backward(seed)
    assert not np.shares_memory(grad_array(x), seed)
    assert not np.shares_memory(grad_array(x), grad_array(z))

    dx, dz = mg.grad(lambda a, b: ((a + b) * 1.0).sum(), argnums=(0, 1))([1.0], [2.0])
    assert not np.shares_memory(dx.data, dz.data)


def test_ten_thousand_deep_chain() -> None:
    x = leaf(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert float(grad_array(x)) == pytest.approx(1.0001**10_000, rel=1e-9)


def test_ten_thousand_deep_chain_with_a_shared_leaf_and_grad_transform() -> None:
    def chain(x: mg.Tensor) -> mg.Tensor:
        y = x
        for _ in range(10_000):
            y = y + x * x
        return y

    # y = x + 10000 x², so dy/dx = 1 + 20000 x and d²y/dx² = 20000.
    assert float(mg.grad(chain)(0.5).data) == pytest.approx(10_001.0)
    assert float(mg.grad(mg.grad(chain))(0.5).data) == pytest.approx(20_000.0)


# ------------------------------------------------------ stable softmax family
WEIGHTS = np.array([[1.0, -2.0, 0.5], [3.0, 1.0, -1.0], [0.5, 2.0, 1.5], [-1.0, 4.0, 2.0]])
INF = np.inf
ROWS = np.array(
    [
        [1e4, 1e4, 1e4 - 1.0],  # huge: exp overflows without the shift
        [-1e4, -1e4, -1e4 - 1.0],  # tiny: exp underflows without the shift
        [0.0, -INF, 1.0],  # a masked entry
        [-INF, -INF, -INF],  # a fully masked row
    ]
)
# The shift cancels exactly, so the expected values are those of the unshifted rows.
SHIFTED = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [0.0, -INF, 1.0]])
LSE_OF_SHIFTED = np.log(np.exp(SHIFTED).sum(axis=1))
SOFTMAX = np.vstack([np.exp(SHIFTED - LSE_OF_SHIFTED[:, None]), np.zeros((1, 3))])


def test_logsumexp_at_inf_and_1e4() -> None:
    x = leaf(ROWS)
    out = mg.logsumexp(x, axis=1)
    expected = [1e4 + LSE_OF_SHIFTED[0], -1e4 + LSE_OF_SHIFTED[1], LSE_OF_SHIFTED[2], -INF]
    np.testing.assert_allclose(out.data, expected, rtol=1e-15)
    (out * WEIGHTS[:, 0]).sum().backward()
    # d logsumexp = softmax: zero on masked entries and on the fully masked row.
    np.testing.assert_allclose(grad_array(x), SOFTMAX * WEIGHTS[:, :1], rtol=1e-12)
    assert np.isfinite(grad_array(x)).all()


def test_logsumexp_keepdims_and_whole_tensor() -> None:
    x = leaf(ROWS[:3])
    np.testing.assert_allclose(
        mg.logsumexp(x, axis=-1, keepdims=True).data,
        (np.array([1e4, -1e4, 0.0]) + LSE_OF_SHIFTED)[:, None],
        rtol=1e-15,
    )
    assert float(mg.logsumexp(leaf([-INF, -INF])).data) == -INF
    assert float(mg.logsumexp(leaf([1e4, 1e4])).data) == pytest.approx(1e4 + math.log(2), 1e-15)


def test_softmax_at_inf_and_1e4() -> None:
    x = leaf(ROWS)
    out = mg.softmax(x)
    np.testing.assert_allclose(out.data, SOFTMAX, rtol=1e-12, atol=0)
    (out * WEIGHTS).sum().backward()
    s = SOFTMAX
    expected = s * (WEIGHTS - (WEIGHTS * s).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(grad_array(x), expected, rtol=1e-12, atol=1e-15)
    assert np.isfinite(grad_array(x)).all()
    np.testing.assert_array_equal(grad_array(x)[3], [0.0, 0.0, 0.0])


def test_log_softmax_at_inf_and_1e4() -> None:
    x = leaf(ROWS)
    out = mg.log_softmax(x, axis=1)
    expected = np.vstack([SHIFTED - LSE_OF_SHIFTED[:, None], [-INF, -INF, -INF]])
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    assert not np.isnan(out.data).any()
    # A loss uses the finite entries only (masking with where, not multiplying -inf by 0).
    finite = np.isfinite(expected)
    loss = mg.where(finite, out * WEIGHTS, 0.0).sum()
    loss.backward()
    g = np.where(finite, WEIGHTS, 0.0)
    expected_grad = g - SOFTMAX * g.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(grad_array(x), expected_grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(grad_array(x)[3], [0.0, 0.0, 0.0])


def test_log_softmax_gradient_at_masked_entries_is_finite_and_consistent() -> None:
    """d log_softmax_j / d x_j = 1 - softmax_j = 1 at a -inf entry, masked row or not."""
    x = leaf([[0.0, -INF], [-INF, -INF]])
    w = np.array([[2.0, 3.0], [5.0, 7.0]])
    mg.log_softmax(x).backward(w)
    np.testing.assert_array_equal(grad_array(x), [[2.0 - 5.0, 3.0], [5.0, 7.0]])


def test_second_derivative_of_logsumexp_with_masked_entry() -> None:
    # H = diag(s) - s sᵀ with s = softmax([0, -inf, 1]); the masked row and column are 0.
    v = np.array([1.0, 2.0, -1.0])
    s = SOFTMAX[2]
    hvp = mg.grad(lambda t: (mg.grad(mg.logsumexp)(t) * v).sum())(ROWS[2])
    np.testing.assert_allclose(hvp.data, s * v - s * (s @ v), rtol=1e-12, atol=1e-15)


# -------------------------------------------------------- pow, negative base
@pytest.mark.parametrize(
    ("base", "exponent", "value", "slope", "curvature"),
    [
        (-2.0, 2, 4.0, -4.0, 2.0),
        (-2.0, 3, -8.0, 12.0, -12.0),
        (-2.0, -1, -0.5, -0.25, -0.25),
        (-2.0, -2, 0.25, 0.25, 0.375),
        (-0.5, 3, -0.125, 0.75, -3.0),
        (-3.0, 1, -3.0, 1.0, 0.0),
        (-3.0, 0, 1.0, 0.0, 0.0),
    ],
)
def test_pow_negative_base_integer_exponent(
    base: float, exponent: int, value: float, slope: float, curvature: float
) -> None:
    for power in (lambda t: t**exponent, lambda t: mg.pow(t, float(exponent))):
        x = leaf(base)
        y = power(x)
        assert float(y.data) == value
        y.backward(create_graph=True)
        assert float(grad_array(x)) == pytest.approx(slope, rel=1e-15)
        first = x.grad
        assert first is not None
        x.grad = None
        first.backward()
        assert float(grad_array(x)) == pytest.approx(curvature, rel=1e-15)


def test_pow_zero_exponent_at_zero_base_has_zero_slope() -> None:
    """x**0 is the constant 1, so its slope is 0 everywhere, at x = 0 too (as in PyTorch)."""
    x = leaf([0.0, 2.0, -1.0])
    (x**0).sum().backward()
    np.testing.assert_array_equal(grad_array(x), [0.0, 0.0, 0.0])


def test_pow_at_zero_base_with_positive_integer_exponent() -> None:
    x = leaf([0.0, 0.0])
    (x**2 + x**1).sum().backward()
    np.testing.assert_array_equal(grad_array(x), [1.0, 1.0])


# ----------------------------------------------------------------- in place
def test_in_place_change_to_a_tensor_that_requires_grad_is_an_error() -> None:
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError):
        x[0] = 1.0
    y = x * 2
    with pytest.raises(RuntimeError):
        y[1] = 0.0
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


def test_in_place_change_to_a_constant_outside_any_graph_is_allowed() -> None:
    a = mg.Tensor([1.0, 2.0])
    a[0] = 5.0
    np.testing.assert_array_equal(a.data, [5.0, 2.0])
    x = leaf([1.0, 1.0])
    (a * x).sum().backward()  # the graph is built after the change: no complaint
    np.testing.assert_array_equal(grad_array(x), [5.0, 2.0])


def test_in_place_change_to_a_saved_tensor_then_backward_is_an_error() -> None:
    a = mg.Tensor([1.0, 2.0])
    x = leaf([3.0, 4.0])
    y = (a * x).sum()
    a[0] = 10.0
    with pytest.raises(RuntimeError, match="modified"):
        y.backward()


def test_in_place_change_inside_a_transformed_function_is_an_error() -> None:
    def f(x: mg.Tensor) -> mg.Tensor:
        c = mg.Tensor([1.0, 2.0])
        y = (c * x).sum()
        c[1] = 0.0
        return y

    with pytest.raises(RuntimeError, match="modified"):
        mg.grad(f)([1.0, 1.0])


def test_in_place_change_through_a_detached_alias_is_caught() -> None:
    """``detach`` shares memory (as in PyTorch), so writing through it would change a
    saved tensor; the write itself is refused, and the gradient stays right."""
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    alias = x.detach()
    with pytest.raises(RuntimeError, match="in-place"):
        alias[0] = 5.0
    y.backward()
    np.testing.assert_array_equal(grad_array(x), [2.0, 4.0])


# ------------------------------------------------------------- subgradients
@pytest.mark.parametrize(
    ("fun", "expected"),
    [(mg.abs, [-1.0, 0.0, 1.0]), (mg.relu, [0.0, 0.0, 1.0]), (mg.sign, [0.0, 0.0, 0.0])],
    ids=["abs", "relu", "sign"],
)
def test_derivative_is_zero_at_zero(fun: Any, expected: list[float]) -> None:
    x = leaf([-2.0, 0.0, 3.0])
    fun(x).sum().backward()
    np.testing.assert_array_equal(grad_array(x), expected)


def test_methods_share_the_subgradient_conventions() -> None:
    x = leaf([0.0])
    (x.abs() + x.relu()).sum().backward()
    np.testing.assert_array_equal(grad_array(x), [0.0])


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (-1.0, 1.0, [0.0, 1.0, 1.0, 1.0, 0.0]),
        (None, 1.0, [1.0, 1.0, 1.0, 1.0, 0.0]),
        (-1.0, None, [0.0, 1.0, 1.0, 1.0, 1.0]),
    ],
)
def test_clip_passes_the_gradient_at_its_bounds(lo: Any, hi: Any, expected: list[float]) -> None:
    x = leaf([-2.0, -1.0, 0.0, 1.0, 2.0])
    mg.clip(x, lo, hi).sum().backward()
    np.testing.assert_array_equal(grad_array(x), expected)


@pytest.mark.parametrize(
    ("reduce", "values", "axis", "expected"),
    [
        (mg.max, [1.0, 3.0, 3.0], None, [0.0, 0.5, 0.5]),
        (mg.min, [2.0, 1.0, 1.0, 5.0], None, [0.0, 0.5, 0.5, 0.0]),
        (mg.max, [4.0, 4.0, 4.0, 4.0], 0, [0.25] * 4),
        (mg.max, [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], 1, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]),
        (mg.min, [[1.0, 3.0], [1.0, 0.0]], 0, [[0.5, 0.0], [0.5, 1.0]]),
        (mg.max, [[1.0, 3.0], [3.0, 0.0]], None, [[0.0, 0.5], [0.5, 0.0]]),
    ],
)
def test_max_min_reductions_split_ties_evenly(
    reduce: Any, values: Any, axis: Any, expected: Any
) -> None:
    for keepdims in (False, True):
        x = leaf(values)
        reduce(x, axis=axis, keepdims=keepdims).sum().backward()
        np.testing.assert_allclose(grad_array(x), expected, rtol=1e-15)


def test_maximum_minimum_ties_split_half_half() -> None:
    x, y = leaf([1.0, 2.0, 3.0]), leaf([2.0, 2.0, 2.0])
    mg.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(grad_array(x), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(grad_array(y), [1.0, 0.5, 0.0])
    x.grad = y.grad = None
    mg.minimum(x, y).sum().backward()
    np.testing.assert_array_equal(grad_array(x), [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(grad_array(y), [0.0, 0.5, 1.0])


def test_maximum_tie_with_a_broadcast_scalar() -> None:
    x, s = leaf([1.0, 2.0, 2.0, 3.0]), leaf(2.0)
    mg.maximum(x, s).sum().backward()
    np.testing.assert_array_equal(grad_array(x), [0.0, 0.5, 0.5, 1.0])
    assert float(grad_array(s)) == 2.0  # 1 + 0.5 + 0.5 + 0


def test_sqrt_at_zero_gives_inf() -> None:
    x = leaf([0.0, 4.0])
    with np.errstate(divide="ignore"):
        mg.sqrt(x).sum().backward()
    np.testing.assert_array_equal(grad_array(x), [np.inf, 0.25])


def test_sqrt_at_zero_gives_inf_without_a_warning() -> None:
    """The documented convention is a value, not a NumPy divide-by-zero warning."""
    x = leaf([0.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mg.sqrt(x).sum().backward()
    np.testing.assert_array_equal(grad_array(x), [np.inf, 0.25])


# ------------------------------------------------------------------ no_grad
def test_no_grad_records_no_graph() -> None:
    x = leaf([1.0, 2.0])
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = (x * 2).exp().sum()
    assert mg.is_grad_enabled()
    assert not y.requires_grad
    assert y.is_leaf
    with pytest.raises(RuntimeError):
        y.backward()


def test_no_grad_as_a_decorator_and_enable_grad_inside() -> None:
    x = leaf([1.0])

    @mg.no_grad()
    def values_only(t: mg.Tensor) -> mg.Tensor:
        return t * 3

    assert not values_only(x).requires_grad
    with mg.no_grad(), mg.enable_grad():
        assert (x * 3).requires_grad


def test_no_grad_restores_the_state_after_an_exception() -> None:
    with pytest.raises(KeyError), mg.no_grad():
        raise KeyError("boom")
    assert mg.is_grad_enabled()


def test_no_grad_in_one_thread_does_not_affect_another() -> None:
    x = leaf([1.0, 2.0])
    worker_inside = threading.Event()
    main_checked = threading.Event()
    seen: dict[str, bool] = {}

    def worker() -> None:
        with mg.no_grad():
            worker_inside.set()
            main_checked.wait(10)
            seen["worker enabled"] = mg.is_grad_enabled()
            seen["worker records"] = (x * 2).requires_grad
        seen["worker enabled after"] = mg.is_grad_enabled()

    thread = threading.Thread(target=worker)
    thread.start()
    assert worker_inside.wait(10)
    # The worker is inside no_grad right now; this thread still records.
    enabled_here = mg.is_grad_enabled()
    records_here = (x * 2).requires_grad
    main_checked.set()
    thread.join(10)
    assert not thread.is_alive()
    assert enabled_here and records_here
    assert seen == {
        "worker enabled": False,
        "worker records": False,
        "worker enabled after": True,
    }


def test_leaving_no_grad_in_one_thread_does_not_turn_recording_on_in_another() -> None:
    x = leaf([1.0])
    worker_done = threading.Event()
    seen: dict[str, bool] = {}

    def worker() -> None:
        # A new thread starts with recording on, whatever the spawning thread does.
        seen["starts enabled"] = mg.is_grad_enabled()
        with mg.no_grad():
            pass
        seen["records"] = (x * 2).requires_grad
        worker_done.set()

    with mg.no_grad():
        thread = threading.Thread(target=worker)
        thread.start()
        assert worker_done.wait(10)
        still_disabled = not mg.is_grad_enabled()
        records_here = (x * 2).requires_grad
    thread.join(10)
    assert still_disabled
    assert not records_here
    assert seen == {"starts enabled": True, "records": True}


# ----------------------------------------------------------------- backward
def test_backward_on_a_non_scalar_needs_grad() -> None:
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="scalar"):
        (x * 2).backward()
    assert x.grad is None


def test_backward_with_grad_for_a_non_scalar() -> None:
    x = leaf([1.0, 2.0, 3.0])
    (x * x).backward(np.array([1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(grad_array(x), [2.0, 2.0, -6.0])
    x.grad = None
    (x * 2).backward(mg.Tensor([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(grad_array(x), [2.0, 2.0, 2.0])


def test_backward_on_a_one_element_tensor_needs_no_grad() -> None:
    x = leaf([[2.0]])
    (x * x).backward()
    np.testing.assert_array_equal(grad_array(x), [[4.0]])


def test_first_order_backward_gives_a_plain_grad() -> None:
    x = leaf(2.0)
    (x**3).backward()
    assert x.grad is not None
    assert not x.grad.requires_grad


def test_create_graph_gives_a_differentiable_grad() -> None:
    x = leaf(2.0)
    (x**3).backward(create_graph=True)
    first = x.grad
    assert first is not None and first.requires_grad
    assert float(first.data) == 12.0  # 3x²
    x.grad = None
    first.backward(create_graph=True)
    second = x.grad
    assert second is not None
    assert float(second.data) == 12.0  # 6x
    x.grad = None
    second.backward()
    assert float(grad_array(x)) == 6.0  # 6


def test_gradient_penalty_via_backward_create_graph() -> None:
    # f = Σ x³: ∇f = 3x², P = ||∇f||² = 9 Σ x⁴, ∇P = 36 x³.
    v = np.array([0.5, -1.0, 2.0])
    x = leaf(v)
    (x**3).sum().backward(create_graph=True)
    gradient = x.grad
    assert gradient is not None
    x.grad = None
    (gradient**2).sum().backward()
    np.testing.assert_allclose(grad_array(x), 36 * v**3, rtol=1e-14)


def test_gradient_penalty_via_grad_transform_with_two_arguments() -> None:
    # f(x, w) = Σ sin(x) w: ∇ₓf = cos(x) w, P = Σ cos²(x) w²,
    # ∂P/∂x = -2 cos x sin x w², ∂P/∂w = 2 cos²(x) w.
    xv, wv = np.array([0.3, -1.1, 2.0]), np.array([1.5, -0.5, 2.0])

    def penalty(x: mg.Tensor, w: mg.Tensor) -> mg.Tensor:
        g = mg.grad(lambda a, b: (mg.sin(a) * b).sum())(x, w)
        return (g * g).sum()

    dx, dw = mg.grad(penalty, argnums=(0, 1))(xv, wv)
    np.testing.assert_allclose(dx.data, -2 * np.cos(xv) * np.sin(xv) * wv**2, rtol=1e-13)
    np.testing.assert_allclose(dw.data, 2 * np.cos(xv) ** 2 * wv, rtol=1e-13)


# --------------------------------------------------------------- transforms
def f_xy(x: mg.Tensor, y: mg.Tensor) -> mg.Tensor:
    return (x * x * y).sum()


def test_grad_argnums_int_and_tuple() -> None:
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_array_equal(mg.grad(f_xy)(x, y).data, 2 * x * y)
    np.testing.assert_array_equal(mg.grad(f_xy, argnums=1)(x, y).data, x * x)
    dy, dx = mg.grad(f_xy, argnums=(1, 0))(x, y)
    np.testing.assert_array_equal(dy.data, x * x)
    np.testing.assert_array_equal(dx.data, 2 * x * y)
    single = mg.grad(f_xy, argnums=(0,))(x, y)
    assert isinstance(single, tuple) and len(single) == 1


def test_value_and_grad() -> None:
    value, (dx, dy) = mg.value_and_grad(f_xy, argnums=(0, 1))([1.0, 2.0], [3.0, -1.0])
    assert float(value.data) == 3.0 - 4.0
    assert not value.requires_grad
    np.testing.assert_array_equal(dx.data, [6.0, -4.0])
    np.testing.assert_array_equal(dy.data, [1.0, 4.0])


def test_has_aux() -> None:
    def f(x: mg.Tensor) -> tuple[mg.Tensor, dict[str, float]]:
        loss = (x**2).sum()
        return loss, {"norm": float(np.sqrt(loss.data))}

    (value, aux), gradient = mg.value_and_grad(f, has_aux=True)([3.0, 4.0])
    assert float(value.data) == 25.0
    assert aux == {"norm": 5.0}
    np.testing.assert_array_equal(gradient.data, [6.0, 8.0])
    gradient, aux = mg.grad(f, has_aux=True)([3.0, 4.0])
    np.testing.assert_array_equal(gradient.data, [6.0, 8.0])
    assert aux == {"norm": 5.0}


def test_grad_of_a_non_scalar_result_is_an_error() -> None:
    with pytest.raises(ValueError, match="scalar"):
        mg.grad(lambda x: x * 2)([1.0, 2.0])
    with pytest.raises(ValueError, match="scalar"):
        mg.value_and_grad(lambda x: x * 2)([1.0, 2.0])


@pytest.mark.parametrize("argument", [np.array([1, 2]), np.array([True, False]), np.int64(3)])
def test_grad_with_respect_to_an_integer_or_bool_argument_is_an_error(argument: Any) -> None:
    with pytest.raises(TypeError):
        mg.grad(lambda x: (x * 1.0).sum())(argument)


@pytest.mark.parametrize(
    "fun",
    [lambda x: 3.0, lambda x: mg.Tensor(2.0) * 5.0, lambda x: np.float64(1.5)],
    ids=["python float", "constant tensor", "numpy scalar"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_function_not_depending_on_its_input_gets_zero_gradients(fun: Any, dtype: Any) -> None:
    x = np.ones((2, 3), dtype=dtype)
    value, gradient = mg.value_and_grad(fun)(x)
    assert float(value.data) == float(mg.Tensor(fun(None)).data)
    assert gradient.shape == (2, 3)
    assert gradient.dtype == dtype
    np.testing.assert_array_equal(gradient.data, 0.0)


def test_zero_gradient_for_an_unused_argument_in_a_tuple() -> None:
    dx, dz = mg.grad(lambda x, z: (x * 2).sum(), argnums=(0, 1))([1.0, 2.0], np.ones(3))
    np.testing.assert_array_equal(dx.data, [2.0, 2.0])
    np.testing.assert_array_equal(dz.data, np.zeros(3))


def test_other_arguments_pass_through_untouched() -> None:
    table = np.array([1, 2, 3])
    config = {"scale": 2.0}
    tensor_arg = mg.Tensor([1.0, 1.0])
    received: dict[str, Any] = {}

    def f(x: mg.Tensor, table: Any, config: Any, other: Any, *, name: str) -> mg.Tensor:
        received.update(table=table, config=config, other=other, name=name)
        return (x * config["scale"]).sum() + other.sum()

    gradient = mg.grad(f)([1.0, 2.0], table, config, tensor_arg, name="n")
    np.testing.assert_array_equal(gradient.data, [2.0, 2.0])
    assert received["table"] is table
    assert received["config"] is config
    assert received["other"] is tensor_arg
    assert received["name"] == "n"
    assert tensor_arg.grad is None


def test_grad_accepts_lists_arrays_and_tensors() -> None:
    f = lambda x: (x**3).sum()  # noqa: E731
    for argument in ([1.0, 2.0], np.array([1.0, 2.0]), mg.Tensor([1.0, 2.0])):
        gradient = mg.grad(f)(argument)
        assert isinstance(gradient, mg.Tensor)
        np.testing.assert_array_equal(gradient.data, [3.0, 12.0])


SECOND_DERIVATIVES = {
    "sin": (mg.sin, lambda v: -np.sin(v)),
    "exp": (mg.exp, np.exp),
    "tanh": (mg.tanh, lambda v: -2 * np.tanh(v) * (1 - np.tanh(v) ** 2)),
    "square": (mg.square, lambda v: 2.0 + 0 * v),
    "log": (lambda t: mg.log(t * t + 1), lambda v: 2 * (1 - v * v) / (v * v + 1) ** 2),
}


@pytest.mark.parametrize("name", sorted(SECOND_DERIVATIVES))
@pytest.mark.parametrize("point", [-1.3, 0.0, 0.7, 2.0])
def test_grad_of_grad_matches_analytic(name: str, point: float) -> None:
    fun, second = SECOND_DERIVATIVES[name]
    value = mg.grad(mg.grad(fun))(point)
    assert float(value.data) == pytest.approx(
        float(second(np.float64(point))), rel=1e-12, abs=1e-15
    )


def test_third_derivative_of_sin() -> None:
    for point in (-1.0, 0.5, 2.5):
        assert float(mg.grad(mg.grad(mg.grad(mg.sin)))(point).data) == pytest.approx(
            -math.cos(point), rel=1e-12
        )


def test_grad_of_grad_of_logsumexp_is_the_softmax_jacobian() -> None:
    x = np.array([0.5, -1.0, 2.0])
    v = np.array([1.0, -2.0, 0.5])
    s = np.exp(x - np.log(np.exp(x).sum()))
    hvp = mg.grad(lambda t: (mg.grad(mg.logsumexp)(t) * v).sum())(x)
    np.testing.assert_allclose(hvp.data, s * v - s * (s @ v), rtol=1e-12)


def test_gradient_penalty_with_respect_to_a_constant_input_differentiated_by_weights() -> None:
    """The WGAN-GP pattern: the inner gradient is taken w.r.t. data that does not
    require grad, and the penalty is differentiated w.r.t. the weights."""
    # f(x, w) = Σ sin(x) w: ∇ₓf = cos(x) w, P(w) = Σ cos²(x) w², ∇P = 2 cos²(x) w.
    xv, wv = np.array([0.3, -1.1, 2.0]), np.array([1.5, -0.5, 2.0])

    def penalty(w: mg.Tensor) -> mg.Tensor:
        g = mg.grad(lambda a, b: (mg.sin(a) * b).sum())(xv, w)
        return (g * g).sum()

    np.testing.assert_allclose(mg.grad(penalty)(wv).data, 2 * np.cos(xv) ** 2 * wv, rtol=1e-13)
    w = leaf(wv)
    penalty(w).backward()
    np.testing.assert_allclose(grad_array(w), 2 * np.cos(xv) ** 2 * wv, rtol=1e-13)


def test_gradient_penalty_with_weights_captured_by_a_closure() -> None:
    xv, wv = np.array([0.3, -1.1, 2.0]), np.array([1.5, -0.5, 2.0])
    w = leaf(wv)
    g = mg.grad(lambda a: (mg.sin(a) * w).sum())(xv)
    (g * g).sum().backward()
    np.testing.assert_allclose(grad_array(w), 2 * np.cos(xv) ** 2 * wv, rtol=1e-13)


def test_mixed_second_partial() -> None:
    # f = sin(xy): ∂²f/∂y∂x = cos(xy) - xy sin(xy)
    x, y = 0.7, -1.2
    mixed = mg.grad(lambda b, a: mg.grad(lambda p, q: mg.sin(p * q))(a, b))(y, x)
    assert float(mixed.data) == pytest.approx(math.cos(x * y) - x * y * math.sin(x * y))
