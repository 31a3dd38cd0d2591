"""Every differentiable operation in minigrad, as a function.

This package lets you compute with tensors the way you would with NumPy:
``mg.exp(x)``, ``mg.sum(x, axis=1)``, ``mg.where(mask, x, 0.0)``. Every binary
operation broadcasts like NumPy and accepts Python numbers, arrays and tensors
on either side.

Each *primitive* computes its value with a kernel (:mod:`minigrad.kernels`)
and records itself with :func:`minigrad.tensor.record`; its derivative lives
in :mod:`minigrad.vjps`. A few operations (``mean``, ``var``, ``std``,
``stack``, ``squeeze`` …) are *composites*, written with primitives, so their
derivatives come for free.

The ops are grouped by kind, one module each:

* :mod:`~minigrad.ops.elementwise` — arithmetic, functions of one value,
  ``maximum``/``minimum``, ``clip``, ``where``, ``astype``;
* :mod:`~minigrad.ops.reductions` — ``sum`` … ``std``, ``prod``, ``cumsum``,
  ``logsumexp`` and the softmax family;
* :mod:`~minigrad.ops.shape` — reshaping, transposing, broadcasting,
  indexing, joining;
* :mod:`~minigrad.ops.special` — more functions of one value (``expm1``,
  ``erf``, ``gelu``, ``silu`` …) and ``logaddexp``;
* :mod:`~minigrad.ops.rounding` — ``floor``, ``ceil``, ``round``, ``//``,
  ``%``, ``isnan``, ``isfinite``;
* :mod:`~minigrad.ops.arrange` — ``split``, ``pad``, ``flip``, ``roll``,
  ``repeat``, ``tile``, ``moveaxis``, ``swapaxes``, ``tril``, ``triu``;
* :mod:`~minigrad.ops.sorting` — ``sort``, ``take_along_axis``, ``argsort``,
  ``argmax``, ``argmin``;
* :mod:`~minigrad.ops.linalg` — ``matmul``, ``einsum``, ``outer``, ``norm``;
* :mod:`~minigrad.ops.creation` — ``zeros``, ``ones``, ``full``, ``arange``,
  ``eye`` and the ``_like`` forms.

Each module's ``__all__`` is the one list of its public ops: this package's
``__all__`` and ``minigrad``'s namespace are built from them.
"""

from __future__ import annotations

from minigrad.ops import (
    arrange,
    creation,
    elementwise,
    linalg,
    reductions,
    rounding,
    shape,
    sorting,
    special,
)

# The helpers below are used by the derivative table and the Tensor methods as ops.*,
# but are not part of the public list.
from minigrad.ops._axes import Axis, kept_shape, normalize_axes  # noqa: F401
from minigrad.ops.arrange import *  # noqa: F403
from minigrad.ops.creation import *  # noqa: F403
from minigrad.ops.elementwise import *  # noqa: F403
from minigrad.ops.elementwise import compare  # noqa: F401
from minigrad.ops.linalg import *  # noqa: F403
from minigrad.ops.reductions import *  # noqa: F403
from minigrad.ops.rounding import *  # noqa: F403
from minigrad.ops.shape import *  # noqa: F403
from minigrad.ops.shape import index_scatter, is_basic_index  # noqa: F401
from minigrad.ops.sorting import *  # noqa: F403
from minigrad.ops.special import *  # noqa: F403

__all__: list[str] = []
for _module in (
    arrange,
    creation,
    elementwise,
    linalg,
    reductions,
    rounding,
    shape,
    sorting,
    special,
):
    __all__ += _module.__all__
del _module
