"""Layers: shapes, forms of input, initialisation and gradients against finite differences."""

import numpy as np
import pytest

import nnplug
from nnplug import modules
from nnplug.gradcheck import check_module

F64 = "float64"


def make_layers():
    """One of every built-in layer, in float64, with the input width it expects."""
    return [
        (modules.Linear(5, 3, dtype=F64), 5),
        (modules.Linear(4, 4, init="he", dtype=F64), 4),
        (modules.Tanh(), 4),
        (modules.Sigmoid(), 4),
        (modules.ReLU(), 4),
        (modules.Softmax(), 6),
        (
            modules.Sequential(
                [
                    modules.Linear(4, 6, dtype=F64),
                    modules.Tanh(),
                    modules.Linear(6, 3, dtype=F64),
                    modules.Softmax(),
                ]
            ),
            4,
        ),
    ]


@pytest.mark.parametrize(("layer", "width"), make_layers(), ids=repr)
@pytest.mark.parametrize("form", ["batch", "column", "vector", "single_row"])
def test_backward_matches_finite_differences(backend, layer, width, form, rng):
    x = rng.standard_normal((3, width))
    if isinstance(layer, modules.ReLU):
        x[np.abs(x) < 0.05] = 0.5  # keep away from the kink, where the derivative jumps
    inputs = {
        "batch": x,
        "column": x[:1].T,
        "vector": x[0],
        "single_row": x[:1],
    }[form]
    assert check_module(layer, inputs) == []


def test_outputs_keep_the_form_of_the_inputs(backend):
    layer = modules.Linear(3, 2)
    assert layer.forward(np.ones((3, 1))).shape == (2, 1)
    assert layer.forward(np.ones(3)).shape == (2,)
    assert layer.forward(np.ones((5, 3))).shape == (5, 2)
    assert layer.forward(np.ones((5, 3, 1))).shape == (5, 2, 1)
    assert layer.backward(np.ones((5, 2, 1))).shape == (5, 3, 1)


def test_linear_computes_x_w_transpose_plus_b(backend, rng):
    layer = modules.Linear(4, 3)
    layer.bias[:] = [1, 2, 3]
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(layer.forward(x), x @ layer.weights.T + layer.bias, rtol=1e-5)


def test_linear_gradients_accumulate_until_zeroed(backend, rng):
    layer = modules.Linear(2, 2)
    x = rng.standard_normal((1, 2))
    layer.forward(x)
    layer.backward(np.ones((1, 2)))
    once = layer.weights_grad.copy()
    layer.forward(x)
    layer.backward(np.ones((1, 2)))
    np.testing.assert_allclose(layer.weights_grad, 2 * once, rtol=1e-6)
    layer.zero_gradients()
    assert not layer.weights_grad.any() and not layer.bias_grad.any()


def test_linear_glorot_initialisation_is_bounded_and_seeded():
    nnplug.seed(7)
    first = modules.Linear(784, 100)
    nnplug.seed(7)
    second = modules.Linear(784, 100)
    np.testing.assert_array_equal(first.weights, second.weights)
    limit = np.sqrt(6 / 884)
    assert np.abs(first.weights).max() <= limit
    assert first.weights.std() == pytest.approx(limit / np.sqrt(3), rel=0.05)
    assert first.weights.dtype == np.float32 and not first.bias.any()


def test_linear_takes_an_explicit_generator():
    a = modules.Linear(3, 3, rng=np.random.default_rng(1))
    b = modules.Linear(3, 3, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a.weights, b.weights)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_size": 0, "output_size": 3}, "input_size must be a positive integer"),
        ({"input_size": 3, "output_size": 2.5}, "output_size must be a positive integer"),
        ({"input_size": 3, "output_size": 2, "init": "zeros"}, "init must be one of"),
        ({"input_size": 3, "output_size": 2, "dtype": "int32"}, "float32 or float64"),
    ],
)
def test_linear_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        modules.Linear(**kwargs)


def test_linear_names_itself_on_a_shape_error(backend):
    layer = modules.Linear(784, 100)
    expected = r"Linear\(input_size=784, output_size=100\).*784.*\(28, 28\)"
    with pytest.raises(ValueError, match=expected):
        layer.forward(np.zeros((28, 28)))


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="before forward"):
        modules.Linear(2, 2).backward(np.ones((1, 2)))


def test_softmax_matches_the_article_example(backend):
    outputs = modules.Softmax().forward([1, 5, 3, 6])
    np.testing.assert_allclose(outputs, [0.00473036, 0.25826895, 0.0349529, 0.70204779], rtol=1e-5)


@pytest.mark.parametrize("magnitude", [1e3, 1e4, 1e30])
def test_softmax_is_finite_for_large_inputs(backend, magnitude):
    outputs = modules.Softmax().forward(np.array([[magnitude, 0.0, -magnitude]], dtype=np.float32))
    assert np.all(np.isfinite(outputs))
    np.testing.assert_allclose(outputs, [[1, 0, 0]], atol=1e-6)


def test_softmax_rows_are_distributions(backend, rng):
    outputs = modules.Softmax().forward(rng.standard_normal((5, 7)) * 10)
    np.testing.assert_allclose(outputs.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize(
    ("layer", "function"),
    [
        (modules.Tanh(), np.tanh),
        (modules.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
        (modules.ReLU(), lambda x: np.maximum(x, 0)),
    ],
    ids=repr,
)
def test_activations_compute_their_function(backend, layer, function, rng):
    x = rng.standard_normal((4, 5)) * 3
    np.testing.assert_allclose(layer.forward(x), function(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.activation(x), function(x), rtol=1e-5, atol=1e-6)


def test_sigmoid_does_not_overflow(backend):
    with np.errstate(over="raise"):
        outputs = modules.Sigmoid().forward(np.array([[-1e4, 1e4]], dtype=np.float32))
    np.testing.assert_array_equal(outputs, [[0, 1]])


def test_article_style_activation_subclass_works(rng):
    class Square(modules.Activation):
        def activation(self, inputs):
            return inputs**2

        def activation_prime(self, inputs):
            return 2 * inputs

    layer = Square()
    x = rng.standard_normal((3, 1))
    np.testing.assert_allclose(layer.forward(x), x**2)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), 2 * x)
    assert check_module(layer, x) == []


def test_module_base_methods_say_what_is_missing():
    class Empty(modules.Module):
        pass

    with pytest.raises(NotImplementedError, match="Empty does not implement forward"):
        Empty().forward(np.ones(2))
    assert Empty().parameters() == [] and Empty().gradients() == []


def test_sequential_collects_parameters_in_order():
    first, second = modules.Linear(2, 3), modules.Linear(3, 1)
    model = modules.Sequential([first, modules.Tanh(), second])
    assert [id(p) for p in model.parameters()] == [
        id(first.weights),
        id(first.bias),
        id(second.weights),
        id(second.bias),
    ]
    assert len(model) == 3 and model[1].__class__ is modules.Tanh


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="item 1 must be a Module"):
        modules.Sequential([modules.Tanh(), "linear"])


def test_repr_shows_the_architecture():
    model = modules.Sequential([modules.Linear(2, 3), modules.Tanh()])
    assert repr(model) == "Sequential([\n  Linear(input_size=2, output_size=3),\n  Tanh(),\n])"
