"""How many threads nnplug's C kernels may use.

The default is the number of CPUs this process may run on (at most 8), or
``$NNPLUG_NUM_THREADS``. The training plan shares batches of 32 samples or more among
them by samples, and smaller batches only where the model's Linear layers hold 32,768
weights or more per thread, by the rows of those weights; the convolution kernels split
large batches when called layer by layer. Results with different thread counts agree to
float32 rounding, not bit for bit. A count must lie in ``1..MAX_THREADS``.
"""

from __future__ import annotations

import os

ENV_VARIABLE = "NNPLUG_NUM_THREADS"
DEFAULT_MAX = 8
MAX_THREADS = 256  # far above any useful count here, far below what the C side can hold

_threads: int | None = None


def get_num_threads() -> int:
    """Return the number of threads nnplug's kernels may use."""
    global _threads
    if _threads is None:
        _threads = _from_environment()
    return _threads


def set_num_threads(threads: int) -> None:
    """Let nnplug's kernels use up to ``threads`` threads (1: single-threaded, at most 256)."""
    global _threads
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise ValueError(
            f"set_num_threads: expected an integer from 1 to {MAX_THREADS}, got {threads!r}"
        )
    _threads = threads


def _from_environment() -> int:
    value = os.environ.get(ENV_VARIABLE, "").strip()
    if not value:
        return min(_usable_cpus(), DEFAULT_MAX)
    threads = int(value) if value.isdigit() and len(value) <= 4 else 0
    if not 1 <= threads <= MAX_THREADS:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ValueError(
            f"{ENV_VARIABLE} must be a whole number from 1 to {MAX_THREADS}, got {shown!r}"
        )
    return threads


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1
