"""Draw a run's ``report.png``: the losses, and which term drove the gradient, step by step.

This module lets you turn the per-step records of a run (the rows of
``metrics.jsonl``) into one picture with matplotlib (an optional extra,
imported only here; the figure is rendered by Agg without pyplot):

* **loss** — the total training loss and its base NLL per step, and the
  NLL on held-out text;
* **gradient norm per term** — ``‖wᵢ ∇Rᵢ‖`` for the base loss and each
  regularizer, and the norm of the total gradient (log scale);
* **share of the gradient** — each term's part of the sum of those norms;
* **alignment** — the cosine between each term's gradient and the total:
  above 0 the term pushes the way the update goes, below 0 it pulls back;
* **conflicts between terms** — the cosine between every pair of weighted
  term gradients, averaged over the last steps (the records'
  ``grad_conflicts``): a negative cell is a pair that pulls apart;
* **weights** — each regularizer's weight at every step: flat unless a
  :class:`~gradtrack.balance.ShareController` moves them.

With ``conflict="pcgrad"`` the norm panel also draws the norm of the
projected total. Without gradient tracking only the loss panel is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradtrack.demo.acting import average_conflicts, weight_history
from gradtrack.demo.files import replace_atomically
from gradtrack.demo.table import BASE_TERM, gradient_shares

__all__ = ["smooth", "write_report"]

_BASE_LABEL = "nll (base)"
# One colour per term, the base loss first; the total gradient is drawn in black.
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (fewer at the start), so curves stay readable.

    Examples
    --------
    >>> smooth([1.0, 3.0, 5.0, 7.0], 2).tolist()
    [1.0, 2.0, 4.0, 6.0]
    """
    array = np.asarray(values, dtype=np.float64)
    window = max(1, min(int(window), array.size))
    sums = np.cumsum(np.concatenate([[0.0], array]))
    ends = np.arange(1, array.size + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)


def _term_series(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """Per term: weighted gradient norm, share and alignment at every step."""
    names = [BASE_TERM, *records[-1]["regularizers"]]
    series: dict[str, dict[str, list[float]]] = {
        name: {"norm": [], "share": [], "alignment": []} for name in names
    }
    for record in records:
        shares = gradient_shares(record) or {}
        alignment = record.get("grad_alignment") or {}
        for name in names:
            if name == BASE_TERM:
                norm = record["base_loss"]["grad_norm"]
            else:
                norm = record["regularizers"][name].get("grad_norm_weighted")
            series[name]["norm"].append(np.nan if norm is None else float(norm))
            series[name]["share"].append(shares.get(name, np.nan))
            # None: no alignment defined (no gradient, or a non-finite total).
            cosine = alignment.get(name)
            series[name]["alignment"].append(np.nan if cosine is None else float(cosine))
    return {name: {k: np.asarray(v) for k, v in parts.items()} for name, parts in series.items()}


def _label(name: str) -> str:
    return _BASE_LABEL if name == BASE_TERM else name


def _loss_panel(ax: Any, records: Sequence[Mapping[str, Any]], window: int, initial_val: Any):
    steps = np.array([r["step"] for r in records])
    total = np.array([r["loss_total"] for r in records])
    nll = np.array([r["base_loss"]["value"] for r in records])
    has_regularizers = bool(records[-1]["regularizers"])
    ax.plot(steps, nll, color=_COLOURS[0], alpha=0.18, linewidth=0.8)
    ax.plot(steps, smooth(nll, window), color=_COLOURS[0], linewidth=2, label="train NLL (base)")
    if has_regularizers:
        ax.plot(
            steps,
            smooth(total, window),
            color="black",
            linewidth=1.3,
            linestyle="--",
            label="train total loss (NLL + regularizers)",
        )
    val_steps = [r["step"] for r in records if "val_nll" in r]
    val = [r["val_nll"] for r in records if "val_nll" in r]
    if initial_val is not None:
        val_steps, val = [0, *val_steps], [initial_val, *val]
    if val:
        ax.plot(
            val_steps,
            val,
            color="#d62728",
            marker="o",
            markersize=4,
            linewidth=1.5,
            label=f"validation NLL ({val[0]:.2f} → {val[-1]:.2f})",
        )
    ax.set_title("Loss", loc="left", fontweight="bold")
    ax.set_xlabel("step")
    ax.set_ylabel("nats per character")
    ax.legend(frameon=False, fontsize=9)
    ax.set_xlim(0, steps[-1])


def _log_limits(curves: list[np.ndarray], skip: int) -> tuple[float, float] | None:
    """Log-axis limits that fit the curves after their first ``skip`` points.

    A term can start at exactly 0 (a KL to the initial model, at the first
    step); letting that pull the axis down to 1e-9 would squash every curve.
    """
    values = np.concatenate([curve[skip:] for curve in curves])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return None
    return float(values.min()) / 1.6, float(values.max()) * 1.6


def _norm_panel(ax: Any, records: Sequence[Mapping[str, Any]], series: dict, window: int):
    steps = np.array([r["step"] for r in records])
    curves = []
    for colour, (name, parts) in zip(_COLOURS, series.items(), strict=False):
        norms = parts["norm"]
        curves.append(smooth(norms, window))
        ax.plot(steps, norms, color=colour, alpha=0.15, linewidth=0.8)
        ax.plot(steps, curves[-1], color=colour, linewidth=2, label=_label(name))
    total = np.array(
        [np.nan if r.get("total_grad_norm") is None else r["total_grad_norm"] for r in records],
        dtype=np.float64,
    )
    curves.append(smooth(total, window))
    ax.plot(steps, curves[-1], color="black", linewidth=1.3, linestyle="--", label="total gradient")
    projected = [r.get("total_grad_norm_projected") for r in records]
    if any(value is not None for value in projected):
        values = np.array([np.nan if v is None else v for v in projected], dtype=np.float64)
        curves.append(smooth(values, window))
        ax.plot(
            steps,
            curves[-1],
            color="black",
            linewidth=1.3,
            linestyle=":",
            label="total after PCGrad (what trains)",
        )
    base = series[BASE_TERM]["norm"]
    if np.all(np.isfinite(base)) and base.max() <= 1.001 * base.min():
        # A flat line looks like a bug unless it is explained.
        ax.annotate(
            "mean NLL: ∂L/∂logprob = −1/N for every token, so this norm is constant",
            xy=(steps[-1], base[-1]),
            xytext=(0, 4),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=8.5,
            color=_COLOURS[0],
        )
    ax.set_yscale("log")
    limits = _log_limits(curves, skip=min(len(steps) - 1, 2 * window))
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_title("Gradient norm of each term, ‖w·∇‖", loc="left", fontweight="bold")
    ax.set_xlabel("step")
    ax.set_ylabel("norm w.r.t. the logprobs")
    ax.legend(frameon=False, fontsize=9)
    ax.set_xlim(0, steps[-1])


def _share_panel(ax: Any, records: Sequence[Mapping[str, Any]], series: dict, window: int):
    steps = np.array([r["step"] for r in records])
    shares = np.vstack([smooth(parts["share"], window) for parts in series.values()]) * 100
    labels = [
        f"{_label(name)} ({share:.0f}%)" for name, share in zip(series, shares[:, -1], strict=True)
    ]
    ax.stackplot(steps, shares, labels=labels, colors=_COLOURS[: len(series)], alpha=0.85)
    ax.set_ylim(0, 100)
    ax.set_xlim(steps[0], steps[-1])
    ax.set_title("Norm share of the gradient", loc="left", fontweight="bold")
    ax.set_xlabel("step")
    ax.set_ylabel("% of the summed term norms")
    # Reversed, so the legend reads top to bottom like the stacked bands.
    handles, names = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], names[::-1], frameon=False, fontsize=9, loc="center right")


