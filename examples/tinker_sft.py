"""Supervised fine-tuning on the Tinker service with gradtrack's regularizers and tracking.

Run it with ``TINKER_API_KEY=... python examples/tinker_sft.py`` (needs
``pip install 'gradtrack[tinker]'`` and network access to the service). Without
the key it prints what it needs and stops.

The model is trained by the service; gradtrack runs beside it. Each step
``forward_backward_custom`` asks the service for the target logprobs (one
forward pass), evaluates the NLL and gradtrack's regularizers on them locally
with minigrad, and sends their exact gradient back as cross-entropy weights
(one forward and backward pass on the service); ``optim_step`` applies Adam
there. Only the answer tokens are trained (the prompt's weights are 0).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import minigrad as mg
from gradtrack.custom_loss import forward_backward_custom
from gradtrack.regularizers import Entropy
from gradtrack.types import Datum, ModelInput

EXAMPLES = [
    ("The capital of France is", " Paris."),
    ("Two plus two equals", " four."),
    ("The opposite of hot is", " cold."),
    ("Water freezes at zero degrees", " Celsius."),
]

NEEDS = """\
examples/tinker_sft.py trains on the Tinker service and needs:
  * the SDK:        pip install 'gradtrack[tinker]'
  * an API key:     export TINKER_API_KEY=...   (from your Tinker account)
  * network access to the Tinker service
Optional: --base-model NAME (default {model}), --steps N, --lr X.
Without these, see examples/hf_gpt2.py: the same training route on a local model."""


def make_datum(tokenizer: Any, prompt: str, answer: str) -> Datum:
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=True)
    answer_ids = tokenizer.encode(answer, add_special_tokens=False)
    tokens = prompt_ids + answer_ids
    # Position t predicts token t+1; only predictions of answer tokens count.
    weights = [0.0] * (len(prompt_ids) - 1) + [1.0] * len(answer_ids)
    return Datum(
        ModelInput.from_ints(tokens[:-1]),
        {"target_tokens": tokens[1:], "weights": weights},
    )


def answer_nll(data: Any, logprobs: list[mg.Tensor]) -> tuple[mg.Tensor, dict[str, Any]]:
    """Mean NLL of the answer tokens (the datum's weights pick them)."""
    total = count = 0.0
    for datum, lp in zip(data, logprobs, strict=True):
        weights = datum.loss_fn_inputs["weights"].to_numpy()
        total = total - (lp * weights).sum()
        count += float(weights.sum())
    loss = total / count
    return loss, {"answer_nll": loss}


def main(argv: list[str] | None = None) -> int:
    default_model = "meta-llama/Llama-3.2-1B"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-model", default=default_model)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    args = parser.parse_args(argv)
    try:
        import tinker
    except ImportError:
        print(NEEDS.format(model=default_model), file=sys.stderr)
        return 2
    if not os.environ.get("TINKER_API_KEY"):
        print(NEEDS.format(model=default_model), file=sys.stderr)
        return 2

    from gradtrack.integrations.tinker import TinkerTrainingClient

    service = tinker.ServiceClient()
    sdk_client = service.create_lora_training_client(base_model=args.base_model)
    tokenizer = sdk_client.get_tokenizer()
    client = TinkerTrainingClient(sdk_client, timeout=args.timeout)
    data = [make_datum(tokenizer, prompt, answer) for prompt, answer in EXAMPLES]
    specs = [Entropy(mode="maximize").spec(0.001)]
    for step in range(1, args.steps + 1):
        result = forward_backward_custom(
            client, data, answer_nll, regularizers=specs, track_grad_norms=True
        )
        client.optim_step(tinker.AdamParams(learning_rate=args.lr))
        out = result.custom_loss
        assert out is not None
        entropy = out.regularizers["entropy"]
        print(
            f"step {step:3d}  answer NLL {result.metrics['answer_nll']:.4f}  "
            f"loss {out.loss_total:.4f}  |g| {out.total_grad_norm:.3g}  "
            f"entropy pull {entropy.grad_norm_weighted:.3g} "
            f"(alignment {entropy.grad_alignment:+.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
