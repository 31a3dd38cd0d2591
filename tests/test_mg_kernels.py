"""Both kernel paths: every Numba twin against its NumPy reference, in one process.

Inputs are drawn by hypothesis and include the awkward values — ``-inf``,
±1e4, empty and 0-d arrays — in float32 and float64. A subprocess checks that
``MINIGRAD_DISABLE_JIT=1`` selects the NumPy path.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigrad import kernels
from minigrad.kernels import numpy_backend

numba_backend = pytest.importorskip("minigrad.kernels.numba_backend")

AWKWARD = st.sampled_from([-np.inf, np.inf, 1e4, -1e4, 0.0, -0.0])


def arrays(dtype: type) -> st.SearchStrategy[np.ndarray]:
    """Arrays of any small shape (0-d and empty included) with awkward values mixed in."""
    finite = st.floats(-1e4, 1e4, width=np.dtype(dtype).itemsize * 8)
    return hnp.arrays(
        dtype,
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
        elements=st.one_of(finite, AWKWARD),
    )


def assert_same(got: float, want: float) -> None:
    if np.isnan(want):
        assert np.isnan(got)
    elif np.isinf(want):
        assert got == want
    else:
        assert got == pytest.approx(want, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_sum_of_squares_matches_reference(dtype: type, data: st.DataObject) -> None:
    x = data.draw(arrays(dtype))
    assert_same(numba_backend.sum_of_squares(x), numpy_backend.sum_of_squares(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_dot_matches_reference(dtype: type, data: st.DataObject) -> None:
    a = data.draw(arrays(dtype))
    b = data.draw(hnp.arrays(dtype, a.shape, elements=st.floats(-10, 10, width=32)))
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN on both paths
        assert_same(numba_backend.dot(a, b), numpy_backend.dot(a, b))


@given(x=hnp.arrays(np.float32, st.integers(1, 5000), elements=st.floats(-3, 3, width=32)))
@example(x=np.full(3_000, 0.1, dtype=np.float32))
def test_float32_squares_accumulate_in_float64(x: np.ndarray) -> None:
    exact = float(np.sum(x.astype(np.float64) ** 2))
    assert numba_backend.sum_of_squares(x) == pytest.approx(exact, rel=1e-12)


def test_non_contiguous_and_integer_inputs() -> None:
    x = np.arange(24, dtype=np.float64).reshape(4, 6)[:, ::2]
    assert numba_backend.sum_of_squares(x) == numpy_backend.sum_of_squares(x)
    ints = np.arange(5)
    assert numba_backend.sum_of_squares(ints) == 30.0
    assert numba_backend.dot(x, x.copy()) == numpy_backend.dot(x, x)


def test_dot_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        numba_backend.dot(np.ones(2), np.ones(3))


def test_backend_is_chosen_once_and_the_dispatch_uses_it() -> None:
    assert kernels.backend() in ("numba", "numpy")
    x = np.linspace(-1, 1, 101, dtype=np.float32)
    assert kernels.sum_of_squares(x) == pytest.approx(numpy_backend.sum_of_squares(x), rel=1e-12)


def test_disable_jit_selects_numpy_in_a_fresh_process() -> None:
    code = (
        "import sys, minigrad as mg, numpy as np;"
        "assert mg.kernels.sum_of_squares(np.ones(4, np.float32)) == 4.0;"
        "print(mg.kernels.backend(), 'numba' in sys.modules)"
    )
    env = {**os.environ, "MINIGRAD_DISABLE_JIT": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["numpy", "False"]


def test_importing_minigrad_compiles_nothing() -> None:
    code = "import sys, minigrad; print('numba' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_DISABLE_JIT"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_sign_matches_reference(dtype: type, data: st.DataObject) -> None:
    x = data.draw(arrays(dtype))
    got, want = numba_backend.sign(x), numpy_backend.sign(x)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_sum_all_matches_reference(dtype: type, data: st.DataObject) -> None:
    x = data.draw(arrays(dtype))
    with np.errstate(invalid="ignore"):  # inf - inf is NaN on both paths
        got, want = numba_backend.sum_all(x), numpy_backend.sum_all(x)
        exact = np.sum(x.astype(np.float64))
    assert got.dtype == want.dtype and got.shape == ()
    if np.isnan(want) or np.isnan(exact):
        assert np.isnan(got)
    elif np.isinf(want) or np.isinf(exact):
        assert got == np.asarray(exact, dtype=dtype)
    else:
        # Within the classic bound for a sum in any order, n ε Σ|x|, where ε is the
        # result dtype's (float64 accumulation makes float32 results much closer).
        magnitude = float(np.abs(x.astype(np.float64)).sum())
        tolerance = max(abs(float(want) - exact), x.size * np.finfo(dtype).eps * magnitude)
        assert abs(float(got) - exact) <= tolerance


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_where_matches_reference(dtype: type, data: st.DataObject) -> None:
    x = data.draw(arrays(dtype))
    condition = data.draw(hnp.arrays(np.bool_, x.shape))
    other = data.draw(
        st.sampled_from(
            [np.zeros((), dtype), np.full(x.shape, 7.0, dtype), np.ones((1,) * x.ndim, dtype)]
        )
    )
    for args in ((condition, x, other), (condition, other, x)):
        got, want = numba_backend.where(*args), numpy_backend.where(*args)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_numba_starts_only_when_an_array_is_big_enough() -> None:
    code = (
        "import sys, numpy as np, minigrad as mg\n"
        "x = mg.Tensor(np.ones(100), requires_grad=True)\n"
        "(mg.relu(x) * x).sum().backward()\n"
        "small = 'numba' in sys.modules\n"
        "big = np.ones(mg.kernels.START_NUMBA_AT, dtype=np.float32)\n"
        "assert mg.kernels.sum_of_squares(big) == big.size\n"
        "print(small, 'numba' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_DISABLE_JIT"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True"]
