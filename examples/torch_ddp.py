"""The PyTorch loop of ``torch_loop.py``, data-parallel on CPU with gloo.

Run it with two processes::

    torchrun --standalone --nproc_per_node 2 examples/torch_ddp.py

Each rank draws its own shard of every batch. The model is wrapped in
``DistributedDataParallel``; ``gt_torch.backward(..., process_group="default")``
reports the loss of the whole batch (the mean over ranks) and the gradient norms
and alignments of the whole batch's gradient (sums of squares and dot products
are all-reduced), identical on every rank, while DDP averages the parameter
gradients as usual. Rank 0 prints and logs; at the end every rank checks that
all ranks saw the same numbers.
"""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch_loop import TinyLM, nll, pattern_batch, regularizers, target_logprobs

from gradtrack.integrations import torch as gt_torch
from gradtrack.loggers import JSONLLogger


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8, help="rows per rank")
    parser.add_argument("--length", type=int, default=24)
    parser.add_argument("--metrics", type=Path, default=None, help="rank 0 writes JSONL here")
    args = parser.parse_args(argv)
    if "RANK" not in os.environ:
        raise SystemExit(
            "run me under torchrun: torchrun --standalone --nproc_per_node 2 examples/torch_ddp.py"
        )

    # Every collective gives up after this long instead of waiting forever.
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)  # the same initial model on every rank
    model = DistributedDataParallel(TinyLM())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(1000 + rank)  # each rank its own shard
    logger = JSONLLogger(args.metrics) if args.metrics and rank == 0 else None
    first = last = float("nan")
    for step in range(1, args.steps + 1):
        tokens = pattern_batch(generator, args.batch_size, args.length)
        optimizer.zero_grad()
        out = gt_torch.backward(
            target_logprobs(model, tokens),
            [],
            nll,
            regularizers=regularizers(),
            track_grad_norms=True,
            process_group="default",
        )
        optimizer.step()
        first = out.loss_total if step == 1 else first
        last = out.loss_total
        if logger is not None:
            logger.log(out, step)
        if rank == 0 and (step == 1 or step % max(1, args.steps // 10) == 0):
            print(
                f"step {step:4d}  loss {out.loss_total:.4f} (mean over {world} ranks)  "
                f"|g| {out.total_grad_norm:.3g}  alignment "
                + "  ".join(f"{k} {v:+.2f}" for k, v in (out.grad_alignment or {}).items())
            )
    seen: list[object] = [None] * world
    dist.all_gather_object(seen, (first, last))
    if logger is not None:
        logger.close()
    if rank == 0:
        agree = all(pair == seen[0] for pair in seen)
        print(f"loss went from {first:.4f} to {last:.4f}; every rank saw the same: {agree}")
        if not agree:
            raise SystemExit(f"ranks disagree: {seen}")
    dist.barrier()  # leave the group together: tearing gloo down under a peer can abort
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
