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
* :mod:`minigrad.transforms` — ``grad``, ``value_and_grad`` and ``vjp``;
* :mod:`minigrad.forward`, :mod:`minigrad.jvps` — forward mode: ``jvp`` and
  its table of rules;
* :mod:`minigrad.jacobians` — ``jacrev``, ``jacfwd``, ``hessian``, ``hvp``;
* :mod:`minigrad.custom_rules`, :mod:`minigrad.checkpointing` —
  ``custom_vjp`` and ``checkpoint``;
* :mod:`minigrad.hooks`, :mod:`minigrad.anomaly` — tensor hooks and
  ``detect_anomaly``;
* :mod:`minigrad.pytree` — nested containers of arrays as arguments;
* :mod:`minigrad.gradcheck` — finite-difference checks;
* :mod:`minigrad.kernels` — the forward computations (NumPy or Numba);
* :mod:`minigrad.jit` — ``mg.jit``: trace once, fuse into Numba kernels;
* :mod:`minigrad.nn`, :mod:`minigrad.optim` — layers, losses, optimizers, schedules;
* :mod:`minigrad.serialization` — ``save``/``load`` of state dicts as ``.npz``;
* :mod:`minigrad.memory` — an opt-in allocator tuning for training processes;
* :mod:`minigrad.viz` — pictures of a graph (``to_dot``, ``draw_graph``).
"""

from __future__ import annotations

# methods binds Tensor's operators; vjps and jvps fill the derivative tables;
# memory.tune_allocator is opt-in, never called here.
from minigrad import jvps, kernels, memory, methods, nn, ops, optim, pytree, vjps  # noqa: F401
from minigrad.anomaly import detect_anomaly
from minigrad.checkpointing import checkpoint
from minigrad.custom_rules import custom_vjp
from minigrad.forward import jvp
from minigrad.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from minigrad.gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_grad
from minigrad.jacobians import hessian, hvp, jacfwd, jacrev
from minigrad.jit import jit
from minigrad.ops import *  # noqa: F403  (every op, listed once, in minigrad.ops)
from minigrad.serialization import load, save
from minigrad.tensor import Tensor, as_tensor, tensor
from minigrad.tracing import TracerError
from minigrad.transforms import grad, value_and_grad, vjp
from minigrad.viz import draw_graph, to_dot

__version__ = "0.1.0"

__all__ = [
    "GradcheckError",
    "Tensor",
    "TracerError",
    "as_tensor",
    "checkpoint",
    "custom_vjp",
    "detect_anomaly",
    "draw_graph",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacfwd",
    "jacrev",
    "jit",
    "jvp",
    "kernels",
    "load",
    "nn",
    "no_grad",
    "numerical_grad",
    "optim",
    "save",
    "set_grad_enabled",
    "tensor",
    "to_dot",
    "value_and_grad",
    "vjp",
]
__all__ += ops.__all__
