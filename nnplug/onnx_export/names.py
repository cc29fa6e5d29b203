"""The names an exported ONNX model gives its input, output and batch dimension."""

INPUT_NAME = "input"
OUTPUT_NAME = "output"
BATCH = "batch"
