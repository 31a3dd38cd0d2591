"""Wrong results found in review, each pinned by the user's code that showed it.

Each test is written the way the bug was met: a plain ``.sum()`` after a
broadcasting bias, a tensor pickled in another process, a deep-copied model
beside its original, threads sharing a leaf, an in-place change through a
view. Each failed before its fix.
"""

from __future__ import annotations

import copy
import gc
import pickle
import subprocess
import sys
import threading
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from gradtrack import tracker


def leaf(values: object) -> mg.Tensor:
    return mg.Tensor(np.array(values, dtype=np.float64), requires_grad=True)


# ------------------------------------------------ gradients of broadcast inputs
def test_bias_gradient_under_a_plain_sum_counts_every_row() -> None:
    x = leaf(np.ones((3, 2)))
    b = leaf(np.ones(2))
    (x + b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((3, 2)))


def test_linear_layer_bias_gradient_counts_the_batch() -> None:
    layer = mg.nn.Linear(4, 3, rng=np.random.default_rng(0))
    batch = mg.Tensor(np.random.default_rng(1).standard_normal((5, 4)))
    layer(batch).sum().backward()
    np.testing.assert_allclose(layer.bias.grad.numpy(), [5.0, 5.0, 5.0])


@pytest.mark.parametrize(
    ("head", "factor"),
    [
        (lambda y: y.sum(), 3.0),
        (lambda y: y.mean(), 3.0 / 6.0),
        (lambda y: (-y).sum(), -3.0),
        (lambda y: (2.0 - y / 4.0).sum(), -3.0 / 4.0),
        (lambda y: y.sum(axis=0).sum(), 3.0),
        (lambda y: y.mean(axis=1).sum(), 3.0 / 2.0),
    ],
)
def test_broadcast_gradients_through_linear_heads(head, factor) -> None:
    # Only ops that pass the gradient on unchanged sit between the broadcast and the
    # reduction: the case the lazily broadcast gradients got wrong.
    small = leaf([1.0, -2.0])
    big = leaf(np.zeros((3, 2)))
    head(big + small).backward()
    np.testing.assert_allclose(small.grad.numpy(), [factor, factor])


def test_gradtrack_norm_of_a_broadcast_regularizer() -> None:
    n = 8
    refs = np.random.default_rng(0).standard_normal((4, n))
    logprobs = -np.abs(np.random.default_rng(1).standard_normal(n))
    norm = tracker.compute_grad_norm(lambda lp: (lp[None, :] - refs).mean(), logprobs)
    # d/d lp_j of mean over (4, n) of (lp_j - refs_ij) is 4 / (4 n) = 1 / n for every j.
    assert norm == pytest.approx(np.sqrt(n) / n, rel=1e-12)


# ---------------------------------------------------- copies and pickles
def test_tensor_pickled_in_another_process_used_twice(tmp_path: Path) -> None:
    path = tmp_path / "w.pkl"
    # The other process makes many tensors first, as a real program would.
    script = (
        "import pickle, numpy as np, minigrad as mg\n"
        "junk = [mg.Tensor(np.ones(2)) * 2 for _ in range(5000)]\n"
        "w = mg.Tensor(np.array([1.5, -0.5]), requires_grad=True)\n"
        f"pickle.dump(w, open({str(path)!r}, 'wb'))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    with path.open("rb") as handle:
        w = pickle.load(handle)
    assert w.requires_grad and w.is_leaf
    loss = (w * w).sum() + (3.0 * w).sum()
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * np.array([1.5, -0.5]) + 3.0)


def test_pickled_non_leaf_comes_back_as_a_leaf_with_its_value() -> None:
    x = leaf([1.0, 2.0])
    y = pickle.loads(pickle.dumps(x * 3))
    assert y.is_leaf and y.requires_grad
    np.testing.assert_array_equal(y.numpy(), [3.0, 6.0])
    (y * y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [6.0, 12.0])
    assert x.grad is None


def test_deepcopy_of_a_model_used_with_the_original_in_one_loss() -> None:
    model = mg.nn.MLP([3, 4, 1], rng=np.random.default_rng(0))
    twin = copy.deepcopy(model)
    x = mg.Tensor(np.random.default_rng(1).standard_normal((5, 3)))
    loss = model(x).sum() + 2.0 * twin(x).sum()
    loss.backward()
    for mine, theirs in zip(model.parameters(), twin.parameters(), strict=True):
        assert mine is not theirs
        np.testing.assert_allclose(theirs.grad.numpy(), 2.0 * mine.grad.numpy())


def test_deepcopy_keeps_grad_and_owns_its_memory() -> None:
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    y = copy.deepcopy(x)
    y.grad.numpy()[0] = 100.0
    assert x.grad.numpy()[0] == 2.0
    assert not np.shares_memory(x.numpy(), y.numpy())


# ------------------------------------------------------------- shape checks
@pytest.mark.parametrize("axes", [(1, 2), (0, 0), (0,), (0, 1, 2), (2, 0)])
def test_transpose_with_bad_axes_is_an_error(axes) -> None:
    with pytest.raises(ValueError, match="permutation"):
        mg.Tensor(np.ones((2, 3))).transpose(*axes)


