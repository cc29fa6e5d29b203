"""Model specs: ``nnplug.build`` and ``nnplug.spec_of``, for models, losses and optimizers."""

from __future__ import annotations

import json
import types
from contextlib import contextmanager

import numpy as np
import pytest

import nnplug
from nnplug import errors, losses, modules, optimizers
from nnplug.spec import SpecError, build_loss, build_optimizer

MNIST_SPEC = {
    "type": "sequential",
    "layers": [
        {"type": "linear", "input_size": 784, "output_size": 100},
        {"type": "tanh"},
        {"type": "linear", "input_size": 100, "output_size": 50},
        {"type": "tanh"},
        {"type": "linear", "input_size": 50, "output_size": 10},
        {"type": "softmax"},
    ],
}


@contextmanager
def registered_layers(name: str, layers: dict[str, type]):
    """Register a plugin providing ``layers`` for the duration of a ``with`` block."""
    plugin = types.SimpleNamespace(nnplug_layers=nnplug.hookimpl(lambda: layers))
    nnplug.register_plugin(plugin, name)
    try:
        yield
    finally:
        nnplug.unregister_plugin(name)


def test_build_makes_the_model_the_spec_describes():
    model = nnplug.build(MNIST_SPEC)
    assert isinstance(model, modules.Sequential)
    assert [type(m) for m in model] == [
        modules.Linear,
        modules.Tanh,
        modules.Linear,
        modules.Tanh,
        modules.Linear,
        modules.Softmax,
    ]
    assert (model[0].input_size, model[0].output_size) == (784, 100)
    assert model.forward(np.zeros((2, 784))).shape == (2, 10)


def test_spec_of_gives_the_spec_back_as_json():
    model = nnplug.build(MNIST_SPEC)
    assert nnplug.spec_of(model) == MNIST_SPEC
    assert json.loads(json.dumps(nnplug.spec_of(model))) == MNIST_SPEC


def test_constructor_arguments_round_trip():
    spec = {"type": "linear", "input_size": 3, "output_size": 2, "init": "he", "dtype": "float64"}
    model = nnplug.build(spec)
    assert model.weights.dtype == np.float64 and model.init == "he"
    assert nnplug.spec_of(model) == spec


def test_a_rebuilt_model_is_equivalent():
    model = modules.Sequential([modules.Linear(4, 3), modules.ReLU(), modules.Linear(3, 2)])
    rebuilt = nnplug.build(nnplug.spec_of(model))
    for param, other in zip(model.parameters(), rebuilt.parameters(), strict=True):
        assert param.shape == other.shape and param.dtype == other.dtype
        other[...] = param
    x = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_array_equal(rebuilt.forward(x), model.forward(x))


