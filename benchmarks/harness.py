"""What the benchmark scripts share: OpenBLAS's environment cleaned before NumPy loads, and
each contender timed in a child process of its own.

Import it, and call ``without_slow_blas()``, before anything imports NumPy. ``best_seconds``
times one call of a kernel.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

SLOW_BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Set, they make OpenBLAS (inside NumPy and scikit-learn) skip its best kernel."""

Result = TypeVar("Result")


def without_slow_blas() -> None:
    """Re-execute this script with SLOW_BLAS_VARIABLES removed from its environment, if any
    is set (once: the new process finds none)."""
    if any(name in os.environ for name in SLOW_BLAS_VARIABLES):
        clean = {k: v for k, v in os.environ.items() if k not in SLOW_BLAS_VARIABLES}
        os.execve(sys.executable, [sys.executable, *sys.argv], clean)


def in_child(function: Callable[..., Result], *args: object) -> Result:
    """``function(*args)``, called in a new child process (spawned, not forked), so that no
    contender's thread pools (PyTorch's OpenMP threads spin for a while after it) slow the
    next one."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def best_seconds(call: Callable[[], object], budget: float = 0.05) -> float:
    """Best time per call over seven rounds of about ``budget`` seconds each."""
    call()
    start = time.perf_counter()
    call()
    reps = max(3, int(budget / max(time.perf_counter() - start, 1e-7)))
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(reps):
            call()
        best = min(best, (time.perf_counter() - start) / reps)
    return best
