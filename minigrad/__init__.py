"""minigrad: a small, readable reverse-mode autodiff engine over NumPy.

>>> import minigrad as mg
>>> x = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> loss = (mg.softmax(x) * x).sum()
>>> loss.backward()
>>> x.grad.shape
(3,)

The pieces, each in its own module:

* :mod:`minigrad.tensor` — the ``Tensor`` and how an operation records itself;
* :mod:`minigrad.ops` — every differentiable function;
* :mod:`minigrad.engine` — topological sort and the backward pass;
* :mod:`minigrad.vjps` — the derivative table, one rule per primitive input;
* :mod:`minigrad.methods` — ``Tensor``'s operators and methods, bound to the ops;
* :mod:`minigrad.transforms` — ``grad`` and ``value_and_grad``;
* :mod:`minigrad.gradcheck` — finite-difference checks;
* :mod:`minigrad.kernels` — the forward computations (NumPy or Numba);
* :mod:`minigrad.nn`, :mod:`minigrad.optim` — layers and optimizers;
* :mod:`minigrad.memory` — an opt-in allocator tuning for training processes;
* :mod:`minigrad.viz` — pictures of a graph (``to_dot``, ``draw_graph``).
"""

from __future__ import annotations

# methods binds Tensor's operators; vjps fills the derivative table;
# memory.tune_allocator is opt-in, never called here.
from minigrad import kernels, memory, methods, nn, ops, optim, vjps  # noqa: F401
from minigrad.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from minigrad.gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_grad
from minigrad.ops import *  # noqa: F403  (every op, listed once, in minigrad.ops)
from minigrad.tensor import Tensor, as_tensor, tensor
from minigrad.transforms import grad, value_and_grad
from minigrad.viz import draw_graph, to_dot

__version__ = "0.1.0"

__all__ = [
    "GradcheckError",
    "Tensor",
    "as_tensor",
    "draw_graph",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_grad_enabled",
    "kernels",
    "nn",
    "no_grad",
    "numerical_grad",
    "optim",
    "set_grad_enabled",
    "tensor",
    "to_dot",
    "value_and_grad",
]
__all__ += ops.__all__
