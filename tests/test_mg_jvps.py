"""Every JVP rule, checked over the same drawn cases as the VJP table.

The cases come from ``test_mg_ops_gradients.OPS`` (same shapes, same
domains, same fixed shapes). For each case, with random tangents ``t`` (one
per input), a random cotangent ``v`` and a random second direction ``s``:

* first order, against central differences:
  ``jvp(f, x, t) ≈ (f(x + ε t) - f(x - ε t)) / 2ε``;
* first order, against the VJP table by transposition:
  ``⟨v, J t⟩ = Σᵢ ⟨(Jᵀ v)ᵢ, tᵢ⟩`` (``mg.jvp`` against ``mg.vjp``);
* second order, forward over forward against central differences of the
  tangent: ``jvp(x ↦ J(x) t, x, s) ≈ (J(x + ε s) t - J(x - ε s) t) / 2ε``;
* second order, by transposition again: reverse over forward
  (``grad`` of ``⟨v, J(x) t⟩``, dotted with ``s``) equals forward over
  forward (the ``jvp`` of the same scalar along ``s``).

And the table itself: every primitive with a VJP rule has a JVP rule, and a
primitive without one fails with ``NotImplementedError`` naming it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mg_ops_gradients import OPS, Case, Shapes

import minigrad as mg
from minigrad import engine, forward
from minigrad.tensor import record


def _directions(arrays: tuple[np.ndarray, ...], seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(np.shape(a)) for a in arrays)


def _tolerances(result: mg.Tensor) -> dict[str, float]:
    # float32 results (astype) carry float32 rounding in every comparison.
    if result.dtype == np.float32:
        return {"rtol": 1e-4, "atol": 1e-5}
    return {"rtol": 1e-6, "atol": 1e-9}


def check_jvp_case(case: Case, options: dict[str, float]) -> None:
    eps = options.get("eps", 1e-6)
    xs = tuple(np.asarray(a, dtype=np.float64) for a in case.arrays)
    ts = _directions(xs, 1)
    ss = _directions(xs, 2)
    out, tangent = mg.jvp(case.fun, xs, ts)
    np.testing.assert_allclose(out.data, case.expected, rtol=1e-10, atol=1e-12)
    assert tangent.shape == out.shape and tangent.dtype == out.dtype
    exact = _tolerances(out)

    # First order against central differences.
    def value_at(shift: float, direction: tuple[np.ndarray, ...]) -> np.ndarray:
        moved = tuple(x + shift * d for x, d in zip(xs, direction, strict=True))
        return case.fun(*(mg.Tensor(m) for m in moved)).data.astype(np.float64)

    numerical = (value_at(eps, ts) - value_at(-eps, ts)) / (2 * eps)
    np.testing.assert_allclose(tangent.data, numerical, rtol=1e-3, atol=1e-5)

    # First order against the VJP table: <v, J t> = sum_i <(J^T v)_i, t_i>.
    v = np.random.default_rng(3).standard_normal(out.shape).astype(out.dtype)
    _, pullback = mg.vjp(case.fun, *xs)
    cotangents = pullback(v)
    forward_side = float(np.sum(v * tangent.data, dtype=np.float64))
    reverse_side = sum(float(np.sum(g.data * t)) for g, t in zip(cotangents, ts, strict=True))
    np.testing.assert_allclose(forward_side, reverse_side, **exact)

    # Second order: the tangent J(x) t as a function of x, differentiated along s.
    def tangent_at(*points: mg.Tensor) -> mg.Tensor:
        return mg.jvp(case.fun, points, ts)[1]

    _, second = mg.jvp(tangent_at, xs, ss)
    moved_up = tuple(x + eps * s for x, s in zip(xs, ss, strict=True))
    moved_down = tuple(x - eps * s for x, s in zip(xs, ss, strict=True))
    numerical_second = (
        tangent_at(*map(mg.Tensor, moved_up)).data.astype(np.float64)
        - tangent_at(*map(mg.Tensor, moved_down)).data.astype(np.float64)
    ) / (2 * eps)
    np.testing.assert_allclose(second.data, numerical_second, rtol=1e-3, atol=1e-5)

    # Second order by transposition: reverse over forward equals forward over forward.
    def projected(*points: mg.Tensor) -> mg.Tensor:
        return (tangent_at(*points) * v).sum()

    argnums = tuple(range(len(xs)))
    reverse_over_forward = mg.grad(projected, argnums=argnums)(*xs)
    lhs = sum(float(np.sum(g.data * s)) for g, s in zip(reverse_over_forward, ss, strict=True))
    rhs = float(np.sum(v * second.data, dtype=np.float64))
    np.testing.assert_allclose(lhs, rhs, **exact)


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=15)
@given(data=st.data())
def test_jvp_random_shapes(name: str, data: st.DataObject) -> None:
    spec = OPS[name]
    shapes = data.draw(spec.shapes, label="shapes")
    check_jvp_case(spec.draw(data, shapes), dict(spec.gradcheck_options))


FIXED_CASES = [
    pytest.param(name, shapes, id=f"{name}-{'-'.join(str(s) for s in shapes)}")
    for name, spec in sorted(OPS.items())
    for shapes in spec.fixed
]


@pytest.mark.parametrize(("name", "shapes"), FIXED_CASES)
@settings(max_examples=2)
@given(data=st.data())
def test_jvp_fixed_shapes(name: str, shapes: Shapes, data: st.DataObject) -> None:
    spec = OPS[name]
    check_jvp_case(spec.draw(data, shapes), dict(spec.gradcheck_options))


# ------------------------------------------------------------------ the table
def test_every_primitive_with_a_vjp_has_a_jvp() -> None:
    """Forward mode must go through everything reverse mode goes through.

    Adding a primitive means one ``defvjp`` and one ``defjvp`` line; this
    test names the ones that have only the first.
    """

    # Test modules register throwaway primitives of their own; minigrad's are those
    # whose rules live in minigrad's modules.
    def from_minigrad(rules: Any) -> bool:
        rules = rules if isinstance(rules, tuple) else (rules,)
        return any(r is not None and r.__module__.startswith("minigrad.") for r in rules)

    with_vjp = {op for op, r in engine.vjp_rules.items() if from_minigrad(r)}
    with_vjp |= {op for op, r in engine.argnum_vjp_rules.items() if from_minigrad(r)}
    assert {"add", "matmul", "concatenate", "custom_vjp", "checkpoint"} <= with_vjp
    with_jvp = set(forward.jvp_rules) | set(forward.argnum_jvp_rules)
    assert sorted(with_vjp - with_jvp) == []
    # Every per-input table has a rule slot for each input the VJP table covers.
    for op, rules in engine.vjp_rules.items():
        if op in with_vjp and op in forward.jvp_rules:
            assert len(forward.jvp_rules[op]) == len(rules), op


def test_primitive_without_a_jvp_rule_is_named() -> None:
    def only_reverse(x: mg.Tensor) -> mg.Tensor:
        return record("only_reverse_mode", x.data * 2, (x,))

    engine.defvjp("only_reverse_mode", lambda g, ans, x: 2 * g)
    try:
        x = mg.Tensor([1.0, 2.0], requires_grad=True)
        only_reverse(x).sum().backward()  # reverse mode works
        np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])
        with pytest.raises(NotImplementedError, match="only_reverse_mode"):
            mg.jvp(only_reverse, (np.ones(2),), (np.ones(2),))
    finally:
        del engine.vjp_rules["only_reverse_mode"]


def test_defjvp_is_a_one_liner() -> None:
    def triple(x: mg.Tensor) -> mg.Tensor:
        return record("triple_for_test", x.data * 3, (x,))

    forward.defjvp("triple_for_test", lambda t, ans, x: 3 * t)
    try:
        _, tangent = mg.jvp(triple, (np.ones(2),), (np.array([1.0, -2.0]),))
        np.testing.assert_array_equal(tangent.data, [3.0, -6.0])
    finally:
        del forward.jvp_rules["triple_for_test"]


# --------------------------------------------------- subgradients agree at kinks
@pytest.mark.parametrize(
    ("fun", "point"),
    [
        (mg.abs, 0.0),
        (mg.relu, 0.0),
        (mg.sign, 0.0),
        (lambda x: mg.clip(x, -1.0, 1.0), 1.0),
        (lambda x: mg.maximum(x, 1.0), 1.0),
        (lambda x: mg.minimum(x, 1.0), 1.0),
        (lambda x: mg.max(mg.stack([x, x, 2.0 * x - 1.0])), 1.0),
        (lambda x: mg.pow(x, 0.0), 0.0),
    ],
)
def test_jvp_and_vjp_agree_at_kinks(fun: Any, point: float) -> None:
    """The two tables make the same subgradient choice (PyTorch's), so J and Jᵀ match."""
    _, tangent = mg.jvp(fun, (point,), (1.0,))
    _, pullback = mg.vjp(fun, point)
    (cotangent,) = pullback(1.0)
    assert float(tangent) == float(cotangent)
