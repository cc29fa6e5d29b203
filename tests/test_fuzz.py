"""Property-based fuzzing of the public API: any input gets a right answer or a clear error.

Every layer, loss and optimizer is driven on every backend with random shapes, dtypes,
strides (including negative ones) and values (including NaN and infinities). Valid inputs
must give what NumPy computes; invalid ones a ValueError or TypeError naming the component.
Nothing else may escape, and nothing may crash the interpreter.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnplug
from nnplug import losses, modules, optimizers

pytestmark = pytest.mark.filterwarnings("ignore:(invalid value|overflow):RuntimeWarning")
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DTYPES = st.sampled_from(["float32", "float64", "int32", "int64", "uint8", "bool", "float16"])
ELEMENTS = st.floats(-1e4, 1e4, width=32) | st.sampled_from([np.nan, np.inf, -np.inf, 0.0])


@st.composite
def arrays(draw, shape=None, max_dims=3):
    """Arrays of any numeric dtype and shape, possibly a strided or reversed view."""
    dtype = draw(DTYPES)
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=0, max_side=6))
    base = draw(hnp.arrays(np.float64, shape, elements=ELEMENTS))
    with np.errstate(invalid="ignore", over="ignore"):
        array = (
            np.nan_to_num(base, nan=0, posinf=1, neginf=-1).astype(dtype)
            if np.dtype(dtype).kind in "biu"
            else base.astype(dtype)
        )
    view = draw(st.sampled_from(["plain", "reversed", "strided"]))
    if view == "reversed" and array.ndim:
        array = array[::-1]
    elif view == "strided" and array.ndim:
        array = np.repeat(array, 2, axis=0)[::2]
    return array


def reference_rows(x: np.ndarray, features: int | None):
    """The rows nnplug should compute on, or None when the shape is not acceptable."""
    if x.ndim == 1:
        rows = x.reshape(1, -1)
    elif x.ndim == 2 and x.shape[1] == 1 and x.shape[0] > 1 and features in (None, x.shape[0]):
        rows = x.T
    elif x.ndim == 2:
        rows = x
    elif x.ndim == 3 and x.shape[2] == 1:
        rows = x[:, :, 0]
    else:
        return None
    return rows if features is None or rows.shape[1] == features else None


def assert_clear_error(error: Exception, *names: str):
    assert isinstance(error, (ValueError, TypeError)), repr(error)
    assert any(name in str(error) for name in names), str(error)


@FUZZ
@given(x=arrays())
def test_linear_fuzz(backend, x):
    layer = modules.Linear(4, 3, rng=np.random.default_rng(0))
    rows = reference_rows(x, 4)
    try:
        y = layer.forward(x)
    except (ValueError, TypeError) as error:
        assert rows is None or x.dtype.kind not in "biuf", (x.shape, error)
        assert_clear_error(error, "Linear(input_size=4, output_size=3)")
        return
    assert rows is not None
    expected = rows.astype(np.float32) @ layer.weights.T + layer.bias
    with np.errstate(invalid="ignore", over="ignore"):
        np.testing.assert_allclose(layer._layout.to_rows(y), expected, rtol=1e-4, atol=1e-2)
    assert y.dtype == np.float32
    grad = layer.backward(np.ones_like(y))
    assert grad.shape == x.shape


@pytest.mark.parametrize("layer_type", [modules.Tanh, modules.Sigmoid, modules.ReLU])
@FUZZ
@given(x=arrays())
def test_activation_fuzz(backend, layer_type, x):
    layer = layer_type()
    y = layer.forward(x)
    reference = {
        modules.Tanh: np.tanh,
        modules.Sigmoid: lambda v: 0.5 * (np.tanh(0.5 * v) + 1),
        modules.ReLU: lambda v: np.maximum(v, 0),
    }[layer_type]
    expected = reference(x.astype(y.dtype))
    assert y.shape == x.shape and y.dtype in (np.float32, np.float64)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert layer.backward(np.ones_like(y)).shape == x.shape


@FUZZ
@given(x=arrays(max_dims=2))
def test_softmax_fuzz(backend, x):
    layer = modules.Softmax()
    rows = reference_rows(x, None)
    try:
        y = layer.forward(x)
    except (ValueError, TypeError) as error:
        assert_clear_error(error, "Softmax")
        return
    assert rows is not None
    finite_rows = np.all(np.isfinite(rows), axis=1) if rows.size else np.ones(len(rows), bool)
    got = layer._layout.to_rows(y)
    if rows.shape[1]:
        np.testing.assert_allclose(got[finite_rows].sum(axis=1), 1, rtol=1e-5)
        assert np.all(np.isfinite(got[finite_rows]))


@pytest.mark.parametrize("loss", [losses.MSE(), losses.CrossEntropy()], ids=repr)
@FUZZ
@given(data=st.data())
def test_loss_fuzz(backend, loss, data):
    y_pred = data.draw(arrays(max_dims=2))
    same = data.draw(st.booleans())
    y_true = data.draw(arrays(shape=y_pred.shape if same else None, max_dims=2))
    try:
        value = loss.loss(y_true, y_pred)
        grad = loss.loss_prime(y_true, y_pred)
    except (ValueError, TypeError) as error:
        assert y_true.shape != y_pred.shape
        assert_clear_error(error, repr(loss))
        return
    assert isinstance(value, float) and grad.shape == y_pred.shape


@pytest.mark.parametrize("loss", [losses.MSE(), losses.CrossEntropy()], ids=repr)
@FUZZ
@given(data=st.data())
def test_losses_of_valid_probabilities_are_finite(backend, loss, data):
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8))
    y_pred = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
    y_true = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
    assert np.isfinite(loss.loss(y_true, y_pred))
    assert np.all(np.isfinite(loss.loss_prime(y_true, y_pred)))


@FUZZ
@given(
    scale=st.floats(1e-3, 1e4),
    rows=st.integers(1, 5),
    classes=st.integers(2, 12),
    seed=st.integers(0, 2**31 - 1),
)
def test_softmax_cross_entropy_stays_finite_for_huge_logits(backend, scale, rows, classes, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((rows, classes)) * scale).astype(np.float32)
    targets = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, rows)]
    probs = modules.Softmax().forward(logits)
    loss = losses.CrossEntropy()
    assert np.isfinite(loss.loss(targets, probs))
    assert np.all(np.isfinite(loss.softmax_input_grad(targets, probs)))


@pytest.mark.parametrize("optimizer_type", [optimizers.SGD, optimizers.Adam])
@FUZZ
@given(seed=st.integers(0, 2**31 - 1), sizes=st.tuples(st.integers(1, 9), st.integers(1, 9)))
def test_optimizer_fuzz_matches_the_numpy_backend(backend, optimizer_type, seed, sizes):
    def run(name):
        with nnplug.use_backend(name):
            rng = np.random.default_rng(seed)
            model = modules.Linear(*sizes, rng=rng)
            optimizer = optimizer_type(model)
            for _ in range(3):
                for grad in model.gradients():
                    grad[...] = rng.standard_normal(grad.shape)
                optimizer.step()
            return model.parameters()

    for got, want in zip(run(backend.name), run("numpy"), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
