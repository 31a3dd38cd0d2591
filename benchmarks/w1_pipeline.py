"""W1 — the regularizer pipeline with gradient tracking (the headline workload).

Logprobs float32 of shape (32, 2048), all ≤ 0; a 0/1 mask (80 % ones),
reference logprobs and "original" logprobs. The terms (weight: loss):

* base (1): masked NLL ``-sum(lp * m) / sum(m)``
* l1 (0.01): ``sum(abs(lp))``; l2 (0.005): ``sum(lp ** 2)``
* entropy (0.001): mean over rows of ``-sum_j exp(lp) * lp``
* kl (0.01): mean over elements of ``exp(ref) * (ref - lp)``
* consistency (0.1): ``mean((lp - orig) ** 2)``

One call yields every term's value and gradient norm, the total loss and the
norm of the total gradient. Implementations take one backward per term,
except the "original route" rows (and "gradtrack naive"), which re-evaluate
every term the way the original does (value, own gradient, total). Ratios to
a peer are quoted against its faster route, the one-backward-per-term one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import Implementation, Outputs

SHAPE = (32, 2048)
WEIGHTS = {"l1": 0.01, "l2": 0.005, "entropy": 0.001, "kl": 0.01, "consistency": 0.1}


def make_data(seed: int = 0) -> dict[str, np.ndarray]:
    """Logprobs, mask, reference and original logprobs, float32."""
    rng = np.random.default_rng(seed)

    def logprobs() -> np.ndarray:
        return (-np.abs(rng.standard_normal(SHAPE)) * 2).astype(np.float32)

    lp = logprobs()
    return {
        "lp": lp,
        "mask": (rng.uniform(size=SHAPE) < 0.8).astype(np.float32),
        "ref": logprobs(),
        "orig": (lp + 0.01 * rng.standard_normal(SHAPE)).astype(np.float32),
    }


def _norm(g: np.ndarray) -> float:
    flat = g.astype(np.float64).ravel()
    return float(np.sqrt(flat @ flat))


def numpy_reference(d: dict[str, np.ndarray]) -> Outputs:
    """Values and analytic gradients of every term, by hand."""
    lp, m, ref, orig = d["lp"], d["mask"], d["ref"], d["orig"]
    rows, count = lp.shape[0], lp.size
    p = np.exp(lp)
    ref_p = np.exp(ref)
    diff = lp - orig
    values = {
        "base": -np.sum(lp * m) / np.sum(m),
        "l1": np.sum(np.abs(lp)),
        "l2": np.sum(lp * lp),
        "entropy": np.mean(-np.sum(p * lp, axis=1)),
        "kl": np.mean(ref_p * (ref - lp)),
        "consistency": np.mean(diff * diff),
    }
    grads = {
        "base": -m / np.sum(m),
        "l1": np.sign(lp),
        "l2": 2 * lp,
        "entropy": -p * (lp + 1) / rows,
        "kl": -ref_p / count,
        "consistency": 2 * diff / count,
    }
    return _summarise(values, grads)


def _summarise(values: dict[str, Any], grads: dict[str, np.ndarray]) -> Outputs:
    total = grads["base"].astype(np.float64)
    for name, weight in WEIGHTS.items():
        total = total + weight * grads[name]
    loss = float(values["base"]) + sum(w * float(values[n]) for n, w in WEIGHTS.items())
    out: dict[str, Any] = {"loss_total": loss, "total_grad_norm": _norm(total)}
    for name in values:
        out[f"{name}_value"] = float(values[name])
        out[f"{name}_grad_norm"] = _norm(grads[name])
    return out


# ------------------------------------------------------------------ gradtrack
def _gradtrack_terms(d: dict[str, np.ndarray]) -> tuple[Callable, list]:
    import minigrad as mg
    from gradtrack import RegularizerSpec

    ref_p = np.exp(d["ref"])
    mask_total = float(np.sum(d["mask"]))

    def base(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        return -(lp * d["mask"]).sum() / mask_total, {}

    def l1(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        return mg.abs(lp).sum(), {}

    def l2(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        return mg.square(lp).sum(), {}

    def entropy(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        return (-(mg.exp(lp) * lp).sum(axis=1)).mean(), {}

    def kl(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        return (ref_p * (d["ref"] - lp)).mean(), {}

    def consistency(data: Any, lp: mg.Tensor) -> tuple[mg.Tensor, dict]:
        return mg.square(lp - d["orig"]).mean(), {}

    fns = {"l1": l1, "l2": l2, "entropy": entropy, "kl": kl, "consistency": consistency}
    specs = [RegularizerSpec(fns[name], weight, name) for name, weight in WEIGHTS.items()]
    return base, specs


def _from_output(output: Any) -> Outputs:
    out: dict[str, Any] = {
        "loss_total": output.loss_total,
        "total_grad_norm": output.total_grad_norm,
        "base_value": output.base_loss["value"],
        "base_grad_norm": output.base_loss["grad_norm"],
    }
    for name, reg in output.regularizers.items():
        out[f"{name}_value"] = reg.value
        out[f"{name}_grad_norm"] = reg.grad_norm
    return out


def _gradtrack(
    parallel: bool, jit: bool = False
) -> Callable[[dict[str, np.ndarray]], Callable[[], Outputs]]:
    def build(d: dict[str, np.ndarray]) -> Callable[[], Outputs]:
        from gradtrack import pipeline

        base, specs = _gradtrack_terms(d)

        def run() -> Outputs:
            output = pipeline.compute(
                [],
                d["lp"],
                base,
                regularizers=specs,
                track_grad_norms=True,
                parallel=parallel,
                jit=jit,
            )
            return _from_output(output)

        return run

    return build


def _gradtrack_naive(d: dict[str, np.ndarray]) -> Callable[[], Outputs]:
    """The original's route: values; each term again for its own gradient; then the
    composite ``base + Σ w_i reg_i`` evaluated and differentiated once more for the total."""
    from gradtrack import pipeline, tracker

    base, specs = _gradtrack_terms(d)

    def composite(lp: Any) -> Any:
        total = base([], lp)[0]
        for spec in specs:
            total = total + spec.weight * spec.fn([], lp)[0]
        return total

    def run() -> Outputs:
        output = pipeline.compute([], d["lp"], base, regularizers=specs, parallel=False)
        out = _from_output(output)
        out["base_grad_norm"] = tracker.compute_grad_norm(lambda lp: base([], lp)[0], d["lp"])
        for spec in specs:
            out[f"{spec.name}_grad_norm"] = tracker.grad_norm_for_regularizer(spec, [], d["lp"])
        out["total_grad_norm"] = tracker.compute_grad_norm(composite, d["lp"])
        return out

    return run


# ---------------------------------------------------------------------- peers
def _torch_terms(d: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    t = {k: torch.from_numpy(v) for k, v in d.items()}
    ref_p = torch.exp(t["ref"])
    mask_total = t["mask"].sum()
    terms = {
        "base": lambda lp: -(lp * t["mask"]).sum() / mask_total,
        "l1": lambda lp: lp.abs().sum(),
        "l2": lambda lp: (lp * lp).sum(),
        "entropy": lambda lp: (-(torch.exp(lp) * lp).sum(dim=1)).mean(),
        "kl": lambda lp: (ref_p * (t["ref"] - lp)).mean(),
        "consistency": lambda lp: ((lp - t["orig"]) ** 2).mean(),
    }
    return t, terms


def _torch_original(d: dict[str, np.ndarray]) -> Callable[[], Outputs]:
    """The original's route in PyTorch: every value; each term again for its gradient;
    the composite once more for the total gradient."""
    import torch

    t, terms = _torch_terms(d)

    def norm_of(fn: Callable[[Any], Any]) -> float:
        lp = t["lp"].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(fn(lp), lp)
        return float(torch.sqrt(torch.sum(torch.square(grad.double()))))

    def composite(lp: Any) -> Any:
        return terms["base"](lp) + sum(w * terms[n](lp) for n, w in WEIGHTS.items())

    def run() -> Outputs:
        with torch.no_grad():
            values = {name: fn(t["lp"]).item() for name, fn in terms.items()}
        loss = values["base"] + sum(w * values[n] for n, w in WEIGHTS.items())
        out: dict[str, Any] = {"loss_total": loss, "total_grad_norm": norm_of(composite)}
        for name, fn in terms.items():
            out[f"{name}_value"] = values[name]
            out[f"{name}_grad_norm"] = norm_of(fn)
        return out

    return run


def _torch(d: dict[str, np.ndarray]) -> Callable[[], Outputs]:
    import torch

    t, terms = _torch_terms(d)

    def run() -> Outputs:
        values, grads = {}, {}
        for name, fn in terms.items():
            lp = t["lp"].clone().requires_grad_(True)
            value = fn(lp)
            (grad,) = torch.autograd.grad(value, lp)
            values[name] = value.item()
            grads[name] = grad.numpy()
        return _summarise(values, grads)

    return run


def _jax_terms(d: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    import jax.numpy as jnp

    j = {k: jnp.asarray(v) for k, v in d.items()}
    ref_p = jnp.exp(j["ref"])
    mask_total = jnp.sum(j["mask"])
    fns = {
        "base": lambda x: -jnp.sum(x * j["mask"]) / mask_total,
        "l1": lambda x: jnp.sum(jnp.abs(x)),
        "l2": lambda x: jnp.sum(x * x),
        "entropy": lambda x: jnp.mean(-jnp.sum(jnp.exp(x) * x, axis=1)),
        "kl": lambda x: jnp.mean(ref_p * (j["ref"] - x)),
        "consistency": lambda x: jnp.mean((x - j["orig"]) ** 2),
    }
    return j, fns


def _jax_original(d: dict[str, np.ndarray]) -> Callable[[], Outputs]:
    """The original's route under ``jax.jit``: values; each term's gradient from a second
    evaluation; the composite's gradient from a third (one compiled function)."""
    import jax
    import jax.numpy as jnp

    j, fns = _jax_terms(d)

    def norm(g: Any) -> Any:
        return jnp.sqrt(jnp.sum(jnp.square(g.astype(jnp.float64))))

    def all_terms(lp: Any) -> Any:
        values = {name: fn(lp) for name, fn in fns.items()}
        norms = {name: norm(jax.grad(fn)(lp)) for name, fn in fns.items()}

        def composite(x: Any) -> Any:
            return fns["base"](x) + sum(w * fns[n](x) for n, w in WEIGHTS.items())

        return values, norms, norm(jax.grad(composite)(lp))

    step = jax.jit(all_terms)
    return _jax_runner(step, j["lp"])


