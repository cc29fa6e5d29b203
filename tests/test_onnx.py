"""ONNX export (``nnplug.export_onnx``, ``nnplug export``), checked by ONNX Runtime.

Every exported model is run by ONNX Runtime and its outputs compared with nnplug's: within
1e-5 (absolute, float32) and the same predicted class. Skipped, saying so, when onnx or
onnxruntime is not installed (both are in the test extra).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnplug
from nnplug import cli, errors, modules, recipes
from nnplug.datasets import download_mnist
from nnplug.onnx_export import DEFAULT_OPSET, INPUT_NAME, MIN_OPSET, OUTPUT_NAME
from nnplug.plugins import PluginWarning

try:
    import onnx
    import onnxruntime
except ImportError as missing:
    pytest.skip(
        f"ONNX export tests need onnx and onnxruntime ({missing}): pip install -e '.[test]'",
        allow_module_level=True,
    )

TOLERANCE = 1e-5


# --- helpers ------------------------------------------------------------------------------------


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    """The output ONNX Runtime computes for ``x`` with the model at ``path``."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # the machine is shared; these models are tiny
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]


def inference_mode(model: modules.Module) -> modules.Module:
    """The model as an exported one behaves: dropout off (when modules have ``eval``)."""
    if hasattr(model, "eval"):
        model.eval()
    return model


def assert_same_outputs(model: modules.Module, path: Path, x: np.ndarray) -> float:
    """Check ONNX Runtime against nnplug on ``x``; return the largest absolute difference."""
    expected = inference_mode(model).forward(x)
    got = run_onnx(path, x)
    assert got.dtype == np.float32
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    if expected.ndim == 2 and expected.shape[1] > 1:
        np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    return float(np.max(np.abs(got - expected), initial=0.0))


def needs(*classes: str):
    """Skip unless every one of ``nnplug.modules.<class>`` exists (layers still being added)."""
    missing = [name for name in classes if not hasattr(modules, name)]
    return pytest.mark.skipif(
        bool(missing), reason=f"nnplug.modules.{', '.join(missing)} not in this nnplug yet"
    )


def sequential(*layers: dict) -> dict:
    return {"type": "sequential", "layers": list(layers)}


def linear(n_in: int, n_out: int) -> dict:
    return {"type": "linear", "input_size": n_in, "output_size": n_out}


# --- every built-in layer -----------------------------------------------------------------------

