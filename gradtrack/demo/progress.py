"""Show training progress: a tqdm bar when tqdm is installed, plain lines otherwise.

This module lets the demo report its progress the same way whatever is
installed: :func:`progress_bar` returns an object with ``update(loss,
grad_norm)`` and ``close()``. tqdm is an optional extra (``gradtrack[demo]``);
without it a line is printed every tenth of the run.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol, TextIO, runtime_checkable

__all__ = ["Progress", "progress_bar"]


@runtime_checkable
class Progress(Protocol):
    """What the training loop calls once per step, and once at the end.

    Examples
    --------
    >>> isinstance(progress_bar(2, quiet=True), Progress)
    True
    """

    def update(self, loss: float, grad_norm: float | None) -> None:
        """Record one finished step with its loss and total gradient norm (``None``: untracked)."""
        ...

    def close(self) -> None:
        """Finish the display."""
        ...


def _postfix(loss: float, grad_norm: float | None) -> dict[str, str]:
    postfix = {"loss": f"{loss:.4f}"}
    if grad_norm is not None:
        postfix["|grad|"] = f"{grad_norm:.4f}"
    return postfix


class _Silent:
    def update(self, loss: float, grad_norm: float | None) -> None:
        pass

    def close(self) -> None:
        pass


class _TqdmBar:
    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def update(self, loss: float, grad_norm: float | None) -> None:
        # refresh=False: the bar redraws at its own pace, not once per step.
        self._bar.set_postfix(_postfix(loss, grad_norm), refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


class _PlainLines:
    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = total
        self._stream = stream
        self._step = 0
        self._every = max(1, total // 10)

    def update(self, loss: float, grad_norm: float | None) -> None:
        self._step += 1
        if self._step % self._every and self._step != self._total:
            return
        text = "  ".join(f"{key} {value}" for key, value in _postfix(loss, grad_norm).items())
        width = len(str(self._total))
        print(f"step {self._step:>{width}}/{self._total}  {text}", file=self._stream, flush=True)

    def close(self) -> None:
        pass


def progress_bar(total: int, *, quiet: bool = False, stream: TextIO | None = None) -> Progress:
    """A progress display for ``total`` steps, written to ``stream`` (default: stderr).

    ``quiet`` shows nothing; without tqdm, plain lines are printed instead of a bar.

    Examples
    --------
    >>> bar = progress_bar(3, quiet=True)
    >>> bar.update(1.5, 0.25); bar.close()
    """
    stream = sys.stderr if stream is None else stream
    if quiet:
        return _Silent()
    try:
        from tqdm import tqdm
    except ImportError:
        return _PlainLines(total, stream)
    bar = tqdm(total=total, desc="training", unit="step", file=stream, dynamic_ncols=True)
    return _TqdmBar(bar)