def _alignment_panel(ax: Any, records: Sequence[Mapping[str, Any]], series: dict, window: int):
    steps = np.array([r["step"] for r in records])
    ax.axhspan(-1.05, 0, color="#d62728", alpha=0.05)
    ax.axhline(0, color="grey", linewidth=0.8)
    for colour, (name, parts) in zip(_COLOURS, series.items(), strict=False):
        ax.plot(
            steps, smooth(parts["alignment"], window), color=colour, linewidth=2, label=_label(name)
        )
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlim(0, steps[-1])
    ax.text(
        0.99,
        0.03,
        "below 0: pulls against the update",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=9,
        color="#a03030",
    )
    ax.set_title("Alignment with the total gradient (cosine)", loc="left", fontweight="bold")
    ax.set_xlabel("step")
    ax.legend(frameon=False, fontsize=9, loc="lower left", ncols=2)


def _conflict_panel(ax: Any, conflicts: Mapping[str, Any]) -> None:
    matrix = np.asarray(conflicts["cosines"], dtype=np.float64)
    labels = [_label(name) for name in conflicts["terms"]]
    image = ax.imshow(matrix, cmap="RdBu", vmin=-1.0, vmax=1.0)
    for (i, j), value in np.ndenumerate(matrix):
        colour = "white" if abs(value) > 0.6 else "black"
        ax.text(j, i, f"{value:+.2f}", ha="center", va="center", fontsize=9, color=colour)
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=9)
    ax.set_yticks(range(len(labels)), labels, fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="cosine")
    first, last = conflicts["steps"]
    ax.set_title(
        f"Conflicts between terms (cosine), steps {first}–{last}",
        loc="left",
        fontweight="bold",
    )
    ax.grid(False)


