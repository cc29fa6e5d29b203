"""Swish exported to ONNX through the plugin's ``nnplug_onnx_exporters`` hook, run by ONNX Runtime.

Skipped, saying so, when onnx or onnxruntime is not installed (``pip install onnx onnxruntime``).
"""

from __future__ import annotations

import nnplug_swish
import numpy as np
import pytest

import nnplug
from nnplug import registry

onnx = pytest.importorskip("onnx", reason="needs onnx: pip install onnx onnxruntime")
onnxruntime = pytest.importorskip(
    "onnxruntime", reason="needs onnxruntime: pip install onnxruntime"
)

PLUGIN = "swish"


@pytest.fixture(autouse=True)
def swish_plugin():
    """The plugin as nnplug sees it: from its entry point, or registered here if not installed."""
    if "swish" in registry.layers:
        yield
        return
    nnplug.register_plugin(nnplug_swish, PLUGIN)
    try:
        yield
    finally:
        nnplug.unregister_plugin(PLUGIN)


def run_onnx(path, x: np.ndarray) -> np.ndarray:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x})[0]


@pytest.mark.parametrize("beta", [1.0, 0.5, 1.7])
def test_swish_runs_the_same_in_onnx_runtime(beta, tmp_path):
    nnplug.seed(0)
    model = nnplug.build(
        {
            "type": "sequential",
            "layers": [
                {"type": "linear", "input_size": 6, "output_size": 16},
                {"type": "swish", "beta": beta, "trainable": True},
                {"type": "linear", "input_size": 16, "output_size": 4},
                {"type": "softmax"},
            ],
        }
    )
    path = tmp_path / "swish.onnx"
    nnplug.export_onnx(model, path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = [node.op_type for node in proto.graph.node]
    assert ops == ["Gemm", "Mul", "Sigmoid", "Mul", "Gemm", "Softmax"]
    x = np.random.default_rng(1).normal(scale=3, size=(50, 6)).astype(np.float32)
    expected, got = model.forward(x), run_onnx(path, x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))


def test_swish_alone_on_any_shape(tmp_path):
    layer = nnplug_swish.Swish(beta=0.5)
    path = tmp_path / "swish.onnx"
    nnplug.export_onnx(layer, path, input_shape=(2, 3))
    x = np.linspace(-8, 8, 5 * 6, dtype=np.float32).reshape(5, 2, 3)
    np.testing.assert_allclose(run_onnx(path, x), layer.forward(x), rtol=0, atol=1e-5)
