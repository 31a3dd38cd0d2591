"""Tensor hooks, retain_grad, is_leaf and the warning on a non-leaf's .grad."""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import hooks


def leaf(values: list[float]) -> mg.Tensor:
    return mg.Tensor(values, requires_grad=True)


def test_is_leaf_as_pytorch() -> None:
    x = leaf([1.0])
    assert x.is_leaf
    assert not (x * 2).is_leaf
    assert (mg.Tensor([1.0]) * 2).is_leaf  # no input requires grad
    with mg.no_grad():
        assert (x * 2).is_leaf
    assert (x * 2).detach().is_leaf


def test_non_leaf_grad_warns_and_is_none() -> None:
    x = leaf([1.0, 2.0])
    y = x * 3
    y.sum().backward()
    with pytest.warns(UserWarning, match="retain_grad"):
        assert y.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is not None  # a leaf: no warning
        assert mg.Tensor([1.0]).grad is None


def test_retain_grad_keeps_and_accumulates_a_non_leaf_gradient() -> None:
    x = leaf([1.0, 2.0])
    y = x * x
    y.retain_grad()
    loss = (y * mg.Tensor([1.0, 10.0])).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(y.grad.data, [1.0, 10.0])
    loss.backward()
    np.testing.assert_array_equal(y.grad.data, [2.0, 20.0])  # accumulates, as .grad does
    np.testing.assert_array_equal(x.grad.data, [4.0, 80.0])
    x.retain_grad()  # a no-op on a leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.Tensor([1.0]).retain_grad()


def test_retained_grad_is_private_memory() -> None:
    x = leaf([1.0, 2.0])
    y = x + 0.0
    y.retain_grad()
    y.sum().backward()
    y.grad.data[0] = 100.0
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_hook_sees_the_complete_gradient_and_can_replace_it() -> None:
    x = leaf([1.0, 2.0])
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.data.copy()))
    y.register_hook(lambda g: g * 10)
    # y is used twice: the hook runs once, on the sum of both contributions.
    (y.sum() + (y * y).sum()).backward()
    np.testing.assert_array_equal(seen[0], 1 + 2 * np.array([2.0, 4.0]))
    np.testing.assert_array_equal(x.grad.data, 10 * 2 * seen[0])


def test_hooks_run_in_order_and_on_leaves_before_accumulation() -> None:
    x = leaf([1.0])
    order = []
    x.register_hook(lambda g: order.append("first") or g + 1)
    x.register_hook(lambda g: order.append(("second", g.item())))
    (3 * x).sum().backward()
    assert order == ["first", ("second", 4.0)]
    assert x.grad.item() == 4.0


def test_handle_remove_and_hooks_in_grad_transforms() -> None:
    w = leaf([2.0])
    handle = w.register_hook(lambda g: g * 0)
    (w * 3).sum().backward()
    assert w.grad.item() == 0.0
    handle.remove()
    handle.remove()  # twice is fine
    w.grad = None
    (w * 3).sum().backward()
    assert w.grad.item() == 3.0


def test_hook_in_a_grad_transform_runs_on_the_intermediate() -> None:
    def f(x: mg.Tensor) -> mg.Tensor:
        y = x * x
        y.register_hook(lambda g: g * 0.5)
        return y.sum()

    np.testing.assert_array_equal(mg.grad(f)(np.array([1.0, 3.0])).data, [1.0, 3.0])


def test_hook_errors() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.Tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="callable"):
        leaf([1.0]).register_hook("not a function")  # type: ignore[arg-type]
    x = leaf([1.0, 2.0])
    (x * 1).register_hook(lambda g: mg.ones(3))
    y = x * 2
    y.register_hook(lambda g: mg.ones(3))
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        y.sum().backward()


def test_hooks_go_away_with_their_tensor() -> None:
    x = leaf([1.0])
    gc.collect()
    before = len(hooks._entries)
    y = x * 2
    y.register_hook(lambda g: g)
    y.retain_grad()
    assert len(hooks._entries) == before + 1
    del y
    gc.collect()
    assert len(hooks._entries) == before


def test_hook_with_create_graph_gets_a_differentiable_gradient() -> None:
    x = leaf([1.5])
    y = x**3
    y.register_hook(lambda g: g * x)  # the hook's result depends on x
    y.sum().backward(create_graph=True)
    # x.grad = 3x² · x = 3x³; its derivative 9x²
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.item(), 9 * 1.5**2)
