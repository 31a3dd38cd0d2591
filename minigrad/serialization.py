"""Save and load (nested) dicts of arrays, tensors and numbers as one ``.npz`` file.

This module lets you keep a model's ``state_dict()`` and an optimizer's
state on disk: ``mg.save(state, "model.npz")`` and ``mg.load("model.npz")``.
Nothing goes through pickle, so loading a file can never run code: the
archive holds plain arrays (``allow_pickle=False``) and a JSON manifest that
records the nesting and what each entry was (array, Tensor, number, string).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.tensor import Tensor

__all__ = ["load", "save"]

_MANIFEST = "__minigrad_manifest__"
_SEPARATOR = "/"


def _flatten(
    state: Mapping[str, Any], prefix: str, arrays: dict[str, np.ndarray], kinds: dict[str, Any]
) -> None:
    for key, value in state.items():
        if not isinstance(key, str) or not key or _SEPARATOR in key:
            raise ValueError(f"save needs non-empty str keys without '/', got {key!r}")
        name = f"{prefix}{_SEPARATOR}{key}" if prefix else key
        if isinstance(value, Mapping):
            kinds[name] = "dict"
            _flatten(value, name, arrays, kinds)
            continue
        if isinstance(value, Tensor):
            kinds[name] = "tensor+grad" if value.requires_grad else "tensor"
            array = value.data
        elif isinstance(value, np.ndarray):
            kinds[name] = "array"
            array = value
        elif isinstance(value, bool | np.bool_):
            kinds[name], array = "bool", np.asarray(value)
        elif isinstance(value, int | np.integer):
            kinds[name], array = "int", np.asarray(value)
        elif isinstance(value, float | np.floating):
            kinds[name], array = "float", np.asarray(value)
        elif isinstance(value, str):
            kinds[name], array = "str", np.asarray(value)
        elif isinstance(value, list | tuple) and all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in value
        ):
            kinds[name], array = "tuple", np.asarray(value)
        else:
            raise TypeError(
                f"save cannot store {name!r} of type {type(value).__name__}: "
                "use arrays, Tensors, numbers, strings, tuples of numbers and dicts"
            )
        if array.dtype.kind not in "biufcU":
            raise TypeError(f"save cannot store {name!r} with dtype {array.dtype}")
        arrays[name] = array


def save(state: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a (nested) dict of arrays, Tensors and numbers to one ``.npz`` file at ``path``.

    Parameters
    ----------
    state
        Keys are non-empty strings without ``/``; values are arrays,
        Tensors, Python or NumPy numbers, strings, tuples of numbers, or
        dicts of the same.
    path
        The file to write, exactly as named (no suffix is added).

    Examples
    --------
    >>> import tempfile, os
    >>> import minigrad as mg
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "state.npz")
    >>> mg.save({"model": {"w": mg.Tensor([1.0, 2.0])}, "step": 3}, path)
    >>> mg.load(path)
    {'model': {'w': Tensor([1., 2.])}, 'step': 3}
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"save needs a dict, got {type(state).__name__}")
    arrays: dict[str, np.ndarray] = {}
    kinds: dict[str, Any] = {}
    _flatten(state, "", arrays, kinds)
    manifest = np.asarray(json.dumps({"format": 1, "kinds": kinds}))
    with open(path, "wb") as file:
        np.savez(file, **{_MANIFEST: manifest}, **arrays)


def _restore(kind: str, array: np.ndarray) -> Any:
    if kind == "tensor":
        return Tensor(array)
    if kind == "tensor+grad":
        return Tensor(array, requires_grad=True)
    if kind in ("int", "float", "bool", "str"):
        return array.item()
    if kind == "tuple":
        return tuple(array.tolist())
    return array


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a file written by :func:`save` (or any ``.npz`` of plain arrays) back into dicts.

    Raises
    ------
    ValueError
        The file is not an ``.npz`` archive of plain arrays (for instance a
        pickle, or an archive holding Python objects).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "plain.npz")
    >>> np.savez(path, a=np.arange(2))
    >>> load(path)
    {'a': array([0, 1])}
    """
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        raise ValueError(f"{os.fspath(path)!r} is not a minigrad .npz archive: not a zip file")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an archive of named arrays")
        with archive:
            contents = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{os.fspath(path)!r} is not a minigrad .npz archive: {error}") from None
    manifest = contents.pop(_MANIFEST, None)
    if manifest is None:
        return dict(contents)
    try:
        kinds = json.loads(str(manifest))["kinds"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{os.fspath(path)!r} has a damaged manifest: {error}") from None
    result: dict[str, Any] = {}
    for name, kind in kinds.items():
        *parents, leaf = name.split(_SEPARATOR)
        node = result
        for parent in parents:
            node = node.setdefault(parent, {})
        if kind == "dict":
            node.setdefault(leaf, {})
        elif name not in contents:
            raise ValueError(f"{os.fspath(path)!r} lists {name!r} but does not hold it")
        else:
            node[leaf] = _restore(kind, contents[name])
    return result
