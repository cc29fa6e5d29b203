"""nnplug's pure-NumPy backend, registered through the ``nnplug`` entry-point group."""

from __future__ import annotations

import nnplug

from .backend import NumpyBackend

__all__ = ["NumpyBackend", "nnplug_backends"]


@nnplug.hookimpl
def nnplug_backends() -> dict[str, type[NumpyBackend]]:
    """Register the NumPy backend under the name ``numpy``."""
    return {"numpy": NumpyBackend}
