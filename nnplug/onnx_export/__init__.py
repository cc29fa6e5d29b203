"""ONNX export: ``export_onnx(model, path)`` writes a model that ONNX Runtime and others run.

The exported graph has one input, ``"input"``, float32 and shaped ``("batch", *input_shape)``
with a dynamic batch dimension, and one output, ``"output"``. Weights are stored as float32
whatever the model's dtype. Every built-in layer exports (see ``nnplug.onnx_export.layers``);
a plugin's layer exports when a plugin's ``nnplug_onnx_exporters()`` hook gives its
exporter. Needs the ``onnx`` package: ``pip install "nnplug[onnx]"``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from nnplug import errors
from nnplug.atomic_files import atomic_file
from nnplug.modules.module import Module
from nnplug.onnx_export.names import BATCH, INPUT_NAME, OUTPUT_NAME

if TYPE_CHECKING:
    import onnx

__all__ = [
    "BATCH",
    "DEFAULT_OPSET",
    "INPUT_NAME",
    "MIN_OPSET",
    "OUTPUT_NAME",
    "export_onnx",
    "to_onnx",
]

DEFAULT_OPSET = 17
"""The opset exports use unless told otherwise: ONNX Runtime 1.12 (2022) and later read it."""
MIN_OPSET = 13
"""The oldest opset nnplug exports to: before 13, Softmax flattened the trailing axes."""
INSTALL_HINT = 'pip install "nnplug[onnx]"'


def export_onnx(
    model: Module,
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] | None = None,
    opset: int | None = None,
) -> None:
    """Write ``model`` to ``path`` as an ONNX model, atomically.

    ``input_shape`` is the shape of one sample (``(784,)``, or ``(1, 28, 28)`` for images);
    by default ``(input_size,)`` of the model's first layer. ``opset`` is the ONNX operator
    set (default ``DEFAULT_OPSET``). The model is built and checked with ``onnx.checker``
    in memory first: on any error (ExportError for a layer without an exporter, naming it
    and its plugin) nothing is written, and a file already at ``path`` is left as it was.
    """
    proto = to_onnx(model, input_shape=input_shape, opset=opset)
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT,
            f"cannot write the ONNX model: no directory {str(path.parent)!r}",
            str(path),
        )
    try:
        with atomic_file(path, "the ONNX model") as file:
            file.write(proto.SerializeToString())
    except OSError as error:
        reason = f"cannot write the ONNX model: {error.strerror or error}"
        raise type(error)(error.errno, reason, str(path)) from None


def to_onnx(
    model: Module, *, input_shape: Sequence[int] | None = None, opset: int | None = None
) -> onnx.ModelProto:
    """Return ``model`` as a checked ONNX ``ModelProto`` (the arguments as for ``export_onnx``)."""
    if not isinstance(model, Module):
        raise TypeError(f"export_onnx: expected a Module, got {type(model).__name__}")
    onnx = _import_onnx()
    from nnplug.onnx_export.graph import OnnxGraph
    from nnplug.onnx_export.lookup import exporters

    opset = _check_opset(opset, onnx.defs.onnx_opset_version())
    sample = _input_shape(model, input_shape)
    proto = OnnxGraph(opset, (BATCH, *sample), exporters()).export_model(model)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise errors.ExportError(f"the exported model fails onnx.checker: {error}") from error
    return proto


def _import_onnx() -> ModuleType:
    try:
        import onnx
    except ImportError as error:
        raise errors.MissingDependencyError(
            f"ONNX export needs the onnx package: {INSTALL_HINT}"
        ) from error
    return onnx


def _check_opset(opset: object, newest: int) -> int:
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"export_onnx: opset must be an integer from {MIN_OPSET} to {newest} (the newest "
            f"the installed onnx knows), got {opset!r}"
        )
    return opset


def _input_shape(model: Module, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    if input_shape is None:
        size = getattr(model, "input_size", None)
        if size is None:
            raise errors.ExportError(
                f"cannot tell the input shape of {type(model).__name__}: its first layer does "
                f"not fix it; pass the shape of one sample, e.g. input_shape=(1, 28, 28)"
            )
        return (int(size),)
    if (
        isinstance(input_shape, (str, bytes))
        or not isinstance(input_shape, Sequence)
        or not input_shape
        or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1
            for n in input_shape
        )
    ):
        raise ValueError(
            f"export_onnx: input_shape must be the shape of one sample, a non-empty sequence "
            f"of positive integers such as (784,) or (1, 28, 28); got {input_shape!r}"
        )
    return tuple(int(n) for n in input_shape)
