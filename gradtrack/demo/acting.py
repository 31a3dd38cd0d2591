"""The demo acting on its diagnosis: share targets, and the conflicts between terms at the end.

This module lets the demo (and you, from Python) turn ``--target-share``
values into the targets of a :class:`~gradtrack.balance.ShareController`,
measure the pairwise conflicts between the terms over the last steps of a
run, and read back from the per-step records how each weight moved.

* :func:`resolve_target_shares` — ``{"kl": 0.1}`` → ``{"kl_divergence": 0.1}``,
  checked against the run's regularizers before training;
* :func:`conflict_window` — how many final steps the conflict matrix averages;
* :func:`step_conflicts` — the cosines between the weighted term gradients
  of one step (see :func:`gradtrack.tracker.grad_conflicts`);
* :func:`average_conflicts` and :func:`weight_history` — what ``summary.json``
  and ``report.png`` show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradtrack.custom_loss import extract_per_datum_logprobs
from gradtrack.demo.regularizers import CHOICES, resolve_name
from gradtrack.tracker import grad_conflicts
from gradtrack.types import Datum, ForwardBackwardOutput, RegularizerSpec

__all__ = [
    "average_conflicts",
    "conflict_window",
    "resolve_target_shares",
    "step_conflicts",
    "weight_history",
]

CONFLICT_KEY = "grad_conflicts"
"""The key of a step's conflict matrix in its ``metrics.jsonl`` record."""


def resolve_target_shares(
    targets: Mapping[str, float], specs: Sequence[RegularizerSpec]
) -> dict[str, float]:
    """Targets keyed by the run's regularizer names; a short name (``kl``) is accepted too.

    Raises
    ------
    ValueError
        A name that is not one of the run's regularizers (the message lists
        them), or two names for one regularizer.

    Examples
    --------
    >>> from gradtrack.demo.regularizers import parse_regularizers
    >>> specs = parse_regularizers("entropy,kl")
    >>> resolve_target_shares({"kl": 0.1}, specs)
    {'kl_divergence': 0.1}
    >>> resolve_target_shares({"l2": 0.1}, specs)
    Traceback (most recent call last):
    ...
    ValueError: 'l2' is not a regularizer of this run; its regularizers are entropy, kl_divergence
    """
    names = [spec.name for spec in specs]
    resolved: dict[str, float] = {}
    for given, share in targets.items():
        key = str(given).strip().lower()
        short = resolve_name(key)
        name = key if key in names else (CHOICES[short].build().name if short in CHOICES else key)
        if name not in names:
            known = ", ".join(names) if names else "none"
            raise ValueError(
                f"{given!r} is not a regularizer of this run; its regularizers are {known}"
            )
        if name in resolved:
            raise ValueError(f"regularizer {name!r} is given a target share twice")
        resolved[name] = share
    return resolved


def conflict_window(steps: int) -> int:
    """How many final steps the conflict matrix is averaged over: a fifth, 1 to 50.

    Examples
    --------
    >>> conflict_window(600), conflict_window(60), conflict_window(3)
    (50, 12, 1)
    """
    return max(1, min(50, steps // 5))


def step_conflicts(
    base_loss_fn: Any,
    data: Sequence[Datum],
    output: ForwardBackwardOutput,
    specs: Sequence[RegularizerSpec],
) -> dict[str, Any]:
    """The cosines between the weighted term gradients of one step, for its record.

    ``output`` is what the training client's ``forward_backward`` returned
    (its logprobs are those the step was computed at); the terms see the
    logprobs joined across data, as in
    :func:`~gradtrack.custom_loss.forward_backward_custom`, and the base loss
    sees them as one datum. Returns ``{"terms": [...], "cosines": [[...]]}``
    (``"base"`` first, then ``specs`` in order).

    Examples
    --------
    >>> import minigrad as mg
    >>> from gradtrack.types import TensorData
    >>> entry = {"logprobs": TensorData([-1.0, -2.0], "float64")}
    >>> fb = ForwardBackwardOutput("cross_entropy", [entry])
    >>> down = RegularizerSpec(lambda data, lp: (mg.exp(lp).sum(), {}), 1.0, "down")
    >>> result = step_conflicts(lambda data, lps: (-lps[0].sum(), {}), [], fb, [down])
    >>> result["terms"], result["cosines"][0][1] < 0  # raising logprobs vs lowering them
    (['base', 'down'], True)
    """
    logprobs = [lp.data.reshape(-1) for lp in extract_per_datum_logprobs(output)]
    joined = np.concatenate(logprobs) if logprobs else np.zeros(0)

    def base(data: Any, lp: Any) -> Any:
        return base_loss_fn(data, [lp])

    terms, cosines = grad_conflicts(base, list(specs), list(data), joined)
    return {"terms": terms, "cosines": np.round(cosines, 6).tolist()}


def average_conflicts(records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The mean conflict matrix of the records that have one, or None if none has.

    Returns ``{"terms", "cosines", "steps": [first, last], "count"}``.

    Examples
    --------
    >>> terms = ["base", "kl"]
    >>> rows = [
    ...     {"step": 9, CONFLICT_KEY: {"terms": terms, "cosines": [[1, -0.2], [-0.2, 1]]}},
    ...     {"step": 10, CONFLICT_KEY: {"terms": terms, "cosines": [[1, -0.4], [-0.4, 1]]}},
    ... ]
    >>> average_conflicts(rows)["cosines"]
    [[1.0, -0.3], [-0.3, 1.0]]
    """
    rows = [record for record in records if CONFLICT_KEY in record]
    if not rows:
        return None
    terms = rows[-1][CONFLICT_KEY]["terms"]
    rows = [record for record in rows if record[CONFLICT_KEY]["terms"] == terms]
    matrices = np.array([record[CONFLICT_KEY]["cosines"] for record in rows], dtype=np.float64)
    return {
        "terms": list(terms),
        "cosines": np.round(matrices.mean(axis=0), 6).tolist(),
        "steps": [rows[0]["step"], rows[-1]["step"]],
        "count": len(rows),
    }


def weight_history(records: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Each regularizer's weight at every step (the weight that step trained with).

    Examples
    --------
    >>> rows = [{"regularizers": {"kl": {"weight": w}}} for w in (0.1, 0.2)]
    >>> weight_history(rows)
    {'kl': [0.1, 0.2]}
    """
    if not records:
        return {}
    names = list(records[-1]["regularizers"])
    return {
        name: [float(record["regularizers"][name]["weight"]) for record in records]
        for name in names
    }
