"""nnplug-swish: the Swish activation, registered with nnplug through the ``nnplug`` entry point."""

from __future__ import annotations

import nnplug
from nnplug_swish.swish import Swish

__all__ = ["Swish", "nnplug_layers"]


@nnplug.hookimpl
def nnplug_layers() -> dict[str, type[Swish]]:
    """Register ``Swish`` under the name ``swish``."""
    return {"swish": Swish}
