"""The extra cost of gradtrack in a PyTorch step: ``gt_torch.backward`` vs ``loss.backward()``.

Run it with ``python -m benchmarks.torch_step [--threads 1] [--repeats 30]``
(needs the ``torch`` and ``hf`` extras).

Two workloads, each timed round-robin in one process (one sample of every
variant in turn, so machine noise hits them alike), medians reported side by
side with their ratio to the plain backward:

* **tiny GPT-2** (built from a config, random weights): 2 layers, width 64,
  vocabulary 1000, a batch of 8 × 128 tokens; logprobs of shape (8, 128).
* **32 × 2048 logprobs**: float32 logprobs ``−softplus(θ)`` of a (32, 2048)
  parameter, so the model's own backward costs next to nothing and what is
  measured is gradtrack's work on a batch of W1's size.

Only the backward call is timed; the forward pass that builds the graph runs
before each sample, untimed. The base loss is the masked mean NLL in every
variant; "+ 3 regularizers" adds gradtrack's L1, L2 and entropy terms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any


def _pin_threads(count: int) -> None:
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(count)
    os.environ["NUMBA_NUM_THREADS"] = str(count)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.torch_step", description=__doc__)
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and BLAS")
    parser.add_argument("--repeats", type=int, default=30, help="samples per variant")
    args = parser.parse_args(argv)
    if args.threads is not None:
        _pin_threads(args.threads)

    import numpy as np
    import torch
    import transformers

    import minigrad as mg
    from gradtrack.integrations import torch as gt_torch
    from gradtrack.regularizers import L1, L2, Entropy

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    def specs() -> list[Any]:
        return [L1().spec(0.01), L2().spec(0.005), Entropy().spec(0.001)]

    def workloads() -> dict[str, tuple[Callable[[], Any], Any, Any]]:
        """name -> (forward returning logprobs, mask as torch, mask as numpy)."""
        torch.manual_seed(0)
        config = transformers.GPT2Config(
            vocab_size=1000, n_positions=128, n_embd=64, n_layer=2, n_head=4,
            bos_token_id=0, eos_token_id=0,
        )  # fmt: skip
        gpt2 = transformers.GPT2LMHeadModel(config)
        ids = torch.randint(0, 1000, (8, 129))

        def gpt2_forward() -> Any:
            logits = gpt2(ids[:, :-1]).logits
            return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]

        theta = torch.nn.Parameter(torch.randn(32, 2048))

        def batch_forward() -> Any:
            return -torch.nn.functional.softplus(theta)

        rng = np.random.default_rng(0)
        result = {}
        for name, forward, shape, params in (
            ("tiny GPT-2, logprobs 8×128", gpt2_forward, (8, 128), gpt2),
            ("logprobs 32×2048 float32", batch_forward, (32, 2048), [theta]),
        ):
            mask = (rng.uniform(size=shape) < 0.8).astype(np.float32)
            result[name] = (forward, torch.from_numpy(mask), mask, params)
        return result

    def variants(mask_t: Any, mask: np.ndarray, params: Any) -> dict[str, Callable[[Any], Any]]:
        count = float(mask.sum())

        def base(data: Any, lp: mg.Tensor) -> Any:
            return -(lp * mask).sum() / count, {}

        return {
            "plain loss.backward()": lambda lp: (-(lp * mask_t).sum() / count).backward(),
            "gt_torch.backward, base only": lambda lp: gt_torch.backward(lp, [], base),
            "+ 3 regularizers": lambda lp: gt_torch.backward(lp, [], base, regularizers=specs()),
            "+ 3 regularizers, tracked": lambda lp: gt_torch.backward(
                lp, [], base, regularizers=specs(), track_grad_norms=True
            ),
            "+ 3 regularizers, tracked, param_norms": lambda lp: gt_torch.backward(
                lp, [], base, regularizers=specs(), track_grad_norms=True, param_norms=params
            ),
        }

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.repeats} samples")
    for name, (forward, mask_t, mask, params) in workloads().items():
        table = variants(mask_t, mask, params)
        samples: dict[str, list[float]] = {label: [] for label in table}
        for step in table.values():  # warm up (Numba, allocators) untimed
            step(forward())
        for _ in range(args.repeats):
            for label, step in table.items():
                logprobs = forward()
                started = time.perf_counter()
                step(logprobs)
                samples[label].append(time.perf_counter() - started)
        plain = statistics.median(samples["plain loss.backward()"])
        print(f"\n### {name}\n")
        print("| backward | median (ms) | × plain |")
        print("|---|---:|---:|")
        for label, times in samples.items():
            median = statistics.median(times)
            print(f"| {label} | {median * 1e3:.2f} | {median / plain:.2f} |")


if __name__ == "__main__":
    main()
