"""vjp, jvp, jacrev, jacfwd, hessian, hvp: values against finite differences.

Jacobians are compared with a Jacobian built column by column from central
differences; Hessians with the central-difference Jacobian of the gradient.
Functions mix broadcasting, reductions and nonlinearities, with pytree
arguments and tuple ``argnums``, and end the way users write them.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg


def numerical_jacobian(fun: Any, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d fun / d x by central differences, shape out.shape + x.shape."""
    x = np.asarray(x, dtype=np.float64)
    columns = []
    for j in range(x.size):
        step = np.zeros(x.size)
        step[j] = eps
        step = step.reshape(x.shape)
        up = np.asarray(fun(x + step), dtype=np.float64)
        down = np.asarray(fun(x - step), dtype=np.float64)
        columns.append((up - down) / (2 * eps))
    out_shape = np.shape(fun(x))
    if not columns:
        return np.zeros(out_shape + x.shape)
    return np.stack(columns, axis=-1).reshape(out_shape + x.shape)


def vector_fun(x: mg.Tensor) -> mg.Tensor:
    """A vector function with broadcasting, a reduction and a softmax."""
    return mg.softmax(mg.tanh(x) * 2.0 + x.sum() * 0.5) * mg.exp(x / 3.0)


def scalar_fun(x: mg.Tensor) -> mg.Tensor:
    return (mg.logsumexp(x * x) + (mg.sin(x) * x).sum()) * mg.sigmoid(x).mean()


SHAPES = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)
VALUES = st.floats(-1.5, 1.5)


