"""Run the benchmark workloads: ``python -m benchmarks [--only W2,W3] [--threads 1]``.

``--threads 1`` pins the process to one core and every math library to one
thread (set before NumPy or any peer is imported), which is how the issue
targets are stated. Results print as Markdown tables.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from typing import Any

# name -> (module, its reference function, table title, extra table/run options)
WORKLOAD_SETUP = {
    "W1": ("w1_pipeline", "numpy_reference", "W1 — regularizer pipeline, 32×2048 float32", {}),
    "W2": (
        "w2_overhead",
        "numpy_reference",
        "W2 — per-op overhead (200-link chain, forward + backward)",
        {"per_label": "µs / link"},
    ),
    "W3": ("w3_mlp", "numpy_step", "W3 — MLP training step 784→256→10, batch 128, float32", {}),
    "W4": (
        "w4_grad_norm",
        "reference",
        "W4 — gradient norm of 16 M float32 elements",
        {"rtol": 1e-7, "fewer_repeats": True},
    ),
    "W5": (
        "w5_gradient_penalty",
        "numpy_reference",
        "W5 — gradient penalty (second order), 64×128 float64",
        {},
    ),
}
WORKLOADS = tuple(WORKLOAD_SETUP)


def _run_workload(name: str, harness: Any, repeats: int) -> None:
    """Validate, time and print one workload's table."""
    module_name, reference_name, title, options = WORKLOAD_SETUP[name]
    module = importlib.import_module(f"benchmarks.{module_name}")
    data = module.make_data()
    reference = getattr(module, reference_name)(data)
    if options.get("fewer_repeats"):  # each sample moves hundreds of MB
        repeats = max(3, repeats // 3)
    results = harness.run(
        module.IMPLEMENTATIONS, data, reference, repeats=repeats, rtol=options.get("rtol", 1e-4)
    )
    table_options = {}
    if "per_label" in options:
        table_options = {"per": module.LINKS, "per_label": options["per_label"]}
    print(harness.table(title, results, floor="numpy analytic", **table_options))
    if name == "W4":
        bandwidth = module.copy_bandwidth(data)
        print(
            f"\ncopy bandwidth {bandwidth / 1e9:.1f} GB/s; one pass over x is "
            f"{data.nbytes / 1e6:.0f} MB ({data.nbytes / bandwidth * 1e3:.1f} ms at that rate)"
        )
    print()


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
    parser.add_argument(
        "--first-call",
        action="store_true",
        help="also time the compiled rows' first call in new processes (cold and warm cache)",
    )
    args = parser.parse_args(argv)
    # A current NumPy's BLAS is slower with these set (read when NumPy loads, below);
    # tests and CI keep them.
    for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(variable, None)
    if args.threads is not None:
        _pin_threads(args.threads)

    import numpy as np

    from benchmarks import harness
    from minigrad.memory import tune_allocator

    # minigrad leaves the allocator alone unless asked; a benchmark process asks, as the
    # demo does (see minigrad.memory for what it changes and what it gains).
    tuned = tune_allocator()

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
        f"threads {args.threads or 'default'}, malloc tuned {'yes' if tuned else 'no'}"
    )
    chosen = {w.strip().upper() for w in args.only.split(",")}
    unknown = chosen - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")

    for name in WORKLOADS:
        if name in chosen:
            _run_workload(name, harness, args.repeats)
    if args.first_call:
        from benchmarks import first_call

        print(first_call.table())
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
