"""Bindings to nnplug's compiled kernels (``nnplug._native``), one wrapper module per C file.

Only the modules in this package touch ``ffi``/``lib``; they validate every argument first, so
nothing a caller passes reaches C out of bounds. Importing this package never fails: when the
extension was not built, :func:`native_available` is False and the wrapper modules raise
ImportError.
"""

from __future__ import annotations

import importlib.util

__all__ = ["native_available"]


def native_available() -> bool:
    """Return True when the compiled extension ``nnplug._native`` can be imported."""
    if importlib.util.find_spec("nnplug._native") is None:
        return False
    try:
        import nnplug._native  # noqa: F401
    except ImportError:
        return False
    return True
