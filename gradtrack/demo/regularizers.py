"""The regularizers the demo offers, and the parser of ``--regularizers``.

This module lets you name the built-in regularizers on the command line
with a weight each, as in ``"entropy:0.001,kl:0.01,l2:0.005"``, and get back
the :class:`~gradtrack.types.RegularizerSpec` objects to train with. A name
without a weight gets its default weight.

The logprobs the regularizers see are the target-token logprobs of the
whole batch, joined into one vector. ``l1``, ``l2``, ``elastic_net`` and
``consistency`` average over its tokens; ``entropy`` and ``kl`` read it as
one row (as the built-ins read any 1-D logprobs) and so sum over its tokens.
``kl`` and ``consistency`` compare with the logprobs of the model as it was
before training (the ``reference_logprobs`` field of each datum).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gradtrack.demo.data import REFERENCE_FIELD
from gradtrack.regularizers import L1, L2, Consistency, ElasticNet, Entropy, KLDivergence
from gradtrack.regularizers.base import Regularizer
from gradtrack.types import RegularizerSpec

__all__ = [
    "CHOICES",
    "DEFAULT_REGULARIZERS",
    "Choice",
    "describe_choices",
    "needs_reference",
    "parse_regularizers",
    "resolve_name",
]


@dataclass(frozen=True)
class Choice:
    """A regularizer the demo can add: how to build it, its default weight, what it does.

    Examples
    --------
    >>> choice = CHOICES["entropy"]
    >>> choice.build().name, choice.default_weight, choice.uses_reference
    ('entropy', 0.001, False)
    """

    build: Callable[[], Regularizer]
    default_weight: float
    summary: str
    uses_reference: bool = False


CHOICES: dict[str, Choice] = {
    "l1": Choice(lambda: L1(reduction="mean"), 0.01, "mean |logprob| (pushes every target up)"),
    "l2": Choice(lambda: L2(reduction="mean"), 0.02, "mean logprob² (pushes hard targets up most)"),
    "elastic_net": Choice(lambda: ElasticNet(reduction="mean"), 0.01, "half l1, half l2"),
    "entropy": Choice(
        lambda: Entropy(mode="maximize"),
        0.001,
        "entropy bonus: keeps the model from growing over-confident",
    ),
    "kl": Choice(
        lambda: KLDivergence(reference_field=REFERENCE_FIELD, symmetric=True),
        0.0002,
        "symmetric KL to the initial model's logprobs",
        uses_reference=True,
    ),
    "consistency": Choice(
        lambda: Consistency(pair_field=REFERENCE_FIELD),
        0.01,
        "mean squared distance to the initial model's logprobs",
        uses_reference=True,
    ),
}
"""The regularizers ``--regularizers`` accepts, by short name."""

# The built-ins' own names are accepted too, so a name from a metrics file works on the CLI.
_ALIASES = {"l1_sparsity": "l1", "l2_weight_decay": "l2", "kl_divergence": "kl"}

DEFAULT_REGULARIZERS = "entropy:0.001,kl:0.0002,l2:0.02"
"""What the demo trains with when ``--regularizers`` is not given."""


def resolve_name(name: str) -> str:
    """The short name of a choice for any name it goes by (``kl_divergence`` → ``kl``).

    Names are compared in lower case; a name that is no choice comes back
    lowered and stripped, unchanged otherwise.

    Examples
    --------
    >>> resolve_name("KL_divergence"), resolve_name("entropy"), resolve_name("dropout")
    ('kl', 'entropy', 'dropout')
    """
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def describe_choices() -> str:
    """A small table of the available regularizers: name, default weight, what each does.

    Examples
    --------
    >>> print(describe_choices().splitlines()[1])
      l1           0.01      mean |logprob| (pushes every target up)
    """
    lines = [f"  {'name':<12} {'default':<9} what it adds to the loss"]
    lines += [
        f"  {name:<12} {choice.default_weight:<9g} {choice.summary}"
        for name, choice in CHOICES.items()
    ]
    return "\n".join(lines)


def _parse_weight(text: str, name: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        raise ValueError(f"regularizer {name!r}: weight {text!r} is not a number") from None
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(
            f"regularizer {name!r}: weight must be a finite number >= 0, got {text.strip()}"
        )
    return weight


def parse_regularizers(text: str) -> list[RegularizerSpec]:
    """Specs from ``"name:weight,name:weight,..."``; ``""`` or ``"none"`` means none.

    Raises
    ------
    ValueError
        An unknown name (the message lists the known ones), a weight that is
        not a finite number ``>= 0``, or a name given twice.

    Examples
    --------
    >>> [(s.name, s.weight) for s in parse_regularizers("entropy:0.001, l2")]
    [('entropy', 0.001), ('l2_weight_decay', 0.02)]
    >>> parse_regularizers("none")
    []
    >>> parse_regularizers("dropout:0.1")
    Traceback (most recent call last):
    ...
    ValueError: unknown regularizer 'dropout'; choose from l1, l2, elastic_net, entropy, kl, consistency
    >>> parse_regularizers("kl:-1")
    Traceback (most recent call last):
    ...
    ValueError: regularizer 'kl': weight must be a finite number >= 0, got -1
    """  # noqa: E501
    if text.strip().lower() in ("", "none"):
        return []
    specs: list[RegularizerSpec] = []
    seen: set[str] = set()
    for item in text.split(","):
        name, _, weight_text = item.partition(":")
        name = resolve_name(name)
        if name not in CHOICES:
            raise ValueError(f"unknown regularizer {name!r}; choose from {', '.join(CHOICES)}")
        if name in seen:
            raise ValueError(f"regularizer {name!r} is given twice")
        seen.add(name)
        choice = CHOICES[name]
        weight = _parse_weight(weight_text, name) if weight_text.strip() else choice.default_weight
        specs.append(choice.build().spec(weight))
    return specs


def needs_reference(specs: list[RegularizerSpec]) -> bool:
    """Whether any of ``specs`` reads the initial model's logprobs.

    Examples
    --------
    >>> needs_reference(parse_regularizers("l2,kl")), needs_reference(parse_regularizers("l2"))
    (True, False)
    """
    reference_names = {
        CHOICES[name].build().name for name, choice in CHOICES.items() if choice.uses_reference
    }
    return any(spec.name in reference_names for spec in specs)