def _weight_panel(
    ax: Any, records: Sequence[Mapping[str, Any]], targets: Mapping[str, float]
) -> None:
    steps = np.array([r["step"] for r in records])
    history = weight_history(records)
    for colour, (name, weights) in zip(_COLOURS[1:], history.items(), strict=False):
        target = targets.get(name)
        label = name if target is None else f"{name} (target share {target:.0%})"
        ax.plot(steps, weights, color=colour, linewidth=2, label=label)
    ax.set_yscale("log")
    ax.set_xlim(0, steps[-1])
    moved = "moved by the share controller" if targets else "fixed"
    ax.set_title(f"Regularizer weights ({moved})", loc="left", fontweight="bold")
    ax.set_xlabel("step")
    ax.set_ylabel("weight")
    ax.legend(frameon=False, fontsize=9, loc="best")


def _samples_panel(ax: Any, samples: Mapping[str, Sequence[str]]) -> None:
    ax.axis("off")
    ax.set_title("What the model writes", loc="left", fontweight="bold")
    lines = []
    for when in ("before", "after"):
        for text in samples.get(when) or []:
            lines.append(f"{when + ' training:':<17}{text}")
    ax.text(
        0.0,
        1.0,
        "\n".join(lines),
        transform=ax.transAxes,
        va="top",
        ha="left",
        family="monospace",
        fontsize=9.5,
    )


def write_report(
    records: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    initial_val: float | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    samples: Mapping[str, Sequence[str]] | None = None,
    targets: Mapping[str, float] | None = None,
) -> Path:
    """Draw the run's records into a PNG at ``path`` and return the path.

    Parameters
    ----------
    records : list of dict
        The rows of ``metrics.jsonl`` (at least one).
    path : str or Path
        Where to write the PNG.
    initial_val : float, optional
        Validation NLL before training, drawn at step 0.
    title, subtitle : str, optional
        The figure's heading, and a line under it (e.g. the run's settings).
    samples : dict, optional
        ``{"before": [...], "after": [...]}``: lines of generated text shown
        under the plots.
    targets : dict, optional
        The share targets of a :class:`~gradtrack.balance.ShareController`
        run, named in the weights panel.

    Examples
    --------
    >>> rows = [{"step": 1, "loss_total": 2.0, "base_loss": {"value": 2.0}, "regularizers": {}}]
    >>> write_report(rows, "report.png")  # doctest: +SKIP
    PosixPath('report.png')
    """
    if not records:
        raise ValueError("there are no records to draw")
    # A bare Figure renders with the Agg canvas and never touches pyplot's global backend,
    # so drawing a report inside a notebook or a GUI program changes nothing there.
    from matplotlib.figure import Figure

    path = Path(path)
    window = max(1, len(records) // 30)
    tracked = (
        "total_grad_norm" in records[-1] or records[-1]["base_loss"].get("grad_norm") is not None
    )
    text_rows = sum(len(lines or []) for lines in (samples or {}).values())
    text_height = 0.3 + 0.2 * text_rows  # inches: a title and one line per sample
    conflicts = average_conflicts(records) if tracked else None
    if tracked and conflicts is not None:
        figure = Figure(figsize=(13, 12.6 + text_height), dpi=110, layout="constrained")
        grid = figure.add_gridspec(4, 2, height_ratios=[4.3, 4.3, 4.0, text_height])
    elif tracked:
        figure = Figure(figsize=(13, 8.6 + text_height), dpi=110, layout="constrained")
        grid = figure.add_gridspec(3, 2, height_ratios=[4.3, 4.3, text_height])
    if tracked:
        series = _term_series(records)
        _loss_panel(figure.add_subplot(grid[0, 0]), records, window, initial_val)
        _norm_panel(figure.add_subplot(grid[0, 1]), records, series, window)
        _share_panel(figure.add_subplot(grid[1, 0]), records, series, window)
        _alignment_panel(figure.add_subplot(grid[1, 1]), records, series, window)
        if conflicts is not None:
            _weight_panel(figure.add_subplot(grid[2, 1]), records, targets or {})
    else:
        figure = Figure(figsize=(10, 5 + text_height), dpi=110, layout="constrained")
        grid = figure.add_gridspec(2, 1, height_ratios=[5, text_height])
        _loss_panel(figure.add_subplot(grid[0, 0]), records, window, initial_val)
    heading = title or "gradtrack demo: a character model learns Aesop's fables"
    if subtitle:
        heading += "\n" + subtitle
    figure.suptitle(heading, fontsize=12.5, fontweight="bold", linespacing=1.5)
    panels = list(figure.axes)
    if conflicts is not None:  # a heatmap has no grid: drawn after the others are styled
        _conflict_panel(figure.add_subplot(grid[2, 0]), conflicts)
    if text_rows:
        _samples_panel(figure.add_subplot(grid[-1, :]), samples or {})
    for ax in panels:
        ax.grid(alpha=0.25)
        ax.spines[["top", "right"]].set_visible(False)
    # Through a side file renamed over the name: never written through a link at path.
    replace_atomically(path, lambda file: figure.savefig(file, format="png"))
    return path