# (id, model spec, input_shape for the export (None: the model's input_size), sample shape)
LAYER_CASES = [
    pytest.param(linear(5, 3), None, (5,), id="linear"),
    pytest.param({"type": "tanh"}, (6,), (6,), id="tanh"),
    pytest.param({"type": "sigmoid"}, (2, 3), (2, 3), id="sigmoid"),
    pytest.param({"type": "relu"}, (6,), (6,), id="relu"),
    pytest.param({"type": "softmax"}, (7,), (7,), id="softmax"),
    pytest.param(
        sequential(linear(4, 6), {"type": "relu"}, linear(6, 3), {"type": "sigmoid"}),
        None,
        (4,),
        id="sequential",
    ),
    pytest.param(
        sequential(
            linear(4, 6),
            sequential({"type": "tanh"}, linear(6, 5), sequential()),
            {"type": "softmax"},
        ),
        None,
        (4,),
        id="nested-sequential",
    ),
    pytest.param(sequential(), (3,), (3,), id="empty-sequential"),
    pytest.param(
        sequential(linear(4, 6), {"type": "dropout", "rate": 0.5}, linear(6, 2)),
        None,
        (4,),
        id="dropout",
        marks=needs("Dropout"),
    ),
    pytest.param(
        sequential(
            {
                "type": "conv2d",
                "in_channels": 1,
                "out_channels": 3,
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
            },
            {"type": "relu"},
            {"type": "flatten"},
            linear(48, 4),
        ),
        (1, 8, 8),
        (1, 8, 8),
        id="conv2d",
        marks=needs("Conv2D", "Flatten"),
    ),
    pytest.param(
        {
            "type": "conv2d",
            "in_channels": 2,
            "out_channels": 3,
            "kernel_size": [2, 3],
            "stride": [1, 2],
            "padding": [1, 0],
            "input_shape": [2, 5, 6],
        },
        None,
        (60,),
        id="conv2d-pairs-on-rows",
        marks=needs("Conv2D"),
    ),
    pytest.param(
        {"type": "maxpool2d", "kernel_size": 2},
        (3, 5, 4),
        (3, 5, 4),
        id="maxpool2d",
        marks=needs("MaxPool2D"),
    ),
    pytest.param(
        {"type": "maxpool2d", "kernel_size": [2, 3], "stride": 1, "input_shape": [1, 4, 5]},
        None,
        (20,),
        id="maxpool2d-stride-on-rows",
        marks=needs("MaxPool2D"),
    ),
    pytest.param({"type": "flatten"}, (2, 3, 4), (2, 3, 4), id="flatten", marks=needs("Flatten")),
    pytest.param(
        {"type": "reshape", "shape": [2, 3]}, None, (6,), id="reshape", marks=needs("Reshape")
    ),
    pytest.param(
        sequential(
            {"type": "reshape", "shape": [1, 4, 4]},
            {"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3},
            {"type": "maxpool2d", "kernel_size": 2},
            {"type": "flatten"},
            linear(2, 3),
            {"type": "softmax"},
        ),
        None,
        (16,),
        id="cnn",
        marks=needs("Reshape", "Conv2D", "MaxPool2D", "Flatten"),
    ),
]


@pytest.mark.parametrize(("spec", "input_shape", "sample"), LAYER_CASES)
def test_every_builtin_layer_runs_the_same_in_onnx_runtime(
    spec, input_shape, sample, tmp_path, rng
):
    nnplug.seed(3)
    model = nnplug.build(spec)
    path = tmp_path / "model.onnx"
    nnplug.export_onnx(model, path, input_shape=input_shape)
    onnx.checker.check_model(str(path), full_check=True)
    for batch in (1, 7):  # the batch dimension is dynamic
        x = rng.normal(size=(batch, *sample)).astype(np.float32)
        assert_same_outputs(model, path, x)


def test_the_article_model_exports_as_gemm_tanh_and_softmax(tmp_path, rng):
    nnplug.seed(0)
    model = nnplug.build(nnplug.spec_of(recipes.article_mnist_model()))
    path = tmp_path / "article.onnx"
    nnplug.export_onnx(model, path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = [node.op_type for node in proto.graph.node]
    assert ops == ["Gemm", "Tanh", "Gemm", "Tanh", "Gemm", "Softmax"]
    gemms = [node for node in proto.graph.node if node.op_type == "Gemm"]
    assert all(onnx.helper.get_attribute_value(g.attribute[0]) == 1 for g in gemms)  # transB
    x = rng.random((64, 784), dtype=np.float32)  # pixels in [0, 1], as prepare_mnist gives
    assert assert_same_outputs(model, path, x) <= TOLERANCE


needs_cnn_recipe = pytest.mark.skipif(
    not hasattr(recipes, "cnn_mnist_model"),
    reason="nnplug.recipes.cnn_mnist_model not in this nnplug yet",
)


@needs_cnn_recipe
@pytest.mark.parametrize(("input_shape", "sample"), [(None, (784,)), ((1, 28, 28), (1, 28, 28))])
def test_the_cnn_recipe_model_runs_the_same_on_rows_or_images(input_shape, sample, tmp_path, rng):
    nnplug.seed(0)
    model = recipes.cnn_mnist_model()
    path = tmp_path / "cnn.onnx"
    nnplug.export_onnx(model, path, input_shape=input_shape)
    x = rng.random((8, *sample), dtype=np.float32)
    assert assert_same_outputs(model, path, x) <= TOLERANCE


def test_the_graph_names_its_input_and_output_with_a_dynamic_batch(tmp_path):
    path = tmp_path / "model.onnx"
    nnplug.export_onnx(recipes.article_mnist_model(), path)
    graph = onnx.load(str(path)).graph
    (inp,), (out,) = graph.input, graph.output
    assert (inp.name, out.name) == ("input", "output")

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert dims(inp) == ["batch", 784]
    assert dims(out) == ["batch", 10]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    names = {init.name for init in graph.initializer}
    assert {"layers.0.weights", "layers.0.bias", "layers.4.weights"} <= names


def test_weights_are_float32_even_for_a_float64_model(tmp_path, rng):
    model = modules.Sequential(
        [
            modules.Linear(3, 4, dtype="float64"),
            modules.Tanh(),
            modules.Linear(4, 2, dtype="float64"),
        ]
    )
    path = tmp_path / "model.onnx"
    nnplug.export_onnx(model, path)
    proto = onnx.load(str(path))
    assert {init.data_type for init in proto.graph.initializer} == {onnx.TensorProto.FLOAT}
    x = rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(path, x), model.forward(x), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("opset", [None, MIN_OPSET, 18])
def test_the_opset_is_the_default_or_the_one_asked_for(opset, tmp_path, rng):
    model = recipes.article_mnist_model()
    path = tmp_path / "model.onnx"
    nnplug.export_onnx(model, path, opset=opset)
    proto = onnx.load(str(path))
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", opset or DEFAULT_OPSET)]
    assert proto.producer_name == "nnplug"
    assert_same_outputs(model, path, rng.random((3, 784), dtype=np.float32))


def test_the_newest_opset_onnx_knows_passes_the_checker():
    # Not run in ONNX Runtime: a runtime may lag behind the newest opset of onnx.
    newest = onnx.defs.onnx_opset_version()
    proto = nnplug.onnx_export.to_onnx(recipes.article_mnist_model(), opset=newest)
    assert proto.opset_import[0].version == newest
    onnx.checker.check_model(proto, full_check=True)


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [12, 0, "17", 17.0, True, 10_000])
def test_a_bad_opset_is_refused(opset, tmp_path):
    with pytest.raises(ValueError, match=f"opset must be an integer from {MIN_OPSET} to"):
        nnplug.export_onnx(recipes.article_mnist_model(), tmp_path / "m.onnx", opset=opset)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape", [(), (0,), (-1, 3), "784", (2.0,), (True,), 784])
def test_a_bad_input_shape_is_refused(shape, tmp_path):
    with pytest.raises(ValueError, match="input_shape must be the shape of one sample"):
        nnplug.export_onnx(recipes.article_mnist_model(), tmp_path / "m.onnx", input_shape=shape)


def test_an_input_shape_the_first_layer_does_not_take_names_the_layer(tmp_path):
    with pytest.raises(
        errors.ExportError,
        match=r"spec.layers\[0\] \(layer 'linear'\): expected rows \(batch, 784\), "
        r"got inputs shaped \(batch, 1, 28, 28\)",
    ):
        nnplug.export_onnx(
            recipes.article_mnist_model(), tmp_path / "m.onnx", input_shape=(1, 28, 28)
        )
    assert list(tmp_path.iterdir()) == []


def test_a_model_whose_input_shape_is_unknown_asks_for_it(tmp_path):
    with pytest.raises(
        errors.ExportError, match=r"cannot tell the input shape of Tanh.*input_shape="
    ):
        nnplug.export_onnx(modules.Tanh(), tmp_path / "m.onnx")


def test_not_a_module_is_refused(tmp_path):
    with pytest.raises(TypeError, match="export_onnx: expected a Module, got dict"):
        nnplug.export_onnx({"type": "linear"}, tmp_path / "m.onnx")


def test_without_onnx_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(errors.MissingDependencyError, match=r'pip install "nnplug\[onnx\]"'):
        nnplug.export_onnx(recipes.article_mnist_model(), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_is_an_os_error_naming_the_file(tmp_path):
    target = tmp_path / "no" / "such" / "m.onnx"
    with pytest.raises(FileNotFoundError, match="cannot write the ONNX model: no directory"):
        nnplug.export_onnx(recipes.article_mnist_model(), target)


def test_writing_onto_a_directory_fails_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "taken.onnx").mkdir()
    with pytest.raises(IsADirectoryError, match="cannot write the ONNX model"):
        nnplug.export_onnx(recipes.article_mnist_model(), tmp_path / "taken.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["taken.onnx"]


# --- plugins ------------------------------------------------------------------------------------


class Cube(modules.Activation):
    """``x ** 3``: a plugin's layer."""

    def activation(self, x):
        return x**3

    def activation_prime(self, x):
        return 3 * x**2


class LayerOnly:
    """A plugin that gives a layer and no ONNX exporter for it."""

    @nnplug.hookimpl
    def nnplug_layers(self):
        return {"cube": Cube}


class WithExporter(LayerOnly):
    """The same plugin, with the ONNX nodes of its layer."""

    @staticmethod
    def export_cube(layer, graph, x):
        return graph.node("Mul", [graph.node("Mul", [x, x]), x])

    @nnplug.hookimpl
    def nnplug_onnx_exporters(self):
        return {"cube": self.export_cube}


class BrokenExporters(LayerOnly):
    @nnplug.hookimpl
    def nnplug_onnx_exporters(self):
        raise RuntimeError("boom")


class BadExporter(LayerOnly):
    @nnplug.hookimpl
    def nnplug_onnx_exporters(self):
        return {"cube": lambda layer, graph, x: graph.node("Mul", [x, "nowhere"])}


class WrongReturn(LayerOnly):
    @nnplug.hookimpl
    def nnplug_onnx_exporters(self):
        return {"cube": lambda layer, graph, x: None}


@pytest.fixture
def plugin():
    """Register a plugin object under the name 'cube-plugin' for one test."""
    registered = []

    def register(obj):
        nnplug.register_plugin(obj, "cube-plugin")
        registered.append("cube-plugin")

    yield register
    for name in registered:
        nnplug.unregister_plugin(name)


def cube_model() -> modules.Sequential:
    return nnplug.build(sequential(linear(3, 4), {"type": "cube"}, {"type": "softmax"}))


def test_a_plugin_layer_exports_through_the_hook(plugin, tmp_path, rng):
    plugin(WithExporter())
    model = cube_model()
    path = tmp_path / "cube.onnx"
    nnplug.export_onnx(model, path)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops == ["Gemm", "Mul", "Mul", "Softmax"]
    assert_same_outputs(model, path, rng.normal(size=(9, 3)).astype(np.float32))


def test_a_plugin_layer_without_an_exporter_is_named_and_nothing_is_written(plugin, tmp_path):
    plugin(LayerOnly())
    path = tmp_path / "cube.onnx"
    path.write_bytes(b"the previous file")
    with pytest.raises(
        errors.ExportError,
        match=r"spec.layers\[1\]: layer 'cube' has no ONNX exporter: plugin 'cube-plugin', "
        r"which provides it, gives none from a nnplug_onnx_exporters\(\) hook",
    ):
        nnplug.export_onnx(cube_model(), path)
    assert path.read_bytes() == b"the previous file"
    assert [p.name for p in tmp_path.iterdir()] == ["cube.onnx"]


def test_a_plugin_whose_hook_raises_is_skipped_with_a_warning(plugin, tmp_path):
    plugin(BrokenExporters())
    with pytest.warns(
        PluginWarning, match=r"plugin 'cube-plugin': nnplug_onnx_exporters\(\) raised"
    ):
        with pytest.raises(errors.ExportError, match="layer 'cube' has no ONNX exporter"):
            nnplug.export_onnx(cube_model(), tmp_path / "cube.onnx")
    assert list(tmp_path.iterdir()) == []


class NotAMapping(LayerOnly):
    @nnplug.hookimpl
    def nnplug_onnx_exporters(self):
        return [WithExporter.export_cube]


class SecondExporter:
    """Another plugin that also gives an exporter for 'cube' (a wrong one: x squared)."""

    @nnplug.hookimpl
    def nnplug_onnx_exporters(self):
        return {"cube": lambda layer, graph, x: graph.node("Mul", [x, x])}


def test_a_hook_returning_no_mapping_is_skipped_with_a_warning(plugin, tmp_path):
    plugin(NotAMapping())
    with pytest.warns(PluginWarning, match="must return a mapping of layer names to exporter"):
        with pytest.raises(errors.ExportError, match="layer 'cube' has no ONNX exporter"):
            nnplug.export_onnx(cube_model(), tmp_path / "cube.onnx")


def test_an_exporter_claimed_twice_keeps_the_first(plugin, tmp_path, rng):
    plugin(WithExporter())
    nnplug.register_plugin(SecondExporter(), "second")
    try:
        model = cube_model()
        path = tmp_path / "cube.onnx"
        with pytest.warns(PluginWarning, match="plugin '.*' gives an ONNX exporter for 'cube'"):
            nnplug.export_onnx(model, path)
        assert_same_outputs(model, path, rng.normal(size=(4, 3)).astype(np.float32))
    finally:
        nnplug.unregister_plugin("second")


def test_an_exporter_using_an_unknown_value_is_named(plugin, tmp_path):
    plugin(BadExporter())
    with pytest.raises(
        errors.ExportError,
        match=r"spec.layers\[1\] \(layer 'cube'\): Mul node: unknown input value\(s\) 'nowhere'",
    ):
        nnplug.export_onnx(cube_model(), tmp_path / "cube.onnx")


def test_an_exporter_returning_no_value_names_its_plugin(plugin, tmp_path):
    plugin(WrongReturn())
    with pytest.raises(
        errors.ExportError,
        match=r"\(layer 'cube'\): its ONNX exporter, from plugin 'cube-plugin', must return "
        r"the name of its output value, got None",
    ):
        nnplug.export_onnx(cube_model(), tmp_path / "cube.onnx")


def test_an_unregistered_layer_class_is_named(tmp_path):
    model = modules.Sequential([modules.Linear(2, 2), Cube()])
    with pytest.raises(
        errors.ExportError, match=r"spec.layers\[1\]: \S*Cube is not a registered layer"
    ):
        nnplug.export_onnx(model, tmp_path / "m.onnx")


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def saved_model(tmp_path) -> tuple[modules.Module, Path]:
    nnplug.seed(1)
    model = recipes.article_mnist_model()
    path = tmp_path / "mnist.nnp"
    nnplug.save(model, path)
    return model, path


def test_nnplug_export_writes_a_model_onnx_runtime_runs(saved_model, tmp_path, capsys, rng):
    model, path = saved_model
    out = tmp_path / "mnist.onnx"
    assert cli.main(["export", str(path), str(out)]) == 0
    assert capsys.readouterr().out == (
        f"wrote {out}: input 'input', output 'output', opset {DEFAULT_OPSET}\n"
    )
    assert_same_outputs(model, out, rng.random((20, 784), dtype=np.float32))


@needs("Conv2D", "MaxPool2D", "Flatten")
def test_nnplug_export_takes_an_input_shape_and_opset(tmp_path, capsys, rng):
    nnplug.seed(2)
    model = nnplug.build(
        sequential(
            {"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 5},
            {"type": "maxpool2d", "kernel_size": 2},
            {"type": "flatten"},
            linear(2 * 12 * 12, 10),
            {"type": "softmax"},
        )
    )
    path, out = tmp_path / "cnn.nnp", tmp_path / "cnn.onnx"
    nnplug.save(model, path)
    argv = ["export", str(path), str(out), "--input-shape", "1,28,28", "--opset", "18"]
    assert cli.main(argv) == 0
    assert "opset 18" in capsys.readouterr().out
    assert_same_outputs(model, out, rng.random((4, 1, 28, 28), dtype=np.float32))


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("nnplug: error: ")
    assert "Traceback" not in captured.err
    assert captured.out == ""
    return lines[0]


def test_nnplug_export_refuses_a_missing_model_file(tmp_path, capsys):
    out = tmp_path / "out.onnx"
    assert cli.main(["export", str(tmp_path / "missing.nnp"), str(out)]) == 1
    assert "missing.nnp: cannot read the model file" in one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("where", ["missing-dir", "under-a-file", "onto-a-dir"])
def test_nnplug_export_refuses_an_output_it_cannot_write(where, saved_model, tmp_path, capsys):
    _, path = saved_model
    out = {
        "missing-dir": tmp_path / "missing" / "out.onnx",
        "under-a-file": path / "out.onnx",
        "onto-a-dir": tmp_path,
    }[where]
    assert cli.main(["export", str(path), str(out)]) == 1
    assert f"{out}: cannot write the ONNX model" in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist.nnp"]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere"
)
def test_nnplug_export_refuses_a_read_only_directory(saved_model, tmp_path, capsys):
    _, path = saved_model
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert cli.main(["export", str(path), str(locked / "out.onnx")]) == 1
        assert "cannot write the ONNX model: Permission denied" in one_error_line(capsys)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_nnplug_export_names_a_layer_without_an_exporter(plugin, tmp_path, capsys):
    plugin(LayerOnly())
    path, out = tmp_path / "cube.nnp", tmp_path / "cube.onnx"
    nnplug.save(cube_model(), path)
    assert cli.main(["export", str(path), str(out)]) == 1
    assert "layer 'cube' has no ONNX exporter: plugin 'cube-plugin'" in one_error_line(capsys)
    assert not out.exists()


def test_the_nnplug_command_exits_1_with_one_line_and_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nnplug", "export", str(tmp_path / "no.nnp"), "out.onnx"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "NNPLUG_DISABLE_PLUGIN_AUTOLOAD": "1"},
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "no.nnp: cannot read the model file" in result.stderr
    assert not (tmp_path / "out.onnx").exists()


# --- the real MNIST -----------------------------------------------------------------------------


def mnist(mnist_dir: Path) -> tuple[np.ndarray, ...]:
    """Prepared MNIST: flat float32 images in [0, 1] and one-hot labels."""
    x_train, y_train, x_test, y_test = download_mnist(mnist_dir, download=False, progress=False)
    return (*recipes.prepare_mnist(x_train, y_train), *recipes.prepare_mnist(x_test, y_test))


def assert_agrees_on_the_test_set(model: modules.Module, images: np.ndarray, path: Path) -> None:
    nnplug.export_onnx(model, path)
    expected, got = model.forward(images), run_onnx(path, images)
    assert got.shape == (10_000, 10)
    difference = float(np.max(np.abs(got - expected)))
    print(f"max |onnxruntime - nnplug| over {len(got)} MNIST test images: {difference:.3g}")
    assert difference <= TOLERANCE
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))


