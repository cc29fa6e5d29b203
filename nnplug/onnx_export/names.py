"""The names an exported ONNX model gives its input, output and batch dimension."""

INPUT_NAME = "input"
OUTPUT_NAME = "output"
BATCH = "batch"

Dims = tuple[int | str | None, ...]
"""A value's shape, batch first: sizes, ``BATCH``, or None where ONNX cannot tell."""
