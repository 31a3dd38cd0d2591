"""Benchmark workloads W1–W5 (see the README); run with ``python -m benchmarks``.

Nothing is imported here, so that ``python -m benchmarks --threads 1`` can pin
the thread count before NumPy or a peer library is loaded.
"""
