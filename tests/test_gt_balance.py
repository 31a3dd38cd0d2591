"""ShareController: its update rule as defined, and convergence on a fixed problem."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradtrack
import minigrad as mg
from gradtrack.balance import ShareController, norm_shares
from gradtrack.types import CustomLossOutput, RegularizerOutput, RegularizerSpec


def output(base_norm: float, regs: dict[str, tuple[float, float]]) -> CustomLossOutput:
    """An output with the given base norm and (weight, unweighted grad norm) per term."""
    outputs = [
        RegularizerOutput.from_computation(name, 1.0, weight, {}, grad_norm=norm)
        for name, (weight, norm) in regs.items()
    ]
    return CustomLossOutput.build(1.0, {}, outputs, base_grad_norm=base_norm, total_grad_norm=1.0)


def test_norm_shares_follow_the_definition() -> None:
    out = output(2.0, {"kl": (0.5, 2.0), "l2": (2.0, 0.5)})
    # weighted norms 1.0 and 1.0 beside a base norm of 2.0: 1/4 each
    assert norm_shares(out) == {"kl": 0.25, "l2": 0.25}


def test_update_is_multiplicative_towards_the_target() -> None:
    controller = ShareController({"kl": 0.5}, rate=0.5)
    out = output(3.0, {"kl": (0.1, 10.0), "l2": (1.0, 1.0)})
    share = 1.0 / (3.0 + 1.0 + 1.0)
    expected = 0.1 * (0.5 / share) ** 0.5
    assert controller.update(out) == {"kl": pytest.approx(expected)}
    assert controller.weights == {"kl": pytest.approx(expected)}


def test_update_is_clipped_to_the_bounds() -> None:
    controller = ShareController({"kl": 0.9}, rate=1.0, bounds=(1e-3, 2.0))
    assert controller.update(output(100.0, {"kl": (1.0, 0.01)})) == {"kl": 2.0}
    controller = ShareController({"kl": 1e-4}, rate=1.0, bounds=(1e-3, 2.0))
    assert controller.update(output(0.01, {"kl": (1.0, 100.0)})) == {"kl": 1e-3}


def test_a_zero_share_leaves_the_weight_unchanged() -> None:
    controller = ShareController({"kl": 0.2})
    assert controller.update(output(1.0, {"kl": (0.3, 0.0)})) == {"kl": 0.3}


def test_an_unknown_name_is_a_key_error_naming_it() -> None:
    controller = ShareController({"entropy": 0.2})
    with pytest.raises(KeyError, match="entropy"):
        controller.update(output(1.0, {"kl": (0.3, 1.0)}))


def test_untracked_output_is_refused() -> None:
    untracked = CustomLossOutput.build(
        1.0, {}, [RegularizerOutput.from_computation("kl", 1.0, 0.5, {})]
    )
    with pytest.raises(ValueError, match="track_grad_norms=True"):
        ShareController({"kl": 0.2}).update(untracked)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"targets": {}}, TypeError),
        ({"targets": {"kl": 1.5}}, ValueError),
        ({"targets": {"kl": 0.6, "l2": 0.5}}, ValueError),
        ({"targets": {"kl": "0.1"}}, TypeError),
        ({"targets": {"kl": 0.1}, "rate": 0.0}, ValueError),
        ({"targets": {"kl": 0.1}, "bounds": (1.0, 0.5)}, ValueError),
    ],
)
def test_bad_settings_are_refused_up_front(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        ShareController(**kwargs)


def test_specs_replace_only_the_controlled_weights() -> None:
    kl = RegularizerSpec(lambda data, lp: (0.0, {}), 0.1, "kl")
    l2 = RegularizerSpec(lambda data, lp: (0.0, {}), 0.2, "l2")
    controller = ShareController({"kl": 0.3})
    assert [s.weight for s in controller.specs([kl, l2])] == [0.1, 0.2]
    controller.update(output(1.0, {"kl": (0.1, 1.0), "l2": (0.2, 1.0)}))
    new_kl, new_l2 = controller.specs([kl, l2])
    assert new_kl.weight == controller.weights["kl"] and new_l2.weight == 0.2
    assert kl.weight == 0.1  # the originals are untouched


def test_share_reaches_its_target_in_50_steps_and_stays() -> None:
    rng = np.random.default_rng(0)
    logprobs = -np.abs(rng.standard_normal((4, 32)))
    reference = -np.abs(rng.standard_normal((4, 32)))

    def nll(data, lp):
        return -lp.mean(), {}

    def pull(data, lp):  # a quadratic pull towards a reference: its gradient is never zero
        return mg.square(lp - reference).sum(), {}

    specs = [RegularizerSpec(pull, 1e-5, "pull")]
    controller = ShareController({"pull": 0.3})
    shares = []
    for _ in range(100):
        out = gradtrack.compute([], logprobs, nll, regularizers=specs, track_grad_norms=True)
        shares.append(norm_shares(out)["pull"])
        controller.update(out)
        specs = controller.specs(specs)
    assert shares[0] < 0.01  # it starts far away
    assert all(math.isclose(s, 0.3, rel_tol=0.2) for s in shares[50:]), shares[50:]
