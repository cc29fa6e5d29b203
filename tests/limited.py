"""Running a snippet in a fresh interpreter with a memory limit and a timeout.

For the regressions whose failure is a blow-up or a hang: a bug shows as a MemoryError,
a kill or a timeout in the child, never as a stuck or swapping test run.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap

GIB = 1 << 30


def run_limited(
    code: str, *, memory: int = GIB, timeout: float = 5.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``python -c`` under RLIMIT_AS ``memory``; fail the test on a timeout."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    child_env = {
        key: value
        for key, value in os.environ.items()
        # Sanitizer runtimes reserve terabytes of address space: not under RLIMIT_AS.
        if key not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")
    }
    child_env.update({"OPENBLAS_NUM_THREADS": "1", **(env or {})})
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit,
            env=child_env,
        )
    except subprocess.TimeoutExpired as expired:
        raise AssertionError(f"timed out after {timeout} s (a hang?): {code}") from expired
