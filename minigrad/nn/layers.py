"""Layers: ``Linear``, ``Embedding``, ``MLP``, ``Sequential``, ``LayerNorm``, ``Dropout``,
``CausalSelfAttention``.

Each layer is a :class:`~minigrad.nn.module.Module` that assigns its
parameters as attributes and computes its output with minigrad ops (the
functional forms live in :mod:`minigrad.nn.functional`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from minigrad import ops
from minigrad.nn import functional
from minigrad.nn.module import Module, _items
from minigrad.tensor import Tensor, as_tensor

__all__ = [
    "MLP",
    "CausalSelfAttention",
    "Dropout",
    "Embedding",
    "LayerNorm",
    "Linear",
    "Sequential",
]

Seed = int | np.random.Generator | None


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


class Linear(Module):
    """``y = x @ W + b`` with ``W`` of shape ``(in_features, out_features)``.

    Weights start uniform in ``±1/sqrt(in_features)``, as in PyTorch.

    Examples
    --------
    >>> layer = Linear(4, 3, rng=0)
    >>> layer(np.ones((2, 4), dtype=np.float32)).shape
    (2, 3)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rng: int | np.random.Generator | None = None,
        dtype: Any = np.float32,
    ) -> None:
        generator = _rng(rng)
        bound = 1.0 / np.sqrt(in_features)
        self.weight = Tensor(
            generator.uniform(-bound, bound, (in_features, out_features)).astype(dtype),
            requires_grad=True,
        )
        self.bias = (
            Tensor(generator.uniform(-bound, bound, out_features).astype(dtype), requires_grad=True)
            if bias
            else None
        )

    def extra_repr(self) -> str:
        """Sizes and whether there is a bias."""
        n_in, n_out = self.weight.shape
        return f"in_features={n_in}, out_features={n_out}, bias={self.bias is not None}"

    def forward(self, x: Any) -> Tensor:
        """Apply the affine map to the last axis of ``x``."""
        out = ops.matmul(x, self.weight)
        return out if self.bias is None else out + self.bias


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``dim``.

    Examples
    --------
    >>> table = Embedding(10, 4, rng=0)
    >>> table(np.array([[1, 2, 2]])).shape
    (1, 3, 4)
    """

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        rng: int | np.random.Generator | None = None,
        dtype: Any = np.float32,
    ) -> None:
        generator = _rng(rng)
        self.weight = Tensor(
            generator.standard_normal((num_embeddings, dim)).astype(dtype), requires_grad=True
        )

    def extra_repr(self) -> str:
        """Table size."""
        return f"{self.weight.shape[0]}, {self.weight.shape[1]}"

    def forward(self, indices: Any) -> Tensor:
        """The rows of the table at integer ``indices`` (any shape)."""
        return ops.getitem(
            self.weight, np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        )


_ACTIVATIONS: dict[str, Callable[[Any], Tensor]] = {
    "relu": ops.relu,
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
}


class MLP(Module):
    """A stack of ``Linear`` layers with an activation between them (none after the last).

    Examples
    --------
    >>> net = MLP([4, 8, 2], rng=0)
    >>> net(np.ones((5, 4), dtype=np.float32)).shape
    (5, 2)
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        rng: int | np.random.Generator | None = None,
        dtype: Any = np.float32,
    ) -> None:
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got {list(sizes)}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of {sorted(_ACTIVATIONS)}"
            )
        generator = _rng(rng)
        self.activation = activation
        self.layers = [
            Linear(n_in, n_out, rng=generator, dtype=dtype)
            for n_in, n_out in itertools.pairwise(sizes)
        ]

    def extra_repr(self) -> str:
        """The activation between layers."""
        return f"activation={self.activation!r}"

    def forward(self, x: Any) -> Tensor:
        """Apply every layer in turn."""
        act = _ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            x = act(layer(x))
        return self.layers[-1](x)


