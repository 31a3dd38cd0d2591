"""Layers for small models: ``Module``, ``Linear``, ``Embedding``, ``MLP``.

This module lets you build the small networks the notebooks and the demo
train. A :class:`Module` finds its parameters by looking through its
attributes (tensors that require grad, other modules, and lists, tuples and
dicts of them, nested to any depth), so a layer only has to assign them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from minigrad import ops
from minigrad.tensor import Tensor

__all__ = ["MLP", "Embedding", "Linear", "Module"]


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


class Module:
    """Base class of layers: collects parameters and clears their gradients.

    Parameters are found in attributes holding tensors that require grad,
    modules, and lists, tuples and dicts (values in insertion order) of them.

    Examples
    --------
    >>> layer = Linear(3, 2, rng=0)
    >>> [p.shape for p in layer.parameters()]
    [(3, 2), (2,)]
    >>> class Heads(Module):
    ...     def __init__(self):
    ...         self.heads = {"a": Linear(3, 1, rng=0), "b": Linear(3, 1, rng=1)}
    >>> len(Heads().parameters())
    4
    """

    def parameters(self) -> list[Tensor]:
        """Every tensor that requires grad reachable from this module, each once, in order."""
        found: list[Tensor] = []
        seen: set[int] = set()
        for value in vars(self).values():
            for tensor in _walk(value):
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    found.append(tensor)
        return found

    def zero_grad(self) -> None:
        """Forget the accumulated gradients of every parameter."""
        for p in self.parameters():
            p.grad = None

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """Compute the layer's output (subclasses define it)."""
        raise NotImplementedError


def _walk(value: Any) -> Iterator[Tensor]:
    if isinstance(value, Tensor):
        if value.requires_grad:
            yield value
    elif isinstance(value, Module):
        yield from value.parameters()
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _walk(item)


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

    def forward(self, x: Any) -> Tensor:
        """Apply every layer in turn."""
        act = _ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            x = act(layer(x))
        return self.layers[-1](x)
