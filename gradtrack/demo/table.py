"""The end-of-run table: what each loss term was worth and how much of the update it drove.

This module lets you condense the per-step records of a run (the rows of
``metrics.jsonl``) into one row per term — the base loss and each
regularizer — averaged over the last steps, and print them as a table:

* **value**, **weight**, **contribution** (``weight × value``);
* **grad norm**: the norm of the term's *weighted* gradient with respect to
  the logprobs, ``‖wᵢ ∇Rᵢ‖`` — what the term adds to the update;
* **norm share**: that norm as a part of the sum of all terms' norms (the
  *norm share*, always in [0, 1]; not the *projection share*
  ``⟨wᵢ∇Rᵢ, g⟩ / ‖g‖²``, which can be negative);
* **alignment**: the cosine between the term's weighted gradient and the
  total gradient; negative means the term pulls against the update.

These are logprob-space numbers. The mean NLL's gradient with respect to the
logprobs is the constant ``-1/N``, so its norm is always ``1/√N`` (N target
tokens), whatever the model does; and entropy and KL on the flat vector of
target-token logprobs are target-token surrogates (the "entropy" pulls every
target probability towards 1/e). The legend says so under the table.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["BASE_TERM", "NO_GRADIENT_MARK", "format_table", "gradient_shares", "summarize_terms"]

BASE_TERM = "base"
"""The key of the base loss in ``grad_alignment`` and in the term summaries."""


NO_GRADIENT_MARK = "no grad"
"""What the table shows instead of a gradient norm for a term that has none."""


def _weighted_norms(record: Mapping[str, Any]) -> dict[str, float] | None:
    """Each term's weighted gradient norm in one record, or None when untracked.

    A term without a gradient (``grad_status: "no_gradient"``) has no norm and
    no share; it is left out rather than counted as 0.
    """
    base = record["base_loss"]
    if base.get("grad_norm") is None and "total_grad_norm" not in record:
        return None
    norms = {}
    if base.get("grad_norm") is not None:
        norms[BASE_TERM] = float(base["grad_norm"])
    for name, output in record["regularizers"].items():
        if output.get("grad_status") != "no_gradient":
            norms[name] = float(output.get("grad_norm_weighted") or 0.0)
    return norms


def gradient_shares(record: Mapping[str, Any]) -> dict[str, float] | None:
    """Each term's norm share: its part of the sum of the weighted gradient norms, or None.

    The shares sum to 1.

    Examples
    --------
    >>> record = {
    ...     "base_loss": {"value": 2.0, "grad_norm": 3.0},
    ...     "regularizers": {"l2": {"grad_norm_weighted": 1.0}},
    ... }
    >>> gradient_shares(record)
    {'base': 0.75, 'l2': 0.25}
    """
    norms = _weighted_norms(record)
    if norms is None:
        return None
    total = math.fsum(norms.values())
    if total == 0:
        return {name: 0.0 for name in norms}
    return {name: norm / total for name, norm in norms.items()}


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) / len(present) if present else None


def summarize_terms(records: Sequence[Mapping[str, Any]], last: int = 50) -> dict[str, Any]:
    """Average every term's numbers over the last ``last`` records.

    Parameters
    ----------
    records : list of dict
        ``CustomLossOutput.to_dict()`` per step, as written to ``metrics.jsonl``.
    last : int
        How many of the final records to average (fewer if the run was shorter).

    Returns
    -------
    dict
        ``{"steps": n, "terms": [...], "total": {"value", "grad_norm"}}``; each
        term has ``term, value, weight, contribution, grad_norm, share,
        alignment, grad_status`` (gradient fields are None when tracking was
        off; ``grad_status`` is the last step's, None when all was well).

    Examples
    --------
    >>> record = {
    ...     "loss_total": 2.5, "total_grad_norm": 3.5,
    ...     "base_loss": {"value": 2.0, "grad_norm": 3.0},
    ...     "regularizers": {"l2": {"value": 5.0, "weight": 0.1, "contribution": 0.5,
    ...                             "grad_norm": 10.0, "grad_norm_weighted": 1.0}},
    ...     "grad_alignment": {"base": 0.9, "l2": 0.5},
    ... }
    >>> summary = summarize_terms([record])
    >>> [(t["term"], t["share"], t["alignment"]) for t in summary["terms"]]
    [('base', 0.75, 0.9), ('l2', 0.25, 0.5)]
    """
    if not records:
        raise ValueError("there are no records to summarize")
    window = list(records[-max(1, last) :])
    shares = [gradient_shares(record) or {} for record in window]
    alignments = [record.get("grad_alignment") or {} for record in window]
    terms = [
        {
            "term": BASE_TERM,
            "value": _mean([r["base_loss"]["value"] for r in window]),
            "weight": 1.0,
            "contribution": _mean([r["base_loss"]["value"] for r in window]),
            "grad_norm": _mean([r["base_loss"].get("grad_norm") for r in window]),
            "grad_status": window[-1]["base_loss"].get("grad_status"),
        }
    ]
    for name in window[-1]["regularizers"]:
        outputs = [r["regularizers"][name] for r in window]
        terms.append(
            {
                "term": name,
                "value": _mean([o["value"] for o in outputs]),
                "weight": outputs[-1]["weight"],
                "contribution": _mean([o["contribution"] for o in outputs]),
                "grad_norm": _mean([o.get("grad_norm_weighted") for o in outputs]),
                "grad_status": outputs[-1].get("grad_status"),
            }
        )
    for term in terms:
        term["share"] = _mean([s.get(term["term"]) for s in shares])
        term["alignment"] = _mean([a.get(term["term"]) for a in alignments])
    total = {
        "value": _mean([r["loss_total"] for r in window]),
        "grad_norm": _mean([r.get("total_grad_norm") for r in window]),
    }
    return {"steps": len(window), "terms": terms, "total": total}


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(summary: Mapping[str, Any], base_label: str = "nll (base)") -> str:
    """The summary from :func:`summarize_terms` as an aligned text table with a legend.

    Examples
    --------
    >>> terms = [{"term": "base", "value": 2.0, "weight": 1.0, "contribution": 2.0,
    ...           "grad_norm": None, "share": None, "alignment": None}]
    >>> summary = {"steps": 1, "terms": terms, "total": {"value": 2.0, "grad_norm": None}}
    >>> print(format_table(summary).splitlines()[1])
    term        value  weight  contribution  grad norm  norm share  alignment
    """
    header = ["term", "value", "weight", "contribution", "grad norm", "norm share", "alignment"]
    rows = []
    marked = False
    for term in summary["terms"]:
        share = term["share"]
        grad_norm = _number(term["grad_norm"], ".3g")
        if term.get("grad_status") == "no_gradient":
            grad_norm, marked = NO_GRADIENT_MARK, True
        rows.append(
            [
                base_label if term["term"] == BASE_TERM else term["term"],
                _number(term["value"], ".4g"),
                _number(term["weight"], "g"),
                _number(term["contribution"], ".4f"),
                grad_norm,
                "-" if share is None else f"{share:.0%}",
                _number(term["alignment"], "+.2f"),
            ]
        )
    total = summary["total"]
    total_value, total_norm = _number(total["value"], ".4f"), _number(total["grad_norm"], ".3g")
    rows.append(["total", "", "", total_value, total_norm, "", ""])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    steps = summary["steps"]
    title = "the loss terms at the end" + (
        f" (mean of the last {steps} steps)" if steps > 1 else " (last step)"
    )
    rule = "-" * len(line(header))
    body = [title, line(header), rule, *(line(row) for row in rows[:-1]), rule, line(rows[-1])]
    legend = textwrap.fill(
        "grad norm: norm of the term's weighted gradient with respect to the logprobs "
        "(not the parameters); norm share: its part of the sum of those norms; alignment: "
        "cosine with the total gradient (below 0: the term pulls against the update). "
        "A mean NLL's logprob gradient is the constant -1/N, so its norm is always "
        "1/sqrt(N) for N target tokens. On target-token logprobs, entropy and KL are "
        "target-token surrogates (maximizing that entropy pulls each target probability "
        "towards 1/e)."
        + (
            f" {NO_GRADIENT_MARK}: the term's loss is not connected to the logprobs in "
            "minigrad's graph (computed with NumPy?), so autodiff sees no gradient and it "
            "trains nothing."
            if marked
            else ""
        ),
        width=max(60, len(rule)),
    )
    return "\n".join(body) + "\n" + legend
