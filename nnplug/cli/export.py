"""``nnplug export MODEL.nnp OUT.onnx``: a saved model as an ONNX file, written atomically."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nnplug
from nnplug import onnx_export
from nnplug.errors import ExportError, MissingDependencyError, ModelFileError, NnplugLookupError


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``export`` command."""
    parser = commands.add_parser("export", help="write a saved model as an ONNX file")
    parser.add_argument("model", type=Path, help="a model saved with --save or nnplug.save")
    parser.add_argument("output", type=Path, help="the ONNX file to write (e.g. model.onnx)")
    parser.add_argument(
        "--input-shape",
        type=_shape,
        metavar="N[,N...]",
        help="the shape of one sample, e.g. 1,28,28 (default: the first layer's input size)",
    )
    parser.add_argument(
        "--opset",
        type=int,
        help=f"the ONNX operator set to use (default: {onnx_export.DEFAULT_OPSET})",
    )
    parser.set_defaults(run=export)


def export(args: argparse.Namespace) -> int:
    """Export the model; print what was written, or one line on stderr and exit 1."""
    try:
        model = nnplug.load(args.model)
        nnplug.export_onnx(model, args.output, input_shape=args.input_shape, opset=args.opset)
    except OSError as error:
        print(f"nnplug: error: {error.filename or args.output}: {error.strerror}", file=sys.stderr)
        return 1
    except (
        ExportError,
        MissingDependencyError,
        ModelFileError,
        NnplugLookupError,
        ValueError,
    ) as error:
        print(f"nnplug: error: {error}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.output}: input {onnx_export.INPUT_NAME!r}, output "
        f"{onnx_export.OUTPUT_NAME!r}, opset {args.opset or onnx_export.DEFAULT_OPSET}"
    )
    return 0


def _shape(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated positive integers."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be positive integers separated by commas, e.g. 1,28,28; got {text!r}"
        ) from None
    if not all(n >= 1 for n in shape):
        raise argparse.ArgumentTypeError(f"must be positive integers, got {text!r}")
    return shape
