"""The names an exported ONNX model gives its input, output and batch dimension."""

INPUT_NAME = "input"
"""The name of an exported model's input."""
OUTPUT_NAME = "output"
"""The name of an exported model's output."""
BATCH = "batch"
"""The name of the dynamic batch dimension, first in the input's and output's shapes."""

Dims = tuple[int | str | None, ...]
"""A value's shape, batch first: sizes, ``BATCH``, or None where ONNX cannot tell."""
