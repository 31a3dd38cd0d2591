"""``Module``: the base class of layers, which finds their parameters and submodules.

A layer only assigns its parameters (tensors that require grad) and
submodules as attributes — directly, or inside lists, tuples and dicts — and
``Module`` finds them, with dotted names as PyTorch gives them
(``"layers.0.weight"``). From those names come ``state_dict`` and
``load_state_dict``; ``train()`` and ``eval()`` switch every submodule's
``training`` flag (which :class:`~minigrad.nn.layers.Dropout` reads).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from minigrad.tensor import Tensor

__all__ = ["Module"]


def _items(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """``(name, tensor or module)`` for every parameter or module inside ``value``."""
    if isinstance(value, Tensor):
        if value.requires_grad:
            yield prefix, value
    elif isinstance(value, Module):
        yield prefix, value
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _items(item, f"{prefix}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _items(item, f"{prefix}.{key}")


class Module:
    """Base class of layers: finds parameters and submodules, saves and loads them.

    Subclasses assign parameters and submodules as attributes (also inside
    lists, tuples and dicts) and define :meth:`forward`; calling the module
    calls ``forward``.

    Examples
    --------
    >>> import minigrad as mg
    >>> net = mg.nn.Sequential(mg.nn.Linear(3, 2, rng=0), mg.nn.LayerNorm(2))
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias', '1.weight', '1.bias']
    >>> net.eval().training
    False
    """

    training: bool = True

    # ------------------------------------------------------------ discovery
    def _members(self) -> Iterator[tuple[str, Any]]:
        for name, value in vars(self).items():
            yield from _items(value, name)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for each direct submodule, each once, in assignment order.

        Examples
        --------
        >>> from minigrad.nn import MLP
        >>> [name for name, _ in MLP([2, 3, 1], rng=0).named_children()]
        ['layers.0', 'layers.1']
        """
        seen: set[int] = set()
        for name, member in self._members():
            if isinstance(member, Module) and id(member) not in seen:
                seen.add(id(member))
                yield name, member

    def children(self) -> Iterator[Module]:
        """Each direct submodule once.

        Examples
        --------
        >>> from minigrad.nn import MLP
        >>> len(list(MLP([2, 3, 1], rng=0).children()))
        2
        """
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module (name ``""``) and every descendant.

        Examples
        --------
        >>> from minigrad.nn import MLP, Sequential
        >>> [name for name, _ in Sequential(MLP([2, 1], rng=0)).named_modules()]
        ['', '0', '0.layers.0']
        """
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop(0)
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            stack[0:0] = [
                (f"{name}.{child_name}" if name else child_name, child)
                for child_name, child in module.named_children()
            ]

    def modules(self) -> Iterator[Module]:
        """This module and every module inside it, each once, parents first.

        Examples
        --------
        >>> from minigrad.nn import MLP
        >>> [type(m).__name__ for m in MLP([2, 3, 1], rng=0).modules()]
        ['MLP', 'Linear', 'Linear']
        """
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, tensor)`` for every parameter, each once, in assignment order.

        Examples
        --------
        >>> from minigrad.nn import Linear
        >>> [name for name, _ in Linear(2, 1, rng=0).named_parameters()]
        ['weight', 'bias']
        """
        seen: set[int] = set()
        for name, member in self._members():
            full = f"{prefix}.{name}" if prefix else name
            found = (
                member.named_parameters(full) if isinstance(member, Module) else [(full, member)]
            )
            for param_name, param in found:
                if id(param) not in seen:
                    seen.add(id(param))
                    yield param_name, param

    def parameters(self) -> list[Tensor]:
        """Every tensor that requires grad reachable from this module, each once, in order.

        Examples
        --------
        >>> from minigrad.nn import Linear
        >>> [p.shape for p in Linear(3, 2, rng=0).parameters()]
        [(3, 2), (2,)]
        """
        return [param for _, param in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget the accumulated gradients of every parameter.

        Examples
        --------
        >>> from minigrad.nn import Linear
        >>> layer = Linear(2, 1, rng=0)
        >>> layer(np.ones((1, 2), np.float32)).sum().backward()
        >>> layer.zero_grad()
        >>> layer.weight.grad is None
        True
        """
        for p in self.parameters():
            p.grad = None

    # --------------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter's value by dotted name, as a copied ``np.ndarray``.

        Examples
        --------
        >>> from minigrad.nn import Linear
        >>> {k: v.shape for k, v in Linear(2, 1, rng=0).state_dict().items()}
        {'weight': (2, 1), 'bias': (1,)}
        """
        return {name: param.data.copy() for name, param in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy values into the parameters of the same names (checked before any is changed).

        Parameters
        ----------
        state
            Name → array (or Tensor), as :meth:`state_dict` makes it.
        strict
            Missing or unexpected names raise ``KeyError`` (naming them); with
            ``strict=False`` they are skipped. A shape mismatch always raises
            ``ValueError`` naming the parameter and both shapes.

        Examples
        --------
        >>> from minigrad.nn import Linear
        >>> a, b = Linear(2, 1, rng=0), Linear(2, 1, rng=1)
        >>> b.load_state_dict(a.state_dict())
        >>> bool((a.weight.data == b.weight.data).all())
        True
        """
        params = dict(self.named_parameters())
        if strict:
            missing = sorted(set(params) - set(state))
            unexpected = sorted(set(state) - set(params))
            if missing or unexpected:
                raise KeyError(
                    f"state dict does not match the module: missing keys {missing}, "
                    f"unexpected keys {unexpected}"
                )
        updates = {}
        for name, param in params.items():
            if name not in state:
                continue
            value = state[name]
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            if value.shape != param.shape:
                raise ValueError(
                    f"parameter {name!r} has shape {param.shape}, the state dict {value.shape}"
                )
            updates[name] = value
        for name, value in updates.items():
            # A fresh array, not an in-place write: graphs built before still see the old values.
            params[name].data = np.array(value, dtype=params[name].dtype)

    # --------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Put this module and every submodule in training mode (or, with False, eval mode).

        Examples
        --------
        >>> from minigrad.nn import Dropout, Sequential
        >>> net = Sequential(Dropout(0.5)).train(False)
        >>> net[0].training, net.train()[0].training
        (False, True)
        """
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Put this module and every submodule in evaluation mode (``Dropout`` is the identity).

        Examples
        --------
        >>> from minigrad.nn import Dropout
        >>> Dropout(0.5).eval().training
        False
        """
        return self.train(False)

    # -------------------------------------------------------------- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """Compute the layer's output (subclasses define it)."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # -------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        """The settings shown between the parentheses of this module's ``repr``."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}(" + self.extra_repr()]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"