class Sequential(Module):
    """Layers applied one after another; children are named ``"0"``, ``"1"`` … as in PyTorch.

    Any callable may be a step (``mg.relu`` as well as a module).

    Examples
    --------
    >>> import minigrad as mg
    >>> net = Sequential(Linear(4, 8, rng=0), mg.tanh, Linear(8, 2, rng=1))
    >>> net(np.ones((3, 4), dtype=np.float32)).shape
    (3, 2)
    >>> len(net), type(net[0]).__name__
    (3, 'Linear')
    """

    def __init__(self, *layers: Callable[..., Any]) -> None:
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential step {i} is not callable: {layer!r}")
        self.layers = list(layers)

    def _members(self) -> Iterator[tuple[str, Any]]:
        for i, layer in enumerate(self.layers):
            yield from _items(layer, str(i))

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Any:
        return self.layers[index]

    def __repr__(self) -> str:
        lines = ["Sequential("]
        for i, layer in enumerate(self.layers):
            body = (
                repr(layer)
                if isinstance(layer, Module)
                else getattr(layer, "__name__", repr(layer))
            )
            lines.append(f"  ({i}): " + body.replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"

    def forward(self, x: Any) -> Tensor:
        """Apply every step in turn."""
        for layer in self.layers:
            x = layer(x)
        return x


class LayerNorm(Module):
    """Normalize over the last axes to mean 0 and variance 1, then scale and shift.

    ``weight`` starts at ones and ``bias`` at zeros, as in PyTorch.

    Examples
    --------
    >>> norm = LayerNorm(4)
    >>> out = norm(np.arange(8.0, dtype=np.float32).reshape(2, 4))
    >>> np.round(out.data.mean(axis=-1), 6).tolist()
    [0.0, 0.0]
    """

    def __init__(
        self, normalized_shape: int | Sequence[int], eps: float = 1e-5, dtype: Any = np.float32
    ) -> None:
        shape = (
            (int(normalized_shape),)
            if isinstance(normalized_shape, int | np.integer)
            else tuple(int(n) for n in normalized_shape)
        )
        self.normalized_shape = shape
        self.eps = float(eps)
        self.weight = Tensor(np.ones(shape, dtype=dtype), requires_grad=True)
        self.bias = Tensor(np.zeros(shape, dtype=dtype), requires_grad=True)

    def extra_repr(self) -> str:
        """Shape and epsilon."""
        return f"{self.normalized_shape}, eps={self.eps:g}"

    def forward(self, x: Any) -> Tensor:
        """Normalize ``x`` over its last ``len(normalized_shape)`` axes."""
        return functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class Dropout(Module):
    """Zero each element with probability ``p`` in training, scaling the rest by ``1/(1-p)``.

    The identity in ``eval()`` mode.

    Examples
    --------
    >>> drop = Dropout(0.5, rng=0)
    >>> x = np.ones(1000)
    >>> sorted(set(drop(x).data.tolist()))
    [0.0, 2.0]
    >>> bool((drop.eval()(x).data == x).all())
    True
    """

    def __init__(self, p: float = 0.5, rng: Seed = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout p must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = _rng(rng)

    def extra_repr(self) -> str:
        """The drop probability."""
        return f"p={self.p:g}"

    def forward(self, x: Any) -> Tensor:
        """Drop elements at random (training), or pass ``x`` through (eval)."""
        return functional.dropout(x, self.p, training=self.training, rng=self.rng)


class CausalSelfAttention(Module):
    """Multi-head self-attention in which each position sees only itself and earlier ones.

    Input and output have shape ``(..., T, d_model)``. One ``Linear`` makes
    queries, keys and values for all heads at once, another mixes the heads'
    outputs (as in GPT-2).

    Examples
    --------
    >>> attention = CausalSelfAttention(8, n_heads=2, rng=0)
    >>> attention(np.ones((3, 5, 8), dtype=np.float32)).shape
    (3, 5, 8)
    """

    def __init__(
        self, d_model: int, n_heads: int, rng: Seed = None, dtype: Any = np.float32
    ) -> None:
        if n_heads < 1 or d_model % n_heads:
            raise ValueError(f"d_model {d_model} must be a multiple of n_heads {n_heads}")
        generator = _rng(rng)
        self.d_model = int(d_model)
        self.n_heads = int(n_heads)
        self.qkv = Linear(d_model, 3 * d_model, rng=generator, dtype=dtype)
        self.proj = Linear(d_model, d_model, rng=generator, dtype=dtype)

    def extra_repr(self) -> str:
        """Width and number of heads."""
        return f"d_model={self.d_model}, n_heads={self.n_heads}"

    def forward(self, x: Any) -> Tensor:
        """Attend causally over the second-to-last axis of ``x``."""
        x = as_tensor(x)
        *lead, steps, width = x.shape
        head = width // self.n_heads
        q, k, v = ops.split(self.qkv(x), 3, axis=-1)

        def heads(t: Tensor) -> Tensor:  # (..., T, d) -> (..., H, T, d/H)
            return ops.swapaxes(ops.reshape(t, (*lead, steps, self.n_heads, head)), -2, -3)

        mixed = functional.scaled_dot_product_attention(
            heads(q), heads(k), heads(v), is_causal=True
        )
        merged = ops.reshape(ops.swapaxes(mixed, -2, -3), (*lead, steps, width))
        return self.proj(merged)
