"""minigrad.nn: Module discovery and state, the layers, and nn.functional.

Values are checked by hand-derived numbers and, where PyTorch is installed,
against ``torch.nn.functional`` on the same inputs; gradients of every
functional against finite differences in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import (
    MLP,
    CausalSelfAttention,
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
    Module,
    Sequential,
)
from minigrad.nn import functional as F


class Holder(Module):
    """Parameters in every kind of container."""

    def __init__(self) -> None:
        self.scale = mg.Tensor([1.0], requires_grad=True)
        self.constant = mg.Tensor([2.0])  # does not require grad: not a parameter
        self.blocks = [Linear(2, 2, rng=0), Linear(2, 1, rng=1)]
        self.pair = (mg.Tensor([3.0], requires_grad=True), Embedding(3, 2, rng=2))
        self.heads = {"left": Linear(1, 1, rng=3), "right": mg.Tensor([4.0], requires_grad=True)}
        self.alias = self.scale  # the same tensor twice: listed once


def test_named_parameters_in_attributes_lists_tuples_dicts() -> None:
    names = [name for name, _ in Holder().named_parameters()]
    assert names == [
        "scale",
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.1.weight",
        "blocks.1.bias",
        "pair.0",
        "pair.1.weight",
        "heads.left.weight",
        "heads.left.bias",
        "heads.right",
    ]
    assert len(Holder().parameters()) == len(names)


def test_children_and_modules() -> None:
    holder = Holder()
    assert [type(c).__name__ for c in holder.children()] == [
        "Linear",
        "Linear",
        "Embedding",
        "Linear",
    ]
    named = [name for name, _ in holder.named_modules()]
    assert named == ["", "blocks.0", "blocks.1", "pair.1", "heads.left"]
    assert next(iter(holder.modules())) is holder


def test_sequential_names_like_pytorch() -> None:
    net = Sequential(Linear(3, 4, rng=0), mg.relu, Sequential(Linear(4, 2, rng=1)))
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.0.weight", "2.0.bias"]
    assert net(np.ones((5, 3), dtype=np.float32)).shape == (5, 2)
    with pytest.raises(TypeError, match="step 0"):
        Sequential(3)  # type: ignore[arg-type]


def test_state_dict_round_trip_copies() -> None:
    source, target = MLP([3, 4, 2], rng=0), MLP([3, 4, 2], rng=1)
    state = source.state_dict()
    assert list(state) == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    state["layers.0.bias"][:] = 99.0  # a copy: the module is untouched
    assert not (source.layers[0].bias.data == 99.0).any()
    target.load_state_dict(source.state_dict())
    x = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(target(x).data, source(x).data)


def test_load_state_dict_errors_name_the_keys() -> None:
    net = MLP([2, 3, 1], rng=0)
    state = net.state_dict()
    del state["layers.1.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(
        KeyError, match=r"missing keys \['layers.1.bias'\].*unexpected keys \['extra'\]"
    ):
        net.load_state_dict(state)
    before = net.layers[0].weight.data.copy()
    state = net.state_dict()
    state["layers.0.weight"] = np.zeros((5, 5))
    state["layers.0.bias"] = np.full(3, 7.0)
    with pytest.raises(ValueError, match=r"'layers.0.weight' has shape \(2, 3\).*\(5, 5\)"):
        net.load_state_dict(state)
    # Nothing changed: the check runs before any parameter is written.
    np.testing.assert_array_equal(net.layers[0].weight.data, before)
    assert not (net.layers[0].bias.data == 7.0).any()
    # strict=False skips missing and unexpected keys but still loads the rest.
    net.load_state_dict({"layers.0.bias": np.full(3, 5.0), "nope": np.zeros(1)}, strict=False)
    np.testing.assert_array_equal(net.layers[0].bias.data, np.full(3, 5.0, np.float32))


def test_train_eval_and_dropout() -> None:
    net = Sequential(Linear(4, 4, rng=0), Dropout(0.5, rng=0))
    assert net.training and net[1].training
    assert net.eval() is net
    assert not net.training and not net[1].training
    x = np.ones((3, 4), dtype=np.float32)
    np.testing.assert_array_equal(net(x).data, net[0](x).data)
    net.train()
    assert net[1].training
    dropped = net[1](np.ones(10_000))
    values = set(np.unique(dropped.data).tolist())
    assert values == {0.0, 2.0}
    assert abs(dropped.data.mean() - 1.0) < 0.05


def test_repr_is_readable() -> None:
    text = repr(Sequential(Linear(3, 2, rng=0), mg.tanh, LayerNorm(2), Dropout(0.1)))
    assert text == (
        "Sequential(\n"
        "  (0): Linear(in_features=3, out_features=2, bias=True)\n"
        "  (1): tanh\n"
        "  (2): LayerNorm((2,), eps=1e-05)\n"
        "  (3): Dropout(p=0.1)\n"
        ")"
    )
    nested = repr(MLP([2, 3, 1], rng=0))
    assert nested.startswith("MLP(activation='relu'\n  (layers.0): Linear(")


def test_zero_grad_clears_every_parameter() -> None:
    net = MLP([2, 3, 1], rng=0)
    net(np.ones((1, 2), dtype=np.float32)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# ----------------------------------------------------------------- layers
def test_layer_norm_normalizes_and_has_right_gradients() -> None:
    x = np.random.default_rng(0).normal(size=(3, 4))
    out = F.layer_norm(x, 4)
    np.testing.assert_allclose(out.data.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(
        out.data.var(axis=-1), 1.0 / (1.0 + 1e-5 / x.var(axis=-1)), rtol=1e-9
    )
    w, b = np.linspace(0.5, 1.5, 4), np.linspace(-1, 1, 4)
    weights = np.random.default_rng(1).normal(size=(3, 4))
    fun = lambda t, u, v: (F.layer_norm(t, (4,), u, v) * weights).sum()  # noqa: E731
    assert mg.gradcheck(fun, x, w, b)
    assert mg.gradgradcheck(fun, x, w, b)
    with pytest.raises(ValueError, match="does not fit"):
        F.layer_norm(x, 3)


def test_causal_self_attention_is_causal_and_differentiable() -> None:
    attention = CausalSelfAttention(8, n_heads=2, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(2, 5, 8))
    out = attention(x).data
    changed = x.copy()
    changed[:, 3:] += 1.0  # the future changes...
    np.testing.assert_allclose(
        attention(changed).data[:, :3], out[:, :3], rtol=1e-12
    )  # ...past not
    assert not np.allclose(attention(changed).data[:, 3:], out[:, 3:])
    weights = np.random.default_rng(2).normal(size=(1, 3, 8))
    assert mg.gradcheck(lambda t: (attention(t) * weights).sum(), x[:1, :3])
    with pytest.raises(ValueError, match="multiple of n_heads"):
        CausalSelfAttention(6, n_heads=4)


# ------------------------------------------------------ functional (by hand)
def test_cross_entropy_by_hand() -> None:
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    row0 = np.log(np.exp(2.0) + 2.0) - 2.0
    row1 = np.log(3.0)
    targets = np.array([0, 2])
    assert F.cross_entropy(logits, targets).item() == pytest.approx((row0 + row1) / 2, rel=1e-12)
    assert F.cross_entropy(logits, targets, reduction="sum").item() == pytest.approx(row0 + row1)
    np.testing.assert_allclose(
        F.cross_entropy(logits, targets, reduction="none").data, [row0, row1]
    )
    ignored = F.cross_entropy(logits, np.array([0, -100]), ignore_index=-100)
    assert ignored.item() == pytest.approx(row0, rel=1e-12)  # the mean is over one target
    # Label smoothing ε: (1-ε) nll + ε mean_c(-log p_c).
    eps = 0.1
    logp0 = logits[0] - np.log(np.exp(logits[0]).sum())
    smooth0 = (1 - eps) * row0 + eps * -logp0.mean()
    smoothed = F.cross_entropy(logits[:1], targets[:1], label_smoothing=eps)
    assert smoothed.item() == pytest.approx(smooth0, rel=1e-12)


def test_cross_entropy_class_axis_and_probability_targets() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4))  # classes on axis 1
    targets = rng.integers(0, 3, size=(2, 4))
    moved = np.moveaxis(logits, 1, -1)
    expected = F.cross_entropy(moved, targets).item()
    assert F.cross_entropy(logits, targets, axis=1).item() == pytest.approx(expected, rel=1e-12)
    probs = F.one_hot(targets, 3).data.astype(np.float64)
    as_probs = F.cross_entropy(moved, probs).item()
    assert as_probs == pytest.approx(expected, rel=1e-12)
    assert mg.gradcheck(
        lambda t: F.cross_entropy(t, targets, axis=1, ignore_index=1, label_smoothing=0.2), logits
    )
    assert mg.gradgradcheck(lambda t: F.cross_entropy(t, targets, axis=1), logits)


def test_cross_entropy_bad_targets() -> None:
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="do not match"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), reduction="avg")
    with pytest.raises(TypeError, match="integer"):
        F.nll_loss(np.zeros((2, 3)), np.array([0.5, 1.0]))


def test_nll_mse_bce_one_hot_by_hand() -> None:
    logprobs = np.log(np.array([[0.5, 0.5], [0.25, 0.75]]))
    assert F.nll_loss(logprobs, np.array([0, 1])).item() == pytest.approx(
        -(np.log(0.5) + np.log(0.75)) / 2
    )
    assert F.mse_loss([1.0, 2.0], [1.0, 4.0]).item() == 2.0
    assert F.mse_loss([1.0, 2.0], [1.0, 4.0], reduction="sum").item() == 4.0
    x, t = np.array([0.0, 2.0, -3.0]), np.array([1.0, 0.0, 0.5])
    expected = -(t * np.log(1 / (1 + np.exp(-x))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-x))))
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(x, t, reduction="none").data, expected, rtol=1e-12
    )
    big = F.binary_cross_entropy_with_logits([1000.0, -1000.0], [0.0, 1.0], reduction="none")
    np.testing.assert_allclose(big.data, [1000.0, 1000.0])  # stable: no inf
    assert F.one_hot(np.array([[1], [0]]), 2).data.tolist() == [[[0, 1]], [[1, 0]]]
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        F.one_hot(np.array([2]), 2)


def test_scaled_dot_product_attention_by_hand() -> None:
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    k = np.array([[1.0, 0.0], [1.0, 1.0]])
    v = np.array([[1.0, 2.0], [3.0, 4.0]])
    scores = q @ k.T / np.sqrt(2.0)
    weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v).data, weights @ v)
    causal = F.scaled_dot_product_attention(q, k, v, is_causal=True).data
    np.testing.assert_allclose(causal[0], v[0])  # the first query sees only the first key
    masked = F.scaled_dot_product_attention(q, k, v, mask=np.array([[False, True], [True, True]]))
    np.testing.assert_allclose(masked.data[0], v[1])
    additive = F.scaled_dot_product_attention(q, k, v, mask=np.array([[0.0, -np.inf]] * 2))
    np.testing.assert_allclose(additive.data, [v[0], v[0]])
    assert mg.gradcheck(
        lambda a, b, c: (F.scaled_dot_product_attention(a, b, c, is_causal=True) * v).sum(),
        q,
        k,
        v,
    )


def test_dropout_functional() -> None:
    x = mg.Tensor(np.ones(8), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, np.zeros(8))
    a = F.dropout(x, 0.3, rng=np.random.default_rng(5)).data
    b = F.dropout(x, 0.3, rng=np.random.default_rng(5)).data
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="p must be"):
        F.dropout(x, 1.5)


# ---------------------------------------------------------- against PyTorch
def _torch() -> Any:
    return pytest.importorskip("torch")


@pytest.mark.parametrize("ignore_index", [None, 1])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(
    ignore_index: int | None, label_smoothing: float, reduction: str
) -> None:
    torch = _torch()
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5))
    targets = rng.integers(0, 5, size=6)
    mine = F.cross_entropy(
        logits,
        targets,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
    theirs = torch.nn.functional.cross_entropy(
        torch.tensor(logits),
        torch.tensor(targets),
        reduction=reduction,
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=label_smoothing,
    )
    np.testing.assert_allclose(mine.data, theirs.numpy(), rtol=1e-12)
    # Gradients too.
    t_logits = torch.tensor(logits, requires_grad=True)
    torch.nn.functional.cross_entropy(
        t_logits,
        torch.tensor(targets),
        ignore_index=-100 if ignore_index is None else ignore_index,
        label_smoothing=label_smoothing,
    ).backward()
    gradient = mg.grad(
        lambda t: F.cross_entropy(
            t, targets, ignore_index=ignore_index, label_smoothing=label_smoothing
        )
    )(logits)
    np.testing.assert_allclose(gradient.data, t_logits.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_other_functionals_match_torch() -> None:
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4))
    t = rng.uniform(size=(2, 3, 4))
    w, b = rng.normal(size=4), rng.normal(size=4)
    logprobs = np.log(rng.dirichlet(np.ones(4), size=3))
    labels = rng.integers(0, 4, size=3)
    pairs = [
        (F.mse_loss(x, t), tf.mse_loss(torch.tensor(x), torch.tensor(t))),
        (
            F.binary_cross_entropy_with_logits(x, t, reduction="sum"),
            tf.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t), reduction="sum"),
        ),
        (
            F.layer_norm(x, (4,), w, b),
            tf.layer_norm(torch.tensor(x), (4,), torch.tensor(w), torch.tensor(b)),
        ),
        (F.layer_norm(x, (3, 4)), tf.layer_norm(torch.tensor(x), (3, 4))),
        (
            F.nll_loss(logprobs, labels, ignore_index=2),
            tf.nll_loss(torch.tensor(logprobs), torch.tensor(labels), ignore_index=2),
        ),
        (F.one_hot(labels, 5), tf.one_hot(torch.tensor(labels), 5)),
    ]
    q, k, v = (rng.normal(size=(2, 2, 5, 4)) for _ in range(3))
    for causal in (False, True):
        pairs.append(
            (
                F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                tf.scaled_dot_product_attention(
                    torch.tensor(q), torch.tensor(k), torch.tensor(v), is_causal=causal
                ),
            )
        )
    mask = rng.uniform(size=(5, 5)) > 0.3
    np.fill_diagonal(mask, True)
    pairs.append(
        (
            F.scaled_dot_product_attention(q, k, v, mask=mask),
            tf.scaled_dot_product_attention(
                torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask=torch.tensor(mask)
            ),
        )
    )
    for mine, theirs in pairs:
        np.testing.assert_allclose(mine.data, theirs.numpy(), rtol=1e-10, atol=1e-12)