def test_sequentials_nest():
    spec = {
        "type": "sequential",
        "layers": [{"type": "sequential", "layers": [{"type": "tanh"}]}, {"type": "relu"}],
    }
    model = nnplug.build(spec)
    assert isinstance(model[0], modules.Sequential) and isinstance(model[0][0], modules.Tanh)
    assert nnplug.spec_of(model) == spec


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ([{"type": "tanh"}], SpecError, r"^spec: expected a layer spec, a mapping .* got list"),
        ({"input_size": 3}, SpecError, r"^spec: missing 'type'"),
        ({"type": 3}, SpecError, r"^spec.type: expected a layer name \(a string\), got 3"),
        ({"type": "lineer"}, errors.UnknownLayerError, r"^spec: no layer named 'lineer'\. Did"),
        ({"type": "sequential"}, SpecError, r"^spec: a 'sequential' spec needs 'layers'"),
        (
            {"type": "sequential", "layers": {"type": "tanh"}},
            SpecError,
            r"^spec.layers: expected a list of layer specs, got dict",
        ),
        (
            {"type": "sequential", "layers": [{"type": "tanh"}, {"type": "tanh"}, "relu"]},
            SpecError,
            r"^spec.layers\[2\]: expected a layer spec, .* got str 'relu'",
        ),
        (
            {"type": "sequential", "layers": [{"type": "tanh"}, {"type": "rellu"}]},
            errors.UnknownLayerError,
            r"^spec.layers\[1\]: no layer named 'rellu'\. Did you mean 'relu'\?",
        ),
        (
            {"type": "linear", "input_size": 3},
            SpecError,
            r"^spec \(layer 'linear'\): missing a required argument: 'output_size'; "
            r"it takes the arguments input_size, output_size, xavier, init, dtype",
        ),
        (
            {"type": "sequential", "layers": [{"type": "tanh", "slope": 2}]},
            SpecError,
            r"^spec.layers\[0\] \(layer 'tanh'\): got an unexpected keyword argument 'slope'; "
            r"it takes no arguments",
        ),
        (
            {"type": "linear", "input_size": 0, "output_size": 2},
            SpecError,
            r"^spec \(layer 'linear'\): Linear: input_size must be a positive integer, got 0",
        ),
        (
            {"type": "linear", "input_size": (3,), "output_size": 2},
            SpecError,
            r"^spec.input_size: expected a JSON value .* got tuple \(3,\)",
        ),
        (
            {"type": "linear", "input_size": 3, "output_size": float("nan")},
            SpecError,
            r"^spec.output_size: expected a finite number, got nan",
        ),
        ({"type": "linear", 3: 4}, SpecError, r"^spec: keys must be strings, got 3"),
    ],
)
def test_malformed_specs_name_the_place_and_the_problem(spec, error, match):
    with pytest.raises(error, match=match):
        nnplug.build(spec)


def test_spec_of_refuses_an_unregistered_layer_naming_where_it_is():
    class Unregistered(modules.Module):
        pass

    model = modules.Sequential([modules.Tanh(), Unregistered()])
    with pytest.raises(SpecError, match=r"^spec.layers\[1\]: .*Unregistered is not a registered"):
        nnplug.spec_of(model)


def test_spec_of_refuses_a_config_that_is_not_json():
    class Scaled(modules.Module):
        def config(self):
            return {"scale": np.float32(2.0)}

    with registered_layers("scaled", {"scaled": Scaled}):
        with pytest.raises(
            SpecError, match=r"^spec.scale \(.*Scaled.config\(\)\): expected a JSON"
        ):
            nnplug.spec_of(Scaled())


def test_a_constructor_that_crashes_names_its_plugin():
    class Fragile(modules.Module):
        def __init__(self, size: int = 1) -> None:
            raise ZeroDivisionError("oops")

    with registered_layers("fragile-plugin", {"fragile": Fragile}):
        with pytest.raises(SpecError, match=r"raised ZeroDivisionError.*plugin 'fragile-plugin'"):
            nnplug.build({"type": "fragile"})


def test_losses_and_optimizers_have_specs_too():
    loss = build_loss({"type": "cross_entropy"})
    assert isinstance(loss, losses.CrossEntropy)
    assert nnplug.spec_of(loss) == {"type": "cross_entropy"}

    model = modules.Linear(2, 1)
    optimizer = build_optimizer({"type": "sgd", "learning_rate": 0.1}, model)
    assert isinstance(optimizer, optimizers.SGD) and optimizer.module is model
    assert nnplug.spec_of(optimizer) == {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}
    with pytest.raises(SpecError, match=r"^spec \(optimizer 'adam'\): got an unexpected"):
        build_optimizer({"type": "adam", "lr": 0.1}, model)
    with pytest.raises(errors.UnknownLossError, match="Did you mean 'mse'"):
        build_loss({"type": "mes"})


def test_spec_of_wants_a_component():
    with pytest.raises(TypeError, match="expected a Module, Loss or Optimizer"):
        nnplug.spec_of(object())  # type: ignore[arg-type]
