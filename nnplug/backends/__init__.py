"""Choosing the backend that layers, losses and optimizers compute on.

The default is ``$NNPLUG_BACKEND`` if set, else the C backend when its extension is built,
else the NumPy backend (with one warning saying the extension is missing). ``set_backend``
changes it for the whole process; ``use_backend`` overrides it inside a ``with`` block for
the current thread or async task only (a ``contextvars.ContextVar``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from nnplug.backends.base import ACTIVATION_KINDS, ActivationKind, Backend
from nnplug.errors import UnknownBackendError
from nnplug.registry import backends

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
_process_default: Backend | None = None
_override: ContextVar[Backend | None] = ContextVar("nnplug_backend", default=None)


def get_backend(name: str | Backend) -> Backend:
    """Return the backend registered under ``name`` (a Backend instance is returned as is)."""
    if isinstance(name, Backend):
        return name
    cls = backends[name]
    if cls not in _instances:
        _instances[cls] = cls()
    return _instances[cls]


def current_backend() -> Backend:
    """Return the backend in use here: the innermost ``use_backend``, else the process's."""
    global _process_default
    override = _override.get()
    if override is not None:
        return override
    if _process_default is None:
        _process_default = _default_backend()
    return _process_default


def set_backend(name: str | Backend) -> Backend:
    """Make ``name`` (a registered name or a Backend) the process's backend, and return it."""
    global _process_default
    _process_default = get_backend(name)
    return _process_default


@contextmanager
def use_backend(name: str | Backend) -> Iterator[Backend]:
    """Use ``name`` as the backend inside a ``with`` block, in this thread or task only, then
    restore the one before."""
    backend = get_backend(name)
    token = _override.set(backend)
    try:
        yield backend
    finally:
        _override.reset(token)


def _default_backend() -> Backend:
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
