"""One table of bad inputs to the public API: each gets a precise ValueError or TypeError."""

import numpy as np
import pytest

import nnplug
from nnplug import losses, modules, optimizers, trainer

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
