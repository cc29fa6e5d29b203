"""Registers nnplug's built-in optimizers."""

from __future__ import annotations

from nnplug import optimizers
from nnplug.hookspecs import hookimpl


@hookimpl
def nnplug_optimizers() -> dict[str, type[optimizers.Optimizer]]:
    """SGD with momentum, Adam and RMSprop."""
    return {"sgd": optimizers.SGD, "adam": optimizers.Adam, "rmsprop": optimizers.RMSprop}
