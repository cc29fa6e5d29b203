"""ONNX exporters for nnplug's own layers, keyed by registry name.

Each reads the layer's ``config()`` (its spec arguments) and ``parameters()``, so it relies
only on what a saved model records. A config key an exporter does not know is an error, not
ignored: a new layer option must not be exported wrongly.

=============  ==================================================================
layer          ONNX
=============  ==================================================================
sequential     its layers' nodes, in order
linear         Gemm (transB=1): ``x W^T + b``
tanh           Tanh
sigmoid        Sigmoid
relu           Relu
softmax        Softmax (axis=-1, on rows)
dropout        Identity (an exported model is for inference)
conv2d         Conv (after a Reshape when it takes rows and has an ``input_shape``)
maxpool2d      MaxPool (likewise)
flatten        Flatten (axis=1)
reshape        Reshape to ``(batch, *shape)``
=============  ==================================================================
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from nnplug.errors import ExportError
from nnplug.modules.module import Module
from nnplug.onnx_export.graph import Exporter, OnnxGraph
from nnplug.onnx_export.names import BATCH, Dims


def export_sequential(layer: Module, graph: OnnxGraph, x: str) -> str:
    """Each layer in turn, the output of one the input of the next."""
    for index, child in enumerate(layer):  # type: ignore[attr-defined]
        x = graph.layer(child, x, f"layers[{index}]")
    return x


def export_linear(layer: Module, graph: OnnxGraph, x: str) -> str:
    """``x W^T + b`` as one Gemm, on rows ``(batch, input_size)``."""
    config = _config(layer, {"input_size", "output_size", "init", "dtype"})
    inputs, outputs = config["input_size"], config["output_size"]
    weights, bias = _parameters(layer, [(outputs, inputs), (outputs,)])
    _expect_rows(graph, x, inputs)
    return graph.node(
        "Gemm", [x, graph.constant("weights", weights), graph.constant("bias", bias)], transB=1
    )


def element_wise(op_type: str) -> Exporter:
    """An exporter for a layer that is the ONNX operator ``op_type`` applied element-wise."""

    def export(layer: Module, graph: OnnxGraph, x: str) -> str:
        return graph.node(op_type, [x])

    export.__doc__ = f"ONNX {op_type}, element-wise."
    return export


def export_softmax(layer: Module, graph: OnnxGraph, x: str) -> str:
    """Softmax of each row ``(batch, features)``."""
    dims = graph.shape(x)
    if dims is not None and len(dims) != 2:
        raise ExportError(f"expected rows (batch, features), got inputs shaped {describe(dims)}")
    return graph.node("Softmax", [x], axis=-1)


def export_dropout(layer: Module, graph: OnnxGraph, x: str) -> str:
    """Identity: dropout only acts in training, and an exported model only infers."""
    return graph.node("Identity", [x])


def export_conv2d(layer: Module, graph: OnnxGraph, x: str) -> str:
    """A 2-D cross-correlation with zero padding, on images ``(batch, channels, h, w)``."""
    config = _config(
        layer,
        {"in_channels", "out_channels", "kernel_size", "stride", "padding", "input_shape"}
        | {"init", "dtype"},
    )
    channels, filters = config["in_channels"], config["out_channels"]
    kernel = _pair(config, "kernel_size", None)
    stride = _pair(config, "stride", 1)
    padding = _pair(config, "padding", 0, minimum=0)
    weights, bias = _parameters(layer, [(filters, channels, *kernel), (filters,)])
    x = _as_images(graph, x, config.get("input_shape"), channels, kernel, padding)
    return graph.node(
        "Conv",
        [x, graph.constant("weights", weights), graph.constant("bias", bias)],
        kernel_shape=list(kernel),
        strides=list(stride),
        pads=[padding[0], padding[1], padding[0], padding[1]],
    )


def export_maxpool2d(layer: Module, graph: OnnxGraph, x: str) -> str:
    """The maximum of each window; windows that do not fit at the edges are left out."""
    config = _config(layer, {"kernel_size", "stride", "input_shape"})
    kernel = _pair(config, "kernel_size", None)
    stride = _pair(config, "stride", kernel)
    x = _as_images(graph, x, config.get("input_shape"), None, kernel, (0, 0))
    return graph.node("MaxPool", [x], kernel_shape=list(kernel), strides=list(stride))


def export_flatten(layer: Module, graph: OnnxGraph, x: str) -> str:
    """Each sample as one row: ``(batch, ...)`` -> ``(batch, features)``."""
    _config(layer, set())
    return graph.node("Flatten", [x], axis=1)


def export_reshape(layer: Module, graph: OnnxGraph, x: str) -> str:
    """Each sample reshaped to ``shape``; the batch dimension is kept (the 0 in the target)."""
    shape = _config(layer, {"shape"})["shape"]
    if not _positive_ints(shape):
        raise ExportError(f"expected a shape of positive integers, got {shape!r}")
    dims = graph.shape(x)
    if dims is not None and _known(dims[1:]) and math.prod(dims[1:]) != math.prod(shape):
        raise ExportError(
            f"cannot reshape inputs shaped {describe(dims)} to (batch, "
            f"{', '.join(map(str, shape))}): the sizes differ"
        )
    return graph.node("Reshape", [x, graph.constant("shape", [0, *shape])])


BUILTIN: dict[str, Exporter] = {
    "sequential": export_sequential,
    "linear": export_linear,
    "tanh": element_wise("Tanh"),
    "sigmoid": element_wise("Sigmoid"),
    "relu": element_wise("Relu"),
    "softmax": export_softmax,
    "dropout": export_dropout,
    "conv2d": export_conv2d,
    "maxpool2d": export_maxpool2d,
    "flatten": export_flatten,
    "reshape": export_reshape,
}


def describe(dims: Dims | None) -> str:
    """A shape for messages: ``(batch, 1, 28, 28)``."""
    if dims is None:
        return "an unknown shape"
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _config(layer: Module, known: Collection[str]) -> dict[str, Any]:
    config = dict(layer.config())
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise ExportError(
            f"the ONNX exporter does not know the option(s) {', '.join(map(repr, unknown))} "
            f"of this layer (it knows {', '.join(map(repr, sorted(known))) or 'none'})"
        )
    return config


def _parameters(layer: Module, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    params = [np.asarray(param) for param in layer.parameters()]
    got = [param.shape for param in params]
    if got != [tuple(shape) for shape in shapes]:
        raise ExportError(f"expected parameters shaped {list(shapes)}, got {got}")
    return params


def _pair(config: dict[str, Any], key: str, default: object, minimum: int = 1) -> tuple[int, int]:
    value = config.get(key, default)
    if value is None:
        value = default
    items = list(value) if isinstance(value, (list, tuple)) else [value, value]
    if len(items) != 2 or not _positive_ints(items, minimum):
        raise ExportError(f"{key} must be an integer >= {minimum} or a pair of them, got {value!r}")
    return int(items[0]), int(items[1])


def _positive_ints(values: object, minimum: int = 1) -> bool:
    return isinstance(values, (list, tuple)) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum
        for v in values
    )


def _known(dims: Sequence[int | str | None]) -> bool:
    return all(isinstance(d, int) for d in dims)


def _expect_rows(graph: OnnxGraph, x: str, features: int) -> None:
    dims = graph.shape(x)
    # A dimension ONNX cannot tell (None or a name) is left for the checker to judge.
    if dims is not None and (len(dims) != 2 or (isinstance(dims[1], int) and dims[1] != features)):
        raise ExportError(
            f"expected rows ({BATCH}, {features}), got inputs shaped {describe(dims)}"
        )


def _as_images(
    graph: OnnxGraph,
    x: str,
    input_shape: Sequence[int] | None,
    channels: int | None,
    kernel: tuple[int, int],
    padding: tuple[int, int],
) -> str:
    """Return ``x`` as images: rows of ``prod(input_shape)`` are reshaped, as the layer does."""
    dims = graph.shape(x)
    if input_shape is not None and dims is not None and len(dims) == 2:
        if dims[1] != math.prod(input_shape):
            raise ExportError(
                f"expected rows ({BATCH}, {math.prod(input_shape)}) or images "
                f"({BATCH}, {', '.join(map(str, input_shape))}), got inputs shaped "
                f"{describe(dims)}"
            )
        x = graph.node("Reshape", [x, graph.constant("image_shape", [0, *input_shape])])
        dims = (dims[0], *input_shape)
    if dims is None:
        return x
    expected = f"images ({BATCH}, {channels or 'channels'}, height, width)"
    if len(dims) != 4 or (channels is not None and dims[1] != channels):
        raise ExportError(f"expected {expected}, got inputs shaped {describe(dims)}")
    for axis in (0, 1):
        size = dims[2 + axis]
        if isinstance(size, int) and size + 2 * padding[axis] < kernel[axis]:
            raise ExportError(
                f"expected images of at least {kernel[0]}x{kernel[1]} pixels once padded by "
                f"{padding}, got inputs shaped {describe(dims)}"
            )
    return x