def _jax_runner(step: Any, lp: Any) -> Callable[[], Outputs]:
    def run() -> Outputs:
        values, norms, total_norm = step(lp)
        total_norm.block_until_ready()
        loss = float(values["base"]) + sum(w * float(values[n]) for n, w in WEIGHTS.items())
        out: dict[str, Any] = {"loss_total": loss, "total_grad_norm": float(total_norm)}
        for name in values:
            out[f"{name}_value"] = float(values[name])
            out[f"{name}_grad_norm"] = float(norms[name])
        return out

    return run


def _jax(d: dict[str, np.ndarray]) -> Callable[[], Outputs]:
    import jax
    import jax.numpy as jnp

    j, fns = _jax_terms(d)

    def all_terms(lp: Any) -> Any:
        values, grads = {}, {}
        for name, fn in fns.items():
            values[name], grads[name] = jax.value_and_grad(fn)(lp)
        total = grads["base"] + sum(w * grads[n] for n, w in WEIGHTS.items())
        norms = {n: jnp.sqrt(jnp.sum(jnp.square(g.astype(jnp.float64)))) for n, g in grads.items()}
        total_norm = jnp.sqrt(jnp.sum(jnp.square(total.astype(jnp.float64))))
        return values, norms, total_norm

    step = jax.jit(all_terms)
    return _jax_runner(step, j["lp"])


