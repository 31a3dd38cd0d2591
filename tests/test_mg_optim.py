"""minigrad.optim: every step equal to PyTorch's for the same settings.

Each optimizer and scheduler is checked twice: against values derived by
hand from the update formulas (no torch needed), and, where PyTorch is
installed, against ``torch.optim`` run on the same parameters and gradients
for several steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad.optim import SGD, Adam, AdamW, clip_grad_norm_
from minigrad.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, StepLR


def quadratic_steps(opt_factory: Callable[[list[mg.Tensor]], Any], start: Any, steps: int) -> Any:
    """Minimise Σ w² for ``steps`` steps; the gradient at each step is 2w."""
    w = mg.Tensor(np.array(start, dtype=np.float64), requires_grad=True)
    opt = opt_factory([w])
    for _ in range(steps):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    return w.data


# ------------------------------------------------------------------ by hand
def test_sgd_momentum_nesterov_weight_decay_by_hand() -> None:
    lr, mu, wd = 0.1, 0.9, 0.01
    # Plain momentum: b1 = d1; b2 = μ b1 + d2.
    w0 = 1.0
    d1 = 2 * w0 + wd * w0
    w1 = w0 - lr * d1
    d2 = 2 * w1 + wd * w1
    b2 = mu * d1 + d2
    w2 = w1 - lr * b2
    got = quadratic_steps(lambda p: SGD(p, lr, momentum=mu, weight_decay=wd), [w0], 2)
    assert got[0] == pytest.approx(w2, rel=1e-15)
    # Nesterov: the step is d + μ b.
    n1 = w0 - lr * (d1 + mu * d1)
    dn2 = 2 * n1 + wd * n1
    n2 = n1 - lr * (dn2 + mu * (mu * d1 + dn2))
    got = quadratic_steps(lambda p: SGD(p, lr, mu, wd, nesterov=True), [w0], 2)
    assert got[0] == pytest.approx(n2, rel=1e-15)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([mg.Tensor([1.0], requires_grad=True)], 0.1, nesterov=True)


def adam_by_hand(w: float, steps: int, lr: float, wd: float, decoupled: bool) -> float:
    b1, b2, eps = 0.9, 0.999, 1e-8
    m = v = 0.0
    for t in range(1, steps + 1):
        g = 2 * w
        if decoupled:
            w *= 1 - lr * wd
        else:
            g += wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w -= lr * m_hat / (math.sqrt(v_hat) + eps)
    return w


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_and_adamw_by_hand(wd: float) -> None:
    got = quadratic_steps(lambda p: Adam(p, lr=0.05, weight_decay=wd), [1.5, -0.5], 5)
    expected = [adam_by_hand(w, 5, 0.05, wd, decoupled=False) for w in (1.5, -0.5)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    got = quadratic_steps(lambda p: AdamW(p, lr=0.05, weight_decay=wd), [1.5, -0.5], 5)
    expected = [adam_by_hand(w, 5, 0.05, wd, decoupled=True) for w in (1.5, -0.5)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_parameters_without_gradient_are_skipped_and_counted_apart() -> None:
    a = mg.Tensor([1.0], requires_grad=True)
    b = mg.Tensor([1.0], requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    (a * a).sum().backward()
    opt.step()
    assert b.data[0] == 1.0 and 1 not in [i for i, s in enumerate(opt.state) if s]
    opt.zero_grad()
    ((a + b) ** 2).sum().backward()
    opt.step()
    assert opt.state[0]["step"] == 2 and opt.state[1]["step"] == 1


def test_optimizer_state_dict_round_trip_continues_identically(tmp_path: Any) -> None:
    def run(opt: Any, w: mg.Tensor, steps: int) -> None:
        for _ in range(steps):
            opt.zero_grad()
            (w * w * w).sum().backward()
            opt.step()

    for factory in (
        lambda p: SGD(p, 0.05, momentum=0.9),
        lambda p: Adam(p, lr=0.05),
        lambda p: AdamW(p, lr=0.05, weight_decay=0.1),
    ):
        w = mg.Tensor([0.7, -0.3], requires_grad=True)
        opt = factory([w])
        run(opt, w, 3)
        path = tmp_path / "opt.npz"
        mg.save({"w": w.data, "opt": opt.state_dict()}, path)
        run(opt, w, 2)
        loaded = mg.load(path)
        w2 = mg.Tensor(loaded["w"], requires_grad=True)
        opt2 = factory([w2])
        opt2.load_state_dict(loaded["opt"])
        run(opt2, w2, 2)
        np.testing.assert_array_equal(w2.data, w.data)


def test_optimizer_load_state_dict_errors() -> None:
    w = mg.Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([w], 0.1, momentum=0.5)
    with pytest.raises(KeyError, match="state"):
        opt.load_state_dict({"hyperparameters": {}})
    with pytest.raises(KeyError, match="unknown hyperparameters"):
        opt.load_state_dict({"hyperparameters": {"betas": (0.9, 0.9)}, "state": {}})
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        opt.load_state_dict(
            {"hyperparameters": {}, "state": {"0": {"momentum_buffer": np.zeros(3)}}}
        )


def test_optimizer_input_errors() -> None:
    with pytest.raises(ValueError, match="no parameters"):
        SGD([], 0.1)
    with pytest.raises(TypeError, match="parameter 0"):
        Adam([mg.Tensor([1.0])])
    with pytest.raises(ValueError, match="lr"):
        AdamW([mg.Tensor([1.0], requires_grad=True)], lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        Adam([mg.Tensor([1.0], requires_grad=True)], betas=(0.9, 1.0))


def test_clip_grad_norm_by_hand() -> None:
    a = mg.Tensor([0.0, 0.0], requires_grad=True)
    b = mg.Tensor([0.0], requires_grad=True)
    c = mg.Tensor([0.0], requires_grad=True)  # no gradient: skipped
    a.grad, b.grad = mg.Tensor([3.0, 0.0]), mg.Tensor([4.0])
    total = clip_grad_norm_([a, b, c], max_norm=2.5)
    assert total.item() == 5.0 and total.dtype == np.float64
    scale = 2.5 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad.data, [3.0 * scale, 0.0], rtol=1e-15)
    np.testing.assert_allclose(b.grad.data, [4.0 * scale], rtol=1e-15)
    assert c.grad is None
    # Below the limit nothing changes; inf-norm is the largest magnitude.
    a.grad = mg.Tensor([0.5, -1.0])
    assert clip_grad_norm_(a, 10.0).item() == pytest.approx(math.sqrt(1.25))
    np.testing.assert_array_equal(a.grad.data, [0.5, -1.0])
    assert clip_grad_norm_([a], 10.0, norm_type=math.inf).item() == 1.0
    # float32 gradients stay float32; the norm is accumulated in float64.
    d = mg.Tensor(np.zeros(3, np.float32), requires_grad=True)
    d.grad = mg.Tensor(np.full(3, 1e20, np.float32))
    total = clip_grad_norm_([d], 1.0)
    assert total.item() == pytest.approx(math.sqrt(3) * 1e20, rel=1e-6)
    assert d.grad.dtype == np.float32 and np.isfinite(d.grad.data).all()


def schedule(make: Callable[[Any], Any], epochs: int, lr: float = 1.0) -> list[float]:
    opt = SGD([mg.Tensor([1.0], requires_grad=True)], lr=lr)
    scheduler = make(opt)
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(epochs):
        opt.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
        assert opt.lr == lrs[-1]
    return lrs


def test_schedulers_by_hand() -> None:
    assert schedule(lambda o: StepLR(o, 2, gamma=0.5), 5) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    cosine = schedule(lambda o: CosineAnnealingLR(o, T_max=4, eta_min=0.1), 8)
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(9)]
    np.testing.assert_allclose(cosine, expected, rtol=1e-12, atol=1e-15)
    assert schedule(lambda o: LambdaLR(o, lambda e: 1 / (e + 1)), 3, lr=0.6) == pytest.approx(
        [0.6, 0.3, 0.2, 0.15]
    )
    with pytest.raises(ValueError, match="step_size"):
        StepLR(SGD([mg.Tensor([1.0], requires_grad=True)], 0.1), 0)
    with pytest.raises(TypeError, match="Optimizer"):
        StepLR(object(), 1)  # type: ignore[arg-type]


# ---------------------------------------------------------- against PyTorch
def _run_both(
    mine: Callable[[list[mg.Tensor]], Any],
    theirs: Callable[[list[Any]], Any],
    dtype: Any,
    steps: int = 6,
) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    starts = [rng.normal(size=(3, 2)).astype(dtype), rng.normal(size=4).astype(dtype)]
    targets = [rng.normal(size=s.shape).astype(dtype) for s in starts]
    params = [mg.Tensor(s.copy(), requires_grad=True) for s in starts]
    tparams = [torch.tensor(s.copy(), requires_grad=True) for s in starts]
    opt, topt = mine(params), theirs(tparams)
    for _ in range(steps):
        opt.zero_grad()
        topt.zero_grad()
        # A loss with curvature (cubes), so that later steps differ from the first.
        loss = sum(
            ((p - t) ** 3).sum() + (p * p).sum() for p, t in zip(params, targets, strict=True)
        )
        loss.backward()
        tloss = sum(
            ((p - torch.tensor(t)) ** 3).sum() + (p * p).sum()
            for p, t in zip(tparams, targets, strict=True)
        )
        tloss.backward()
        opt.step()
        topt.step()
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    for p, tp in zip(params, tparams, strict=True):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=rtol, atol=rtol)
        assert p.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "settings",
    [
        {"lr": 0.01},
        {"lr": 0.01, "momentum": 0.9},
        {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.05},
        {"lr": 0.01, "momentum": 0.8, "nesterov": True},
    ],
)
def test_sgd_matches_torch(settings: dict[str, Any], dtype: Any) -> None:
    torch = pytest.importorskip("torch")
    _run_both(lambda p: SGD(p, **settings), lambda p: torch.optim.SGD(p, **settings), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "settings",
    [
        {"lr": 0.01},
        {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6},
        {"lr": 0.01, "weight_decay": 0.1},
    ],
)
@pytest.mark.parametrize("kind", ["Adam", "AdamW"])
def test_adam_family_matches_torch(settings: dict[str, Any], dtype: Any, kind: str) -> None:
    torch = pytest.importorskip("torch")
    mine = {"Adam": Adam, "AdamW": AdamW}[kind]
    theirs = getattr(torch.optim, kind)
    # torch's foreach/fused paths reorder arithmetic; the single-tensor path is the reference.
    _run_both(lambda p: mine(p, **settings), lambda p: theirs(p, foreach=False, **settings), dtype)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type: float, max_norm: float) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(3, 2)), rng.normal(size=5)]
    params = [mg.Tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    tparams = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(params, tparams, grads, strict=True):
        p.grad = mg.Tensor(g.copy())
        tp.grad = torch.tensor(g.copy())
    total = clip_grad_norm_(params, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
    for p, tp in zip(params, tparams, strict=True):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-12)


def test_schedulers_match_torch() -> None:
    torch = pytest.importorskip("torch")

    def torch_lrs(make: Callable[[Any], Any], epochs: int, lr: float = 1.0) -> list[float]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        scheduler = make(opt)
        lrs = [scheduler.get_last_lr()[0]]
        for _ in range(epochs):
            opt.step()
            scheduler.step()
            lrs.append(scheduler.get_last_lr()[0])
        return lrs

    sched = torch.optim.lr_scheduler
    cases = [
        (lambda o: StepLR(o, 3, 0.7), lambda o: sched.StepLR(o, 3, 0.7)),
        (
            lambda o: CosineAnnealingLR(o, 5, eta_min=0.01),
            lambda o: sched.CosineAnnealingLR(o, 5, eta_min=0.01),
        ),
        (lambda o: CosineAnnealingLR(o, 3), lambda o: sched.CosineAnnealingLR(o, 3)),
        (lambda o: LambdaLR(o, lambda e: 0.95**e), lambda o: sched.LambdaLR(o, lambda e: 0.95**e)),
    ]
    for mine, theirs in cases:
        assert schedule(mine, 14, lr=0.3) == torch_lrs(theirs, 14, lr=0.3)
