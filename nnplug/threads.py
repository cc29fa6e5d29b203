"""How many threads nnplug's C kernels may use.

The default is the number of CPUs this process may run on (at most 8), or
``$NNPLUG_NUM_THREADS``. Only the fused MLP trainer uses more than one, and only for
batches of at least 32 samples, so that small work is never split. Results with different
thread counts agree to float32 rounding, not bit for bit.
"""

from __future__ import annotations

import os

ENV_VARIABLE = "NNPLUG_NUM_THREADS"
DEFAULT_MAX = 8

_threads: int | None = None


def get_num_threads() -> int:
    """Return the number of threads nnplug's kernels may use."""
    global _threads
    if _threads is None:
        _threads = _from_environment()
    return _threads


def set_num_threads(threads: int) -> None:
    """Let nnplug's kernels use up to ``threads`` threads (1: single-threaded)."""
    global _threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {threads!r}")
    _threads = threads


def _from_environment() -> int:
    value = os.environ.get(ENV_VARIABLE, "").strip()
    if not value:
        return min(_usable_cpus(), DEFAULT_MAX)
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{ENV_VARIABLE} must be a positive integer, got {value!r}")
    return threads


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1
