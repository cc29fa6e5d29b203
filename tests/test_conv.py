"""The image layers: Conv2D, MaxPool2D, Flatten and Reshape.

Gradients are checked against finite differences in float64 (strides, padding, non-square
kernels, one-pixel images, one channel); bad shapes raise a ValueError naming the layer, the
shape it expected and the one it got; specs build, save and load; the conformance kit passes.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_cli import fake_mnist

import nnplug
from nnplug import cli, gradcheck, testing
from nnplug.backends import use_backend
from nnplug.cli import data
from nnplug.modules import Conv2D, Flatten, Linear, MaxPool2D, ReLU, Reshape, Sequential, Softmax
from nnplug.recipes import cnn_mnist_model


def images(seed: int, *shape: int, dtype: str = "float64") -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


GRADIENT_CASES = [
    pytest.param(Conv2D(2, 3, 3, dtype="float64"), (2, 2, 5, 5), id="conv 3x3"),
    pytest.param(Conv2D(1, 2, (2, 3), dtype="float64"), (2, 1, 4, 5), id="conv 2x3 one channel"),
    pytest.param(Conv2D(2, 2, 3, stride=2, dtype="float64"), (2, 2, 7, 6), id="conv stride 2"),
    pytest.param(
        Conv2D(2, 3, (3, 2), stride=(2, 1), padding=(1, 2), dtype="float64"),
        (2, 2, 5, 4),
        id="conv stride (2,1) padding (1,2)",
    ),
    pytest.param(Conv2D(3, 2, 1, dtype="float64"), (2, 3, 1, 1), id="conv one pixel"),
    pytest.param(
        Conv2D(1, 2, 3, padding=1, dtype="float64"), (2, 1, 1, 1), id="conv one pixel pad"
    ),
    pytest.param(
        Conv2D(1, 2, 2, input_shape=(1, 3, 3), init="glorot", dtype="float64"),
        (2, 9),
        id="conv rows",
    ),
    pytest.param(MaxPool2D(2), (2, 2, 4, 5), id="pool 2"),
    pytest.param(MaxPool2D((2, 3), stride=1), (2, 1, 3, 5), id="pool 2x3 overlapping"),
    pytest.param(MaxPool2D(3, stride=2), (1, 2, 7, 7), id="pool 3 stride 2"),
    pytest.param(MaxPool2D(1), (2, 3, 1, 1), id="pool one pixel"),
    pytest.param(MaxPool2D(2, input_shape=(1, 2, 4)), (3, 8), id="pool rows"),
    pytest.param(Flatten(), (2, 3, 2, 2), id="flatten"),
    pytest.param(Reshape((1, 2, 3)), (2, 6), id="reshape rows"),
    pytest.param(Reshape((6,)), (2, 1, 2, 3), id="reshape images"),
    pytest.param(
        Sequential(
            [
                Conv2D(1, 2, 3, padding=1, input_shape=(1, 4, 4), dtype="float64"),
                ReLU(),
                MaxPool2D(2),
                Flatten(),
                Linear(8, 3, dtype="float64"),
                Softmax(),
            ]
        ),
        (2, 16),
        id="small cnn",
    ),
]


@pytest.mark.parametrize(("layer", "shape"), GRADIENT_CASES)
def test_gradients_match_finite_differences(layer, shape):
    # Distinct, well-separated values keep max pooling away from ties, where it has no
    # derivative.
    x = images(0, *shape)
    with use_backend("numpy"):
        assert gradcheck.check_module(layer, x) == []
    with use_backend("c"):
        assert gradcheck.check_module(layer, x) == []


def test_conv_output_shape_and_values_against_a_direct_sum():
    layer = Conv2D(2, 3, (3, 2), stride=(2, 1), padding=1, dtype="float64")
    layer.bias[...] = [0.5, -1.0, 2.0]
    x = images(1, 2, 2, 5, 4)
    y = layer.forward(x)
    assert y.shape == (2, 3, (5 + 2 - 3) // 2 + 1, (4 + 2 - 2) // 1 + 1)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for n, o, i, j in np.ndindex(*y.shape):
        window = padded[n, :, 2 * i : 2 * i + 3, j : j + 2]
        assert y[n, o, i, j] == pytest.approx(np.sum(window * layer.weights[o]) + layer.bias[o])


def test_maxpool_picks_window_maxima():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(MaxPool2D(2).forward(x), [[[[5, 7], [13, 15]]]])
    grad = MaxPool2D(2)
    grad.forward(x)
    dx = grad.backward(np.ones((1, 1, 2, 2), dtype=np.float32))
    assert dx.sum() == 4 and dx[0, 0, 1, 1] == dx[0, 0, 3, 3] == 1


def test_parameter_gradients_accumulate():
    layer = Conv2D(1, 2, 3, dtype="float64")
    x = images(2, 2, 1, 5, 5)
    grad = images(3, 2, 2, 3, 3)
    layer.forward(x)
    layer.backward(grad)
    once = [g.copy() for g in layer.gradients()]
    layer.forward(x)
    layer.backward(grad)
    for twice, first in zip(layer.gradients(), once, strict=True):
        np.testing.assert_allclose(twice, 2 * first)


def test_init_is_seeded_and_scaled():
    nnplug.seed(3)
    first = Conv2D(4, 8, 3).weights.copy()
    nnplug.seed(3)
    np.testing.assert_array_equal(Conv2D(4, 8, 3).weights, first)
    assert first.dtype == np.float32 and first.shape == (8, 4, 3, 3)
    he = Conv2D(16, 64, 5, rng=np.random.default_rng(0)).weights
    assert he.std() == pytest.approx(np.sqrt(2 / (16 * 25)), rel=0.05)
    glorot = Conv2D(16, 64, 5, init="glorot", rng=np.random.default_rng(0)).weights
    assert np.abs(glorot).max() <= np.sqrt(6 / (16 * 25 + 64 * 25))
    assert glorot.ctypes.data % 64 == 0


def test_cnn_takes_rows_and_images_alike():
    model = cnn_mnist_model()
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    from_rows = model.forward(x)
    from_images = model.forward(x.reshape(3, 1, 28, 28))
    assert from_rows.shape == (3, 10)
    np.testing.assert_array_equal(from_rows, from_images)
    grad = model.backward(np.ones_like(from_images))
    assert grad.shape == (3, 1, 28, 28)
    model.forward(x)
    assert model.backward(np.ones_like(from_rows)).shape == (3, 784)


def test_a_reshape_first_turns_rows_into_images():
    model = Sequential([Reshape((1, 6, 6)), Conv2D(1, 2, 3), Flatten()])
    assert model.input_size == 36
    assert model.forward(np.zeros((2, 36), np.float32)).shape == (2, 32)
    assert model.forward(np.zeros((2, 1, 6, 6), np.float32)).shape == (2, 32)


# --- bad shapes --------------------------------------------------------------------------------

BAD_SHAPES = [
    (Conv2D(3, 2, 3), (2, 1, 5, 5), "expected inputs shaped images (batch, 3, height, width)"),
    (Conv2D(3, 2, 3), (2, 75), "put a Reshape before it"),
    (
        Conv2D(1, 2, 3, input_shape=(1, 4, 4)),
        (2, 15),
        "images (batch, 1, 4, 4) or rows (batch, 16)",
    ),
    (Conv2D(1, 2, 3, input_shape=(1, 4, 4)), (2, 1, 5, 4), "images (batch, 1, 4, 4)"),
    (Conv2D(1, 2, 5), (2, 1, 4, 9), "at least 5x5 pixels once padded by (0, 0)"),
    (MaxPool2D(2), (2, 3, 4), "expected inputs shaped images (batch, channels, height, width)"),
    (MaxPool2D(3), (2, 1, 2, 5), "at least 3x3 pixels"),
    (Flatten(), (4,), "at least 2 dimensions"),
    (Reshape((1, 28, 28)), (2, 783), "expected inputs shaped (batch, 784)"),
]


@pytest.mark.parametrize(("layer", "shape", "message"), BAD_SHAPES)
def test_bad_input_shapes_name_the_layer_and_both_shapes(layer, shape, message):
    with pytest.raises(ValueError) as caught:
        layer.forward(np.zeros(shape, dtype=np.float32))
    text = str(caught.value)
    assert text.startswith(repr(layer)), text
    assert message in text
    assert f"got shape {shape}" in text


@pytest.mark.parametrize(
    "layer",
    [Conv2D(1, 2, 3), MaxPool2D(2), Flatten(), Reshape((1, 4, 4))],
    ids=lambda layer: type(layer).__name__,
)
def test_bad_output_grad_shapes_are_refused(layer):
    outputs = layer.forward(np.zeros((2, 1, 4, 4), dtype=np.float32))
    wrong = (3, *outputs.shape[1:])
    with pytest.raises(
        ValueError, match=r"output_grad must have the shape of the outputs"
    ) as caught:
        layer.backward(np.zeros(wrong, dtype=np.float32))
    assert str(outputs.shape) in str(caught.value) and f"got shape {wrong}" in str(caught.value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Conv2D(0, 2, 3), "in_channels must be a positive integer, got 0"),
        (lambda: Conv2D(1, 2, 0), "kernel_size must be an integer >= 1 or a pair of them, got 0"),
        (lambda: Conv2D(1, 2, (3, 3, 3)), "kernel_size must be an integer >= 1 or a pair"),
        (lambda: Conv2D(1, 2, 3, stride=0), "stride must be an integer >= 1"),
        (lambda: Conv2D(1, 2, 3, padding=-1), "padding must be an integer >= 0"),
        (lambda: Conv2D(1, 2, 3, init="zeros"), "init must be one of"),
        (lambda: Conv2D(1, 2, 3, dtype="int8"), "dtype must be float32 or float64"),
        (lambda: Conv2D(2, 2, 3, input_shape=(1, 5, 5)), "must start with in_channels = 2"),
        (lambda: Conv2D(1, 2, 3, input_shape=(1, 2, 5)), "at least 3x3 pixels"),
        (lambda: MaxPool2D(True), "kernel_size must be an integer >= 1"),
        (lambda: MaxPool2D(2, input_shape=(1, 1, 4)), "at least 2x2 pixels"),
        (lambda: Reshape((0, 3)), "shape must be a list of positive integers"),
        (lambda: Reshape(784), "shape must be a list of positive integers, got 784"),
    ],
)
def test_bad_arguments(build, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_backward_before_forward_is_an_error():
    for layer in (Conv2D(1, 1, 1), MaxPool2D(2), Flatten(), Reshape((2,))):
        with pytest.raises(RuntimeError, match="backward\\(\\) called before forward\\(\\)"):
            layer.backward(np.zeros((1, 1, 1, 1), np.float32))


# --- specs, saving, the conformance kit ---------------------------------------------------------

SPEC = {
    "type": "sequential",
    "layers": [
        {"type": "reshape", "shape": [1, 8, 8]},
        {
            "type": "conv2d",
            "in_channels": 1,
            "out_channels": 4,
            "kernel_size": [3, 2],
            "stride": [1, 2],
            "padding": 1,
        },
        {"type": "relu"},
        {"type": "maxpool2d", "kernel_size": 2, "stride": 1},
        {"type": "flatten"},
        {"type": "linear", "input_size": 112, "output_size": 10},
        {"type": "softmax"},
    ],
}


def test_spec_builds_saves_and_loads(tmp_path):
    model = nnplug.build(SPEC)
    assert nnplug.spec_of(model) == SPEC
    x = np.random.default_rng(0).random((5, 64), dtype=np.float32)
    expected = model.forward(x)
    path = tmp_path / "cnn.nnp"
    nnplug.save(model, path)
    loaded = nnplug.load(path)
    assert nnplug.spec_of(loaded) == SPEC
    np.testing.assert_array_equal(loaded.forward(x), expected)


def test_recipe_model_round_trips(tmp_path):
    model = cnn_mnist_model()
    spec = nnplug.spec_of(model)
    assert [layer["type"] for layer in spec["layers"]] == [
        "conv2d",
        "relu",
        "maxpool2d",
        "conv2d",
        "relu",
        "maxpool2d",
        "flatten",
        "linear",
        "relu",
        "linear",
        "softmax",
    ]
    nnplug.save(model, tmp_path / "m.nnp")
    x = np.random.default_rng(1).random((2, 784), dtype=np.float32)
    np.testing.assert_array_equal(nnplug.load(tmp_path / "m.nnp").forward(x), model.forward(x))


@pytest.mark.parametrize("name", ["conv2d", "maxpool2d", "flatten", "reshape"])
def test_registered_and_conform(name):
    assert nnplug.registry.layers[name].__name__ in ("Conv2D", "MaxPool2D", "Flatten", "Reshape")
    report = testing.check_layer(name)
    assert report.passed, "\n".join(map(str, report.failures))
    checks = {result.check for result in report}
    assert {
        "contract (eval)",
        "gradient (float64, training)",
        "spec round trip",
        "save/load",
    } <= checks


# --- the command line ---------------------------------------------------------------------------


def test_train_mnist_arch_cnn_uses_its_own_defaults(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(data.LOADERS, "mnist", lambda data_dir=None, *, progress=True: fake_mnist())
    saved = tmp_path / "cnn.nnp"
    argv = ["train", "mnist", "--arch", "cnn", "--epochs", "2", "--no-progress"]
    assert cli.main([*argv, "--save", str(saved)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("training 300 images, 2 epochs, batch 64, adam lr 0.002")
    assert float(out[-1].removeprefix("test accuracy: ").rstrip("%")) > 90
    assert nnplug.spec_of(nnplug.load(saved)) == nnplug.spec_of(cnn_mnist_model())


def test_train_mnist_arch_mlp_is_still_the_default(monkeypatch, capsys):
    monkeypatch.setitem(data.LOADERS, "mnist", lambda data_dir=None, *, progress=True: fake_mnist())
    assert cli.main(["train", "mnist", "--epochs", "1", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith(
        "training 300 images, 1 epochs, batch 32, sgd lr 0.05"
    )