@pytest.mark.slow
@pytest.mark.mnist
def test_a_trained_article_model_agrees_on_all_10000_mnist_test_images(mnist_dir, tmp_path):
    data = mnist(mnist_dir)
    nnplug.seed(0)
    model = recipes.article_mnist_model()
    history = recipes.train_mnist(model, data, recipes.MnistRecipe(epochs=1))
    assert history.test_accuracy > 0.9  # trained, not the random initial weights
    assert_agrees_on_the_test_set(model, data[2], tmp_path / "mlp.onnx")


@pytest.mark.slow
@pytest.mark.mnist
@needs_cnn_recipe
def test_a_trained_cnn_recipe_model_agrees_on_all_10000_mnist_test_images(mnist_dir, tmp_path):
    x_train, y_train, x_test, y_test = mnist(mnist_dir)
    nnplug.seed(0)
    model = recipes.cnn_mnist_model()
    recipe = recipes.MnistRecipe(epochs=1, batch_size=64, learning_rate=0.002, optimizer="adam")
    data = (
        x_train[:6000],
        y_train[:6000],
        x_test,
        y_test,
    )  # a short run: a trained model is enough
    history = recipes.train_mnist(model, data, recipe)
    assert history.test_accuracy > 0.9
    assert_agrees_on_the_test_set(model, x_test, tmp_path / "cnn.onnx")
