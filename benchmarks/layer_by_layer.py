"""The C backend with its training plan turned off, to time calling the layers one by one."""

from __future__ import annotations

from nnplug._c.backend import CBackend


class LayerByLayerC(CBackend):
    """The C backend without its training plan: every layer called from Python."""

    name = "c-layers"

    def plan_runner(self, plan):  # noqa: ANN001, ANN201
        return None