def _autograd(d: dict[str, np.ndarray]) -> Callable[[], Outputs]:
    import autograd
    import autograd.numpy as anp

    ref_p = np.exp(d["ref"])
    mask_total = float(np.sum(d["mask"]))
    terms = {
        "base": lambda lp: -anp.sum(lp * d["mask"]) / mask_total,
        "l1": lambda lp: anp.sum(anp.abs(lp)),
        "l2": lambda lp: anp.sum(lp * lp),
        "entropy": lambda lp: anp.mean(-anp.sum(anp.exp(lp) * lp, axis=1)),
        "kl": lambda lp: anp.mean(ref_p * (d["ref"] - lp)),
        "consistency": lambda lp: anp.mean((lp - d["orig"]) ** 2),
    }
    value_and_grads = {n: autograd.value_and_grad(f) for n, f in terms.items()}

    def run() -> Outputs:
        values, grads = {}, {}
        for name, vg in value_and_grads.items():
            values[name], grads[name] = vg(d["lp"])
        return _summarise(values, grads)

    return run


def _autograd_original(d: dict[str, np.ndarray]) -> Callable[[], Outputs]:
    """The original's route with autograd: values; each term's gradient from a second
    evaluation; the composite's gradient from a third."""
    import autograd
    import autograd.numpy as anp

    ref_p = np.exp(d["ref"])
    mask_total = float(np.sum(d["mask"]))
    terms = {
        "base": lambda lp: -anp.sum(lp * d["mask"]) / mask_total,
        "l1": lambda lp: anp.sum(anp.abs(lp)),
        "l2": lambda lp: anp.sum(lp * lp),
        "entropy": lambda lp: anp.mean(-anp.sum(anp.exp(lp) * lp, axis=1)),
        "kl": lambda lp: anp.mean(ref_p * (d["ref"] - lp)),
        "consistency": lambda lp: anp.mean((lp - d["orig"]) ** 2),
    }

    def composite(lp: Any) -> Any:
        return terms["base"](lp) + sum(w * terms[n](lp) for n, w in WEIGHTS.items())

    def run() -> Outputs:
        values = {name: fn(d["lp"]) for name, fn in terms.items()}
        loss = float(values["base"]) + sum(w * float(values[n]) for n, w in WEIGHTS.items())
        out: dict[str, Any] = {
            "loss_total": loss,
            "total_grad_norm": _norm(autograd.grad(composite)(d["lp"])),
        }
        for name, fn in terms.items():
            out[f"{name}_value"] = float(values[name])
            out[f"{name}_grad_norm"] = _norm(autograd.grad(fn)(d["lp"]))
        return out

    return run


def _numpy(d: dict[str, np.ndarray]) -> Callable[[], Outputs]:
    return lambda: numpy_reference(d)


IMPLEMENTATIONS = [
    Implementation("numpy analytic", _numpy),
    Implementation("gradtrack parallel", _gradtrack(parallel=True)),
    Implementation("gradtrack sequential", _gradtrack(parallel=False)),
    Implementation("gradtrack naive (3 evaluations)", _gradtrack_naive),
    Implementation("gradtrack jit=True parallel", _gradtrack(parallel=True, jit=True)),
    Implementation("gradtrack jit=True sequential", _gradtrack(parallel=False, jit=True)),
    Implementation("pytorch eager", _torch, requires="torch"),
    Implementation("pytorch eager (original route)", _torch_original, requires="torch"),
    Implementation("jax jit", _jax, requires="jax"),
    Implementation("jax jit (original route)", _jax_original, requires="jax"),
    Implementation("autograd", _autograd, requires="autograd"),
    Implementation("autograd (original route)", _autograd_original, requires="autograd"),
]
