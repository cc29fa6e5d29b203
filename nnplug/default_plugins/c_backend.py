"""The built-in plugin that registers the C backend when its extension was built."""

from __future__ import annotations

from nnplug._c import native_available
from nnplug.hookspecs import hookimpl

__all__ = ["native_available", "nnplug_backends"]


@hookimpl
def nnplug_backends() -> dict[str, type]:
    """Register the C backend as ``c``, or nothing when ``nnplug._native`` is not built.

    An empty mapping lets backend selection fall back to NumPy and warn once.
    """
    if not native_available():
        return {}
    from nnplug._c.backend import CBackend

    return {"c": CBackend}
