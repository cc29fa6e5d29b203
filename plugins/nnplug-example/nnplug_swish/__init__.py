"""nnplug-swish: the Swish activation, registered with nnplug through the ``nnplug`` entry point."""

from __future__ import annotations

import nnplug
from nnplug_swish.export import export_swish
from nnplug_swish.swish import Swish

__all__ = ["Swish", "export_swish", "nnplug_layers", "nnplug_onnx_exporters"]


@nnplug.hookimpl
def nnplug_layers() -> dict[str, type[Swish]]:
    """Register ``Swish`` under the name ``swish``."""
    return {"swish": Swish}


# optionalhook: an nnplug too old to export ONNX ignores this hook instead of the plugin.
@nnplug.hookimpl(optionalhook=True)
def nnplug_onnx_exporters() -> dict[str, object]:
    """Give ``nnplug.export_onnx`` the ONNX nodes of ``swish``."""
    return {"swish": export_swish}
