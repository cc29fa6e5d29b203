"""Registers nnplug's built-in losses."""

from __future__ import annotations

from nnplug import losses
from nnplug.hookspecs import hookimpl


@hookimpl
def nnplug_losses() -> dict[str, type[losses.Loss]]:
    """Mean squared error and cross-entropy."""
    return {"mse": losses.MSE, "cross_entropy": losses.CrossEntropy}
