"""Steering regularizer weights by the share of the update each term holds.

This module lets a run hold a regularizer at a chosen share of the gradient
instead of retuning its weight by hand. A term's *norm share* is its
weighted gradient norm over the sum of every term's weighted gradient norm,
base loss included: ``sᵢ = wᵢ‖∇ᵢ‖ / (‖∇₀‖ + Σⱼ wⱼ‖∇ⱼ‖)``.

:class:`ShareController` moves each controlled weight multiplicatively
towards its target, ``w ← w · (target / s)^rate``, clipped to ``bounds`` —
the gradient-space analogue of the adaptive KL coefficient of Ziegler et al.
(2019), which moves a KL weight towards a target KL value, and a simple
relative of GradNorm (Chen et al., 2018), which balances tasks by their
gradient norms. It needs ``track_grad_norms=True``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

from gradtrack.types import CustomLossOutput, RegularizerSpec

__all__ = ["ShareController", "norm_shares"]


def norm_shares(output: CustomLossOutput) -> dict[str, float]:
    """Every regularizer's norm share in ``output`` (the base loss's share is the rest).

    Raises
    ------
    ValueError
        When the output has no gradient norms (tracking was off).

    Examples
    --------
    >>> from gradtrack.types import RegularizerOutput
    >>> reg = RegularizerOutput.from_computation("kl", 1.0, 0.5, {}, grad_norm=2.0)
    >>> out = CustomLossOutput.build(1.0, {}, [reg], base_grad_norm=3.0, total_grad_norm=4.0)
    >>> norm_shares(out)
    {'kl': 0.25}
    """
    base = output.base_loss.get("grad_norm")
    weighted = {name: reg.grad_norm_weighted for name, reg in output.regularizers.items()}
    if base is None or any(value is None for value in weighted.values()):
        raise ValueError(
            "norm shares need gradient norms: run with track_grad_norms=True "
            "(a regularizer without a gradient has no share either)"
        )
    total = float(base) + sum(float(value) for value in weighted.values())  # type: ignore[arg-type]
    if not math.isfinite(total) or total == 0.0:
        return {name: 0.0 for name in weighted}
    return {name: float(value) / total for name, value in weighted.items()}  # type: ignore[arg-type]


class ShareController:
    """Adapt regularizer weights so that each holds a target norm share.

    Parameters
    ----------
    targets
        Regularizer name → the norm share it should hold, each in (0, 1); their
        sum must be below 1 (the base loss keeps the rest).
    rate
        The exponent of each multiplicative step, in (0, 1]: 0.1 moves a weight a
        tenth of the way (in log space) to where the share would match.
    bounds
        ``(low, high)``: weights never leave this interval.

    Examples
    --------
    >>> from gradtrack.types import RegularizerOutput
    >>> controller = ShareController({"kl": 0.5}, rate=1.0)
    >>> reg = RegularizerOutput.from_computation("kl", 1.0, 0.1, {}, grad_norm=1.0)
    >>> out = CustomLossOutput.build(1.0, {}, [reg], base_grad_norm=0.9, total_grad_norm=1.0)
    >>> controller.update(out)  # share 0.1 of 1.0: weight × (0.5 / 0.1)
    {'kl': 0.5}
    """

    def __init__(
        self,
        targets: Mapping[str, float],
        rate: float = 0.1,
        bounds: tuple[float, float] = (1e-8, 1e4),
    ) -> None:
        if not isinstance(targets, Mapping) or not targets:
            raise TypeError(
                f"targets must be a non-empty mapping of names to shares, got {targets!r}"
            )
        for name, share in targets.items():
            if not isinstance(name, str):
                raise TypeError(f"targets keys must be regularizer names (str), got {name!r}")
            if isinstance(share, bool) or not isinstance(share, int | float):
                raise TypeError(f"target share of {name!r} must be a number, got {share!r}")
            if not 0.0 < share < 1.0:
                raise ValueError(f"target share of {name!r} must be in (0, 1), got {share!r}")
        if sum(targets.values()) >= 1.0:
            raise ValueError(
                f"target shares add up to {sum(targets.values()):g}; they must leave the base "
                "loss a share (sum below 1)"
            )
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 < rate <= 1.0:
            raise ValueError(f"rate must be a number in (0, 1], got {rate!r}")
        low, high = bounds
        if not 0.0 < low < high < math.inf:
            raise ValueError(
                f"bounds must be (low, high) with 0 < low < high < inf, got {bounds!r}"
            )
        self.targets = dict(targets)
        self.rate = float(rate)
        self.bounds = (float(low), float(high))
        self.weights: dict[str, float] = {}
        """The latest weight of each controlled regularizer (empty before the first update)."""

    def update(self, output: CustomLossOutput) -> dict[str, float]:
        """Take one step from the shares in ``output``; return name → new weight.

        A term whose share is 0 (no gradient this step) keeps its weight.

        Raises
        ------
        KeyError
            A target names a regularizer that is not in ``output``.
        ValueError
            The output has no gradient norms (``track_grad_norms=False``).
        """
        missing = sorted(set(self.targets) - set(output.regularizers))
        if missing:
            raise KeyError(
                f"ShareController targets {missing} are not regularizers of this output "
                f"(it has {sorted(output.regularizers)})"
            )
        shares = norm_shares(output)
        low, high = self.bounds
        for name, target in self.targets.items():
            weight = output.regularizers[name].weight
            share = shares[name]
            if share > 0.0 and weight > 0.0:
                weight = weight * (target / share) ** self.rate
            self.weights[name] = min(high, max(low, weight))
        return dict(self.weights)

    def specs(self, specs: Iterable[RegularizerSpec]) -> list[RegularizerSpec]:
        """The specs with the controlled weights replaced by the latest ones.

        Specs the controller does not control, or before its first update, are
        returned as they are (as copies).

        Examples
        --------
        >>> spec = RegularizerSpec(lambda data, lp: (0.0, {}), 0.1, "kl")
        >>> controller = ShareController({"kl": 0.2})
        >>> controller.weights["kl"] = 0.3
        >>> [s.weight for s in controller.specs([spec])]
        [0.3]
        """
        return [
            dataclasses.replace(spec, weight=self.weights.get(spec.name, spec.weight))
            for spec in specs
        ]
