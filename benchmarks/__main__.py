"""Run the benchmark workloads: ``python -m benchmarks [--only W2,W3] [--threads 1]``.

``--threads 1`` pins the process to one core and every math library to one
thread (set before NumPy or any peer is imported), which is how the issue
targets are stated. Results print as Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

WORKLOADS = ("W1", "W2", "W3", "W4", "W5")


def _pin_threads(count: int) -> None:
    for variable in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
    ):
        os.environ[variable] = str(count)
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    if count == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", default=",".join(WORKLOADS), help="workloads to run, e.g. W2,W3")
    parser.add_argument("--threads", type=int, default=None, help="pin to this many threads")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also measure the extra peak memory of W1 and W4 (each implementation alone)",
    )
    parser.add_argument(
        "--repeats", type=int, default=15, help="round-robin samples per implementation"
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        _pin_threads(args.threads)

    import numpy as np

    from benchmarks import harness

    if args.threads is not None:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    try:
        import jax

        jax.config.update("jax_enable_x64", True)  # W2 is float64; W3 casts explicitly
    except ImportError:
        pass

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"threads {args.threads or 'default'}"
    )
    chosen = {w.strip().upper() for w in args.only.split(",")}
    unknown = chosen - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")

    if "W1" in chosen:
        from benchmarks import w1_pipeline

        data = w1_pipeline.make_data()
        reference = w1_pipeline.numpy_reference(data)
        results = harness.run(w1_pipeline.IMPLEMENTATIONS, data, reference, repeats=args.repeats)
        print(
            harness.table(
                "W1 — regularizer pipeline, 32×2048 float32", results, floor="numpy analytic"
            )
        )
        print()
    if "W2" in chosen:
        from benchmarks import w2_overhead

        x = w2_overhead.make_data()
        reference = w2_overhead.numpy_reference(x)
        results = harness.run(w2_overhead.IMPLEMENTATIONS, x, reference, repeats=args.repeats)
        print(
            harness.table(
                "W2 — per-op overhead (200-link chain, forward + backward)",
                results,
                floor="numpy analytic",
                per=w2_overhead.LINKS,
                per_label="µs / link",
            )
        )
        print()
    if "W3" in chosen:
        from benchmarks import w3_mlp

        data = w3_mlp.make_data()
        reference = w3_mlp.numpy_step(data)
        results = harness.run(w3_mlp.IMPLEMENTATIONS, data, reference, repeats=args.repeats)
        print(
            harness.table(
                "W3 — MLP training step 784→256→10, batch 128, float32",
                results,
                floor="numpy analytic",
            )
        )
        print()
    if "W4" in chosen:
        from benchmarks import w4_grad_norm

        x = w4_grad_norm.make_data()
        reference = w4_grad_norm.reference(x)
        results = harness.run(
            w4_grad_norm.IMPLEMENTATIONS, x, reference, repeats=max(3, args.repeats // 3), rtol=1e-7
        )
        print(
            harness.table(
                "W4 — gradient norm of 16 M float32 elements", results, floor="numpy analytic"
            )
        )
        bandwidth = w4_grad_norm.copy_bandwidth(x)
        print(
            f"\ncopy bandwidth {bandwidth / 1e9:.1f} GB/s; one pass over x is "
            f"{x.nbytes / 1e6:.0f} MB ({x.nbytes / bandwidth * 1e3:.1f} ms at that rate)\n"
        )
    if "W5" in chosen:
        from benchmarks import w5_gradient_penalty

        x = w5_gradient_penalty.make_data()
        reference = w5_gradient_penalty.numpy_reference(x)
        results = harness.run(
            w5_gradient_penalty.IMPLEMENTATIONS, x, reference, repeats=args.repeats
        )
        print(
            harness.table(
                "W5 — gradient penalty (second order), 64×128 float64",
                results,
                floor="numpy analytic",
            )
        )
        print()
    if args.memory:
        from benchmarks import memory, w1_pipeline, w4_grad_norm

        for workload, module, title in (
            ("w1_pipeline", w1_pipeline, "W1 peak memory"),
            ("w4_grad_norm", w4_grad_norm, "W4 peak memory"),
        ):
            available = [
                i.name
                for i in module.IMPLEMENTATIONS
                if i.requires is None or harness._module_available(i.requires)
            ]
            print(memory.table(workload, title, available))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
