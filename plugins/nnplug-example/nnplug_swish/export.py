"""Swish as ONNX nodes, for ``nnplug.export_onnx``: ``Mul(x, Sigmoid(Mul(x, beta)))``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nnplug_swish.swish import Swish

if TYPE_CHECKING:
    from nnplug.onnx_export.graph import OnnxGraph


def export_swish(layer: Swish, graph: OnnxGraph, x: str) -> str:
    """Add the nodes of ``x * sigmoid(beta * x)`` on the value ``x``; return the output's name."""
    beta = graph.constant("beta", layer.beta[0])  # a float32 scalar, broadcast over x
    gate = graph.node("Sigmoid", [graph.node("Mul", [x, beta])])
    return graph.node("Mul", [x, gate])
