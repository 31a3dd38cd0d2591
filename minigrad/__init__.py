"""minigrad: a small, readable reverse-mode autodiff engine over NumPy.

>>> import minigrad as mg
>>> x = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> loss = (mg.softmax(x) * x).sum()
>>> loss.backward()
>>> x.grad.shape
(3,)

The pieces, each in its own module:

* :mod:`minigrad.tensor` — the ``Tensor`` and its operators;
* :mod:`minigrad.ops` — every differentiable function;
* :mod:`minigrad.vjps` — the derivative table, one rule per primitive input;
* :mod:`minigrad.engine` — recording, topological sort, the backward pass;
* :mod:`minigrad.transforms` — ``grad`` and ``value_and_grad``;
* :mod:`minigrad.gradcheck` — finite-difference checks;
* :mod:`minigrad.kernels` — the forward computations (NumPy or Numba);
* :mod:`minigrad.nn`, :mod:`minigrad.optim` — layers and optimizers;
* :mod:`minigrad.memory` — an opt-in allocator tuning for training processes.
"""

from __future__ import annotations

# vjps fills the derivative table; memory.tune_allocator is opt-in, never called here.
from minigrad import kernels, memory, nn, optim, vjps  # noqa: F401
from minigrad.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from minigrad.gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_grad
from minigrad.ops import (
    abs,
    add,
    astype,
    broadcast_to,
    clip,
    concatenate,
    cos,
    div,
    exp,
    flatten,
    getitem,
    log,
    log1p,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    ones,
    ones_like,
    pow,
    relu,
    reshape,
    sigmoid,
    sign,
    sin,
    softmax,
    softplus,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    sub,
    sum,
    tanh,
    transpose,
    unsqueeze,
    var,
    where,
    zeros,
    zeros_like,
)
from minigrad.tensor import Tensor, as_tensor, tensor
from minigrad.transforms import grad, value_and_grad
from minigrad.viz import to_dot

__version__ = "0.1.0"

__all__ = [
    "GradcheckError",
    "Tensor",
    "abs",
    "add",
    "as_tensor",
    "astype",
    "broadcast_to",
    "clip",
    "concatenate",
    "cos",
    "div",
    "enable_grad",
    "exp",
    "flatten",
    "getitem",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_grad_enabled",
    "kernels",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "neg",
    "nn",
    "no_grad",
    "numerical_grad",
    "ones",
    "ones_like",
    "optim",
    "pow",
    "relu",
    "reshape",
    "set_grad_enabled",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "softplus",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sum",
    "tanh",
    "tensor",
    "to_dot",
    "transpose",
    "unsqueeze",
    "value_and_grad",
    "var",
    "where",
    "zeros",
    "zeros_like",
]
