"""Shared test configuration: hypothesis profiles.

CI (and any run with ``CI`` set) uses a derandomized profile so that every run
draws the same examples; locally the default profile explores more.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session", autouse=True)
def warm_kernels() -> None:
    """Compile (or load from cache) the Numba kernels once, before any test is timed."""
    import numpy as np

    from minigrad import kernels

    # Big enough to start Numba (small arrays are answered by NumPy until then).
    for dtype in (np.float32, np.float64):
        x = np.ones(kernels.START_NUMBA_AT, dtype=dtype)
        for name in kernels.JIT_TWINS:
            if name == "sum_of_squares":
                kernels.sum_of_squares(x)
            elif name == "dot":
                kernels.dot(x, x)
            elif name == "accumulate_scaled":
                kernels.accumulate_scaled(np.zeros(x.shape), 1.0, x)
            elif name == "where":
                kernels.where(x > 0, x, np.zeros((), dtype))
            else:
                getattr(kernels, name)(x)
