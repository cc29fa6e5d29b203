"""Comparing a backend's results with the reference backend's, at each dtype's tolerance."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from nnplug import registry
from nnplug.backends import Backend, current_backend
from nnplug.testing.results import Checker, Failed, skip

REFERENCE_BACKEND = "numpy"
"""The backend every other one is compared with: the executable specification."""

# Float32 results of different backends differ by rounding; float64 ones by far less.
TOLERANCE: dict[np.dtype, tuple[float, float]] = {
    np.dtype(np.float32): (1e-4, 1e-5),
    np.dtype(np.float64): (1e-9, 1e-12),
}


def run_parity(checker: Checker, check_one: Callable[[str], None], suffix: str = "") -> None:
    """Run ``check_one(backend)`` as a check for every installed backend but the reference."""
    if REFERENCE_BACKEND not in registry.backends:
        reason = f"the {REFERENCE_BACKEND!r} reference backend is not installed"
        checker.run(f"parity{suffix}", lambda: skip(reason))
        return
    for backend in registry.backends:
        if backend != REFERENCE_BACKEND:
            checker.run(f"parity {backend}{suffix}", functools.partial(check_one, backend))


def reference() -> str | Backend:
    """The reference backend, or the current one when the reference is not installed."""
    if REFERENCE_BACKEND in registry.backends:
        return REFERENCE_BACKEND
    return current_backend()


def compare_all(
    names: list[str],
    actual: list[Any],
    expected: list[Any],
    source: str,
    dtype: type | np.dtype = np.float32,
) -> None:
    """Raise Failed naming the first of ``actual`` not close to ``expected`` for ``dtype``."""
    if len(actual) != len(expected):
        raise Failed(f"{source}: {len(actual)} results, the reference has {len(expected)}")
    for name, got, want in zip(names, actual, expected, strict=True):
        if not isinstance(want, (np.ndarray, float, np.floating)):
            continue
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            raise Failed(f"{name}: {source} gives shape {got.shape}, the reference {want.shape}")
        rtol, atol = TOLERANCE[np.dtype(dtype)]
        scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
        if not np.allclose(got, want, rtol=rtol, atol=atol * scale):
            error = float(np.max(np.abs(got.astype(np.float64) - want)))
            raise Failed(
                f"{name}: {source} differs from the reference by up to {error:.3g} "
                f"(tolerance rtol={rtol:g}, atol={atol * scale:.3g})"
            )
