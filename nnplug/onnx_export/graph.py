"""The ONNX graph an export builds: exporters add nodes and constants to it, layer by layer."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from nnplug import errors
from nnplug.modules.module import Module
from nnplug.onnx_export.names import INPUT_NAME, OUTPUT_NAME, Dims


class Exporters(Protocol):
    """Where the graph finds the exporter of each layer (``lookup.ExporterTable``)."""

    def find(self, module: Module, path: str) -> tuple[str, Exporter, str]:
        """Return the registry name, exporter and its origin for ``module`` at ``path``."""
        ...


class OnnxGraph:
    """The graph being exported, handed to every layer's exporter.

    An exporter calls ``node`` for each ONNX operator it needs and ``constant`` for its
    weights, and returns the name of its output value. ``shape`` gives the shape of a value
    (batch first) and ``layer`` exports a child layer, for containers. Names of nodes and
    constants are prefixed with the layer's place in the model (``layers.2/Gemm``).
    """

    def __init__(self, opset: int, input_dims: Dims, exporters: Exporters) -> None:
        self.opset = opset
        self.input = INPUT_NAME
        self._input_dims = input_dims
        self._exporters = exporters
        self._nodes: list[onnx.NodeProto] = []
        self._initializers: list[onnx.TensorProto] = []
        self._values = {INPUT_NAME}  # what nodes can take: the input, constants, node outputs
        self._names = {INPUT_NAME, OUTPUT_NAME}  # every name given (the output is renamed last)
        self._path = "spec"

    def node(self, op_type: str, inputs: Sequence[str], **attributes: Any) -> str:
        """Add the ONNX operator ``op_type`` (default domain) on ``inputs``; return its output."""
        unknown = [name for name in inputs if name and name not in self._values]
        if unknown:
            raise errors.ExportError(
                f"{op_type} node: unknown input value(s) {', '.join(map(repr, unknown))}; "
                f"inputs must be the layer's input, a constant or an earlier node's output"
            )
        name = self._unique(f"{self._scope()}/{op_type}")
        output = self._unique(f"{name}_output")
        self._values.add(output)
        self._nodes.append(helper.make_node(op_type, list(inputs), [output], name, **attributes))
        return output

    def constant(self, hint: str, value: object) -> str:
        """Add ``value`` as a constant (floats as float32, integers as int64); return its name."""
        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        elif array.dtype.kind in "biu":
            array = array.astype(np.int64)
        else:
            raise TypeError(f"constant {hint!r}: expected a numeric array, got dtype {array.dtype}")
        scope = self._scope().lstrip("/")
        name = self._unique(f"{scope}.{hint}" if scope else hint)
        self._values.add(name)
        self._initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def shape(self, value: str) -> Dims | None:
        """Return the shape of ``value``, batch first (``"batch"``), or None if ONNX can't tell.

        A dimension is an int, a name for a dynamic one, or None when unknown.
        """
        if value == INPUT_NAME:
            return self._input_dims
        for tensor in self._initializers:
            if tensor.name == value:
                return tuple(tensor.dims)
        graph = helper.make_graph(self._nodes, "shapes", [self._input_info()], [])
        graph.initializer.extend(self._initializers)
        inferred = shape_inference.infer_shapes(self._model(graph)).graph
        for info in inferred.value_info:
            if info.name == value and info.type.tensor_type.HasField("shape"):
                return tuple(_dim(d) for d in info.type.tensor_type.shape.dim)
        return None

    def layer(self, module: Module, x: str, key: str) -> str:
        """Export ``module``, the child ``key`` (``"layers[0]"``) of the current layer, on ``x``."""
        parent = self._path
        self._path = f"{parent}.{key}"
        try:
            return self._export(module, x)
        finally:
            self._path = parent

    def export_model(self, model: Module) -> onnx.ModelProto:
        """Export ``model`` as the whole graph, from ``input`` to ``output``."""
        output = self._export(model, INPUT_NAME)
        dims = self.shape(output)
        producers = [node for node in self._nodes if output in node.output]
        if producers:
            for node in self._nodes:
                node.input[:] = [OUTPUT_NAME if name == output else name for name in node.input]
                node.output[:] = [OUTPUT_NAME if name == output else name for name in node.output]
        else:  # the model passes its input (or a constant) through unchanged
            self._nodes.append(helper.make_node("Identity", [output], [OUTPUT_NAME], "/Identity"))
        outputs = [helper.make_tensor_value_info(OUTPUT_NAME, onnx.TensorProto.FLOAT, dims)]
        graph = helper.make_graph(self._nodes, "nnplug", [self._input_info()], outputs)
        graph.initializer.extend(self._initializers)
        return self._model(graph)

    def _export(self, module: Module, x: str) -> str:
        name, exporter, origin = self._exporters.find(module, self._path)
        try:
            output = exporter(module, self, x)
        except errors.ExportError as error:
            if getattr(error, "located", False):
                raise
            raise self._located(f"{self._path} (layer {name!r}): {error}") from error
        except Exception as error:  # an exporter's bug: say whose
            raise self._located(
                f"{self._path} (layer {name!r}): its ONNX exporter, from {origin}, raised {error!r}"
            ) from error
        if not isinstance(output, str) or output not in self._values:
            raise self._located(
                f"{self._path} (layer {name!r}): its ONNX exporter, from {origin}, must "
                f"return the name of its output value, got {output!r}"
            )
        return output

    @staticmethod
    def _located(message: str) -> errors.ExportError:
        error = errors.ExportError(message)
        error.located = True  # type: ignore[attr-defined]
        return error

    def _scope(self) -> str:
        # spec.layers[2].layers[0] -> /layers.2.layers.0
        scope = re.sub(r"\[(\d+)\]", r".\1", self._path.removeprefix("spec"))
        return "/" + scope.lstrip(".")

    def _unique(self, name: str) -> str:
        candidate, count = name, 0
        while candidate in self._names:
            count += 1
            candidate = f"{name}_{count}"
        self._names.add(candidate)
        return candidate

    def _input_info(self) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(
            INPUT_NAME, onnx.TensorProto.FLOAT, list(self._input_dims)
        )

    def _model(self, graph: onnx.GraphProto) -> onnx.ModelProto:
        from nnplug import __version__

        opsets = [helper.make_opsetid("", self.opset)]
        return helper.make_model(
            graph,
            opset_imports=opsets,
            ir_version=helper.find_min_ir_version_for(opsets),
            producer_name="nnplug",
            producer_version=__version__,
        )


def _dim(dim: onnx.TensorShapeProto.Dimension) -> int | str | None:
    if dim.HasField("dim_value"):
        return int(dim.dim_value)
    if dim.HasField("dim_param"):
        return dim.dim_param
    return None


Exporter = Callable[[Module, OnnxGraph, str], str]
"""``exporter(layer, graph, x)``: add the layer's nodes on value ``x``; return its output value."""
