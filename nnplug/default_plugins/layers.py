"""Registers nnplug's built-in layers."""

from __future__ import annotations

from nnplug import modules
from nnplug.hookspecs import hookimpl


@hookimpl
def nnplug_layers() -> dict[str, type[modules.Module]]:
    """The built-in layers and the ``Sequential`` container."""
    return {
        "linear": modules.Linear,
        "tanh": modules.Tanh,
        "sigmoid": modules.Sigmoid,
        "relu": modules.ReLU,
        "softmax": modules.Softmax,
        "dropout": modules.Dropout,
        "conv2d": modules.Conv2D,
        "maxpool2d": modules.MaxPool2D,
        "flatten": modules.Flatten,
        "reshape": modules.Reshape,
        "sequential": modules.Sequential,
    }
