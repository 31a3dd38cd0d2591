"""Writing a run's files without ever writing through a symbolic link.

A run folder may hold links planted before the run (or left by another
program): a dangling ``metrics.jsonl`` link pointing outside the folder, say.
Opening such a name for writing follows the link and writes wherever it
points. Here a file is either created new, failing if *anything* (a link
included) already has its name, or written to a fresh, randomly named side
file that is then renamed over the name: a rename replaces a link itself,
never its target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["create_new", "replace_atomically"]

# O_NOFOLLOW is POSIX; where it is missing, O_EXCL alone already refuses an existing link.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@contextlib.contextmanager
def create_new(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open ``path`` for writing, creating it; ``FileExistsError`` if the name is taken.

    A symbolic link with that name, even one pointing nowhere, counts as taken.

    Examples
    --------
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with create_new(Path(folder) / "a.txt") as file:
    ...         _ = file.write("one")
    ...     with create_new(Path(folder) / "a.txt") as file:
    ...         pass
    Traceback (most recent call last):
    ...
    FileExistsError: [Errno 17] File exists: ...
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW
    descriptor = os.open(path, flags, 0o644)
    encoding = None if "b" in mode else "utf-8"
    with os.fdopen(descriptor, mode, encoding=encoding) as file:
        yield file


def replace_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Have ``write(file)`` fill a new side file, then rename it over ``path``.

    A reader (or a Ctrl-C) never sees half a file, and whatever ``path`` was
    before (a file, or a link to anywhere) is replaced, not written through.

    Examples
    --------
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target = Path(folder) / "x.json"
    ...     replace_atomically(target, lambda file: file.write(b"{}"))
    ...     print(target.read_text())
    {}
    """
    descriptor, side = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
        os.chmod(side, 0o644)  # mkstemp makes it private; the run's files are readable
        os.replace(side, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(side)
        raise
