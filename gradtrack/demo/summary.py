"""``summary.json``: what a demo run was and what it reached, in one small file.

This module lets you assemble the summary of a run from its settings and
its per-step records, and write JSON files so that an interrupted write
never leaves half a file behind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gradtrack.demo.acting import average_conflicts, weight_history
from gradtrack.demo.files import replace_atomically
from gradtrack.demo.table import summarize_terms

__all__ = ["build_summary", "first_last", "strict_json", "write_json"]


def first_last(
    records: Sequence[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], float]
) -> dict[str, float] | None:
    """``{"first": key(records[0]), "last": key(records[-1])}``, or None without records.

    Examples
    --------
    >>> first_last([{"loss": 3.0}, {"loss": 1.0}], lambda r: r["loss"])
    {'first': 3.0, 'last': 1.0}
    """
    if not records:
        return None
    return {"first": key(records[0]), "last": key(records[-1])}


def build_summary(
    *,
    settings: Mapping[str, Any],
    model: Mapping[str, Any],
    corpus: Mapping[str, Any],
    regularizers: Sequence[Mapping[str, Any]],
    records: Sequence[Mapping[str, Any]],
    interrupted: bool,
    wall_time: float,
    initial_val: float | None,
    samples: Mapping[str, Sequence[str] | None],
    diverged: Mapping[str, Any] | None = None,
    conflict: str = "none",
    target_shares: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The summary of a run, as plain JSON-ready values.

    Keys: ``command``, ``config`` (the settings), ``model``, ``corpus``,
    ``regularizers`` (name and weight), ``steps_completed``, ``interrupted``,
    ``diverged`` (None, or ``{"step", "term", "reason"}``: the step at which a
    number went non-finite, the term it did so in, and the message),
    ``wall_time`` (seconds of training), ``loss`` and ``nll`` (first and
    last step), ``validation_nll`` (before training and at the last
    evaluation), ``final_terms`` (:func:`~gradtrack.demo.table.summarize_terms`,
    None without records), ``samples`` (``before`` and ``after``, with any
    other keys given, such as the sampling temperature; ``after`` is None
    for an interrupted run), ``files`` (``report`` is None until
    ``report.png`` is written), ``conflicts`` (``mode``: the ``conflict``
    the run trained with; ``terms``, ``cosines``: the conflict matrix of
    the weighted term gradients averaged over the records that have one,
    ``steps``: the first and last of those, ``count``: how many; None
    without such records) and ``weights`` (``targets``: the share targets,
    ``initial`` and ``final``: each regularizer's weight at the first and
    the last step).

    Examples
    --------
    >>> summary = build_summary(
    ...     settings={"steps": 0}, model={}, corpus={}, regularizers=[], records=[],
    ...     interrupted=True, wall_time=0.0, initial_val=4.2, samples={"before": [], "after": None},
    ... )
    >>> summary["steps_completed"], summary["interrupted"], summary["final_terms"]
    (0, True, None)
    >>> summary["conflicts"]["mode"], summary["weights"]
    ('none', {'targets': {}, 'initial': {}, 'final': {}})
    """
    averaged = average_conflicts(records)
    history = weight_history(records)
    validation = [r["val_nll"] for r in records if "val_nll" in r]
    return {
        "command": "gradtrack demo",
        "config": dict(settings),
        "model": dict(model),
        "corpus": dict(corpus),
        "regularizers": [dict(regularizer) for regularizer in regularizers],
        "steps_completed": len(records),
        "interrupted": interrupted,
        "diverged": None if diverged is None else dict(diverged),
        "wall_time": round(wall_time, 3),
        "loss": first_last(records, lambda r: r["loss_total"]),
        "nll": first_last(records, lambda r: r["base_loss"]["value"]),
        "validation_nll": {
            "initial": initial_val,
            "final": validation[-1] if validation else None,
        },
        "final_terms": summarize_terms(records) if records else None,
        "samples": {"before": None, "after": None, **samples},
        "files": {"metrics": "metrics.jsonl", "summary": "summary.json", "report": None},
        "conflicts": {
            "mode": conflict,
            "terms": None if averaged is None else averaged["terms"],
            "cosines": None if averaged is None else averaged["cosines"],
            "steps": None if averaged is None else averaged["steps"],
            "count": 0 if averaged is None else averaged["count"],
        },
        "weights": {
            "targets": dict(target_shares or {}),
            "initial": {r["name"]: r["weight"] for r in regularizers},
            "final": {name: weights[-1] for name, weights in history.items()},
        },
    }


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as indented JSON to ``path``, all at once.

    The text goes to a new, randomly named side file that is then renamed
    over ``path``, so a reader (or a Ctrl-C) never sees half a file, and a
    symbolic link at ``path`` is replaced, never written through (see
    :mod:`gradtrack.demo.files`). The JSON is strict: non-finite numbers
    are written as ``null``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_json(Path(folder) / "x.json", {"a": 1})
    ...     print((Path(folder) / "x.json").read_text().strip())
    {
      "a": 1
    }
    """
    text = json.dumps(strict_json(payload), indent=2, allow_nan=False) + "\n"
    replace_atomically(path, lambda file: file.write(text.encode("utf-8")))


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by ``None``.

    Examples
    --------
    >>> strict_json({"loss": float("inf"), "steps": [1.0, float("nan")]})
    {'loss': None, 'steps': [1.0, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    return value