# ----------------------------------------------------------------- jacobians
@settings(max_examples=20)
@given(x=hnp.arrays(np.float64, SHAPES.filter(lambda s: len(s) >= 1), elements=VALUES))
def test_jacrev_and_jacfwd_match_finite_differences(x: np.ndarray) -> None:
    expected = numerical_jacobian(lambda a: vector_fun(mg.Tensor(a)).data, x)
    by_reverse = mg.jacrev(vector_fun)(x)
    by_forward = mg.jacfwd(vector_fun)(x)
    assert by_reverse.shape == by_forward.shape == x.shape + x.shape
    np.testing.assert_allclose(by_reverse.data, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(by_forward.data, by_reverse.data, rtol=1e-12, atol=1e-14)


@settings(max_examples=20)
@given(x=hnp.arrays(np.float64, SHAPES, elements=VALUES))
def test_hessian_matches_finite_differences_of_the_gradient(x: np.ndarray) -> None:
    expected = numerical_jacobian(lambda a: mg.grad(scalar_fun)(a).data, x)
    hessian = mg.hessian(scalar_fun)(x)
    assert hessian.shape == x.shape + x.shape
    np.testing.assert_allclose(hessian.data, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        hessian.data,
        np.swapaxes(hessian.data.reshape(x.size, x.size), 0, 1).reshape(hessian.shape),
        rtol=1e-10,
        atol=1e-12,
    )
    # hvp is H v without building H.
    v = np.random.default_rng(0).standard_normal(x.shape)
    product = mg.hvp(scalar_fun, x, v)
    flat = hessian.data.reshape(x.size, x.size) @ v.reshape(-1)
    np.testing.assert_allclose(product.data.reshape(-1), flat, rtol=1e-10, atol=1e-12)


def test_jacobian_of_a_matrix_function_has_out_shape_plus_arg_shape() -> None:
    w = np.random.default_rng(1).standard_normal((3, 2))
    x = np.random.default_rng(2).standard_normal((2, 4))

    def layer(w: mg.Tensor, x: mg.Tensor) -> mg.Tensor:
        return mg.tanh(w @ x)

    jw, jx = mg.jacrev(layer, argnums=(0, 1))(w, x)
    assert jw.shape == (3, 4, 3, 2) and jx.shape == (3, 4, 2, 4)
    np.testing.assert_allclose(
        jw.data, numerical_jacobian(lambda a: np.tanh(a @ x), w), rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(
        jx.data, numerical_jacobian(lambda a: np.tanh(w @ a), x), rtol=1e-6, atol=1e-8
    )
    fw, fx = mg.jacfwd(layer, argnums=(0, 1))(w, x)
    np.testing.assert_allclose(fw.data, jw.data, rtol=1e-12)
    np.testing.assert_allclose(fx.data, jx.data, rtol=1e-12)


def test_hessian_with_tuple_argnums_gives_blocks() -> None:
    def f(x: mg.Tensor, y: mg.Tensor) -> mg.Tensor:
        return (x * x * y).sum() + mg.sin(y).sum()

    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    (hxx, hxy), (hyx, hyy) = mg.hessian(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(hxx.data, np.diag(2 * y))
    np.testing.assert_allclose(hxy.data, np.diag(2 * x))
    np.testing.assert_allclose(hyx.data, np.diag(2 * x))
    np.testing.assert_allclose(hyy.data, np.diag(-np.sin(y)))


def test_jacobians_of_scalars_and_empty_arrays() -> None:
    assert float(mg.jacrev(lambda x: x**3)(2.0)) == 12.0
    assert float(mg.jacfwd(lambda x: x**3)(2.0)) == 12.0
    empty = np.zeros((0,))
    assert mg.jacrev(lambda x: x * 2)(empty).shape == (0, 0)
    assert mg.jacfwd(lambda x: x.sum() + 1.0)(empty).shape == (0,)


def test_jacobian_of_a_function_ignoring_its_input_is_zero() -> None:
    constant = np.array([1.0, 2.0])
    assert not mg.jacrev(lambda x: mg.Tensor(constant) * 2)(np.ones(3)).data.any()
    assert not mg.jacfwd(lambda x: mg.Tensor(constant) * 2)(np.ones(3)).data.any()


# ------------------------------------------------------------------ vjp / jvp
def test_vjp_pulls_back_any_cotangent_and_can_be_called_again() -> None:
    x = np.array([0.3, -0.7, 1.1])
    out, pullback = mg.vjp(vector_fun, x)
    jacobian = numerical_jacobian(lambda a: vector_fun(mg.Tensor(a)).data, x)
    for seed in range(3):
        v = np.random.default_rng(seed).standard_normal(3)
        (g,) = pullback(v)
        np.testing.assert_allclose(g.data, v @ jacobian, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out.data, vector_fun(mg.Tensor(x)).data)
    assert not out.requires_grad


def test_vjp_has_aux_and_several_primals() -> None:
    def f(x: mg.Tensor, y: mg.Tensor) -> tuple[mg.Tensor, str]:
        return x * y, "aux"

    _out, pullback, aux = mg.vjp(f, np.array([1.0, 2.0]), np.array([3.0, 4.0]), has_aux=True)
    assert aux == "aux"
    gx, gy = pullback(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(gx.data, [3.0, -4.0])
    np.testing.assert_array_equal(gy.data, [1.0, -2.0])


def test_vjp_errors_name_the_shapes() -> None:
    _, pullback = mg.vjp(lambda x: x * 2, np.ones(3))
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        pullback(np.ones(2))


def test_jvp_is_one_forward_pass_with_no_backward_pass(monkeypatch: Any) -> None:
    """Forward mode never enters the reverse-mode engine."""
    from minigrad import engine

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a backward pass ran")

    monkeypatch.setattr(engine, "_backpropagate", refuse)
    _out, tangent = mg.jvp(vector_fun, (np.array([0.1, 0.2]),), (np.array([1.0, 0.0]),))
    expected = numerical_jacobian(lambda a: vector_fun(mg.Tensor(a)).data, np.array([0.1, 0.2]))
    np.testing.assert_allclose(tangent.data, expected[:, 0], rtol=1e-6)


def test_jvp_errors() -> None:
    with pytest.raises(TypeError, match="two tuples"):
        mg.jvp(mg.sin, np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match=r"1 primal.*2 tangent"):
        mg.jvp(mg.sin, (np.ones(2),), (np.ones(2), np.ones(2)))
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(2,\)"):
        mg.jvp(mg.sin, (np.ones(2),), (np.ones(3),))
    with pytest.raises(TypeError, match="floating"):
        mg.jvp(lambda i: i, (np.arange(3),), (np.ones(3),))
    with pytest.raises(ValueError, match="structure"):
        mg.jvp(lambda p: p["a"], ({"a": np.ones(2)},), ({"b": np.ones(2)},))


def test_jvp_of_a_function_of_no_tangent_input_is_zero_and_keeps_dtype() -> None:
    x32 = np.ones(3, dtype=np.float32)
    out, tangent = mg.jvp(lambda x: x * 2, (x32,), (np.ones(3),))
    assert out.dtype == tangent.dtype == np.float32
    _, zero = mg.jvp(lambda x: mg.Tensor([1.0, 2.0]), (x32,), (np.ones(3),))
    np.testing.assert_array_equal(zero.data, [0.0, 0.0])


def test_nested_jvp_and_grad_of_jvp() -> None:
    f = lambda x: mg.sin(x) * x  # noqa: E731

    def second(x: Any) -> mg.Tensor:
        return mg.jvp(lambda y: mg.jvp(f, (y,), (1.0,))[1], (x,), (1.0,))[1]

    x0 = 0.7
    # f'' = 2 cos x - x sin x
    np.testing.assert_allclose(float(second(x0)), 2 * np.cos(x0) - x0 * np.sin(x0), rtol=1e-12)
    # reverse over forward: d/dx of f'(x)
    reverse = mg.grad(lambda x: mg.jvp(f, (x,), (1.0,))[1])(x0)
    np.testing.assert_allclose(float(reverse), float(second(x0)), rtol=1e-12)


def test_jvp_is_per_thread() -> None:
    """A jvp in one thread does not give tangents to another thread's values."""
    import threading

    results: list[Any] = []
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        inside.wait(timeout=10)
        x = mg.Tensor([1.0, 2.0], requires_grad=True)
        (mg.sin(x) * x).sum().backward()
        results.append(x.grad.data.copy())
        release.set()

    def f(x: mg.Tensor) -> mg.Tensor:
        inside.set()
        release.wait(timeout=10)
        return mg.exp(x)

    worker = threading.Thread(target=other)
    worker.start()
    _, tangent = mg.jvp(f, (np.zeros(2),), (np.ones(2),))
    worker.join(timeout=10)
    np.testing.assert_array_equal(tangent.data, [1.0, 1.0])
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(results[0], np.cos(x) * x + np.sin(x))


# -------------------------------------------------------------------- pytrees
Params = namedtuple("Params", ["w", "b"])


def test_grad_of_nested_dicts_lists_and_tuples_keeps_the_structure() -> None:
    params = {"dense": [np.array([1.0, -2.0]), (np.array(0.5),)], "scale": np.array(3.0)}

    def loss(p: Any) -> mg.Tensor:
        (w, (b,)), s = p["dense"], p["scale"]
        return (s * mg.tanh(w + b) ** 2).sum()

    grads = mg.grad(loss)(params)
    assert set(grads) == {"dense", "scale"}
    assert isinstance(grads["dense"], list) and isinstance(grads["dense"][1], tuple)
    w, b, s = np.array([1.0, -2.0]), 0.5, 3.0
    t = np.tanh(w + b)
    np.testing.assert_allclose(grads["dense"][0].data, s * 2 * t * (1 - t**2))
    np.testing.assert_allclose(grads["dense"][1][0].data, np.sum(s * 2 * t * (1 - t**2)))
    np.testing.assert_allclose(grads["scale"].data, np.sum(t**2))


def test_namedtuple_and_none_in_pytrees() -> None:
    grads = mg.grad(lambda p, unused: (p.w * p.b).sum())(
        Params(np.array([1.0, 2.0]), np.array(3.0)), None
    )
    assert isinstance(grads, Params)
    np.testing.assert_array_equal(grads.w.data, [3.0, 3.0])
    assert float(grads.b) == 3.0


def test_value_and_grad_pytree_with_tuple_argnums_and_aux() -> None:
    def f(p: dict, x: np.ndarray, q: list) -> tuple[mg.Tensor, int]:
        return (p["a"] * x).sum() + (q[0] * q[1]).sum(), 7

    (value, aux), (gp, gq) = mg.value_and_grad(f, argnums=(0, 2), has_aux=True)(
        {"a": np.array([1.0, 2.0])}, np.array([3.0, 4.0]), [np.array(2.0), np.array(5.0)]
    )
    assert aux == 7 and float(value) == 11.0 + 10.0
    np.testing.assert_array_equal(gp["a"].data, [3.0, 4.0])
    assert [float(g) for g in gq] == [5.0, 2.0]


def test_lists_of_numbers_stay_arrays() -> None:
    gradient = mg.grad(lambda x: (x * x).sum())([1.0, 2.0])
    assert isinstance(gradient, mg.Tensor)
    np.testing.assert_array_equal(gradient.data, [2.0, 4.0])


def test_pytree_vjp_jvp_jacrev_jacfwd() -> None:
    def f(p: dict) -> dict:
        return {"y": p["w"] * p["b"], "z": (p["w"] ** 2).sum()}

    p = {"w": np.array([1.0, 2.0]), "b": np.array(3.0)}
    t = {"w": np.array([1.0, 0.0]), "b": np.array(1.0)}
    _out, tangent = mg.jvp(f, (p,), (t,))
    np.testing.assert_array_equal(tangent["y"].data, [3.0 + 1.0, 0.0 + 2.0])
    assert float(tangent["z"]) == 2.0
    _, pullback = mg.vjp(f, p)
    (g,) = pullback({"y": np.array([1.0, 1.0]), "z": np.array(1.0)})
    np.testing.assert_array_equal(g["w"].data, [3.0 + 2.0, 3.0 + 4.0])
    assert float(g["b"]) == 3.0
    jr, jf = mg.jacrev(f)(p), mg.jacfwd(f)(p)
    for out_key in ("y", "z"):
        for arg_key in ("w", "b"):
            np.testing.assert_allclose(jr[out_key][arg_key].data, jf[out_key][arg_key].data)
    assert jr["y"]["w"].shape == (2, 2) and jr["z"]["b"].shape == ()
    np.testing.assert_array_equal(jr["y"]["w"].data, 3.0 * np.eye(2))


def test_pytree_errors_name_the_leaf() -> None:
    with pytest.raises(TypeError, match=r"argument 0 \(leaf 1\)"):
        mg.grad(lambda p: p[0].sum())([np.ones(2), np.arange(2)])


def test_jvp_under_no_grad_and_with_a_primal_that_requires_grad() -> None:
    f = lambda x: mg.exp(x) * x  # noqa: E731
    with mg.no_grad():
        _, tangent = mg.jvp(f, (np.array([0.5]),), (np.array([1.0]),))
    np.testing.assert_allclose(tangent.data, np.exp(0.5) * 1.5)
    # Reverse over forward, the user's way: backward through a tangent into a leaf.
    x = mg.Tensor([0.5, -0.3], requires_grad=True)
    _, tangent = mg.jvp(f, (x,), (np.ones(2),))
    tangent.sum().backward()  # d/dx of f'(x) = e^x (x + 2)
    np.testing.assert_allclose(x.grad.data, np.exp(x.data) * (x.data + 2), rtol=1e-12)


def test_jvp_with_one_tensor_passed_as_two_primals() -> None:
    x = mg.Tensor([2.0])
    _, tangent = mg.jvp(lambda a, b: a * b, (x, x), (np.array([1.0]), np.array([0.0])))
    assert tangent.item() == 2.0  # d(ab)/da · 1 + d(ab)/db · 0 = b


def test_hvp_of_a_pytree_and_float32() -> None:
    def f(p: dict) -> mg.Tensor:
        return (p["a"] ** 2 * p["b"]).sum()

    p = {"a": np.array([1.0, 2.0], dtype=np.float32), "b": np.array(3.0, dtype=np.float32)}
    v = {"a": np.array([1.0, 0.0], dtype=np.float32), "b": np.array(1.0, dtype=np.float32)}
    product = mg.hvp(f, p, v)
    # H = [[2b, 0, 2a0], [0, 2b, 2a1], [2a0, 2a1, 0]]
    np.testing.assert_allclose(product["a"].data, [6.0 + 2.0, 0.0 + 4.0])
    np.testing.assert_allclose(product["b"].data, 2.0)
    assert product["a"].dtype == np.float32


def test_grad_of_grad_with_a_pytree_argument() -> None:
    def f(p: dict) -> mg.Tensor:
        return (p["w"] ** 3).sum() * p["s"]

    params = {"w": np.array([1.0, 2.0]), "s": np.array(2.0)}
    # d/dw of sum(d f / d w) = d/dw sum(3 w² s) = 6 w s; d/ds of it = sum(3 w²)
    second = mg.grad(lambda p: mg.grad(f)(p)["w"].sum())(params)
    np.testing.assert_allclose(second["w"].data, 6 * params["w"] * 2.0)
    np.testing.assert_allclose(second["s"].data, np.sum(3 * params["w"] ** 2))


def test_jvp_has_aux() -> None:
    out, tangent, aux = mg.jvp(lambda x: (x * 3, "note"), (1.0,), (2.0,), has_aux=True)
    assert (out.item(), tangent.item(), aux) == (3.0, 6.0, "note")
    with pytest.raises(TypeError, match="pair"):
        mg.jvp(lambda x: x, (1.0,), (1.0,), has_aux=True)
