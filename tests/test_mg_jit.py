"""mg.jit: equal to eager on random programs (values and gradients), and its contract.

The random programs are those of ``test_mg_random_programs.py`` (every op of
the contract, broadcasting, reductions, shape changes, plain heads). Each is
compiled once and then called on *new* inputs of the same shapes, so a value
baked into the compiled code by mistake would show. On the
``MINIGRAD_DISABLE_JIT=1`` run ``mg.jit`` is the eager function, and the same
assertions hold.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import kernels
from tests.test_mg_random_programs import Program, programs

COMPILING = not kernels.JIT_DISABLED and kernels.backend() == "numba"


def _close(got: object, want: object) -> None:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)


def _fresh(inputs: tuple[np.ndarray, ...], seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return tuple(rng.uniform(-1.5, 1.5, size=x.shape) for x in inputs)


@settings(max_examples=50, deadline=None)
@given(programs(), st.integers(0, 2**32 - 1))
def test_random_programs_value_and_grad_equal_eager(
    drawn: tuple[Program, tuple[np.ndarray, ...]], seed: int
) -> None:
    program, inputs = drawn
    argnums = tuple(range(len(inputs)))
    eager = mg.value_and_grad(program, argnums=argnums)
    compiled = mg.jit(eager)
    for xs in (inputs, _fresh(inputs, seed)):
        tensors = [mg.Tensor(x) for x in xs]
        value, grads = compiled(*tensors)
        want_value, want_grads = eager(*tensors)
        _close(value.data, want_value.data)
        for got, want in zip(grads, want_grads, strict=True):
            _close(got.data, want.data)


@settings(max_examples=30, deadline=None)
@given(programs(), st.sampled_from([-np.inf, np.inf, np.nan]), st.integers(0, 2**32 - 1))
def test_random_programs_with_non_finite_inputs_match_eager(
    drawn: tuple[Program, tuple[np.ndarray, ...]], special: float, seed: int
) -> None:
    program, inputs = drawn
    argnums = tuple(range(len(inputs)))
    eager = mg.value_and_grad(program, argnums=argnums)
    compiled = mg.jit(eager)
    for xs in (inputs, _fresh(inputs, seed)):
        xs = tuple(x.copy() for x in xs)
        xs[0].reshape(-1)[0] = special  # -inf, inf or NaN wherever eager defines a result
        tensors = [mg.Tensor(x) for x in xs]
        with np.errstate(all="ignore"):
            value, grads = compiled(*tensors)
            want_value, want_grads = eager(*tensors)
        _close(value.data, want_value.data)
        for got, want in zip(grads, want_grads, strict=True):
            _close(got.data, want.data)


@settings(max_examples=20, deadline=None)
@given(programs(), st.integers(0, 2**32 - 1))
def test_random_programs_second_order_equal_eager(
    drawn: tuple[Program, tuple[np.ndarray, ...]], seed: int
) -> None:
    program, inputs = drawn

    def penalty(x: mg.Tensor, *rest: mg.Tensor) -> mg.Tensor:
        g = mg.grad(lambda v: program(v, *rest))(x)
        return (g * g).sum()

    eager = mg.value_and_grad(penalty)
    compiled = mg.jit(eager)
    for xs in (inputs, _fresh(inputs, seed)):
        tensors = [mg.Tensor(x) for x in xs]
        value, grad = compiled(*tensors)
        want_value, want_grad = eager(*tensors)
        _close(value.data, want_value.data)
        _close(grad.data, want_grad.data)


def test_float32_backward_inside_and_non_finite_values() -> None:
    def loss(lp: mg.Tensor, mask: mg.Tensor) -> tuple[mg.Tensor, mg.Tensor]:
        leaf = mg.Tensor(lp.data, requires_grad=True)
        out = -(mg.exp(leaf) * leaf * mask).sum(axis=1).mean() + mg.log(leaf * 0 + 1).sum()
        out.backward()
        return out, leaf.grad

    compiled = mg.jit(loss)
    rng = np.random.default_rng(0)
    for _ in range(2):
        lp = -np.abs(rng.standard_normal((4, 7))).astype(np.float32)
        lp[1, 2] = -np.inf
        mask = (rng.uniform(size=(4, 7)) < 0.7).astype(np.float32)
        with np.errstate(invalid="ignore"):  # 0 * -inf: NaN, on both paths
            value, grad = compiled(mg.Tensor(lp), mg.Tensor(mask))
            want_value, want_grad = loss(mg.Tensor(lp), mg.Tensor(mask))
        assert value.dtype == want_value.dtype == np.float32
        assert grad.dtype == np.float32
        np.testing.assert_allclose(value.data, want_value.data, rtol=1e-5, equal_nan=True)
        np.testing.assert_allclose(grad.data, want_grad.data, rtol=1e-5, equal_nan=True)
        assert np.isnan(grad.data[1, 2]) == np.isnan(want_grad.data[1, 2])


def test_control_flow_on_a_traced_value_names_the_operation() -> None:
    def f(x: mg.Tensor) -> mg.Tensor:
        return x * 2 if x.sum() > 0 else x

    if not COMPILING:
        assert float(mg.jit(f)(mg.Tensor([1.0])).sum()) == 2.0
        return
    with pytest.raises(mg.TracerError, match=r"bool\(\)"):
        mg.jit(f)(mg.Tensor([1.0]))
    with pytest.raises(mg.TracerError, match=r"\.item\(\)"):
        mg.jit(lambda x: x * x.sum().item())(mg.Tensor([1.0]))


def test_static_argnums_are_part_of_the_key() -> None:
    calls = []

    def f(x: mg.Tensor, power: int) -> mg.Tensor:
        calls.append(power)
        return (x**power).sum() if power > 1 else x.sum()

    compiled = mg.jit(f, static_argnums=1)
    x = mg.Tensor([1.0, 2.0])
    assert float(compiled(x, 3)) == 9.0
    assert float(compiled(x, 1)) == 3.0
    assert float(compiled(mg.Tensor([2.0, 2.0]), 3)) == 16.0
    if COMPILING:
        assert calls == [3, 1]  # traced once per static value, then replayed


def test_closed_over_arrays_are_read_at_each_call_and_scalars_at_trace() -> None:
    weights = np.array([1.0, 2.0, 3.0])
    compiled = mg.jit(lambda x: (x * weights).sum())
    x = mg.Tensor(np.ones(3))
    assert float(compiled(x)) == 6.0
    weights[:] = 10.0
    assert float(compiled(x)) == 30.0


def test_raw_numpy_on_traced_data_runs_eagerly_never_wrongly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def f(x: mg.Tensor) -> mg.Tensor:
        mask = mg.Tensor(x.data > 0)  # computed outside minigrad's primitives
        return mg.where(mask, x, 0.0).sum()

    compiled = mg.jit(f)
    with caplog.at_level(logging.INFO, logger="minigrad"):
        assert float(compiled(mg.Tensor([1.0, -1.0, 2.0]))) == 3.0
    assert float(compiled(mg.Tensor([-1.0, 5.0, 2.0]))) == 7.0
    if COMPILING:
        assert "runs eagerly" in caplog.text


def test_unknown_primitive_runs_eagerly() -> None:
    from minigrad.tensor import record

    def cube(x: mg.Tensor) -> mg.Tensor:  # a primitive the jit has never heard of
        return record("cube_for_test", x.data**3, (x,))

    compiled = mg.jit(lambda x: cube(x * 2).sum())
    assert float(compiled(mg.Tensor([1.0, 2.0]))) == 72.0
    assert float(compiled(mg.Tensor([1.0, 1.0]))) == 16.0


def test_inputs_requiring_grad_stay_connected() -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    loss = mg.jit(lambda t: (t * t).sum())(x)
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_outputs_are_rebuilt_in_the_returned_shape() -> None:
    def f(x: mg.Tensor) -> dict:
        return {"double": x * 2, "parts": [x.sum(), "label"], "raw": (x + 1).data}

    compiled = mg.jit(f)
    for values in ([1.0, 2.0], [3.0, 4.0]):
        out = compiled(mg.Tensor(values))
        assert isinstance(out["double"], mg.Tensor)
        np.testing.assert_array_equal(out["double"].data, np.array(values) * 2)
        assert float(out["parts"][0]) == sum(values) and out["parts"][1] == "label"
        assert isinstance(out["raw"], np.ndarray)
        np.testing.assert_array_equal(out["raw"], np.array(values) + 1)


def test_unhashable_static_argument_is_named() -> None:
    f = mg.jit(lambda x, opts: x.sum() * opts["a"])
    if not COMPILING:  # the eager function takes anything it takes
        assert float(f(mg.Tensor([1.0]), {"a": 2})) == 2.0
        return
    with pytest.raises(TypeError, match="argument 1"):
        f(mg.Tensor([1.0]), {"a": 1})


def test_source_shows_graph_plan_and_kernel() -> None:
    # Tracing and writing the source need no compiler: this holds on both paths.
    f = mg.jit(mg.value_and_grad(lambda x: (mg.exp(x) * x).sum()))
    text = f.source(mg.Tensor(np.zeros(3)))
    assert "exp(%0)" in text and "fused over 3" in text and "@numba.njit" in text


def test_warm_disk_cache_loads_in_a_new_process(tmp_path: object) -> None:
    script = textwrap.dedent(
        """
        import time, numpy as np
        start = time.perf_counter()
        import minigrad as mg
        f = mg.jit(mg.value_and_grad(lambda x: (mg.tanh(x) * x).sum()))
        value, grad = f(mg.Tensor(np.linspace(-1, 1, 7)))
        print(time.perf_counter() - start, float(value))
        """
    )
    env = {**os.environ, "MINIGRAD_JIT_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert runs[0][1] == runs[1][1]
    # Numba's index files: written by the compiling path, never by the eager one.
    cached = any(p.suffix == ".nbi" for p in Path(str(tmp_path)).rglob("*"))
    assert cached == COMPILING


def test_nested_jit_is_part_of_the_outer_trace() -> None:
    inner = mg.jit(lambda t: mg.tanh(t) * 2)
    outer = mg.jit(mg.value_and_grad(lambda t: inner(t * 3).sum()))
    eager = mg.value_and_grad(lambda t: (mg.tanh(t * 3) * 2).sum())
    for values in ([0.1, 0.2], [0.5, -0.3]):
        value, grad = outer(mg.Tensor(values))
        want_value, want_grad = eager(mg.Tensor(values))
        _close(value.data, want_value.data)
        _close(grad.data, want_grad.data)


def test_float16_and_integer_programs_run_their_eager_kernels() -> None:
    compiled = mg.jit(lambda x, n: ((x * 2).sum(), n + n))
    x = mg.Tensor(np.array([1.5, 2.5], dtype=np.float16))
    n = np.array([1, 2], dtype=np.int64)
    for scale in (1, 3):
        total, doubled = compiled(mg.Tensor(x.data * scale), n * scale)
        assert total.dtype == np.float16 and float(total) == 8.0 * scale
        np.testing.assert_array_equal(doubled, n * scale * 2)


def test_constant_outputs_are_fresh_each_call() -> None:
    compiled = mg.jit(mg.grad(lambda x, y: (x * 2).sum(), argnums=(0, 1)))
    _, gy = compiled(mg.Tensor([1.0, 2.0]), mg.Tensor([3.0]))
    gy.data += 5.0  # the caller owns what it got
    _, gy_again = compiled(mg.Tensor([1.0, 2.0]), mg.Tensor([3.0]))
    np.testing.assert_array_equal(gy_again.data, [0.0])


def test_sum_over_no_axis_and_empty_arrays() -> None:
    def f(x: mg.Tensor) -> tuple[mg.Tensor, mg.Tensor]:
        return mg.sum(x * 2, axis=()), (mg.exp(x) * x).sum()

    compiled = mg.jit(f)
    for shape in ((2, 3), (0, 3)):
        x = mg.Tensor(np.ones(shape))
        got, want = compiled(x), f(x)
        for a, b in zip(got, want, strict=True):
            _close(a.data, b.data)


def test_backward_into_a_closed_over_weight_runs_eagerly() -> None:
    weight = mg.Tensor([1.0, 2.0], requires_grad=True)

    def step(x: mg.Tensor) -> mg.Tensor:
        loss = (x * weight).sum()
        loss.backward()  # accumulates into weight.grad: a side effect on every call
        return loss.detach()

    compiled = mg.jit(step)
    for values in ([1.0, 1.0], [2.0, 3.0], [2.0, 3.0]):
        compiled(mg.Tensor(values))
    np.testing.assert_array_equal(weight.grad.data, [5.0, 7.0])


@pytest.mark.parametrize(
    ("fun", "first", "second"),
    [
        (lambda x, k: x.sum() * float(k), np.float64(3.0), np.float64(5.0)),
        (lambda x, k: x.sum() * float(k), np.array(3.0), np.array(5.0)),
        (lambda x, flag: x.sum() if flag else -x.sum(), np.bool_(True), np.bool_(False)),
    ],
)
def test_numpy_scalar_arguments_never_bake_in_their_first_value(fun, first, second) -> None:
    # NumPy scalars and 0-d arrays are traced as Tensors: Python control flow on them
    # is a TracerError, never the first call's value kept for the next one.
    jitted = mg.jit(fun)
    x = mg.Tensor(np.arange(1.0, 5.0))
    if kernels.backend() != "numba":
        assert jitted(x, second).item() == fun(x, second).item()  # eager fallback
        return
    with pytest.raises(mg.TracerError):
        jitted(x, first)


def test_control_flow_on_an_element_of_a_raw_array_argument_is_refused() -> None:
    jitted = mg.jit(lambda x: x.sum() if x[0] > 0 else -x.sum())
    if kernels.backend() != "numba":
        assert jitted(-np.ones(3)).item() == 3.0
        return
    with pytest.raises(mg.TracerError):
        jitted(np.ones(3))