def test_transpose_with_negative_axes_is_allowed() -> None:
    x = mg.Tensor(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_array_equal(
        x.transpose(-1, 0, -2).numpy(), np.transpose(x.numpy(), (-1, 0, -2))
    )


@pytest.mark.parametrize("ddof", [3, 4, 10])
def test_var_with_ddof_at_least_n_follows_numpy(ddof: int) -> None:
    data = np.array([1.0, 2.0, 4.0])
    with warnings.catch_warnings():  # NumPy also warns about its division by zero
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.var(data, ddof=ddof)
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"):
        result = mg.var(data, ddof=ddof)
    assert expected == np.inf
    assert result.item() == expected


def test_max_over_an_empty_axis_and_over_a_nonempty_one() -> None:
    x = mg.Tensor(np.zeros((0, 3)))
    result = mg.max(x, axis=1)
    assert result.shape == np.max(np.zeros((0, 3)), axis=1).shape == (0,)
    with pytest.raises(ValueError, match="length 0"):
        mg.max(x, axis=0)
    with pytest.raises(ValueError, match="length 0"):
        mg.min(x)


# ------------------------------------------------------ NaN in max and min
@pytest.mark.parametrize("reduce", [mg.max, mg.min])
def test_max_and_min_send_the_gradient_to_the_nan(reduce) -> None:
    x = leaf([1.0, np.nan, 3.0])
    reduce(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])


def test_max_along_an_axis_with_nans_in_some_rows() -> None:
    x = leaf([[1.0, np.nan, np.nan], [4.0, 2.0, 0.0]])
    mg.max(x, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


# ------------------------------------------------------------------ threads
def test_threads_backward_into_one_shared_leaf_lose_nothing() -> None:
    # Big enough that NumPy releases the GIL inside the addition, as in real models.
    shared = leaf(np.ones(50_000))
    calls, threads_count = 1000, 4
    start = threading.Barrier(threads_count)

    def work() -> None:
        start.wait(timeout=30)
        for _ in range(calls):
            (shared * 1.0).sum().backward()

    threads = [threading.Thread(target=work) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    np.testing.assert_array_equal(shared.grad.numpy(), calls * threads_count)


# --------------------------------------------------------- in-place changes
def _view_writers():
    return {
        "reshape": lambda c: c.reshape(1, 3).__setitem__((0, 0), 5.0),
        "transpose": lambda c: c.T.__setitem__(0, 5.0),
        "slice": lambda c: c[0:2].__setitem__(0, 5.0),
        "detach": lambda c: c.detach().__setitem__(0, 5.0),
        "tensor of a tensor": lambda c: mg.Tensor(c).__setitem__(0, 5.0),
        "direct": lambda c: c.__setitem__(0, 5.0),
    }


@pytest.mark.parametrize("route", sorted(_view_writers()))
def test_inplace_change_to_a_constant_after_use_is_an_error(route: str) -> None:
    x = leaf([1.0, 2.0, 3.0])
    constant = mg.Tensor(np.array([2.0, 2.0, 2.0]))
    loss = (x * constant).sum()
    _view_writers()[route](constant)
    assert constant.numpy()[0] == 5.0  # the write went through the view
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_inplace_change_before_use_is_fine() -> None:
    x = leaf([1.0, 2.0, 3.0])
    constant = mg.Tensor(np.array([2.0, 2.0, 2.0]))
    constant.reshape(1, 3)[0, 0] = 5.0
    (x * constant).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 2.0, 2.0])


def test_inplace_change_to_unrelated_memory_is_not_an_error() -> None:
    x = leaf([1.0, 2.0])
    constant = mg.Tensor(np.array([3.0, 4.0]))
    loss = (x * constant).sum()
    other = mg.Tensor(np.zeros(2))
    other[0] = 1.0
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


# --------------------------------------------- graphs released after backward
def test_a_held_loss_does_not_keep_its_activations_after_backward() -> None:
    x = leaf(np.ones((4, 3)))
    hidden = mg.tanh(x @ np.ones((3, 5)))
    alive = weakref.ref(hidden)
    loss = hidden.sum()
    del hidden
    gc.collect()
    assert alive() is not None  # before backward the graph needs it
    loss.backward()
    gc.collect()
    assert alive() is None
    assert loss.item() == pytest.approx(20 * np.tanh(3.0))


def test_second_backward_needs_retain_graph() -> None:
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()
    kept = (x * x).sum()
    kept.backward(retain_graph=True)
    kept.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0] + 2 * np.array([2.0, 4.0]))


def test_create_graph_keeps_the_graph() -> None:
    x = leaf([1.0, 2.0])
    loss = (x * x * x).sum()
    loss.backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 12.0])


# ------------------------------------------------ inputs users pass by mistake
def test_requires_grad_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="requires_grad must be a bool"):
        mg.Tensor([1.0], requires_grad="no")
    assert mg.Tensor([1.0], requires_grad=np.bool_(True)).requires_grad


@pytest.mark.parametrize("fn", [mg.softmax, mg.log_softmax, mg.logsumexp])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_softmax_family_on_integer_and_bool_tensors_computes_in_float(fn, dtype) -> None:
    values = np.array([[1, 0, 1], [0, 0, 1]]).astype(dtype)
    result = fn(mg.Tensor(values))
    expected = fn(mg.Tensor(values.astype(np.float64)))
    assert result.dtype == np.float64
    np.testing.assert_allclose(result.numpy(), expected.numpy())


def test_comparing_with_none_is_elementwise_false() -> None:
    t = mg.Tensor([1.0, 2.0])
    np.testing.assert_array_equal((t == None).numpy(), [False, False])  # noqa: E711
    np.testing.assert_array_equal((t != None).numpy(), [True, True])  # noqa: E711


def test_numpy_sum_of_a_tensor_carries_gradients() -> None:
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    total = np.sum(x, axis=0)
    assert isinstance(total, mg.Tensor)
    np.testing.assert_array_equal(total.numpy(), [4.0, 6.0])
    np.mean(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 0.25))


def test_numpy_function_without_a_minigrad_op_names_itself() -> None:
    with pytest.raises(TypeError, match=r"numpy\.median .*t\.numpy\(\)"):
        np.median(mg.Tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="out="):
        np.sum(mg.Tensor([1.0]), out=np.zeros(()))
