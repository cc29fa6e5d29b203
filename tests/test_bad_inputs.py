"""Tables of bad inputs to the public API, and of bad files and settings: each gets a precise
error (ValueError, TypeError or one of their nnplug subclasses)."""

import hashlib
import json
import struct
import zlib

import numpy as np
import pytest

import nnplug
from nnplug import errors, losses, modules, optimizers, trainer
from nnplug.datasets import DatasetError, load_idx
from nnplug.images import ImageError, read_image
from nnplug.preprocessing import mnist_digit
from nnplug.spec import SpecError

LINEAR = "Linear\\(input_size=4, output_size=3\\)"


def model():
    nnplug.seed(0)
    return modules.Sequential([modules.Linear(4, 3), modules.Softmax()])


def fit(x, y, **kwargs):
    net = model()
    trainer.train(net, x, y, losses.CrossEntropy(), optimizers.SGD(net), 1, verbose=False, **kwargs)


X = np.zeros((5, 4), dtype=np.float32)
Y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]]

CASES = {
    "too few features": (
        lambda: modules.Linear(4, 3).forward(np.zeros((2, 3))),
        ValueError,
        f"{LINEAR}: expected inputs with 4 features.*got shape \\(2, 3\\)",
    ),
    "image instead of rows": (
        lambda: modules.Linear(4, 3).forward(np.zeros((2, 2, 2))),
        ValueError,
        f"{LINEAR}: expected inputs shaped",
    ),
    "4-D input": (
        lambda: modules.Linear(4, 3).forward(np.zeros((1, 4, 1, 1))),
        ValueError,
        f"{LINEAR}: expected inputs shaped",
    ),
    "strings": (
        lambda: modules.Linear(4, 3).forward(np.array([["a"] * 4])),
        TypeError,
        f"{LINEAR}: inputs must be a numeric array, got dtype <U1",
    ),
    "objects": (
        lambda: modules.Linear(4, 3).forward(np.array([[object()] * 4])),
        TypeError,
        "numeric array, got dtype object",
    ),
    "None": (lambda: modules.Tanh().forward(None), TypeError, "Tanh\\(\\): inputs must be"),
    "complex": (
        lambda: modules.ReLU().forward(np.ones(3, dtype=complex)),
        TypeError,
        "ReLU\\(\\): inputs must be a numeric array, got dtype complex128",
    ),
    "gradient of the wrong shape": (
        lambda: (lambda m: (m.forward(np.zeros((2, 4))), m.backward(np.zeros((3, 3)))))(
            modules.Linear(4, 3)
        ),
        ValueError,
        f"{LINEAR}: output_grad must have the shape of the outputs, \\(2, 3\\)",
    ),
    "activation gradient of the wrong shape": (
        lambda: (lambda m: (m.forward(np.zeros((2, 4))), m.backward(np.zeros(8))))(modules.Tanh()),
        ValueError,
        "Tanh\\(\\): output_grad must have the shape of the outputs",
    ),
    "softmax of empty rows": (
        lambda: modules.Softmax().forward(np.zeros((2, 0))),
        ValueError,
        "Softmax\\(\\): a softmax needs at least one entry per row",
    ),
    "wrong class count": (
        lambda: fit(X, np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0]]),
        ValueError,
        "y_true \\(1, 4\\) and y_pred \\(1, 3\\)",
    ),
    "labels instead of one-hot": (
        lambda: fit(X, np.array([0, 1, 2, 0, 1])),
        ValueError,
        "y_true \\(1, 1\\) and y_pred \\(1, 3\\)",
    ),
    "mismatched sample counts": (
        lambda: fit(X, Y[:4]),
        ValueError,
        "x_train has 5 samples but y_train has 4",
    ),
    "empty training set": (lambda: fit(X[:0], Y[:0]), ValueError, "empty"),
    "5-D training data": (
        lambda: fit(np.zeros((5, 4, 1, 1, 1)), Y),
        ValueError,
        "x_train must be shaped \\(N, features\\)",
    ),
    "object training data": (
        lambda: fit(np.array([[None] * 4] * 5), Y),
        TypeError,
        "x_train must be a numeric array",
    ),
    "zero batch size": (
        lambda: fit(X, Y, batch_size=0),
        ValueError,
        "batch_size must be a positive integer, got 0",
    ),
    "fractional batch size": (
        lambda: fit(X, Y, batch_size=2.5),
        ValueError,
        "batch_size must be a positive integer, got 2.5",
    ),
    "boolean epochs": (
        lambda: trainer.train(model(), X, Y, losses.MSE(), optimizers.SGD(model()), True),
        ValueError,
        "epochs must be a positive integer, got True",
    ),
    "loss shapes differ": (
        lambda: losses.MSE().loss(np.zeros((2, 3)), np.zeros((3, 2))),
        ValueError,
        "MSE\\(\\): y_true and y_pred must have the same shape",
    ),
    "loss of text": (
        lambda: losses.CrossEntropy().loss(["a"], ["b"]),
        TypeError,
        "CrossEntropy\\(\\): y_pred must be a numeric array",
    ),
    "negative learning rate": (
        lambda: optimizers.SGD(model(), learning_rate=-1),
        ValueError,
        "SGD: learning_rate must be a finite number > 0, got -1.0",
    ),
    "infinite learning rate": (
        lambda: optimizers.Adam(model(), learning_rate=np.inf),
        ValueError,
        "Adam: learning_rate must be a finite number",
    ),
    "momentum of one": (
        lambda: optimizers.SGD(model(), momentum=1),
        ValueError,
        "SGD: momentum must be in \\[0, 1\\), got 1.0",
    ),
    "optimizer of arrays": (
        lambda: optimizers.SGD([np.zeros(2)]),
        TypeError,
        "SGD: expected the Module to optimize, got list",
    ),
    "layer of size zero": (
        lambda: modules.Linear(0, 3),
        ValueError,
        "Linear: input_size must be a positive integer, got 0",
    ),
    "layer of fractional size": (
        lambda: modules.Linear(4, 2.0),
        ValueError,
        "Linear: output_size must be a positive integer, got 2.0",
    ),
    "integer dtype layer": (
        lambda: modules.Linear(4, 3, dtype="int8"),
        ValueError,
        "Linear: dtype must be float32 or float64, got int8",
    ),
    "non-module in Sequential": (
        lambda: modules.Sequential([modules.Tanh(), np.tanh]),
        TypeError,
        "Sequential: item 1 must be a Module",
    ),
    "accuracy of mismatched data": (
        lambda: trainer.accuracy(model(), X, np.zeros(4)),
        ValueError,
        "accuracy: x has 5 samples but y has 4",
    ),
    "unknown backend": (
        lambda: nnplug.set_backend("gpu"),
        KeyError,
        "no backend named 'gpu'.*Available: ",
    ),
    "non-finite step option": (
        lambda: fit(X, Y, on_nonfinite="ignore"),
        ValueError,
        "on_nonfinite must be 'raise' or 'warn'",
    ),
}


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _png(width=4, height=4, colour=0, depth=8, rows=None):
    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    rows = rows if rows is not None else bytes(height * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _model_file(header, payload=b""):
    from nnplug import serialization

    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    body = serialization.MAGIC + struct.pack("<IQQ", 1, len(raw), len(payload)) + raw + payload
    return body + hashlib.sha256(body).digest()


def _nan_model():
    net = model()
    net.parameters()[0][0, 0] = np.nan
    return net


def _deep_spec(depth):
    spec = {"type": "tanh"}
    for _ in range(depth):
        spec = {"type": "sequential", "layers": [spec]}
    return spec


# Bad files and settings (issue 13): (make(tmp_path) -> the failing call, error, message).
FILE_CASES = {
    "model header integer of 5000 digits": (
        lambda tmp: (
            lambda: nnplug.load(
                _write(tmp / "m.nnp", _model_file(b'{"spec": ' + b"9" * 5000 + b"}"))
            )
        ),
        errors.ModelFileError,
        "malformed model header: Exceeds the limit",
    ),
    "model header nested 100000 deep": (
        lambda tmp: (
            lambda: nnplug.load(_write(tmp / "m.nnp", _model_file(b"[" * 100000 + b"]" * 100000)))
        ),
        errors.ModelFileError,
        "malformed model header: nested too deeply",
    ),
    "model spec nested 150 deep": (
        lambda tmp: (
            lambda: nnplug.load(
                _write(
                    tmp / "m.nnp",
                    _model_file({"spec": _deep_spec(150), "components": [], "arrays": []}),
                )
            )
        ),
        errors.ModelFileError,
        "nested more than 100 deep",
    ),
    "forged Linear(20000, 20000)": (
        lambda tmp: (
            lambda: nnplug.load(
                _write(
                    tmp / "m.nnp",
                    _model_file(
                        {
                            "spec": {"type": "linear", "input_size": 20000, "output_size": 20000},
                            "components": [],
                            "arrays": [],
                        }
                    ),
                )
            )
        ),
        errors.ModelFileError,
        r"float32\[20000, 20000\], but the file holds only 0 arrays",
    ),
    "model file over the size limit": (
        lambda tmp: lambda: nnplug.load(_write(tmp / "m.nnp", bytes(100)), max_bytes=99),
        errors.ModelFileError,
        "the model file is 100 bytes, over the limit of 99 bytes; pass a larger max_bytes",
    ),
    "a directory as the model": (
        lambda tmp: lambda: nnplug.load(tmp),
        errors.ModelFileError,
        "must be a regular file, got a directory",
    ),
    "saving NaN weights": (
        lambda tmp: lambda: nnplug.save(_nan_model(), tmp / "m.nnp"),
        errors.NonFiniteModelError,
        r"save: parameter 0 of Linear at spec.layers\[0\] has 1 NaN or infinite values",
    ),
    "saving into a missing directory": (
        lambda tmp: lambda: nnplug.serialization.check_save_path(tmp / "missing" / "m.nnp"),
        errors.OutputPathError,
        "the directory .*missing does not exist",
    ),
    "saving over a directory": (
        lambda tmp: lambda: nnplug.serialization.check_save_path(tmp),
        errors.OutputPathError,
        "it is a directory",
    ),
    "a file name over the name limit": (
        lambda tmp: lambda: nnplug.serialization.check_save_path(tmp / ("m" * 256)),
        errors.OutputPathError,
        "the file name is 256 bytes, the directory allows 255",
    ),
    "PNG with a bad CRC": (
        lambda tmp: (
            lambda: read_image(
                _write(tmp / "d.png", _png()[:29] + bytes([_png()[29] ^ 1]) + _png()[30:])
            )
        ),
        ImageError,
        r"d.png: corrupt or unsupported image \(a damaged PNG\?\)",
    ),
    "truncated PNG": (
        lambda tmp: lambda: read_image(_write(tmp / "d.png", _png()[:45])),
        ImageError,
        "d.png: corrupt or unsupported image",
    ),
    "JPEG bytes cut short": (
        lambda tmp: lambda: read_image(_write(tmp / "d.png", b"\xff\xd8\xff\xe0" + bytes(20))),
        ImageError,
        "d.png: (corrupt or unsupported image|not an image file)",
    ),
    "text named .png": (
        lambda tmp: lambda: read_image(_write(tmp / "d.png", b"hello")),
        ImageError,
        "d.png: not an image file Pillow can read",
    ),
    "a missing image": (
        lambda tmp: lambda: read_image(tmp / "absent.png"),
        ImageError,
        "absent.png: cannot read the image: No such file or directory",
    ),
    "a directory as the image": (
        lambda tmp: lambda: read_image(tmp),
        ImageError,
        "the image must be a regular file, got a directory",
    ),
    "an image of 60 megapixels": (
        lambda tmp: lambda: read_image(_write(tmp / "d.png", _png(10000, 6000, rows=b""))),
        ImageError,
        "the image is 10000x6000 pixels, over the limit of 50000000",
    ),
    "an image without a digit": (
        lambda tmp: lambda: mnist_digit(np.full((30, 30), 200, np.uint8)),
        ValueError,
        "mnist_digit: no digit found",
    ),
    "IDX declaring more than the limit": (
        lambda tmp: lambda: load_idx(b"\0\0\x08\x01" + struct.pack(">I", 2000), max_bytes=1000),
        DatasetError,
        r"declares \(2000,\) uint8 values \(2000 bytes\), over the limit of 1000",
    ),
    "thread count 2**31": (
        lambda tmp: lambda: nnplug.set_num_threads(2**31),
        ValueError,
        "set_num_threads: expected an integer from 1 to 256, got 2147483648",
    ),
    "spec nested 500 deep": (
        lambda tmp: lambda: nnplug.build(_deep_spec(500)),
        SpecError,
        "containers are nested more than 100 deep",
    ),
    "spec argument nested 500 deep": (
        lambda tmp: (
            lambda: nnplug.build(
                {"type": "linear", "input_size": 2, "output_size": 2, "init": _deep_value(500)}
            )
        ),
        SpecError,
        "the value is nested more than 100 deep",
    ),
}


def _deep_value(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("case", list(FILE_CASES), ids=list(FILE_CASES))
def test_bad_file_or_setting_gets_a_precise_error(tmp_path, case):
    make, error, message = FILE_CASES[case]
    with pytest.raises(error, match=message):
        make(tmp_path)()


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_gets_a_precise_error(backend, case):
    call, error, message = CASES[case]
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "x",
    [
        X.astype(np.float64),
        X.astype(np.int64),
        X.astype(bool),
        X.astype(np.uint8),
        np.asfortranarray(X),
        np.repeat(X, 2, axis=0)[::2],
        X[::-1],
        X.reshape(5, 4, 1),
    ],
    ids=["float64", "int64", "bool", "uint8", "fortran", "strided", "reversed", "columns"],
)
def test_any_numeric_layout_trains_like_float32_rows(backend, x):
    reference = model()
    trainer.train(
        reference, X, Y, losses.CrossEntropy(), optimizers.SGD(reference), 2, 2, verbose=False
    )
    other = model()
    trainer.train(other, x, Y, losses.CrossEntropy(), optimizers.SGD(other), 2, 2, verbose=False)
    for got, want in zip(other.parameters(), reference.parameters(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
