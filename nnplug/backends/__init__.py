"""Choosing the backend that layers, losses and optimizers compute on.

The default is ``$NNPLUG_BACKEND`` if set, else the C backend when its extension is built,
else the NumPy backend (with one warning saying the extension is missing).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from nnplug.backends.base import ACTIVATION_KINDS, ActivationKind, Backend
from nnplug.errors import UnknownBackendError

__all__ = [
    "ACTIVATION_KINDS",
    "ActivationKind",
    "Backend",
    "current_backend",
    "get_backend",
    "set_backend",
    "use_backend",
]

_instances: dict[type, Backend] = {}
_current: Backend | None = None


def get_backend(name: str | Backend) -> Backend:
    """Return the backend registered under ``name`` (a Backend instance is returned as is)."""
    if isinstance(name, Backend):
        return name
    from nnplug.registry import backends

    cls = backends[name]
    if cls not in _instances:
        _instances[cls] = cls()
    return _instances[cls]


def current_backend() -> Backend:
    """Return the backend in use, choosing the default on first call."""
    global _current
    if _current is None:
        _current = _default_backend()
    return _current


def set_backend(name: str | Backend) -> Backend:
    """Make ``name`` (a registered name or a Backend) the backend in use, and return it."""
    global _current
    _current = get_backend(name)
    return _current


@contextmanager
def use_backend(name: str | Backend) -> Iterator[Backend]:
    """Use ``name`` as the backend inside a ``with`` block, then restore the previous one."""
    global _current
    previous = _current
    _current = get_backend(name)
    try:
        yield _current
    finally:
        _current = previous


def _default_backend() -> Backend:
    from nnplug.registry import backends

    requested = os.environ.get("NNPLUG_BACKEND", "").strip()
    if requested == "c" and "c" not in backends:
        raise UnknownBackendError(
            "NNPLUG_BACKEND=c, but nnplug's C extension (nnplug._native) was not built "
            "when nnplug was installed. Reinstall with a C compiler available "
            "(pip install --force-reinstall --no-deps .), or unset NNPLUG_BACKEND."
        )
    if requested:
        return get_backend(requested)
    if "c" in backends:
        return get_backend("c")
    warnings.warn(
        "nnplug's C extension (nnplug._native) is not built, so nnplug uses its slower NumPy "
        "backend. Reinstall with a C compiler available to build it.",
        RuntimeWarning,
        stacklevel=3,
    )
    return get_backend("numpy")
