"""custom_vjp and checkpoint: same values, the intended gradients, clear errors."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

import minigrad as mg


def make_log1pexp() -> mg.custom_vjp:
    """log(1 + eˣ) with the stable derivative σ(x) (the naive one overflows for large x)."""

    @mg.custom_vjp
    def log1pexp(x: mg.Tensor) -> mg.Tensor:
        return mg.log(1 + mg.exp(x))

    def fwd(x: mg.Tensor) -> tuple[mg.Tensor, mg.Tensor]:
        return mg.softplus(x), x

    def bwd(x: mg.Tensor, g: mg.Tensor) -> tuple[mg.Tensor]:
        return (g * mg.sigmoid(x),)

    log1pexp.defvjp(fwd, bwd)
    return log1pexp


def test_custom_vjp_gives_its_rule_and_is_checked_by_finite_differences() -> None:
    f = make_log1pexp()
    x = np.array([-3.0, 0.0, 2.5])
    assert mg.gradcheck(lambda t: (f(t) * np.array([1.0, -2.0, 0.5])).sum(), x)
    # The rule is what runs: stable where the naive derivative is NaN.
    with np.errstate(over="ignore", invalid="ignore"):
        big = mg.grad(lambda t: f(t).sum())(np.array([1000.0]))
    assert big.item() == 1.0
    assert f.__name__ == "log1pexp"


def test_custom_vjp_second_order_through_bwd() -> None:
    f = make_log1pexp()
    x = np.array([0.3, -1.2])
    assert mg.gradgradcheck(lambda t: (f(t) * np.array([1.0, 3.0])).sum(), x)
    second = mg.grad(lambda t: mg.grad(lambda u: f(u).sum())(t).sum())(x)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(second.data, s * (1 - s))


def test_custom_vjp_several_arguments_constants_and_none() -> None:
    @mg.custom_vjp
    def scaled(x: mg.Tensor, y: mg.Tensor, factor: float) -> mg.Tensor:
        return x * y * factor

    scaled.defvjp(
        lambda x, y, factor: (x * y * factor, (x, y, factor)),
        lambda res, g: (g * res[1] * res[2], None, None),
    )
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    y = mg.Tensor([3.0, 4.0], requires_grad=True)
    scaled(x, y, 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 8.0])
    assert y.grad is None  # bwd gave no gradient for y


def test_custom_vjp_jvp_raises_type_error_naming_it() -> None:
    f = make_log1pexp()
    with pytest.raises(TypeError, match="log1pexp"):
        mg.jvp(f, (np.array([1.0]),), (np.array([1.0]),))
    with pytest.raises(TypeError, match="log1pexp"):
        mg.hessian(lambda t: f(t).sum())(np.array([1.0]))
    # Reverse-mode Jacobians are fine.
    np.testing.assert_allclose(mg.jacrev(f)(np.array([0.0])).data, [[0.5]])


def test_custom_vjp_errors() -> None:
    @mg.custom_vjp
    def f(x: mg.Tensor) -> mg.Tensor:
        return x * 2

    with pytest.raises(TypeError, match="defvjp"):
        f(mg.Tensor([1.0]))
    with pytest.raises(TypeError, match="bwd must be callable"):
        f.defvjp(lambda x: (x, None), 3)  # type: ignore[arg-type]
    f.defvjp(lambda x: x * 2, lambda r, g: (g,))
    with pytest.raises(TypeError, match="pair"):
        f(mg.Tensor([1.0], requires_grad=True))
    f.defvjp(lambda x: (x * 2, None), lambda r, g: (g, g))
    with pytest.raises(ValueError, match="1 gradient"):
        mg.grad(lambda t: f(t).sum())(np.ones(2))
    f.defvjp(lambda x: (x * 2, None), lambda r, g: (mg.ones(3),))
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        mg.grad(lambda t: f(t).sum())(np.ones(2))


# ----------------------------------------------------------------- checkpoint
def block(x: mg.Tensor, w: mg.Tensor) -> mg.Tensor:
    for _ in range(3):
        x = mg.tanh(x * w + 0.1)
    return x


def test_checkpoint_same_values_and_gradients() -> None:
    rng = np.random.default_rng(0)
    x0, w0 = rng.standard_normal((4, 3)), rng.standard_normal(3)

    def loss(x: mg.Tensor, w: mg.Tensor, step: Any) -> mg.Tensor:
        return step(step(x, w), w).sum()

    plain = mg.value_and_grad(loss, argnums=(0, 1))(x0, w0, block)
    checked = mg.value_and_grad(loss, argnums=(0, 1))(x0, w0, mg.checkpoint(block))
    assert plain[0].item() == checked[0].item()
    for a, b in zip(plain[1], checked[1], strict=True):
        # Equal up to the order in which the two blocks' contributions to w are summed.
        np.testing.assert_allclose(a.data, b.data, rtol=1e-14, atol=1e-15)
    assert mg.gradcheck(lambda x, w: loss(x, w, mg.checkpoint(block)), x0, w0)
    assert mg.gradgradcheck(lambda x, w: loss(x, w, mg.checkpoint(block)), x0, w0)


def test_checkpoint_recomputes_instead_of_storing() -> None:
    calls = []

    def counted(x: mg.Tensor) -> mg.Tensor:
        calls.append(1)
        return mg.exp(mg.sin(x))

    x = mg.Tensor([0.2, 0.4], requires_grad=True)
    out = mg.checkpoint(counted)(x)
    # One graph node, holding only its inputs: no sin/exp nodes are kept.
    assert out._op == "checkpoint" and out._inputs == (x,)
    assert len(calls) == 1
    out.sum().backward()
    assert len(calls) == 2  # run again by the backward pass
    np.testing.assert_allclose(x.grad.data, np.exp(np.sin([0.2, 0.4])) * np.cos([0.2, 0.4]))


def test_checkpoint_without_grad_or_in_forward_mode_just_runs() -> None:
    f = mg.checkpoint(lambda x: mg.exp(x) * 2)
    with mg.no_grad():
        assert f(mg.Tensor([0.0], requires_grad=True)).is_leaf
    _, tangent = mg.jvp(f, (np.array([0.0, 1.0]),), (np.array([1.0, 1.0]),))
    np.testing.assert_allclose(tangent.data, 2 * np.exp([0.0, 1.0]))
    np.testing.assert_allclose(
        mg.hessian(lambda x: f(x).sum())(np.array([0.5])).data, [[2 * np.exp(0.5)]]
    )
    with pytest.raises(TypeError, match="one Tensor"):
        mg.checkpoint(lambda x: (x, x))(mg.Tensor([1.0], requires_grad=True))


def test_checkpoint_saves_memory_on_a_deep_chain() -> None:
    """Peak memory of forward + backward through 64 tanh layers, as 8 checkpointed blocks."""
    width = 20_000

    def layer(x: mg.Tensor) -> mg.Tensor:
        return mg.tanh(x * 1.01)

    def eight_layers(x: mg.Tensor) -> mg.Tensor:
        for _ in range(8):
            x = layer(x)
        return x

    def peak(use_checkpoint: bool) -> int:
        x = mg.Tensor(np.linspace(-1, 1, width), requires_grad=True)
        segment = mg.checkpoint(eight_layers) if use_checkpoint else eight_layers
        tracemalloc.start()
        try:
            h = x
            for _ in range(8):
                h = segment(h)
            h.sum().backward()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    plain, checkpointed = peak(False), peak(True)
    # 64 layers keep ~2 arrays each without checkpoints; with them, 8 outputs plus
    # one block's recomputation at a time.
    assert checkpointed < plain / 3


def test_checkpoint_with_constants_and_keyword_arguments() -> None:
    def scaled_block(x: mg.Tensor, scale: float, *, shift: float) -> mg.Tensor:
        return mg.tanh(x * scale + shift)

    x = np.array([0.3, -0.4])
    plain = mg.grad(lambda t: scaled_block(t, 2.0, shift=0.5).sum())(x)
    checked = mg.grad(lambda t: mg.checkpoint(scaled_block)(t, 2.0, shift=0.5).sum())(x)
    np.testing.assert_array_equal(plain.data, checked.data)


def test_custom_vjp_without_grad_records_nothing() -> None:
    f = make_log1pexp()
    x = mg.Tensor([0.5], requires_grad=True)
    with mg.no_grad():
        y = f(x)
    assert y.is_leaf and not y.requires_grad
    np.testing.assert_allclose(y.data, np.log1p(np.exp(0.5)))
