"""The conformance kit (``nnplug.testing``): it passes nnplug's own components and catches
broken ones, naming the component and the check that failed."""

from __future__ import annotations

import types
from contextlib import contextmanager
from typing import ClassVar

import numpy as np
import pytest
from nnplug_numpy import NumpyBackend

import nnplug
from nnplug import plugins, testing
from nnplug.backends import Backend
from nnplug.losses import MSE
from nnplug.modules import Activation, Module
from nnplug.optimizers import Optimizer

BUILTIN_PLUGINS = (
    "nnplug.default_plugins.layers",
    "nnplug.default_plugins.losses",
    "nnplug.default_plugins.optimizers",
)


@contextmanager
def registered(name: str, **hooks: dict[str, type]):
    """Register a plugin whose hooks return ``hooks``, for the duration of a ``with`` block."""

    def returning(value: dict[str, type]):
        return nnplug.hookimpl(lambda: value)

    plugin = types.SimpleNamespace(**{hook: returning(value) for hook, value in hooks.items()})
    nnplug.register_plugin(plugin, name)
    try:
        yield
    finally:
        nnplug.unregister_plugin(name)


def failures(report: testing.Report) -> set[tuple[str, str]]:
    return {(result.component, result.check) for result in report.failures}


def install_host(**kwargs: bool) -> plugins.PluginHost:
    """Make a new PluginHost the process-wide one."""
    host = plugins.PluginHost(**kwargs)
    plugins.reset(host)
    return host


# --- fixture components, each wrong in one way ----------------------------------------------------


class WrongTanh(Activation):
    """tanh with a wrong derivative: 1 - y instead of 1 - y**2."""

    def activation(self, inputs):
        return np.tanh(inputs)

    def activation_prime(self, inputs):
        return 1 - np.tanh(inputs)


class Scale(Module):
    """``y = w * x`` with a learnable scalar ``w``; ``double_grad`` makes dw wrong."""

    check_examples: ClassVar[list[dict]] = [{"w": 0.5}]
    double_grad = False

    def __init__(self, w: float = 1.0, dtype: str = "float32") -> None:
        self.w = np.array([w], dtype=dtype)
        self.w_grad = np.zeros_like(self.w)

    def forward(self, inputs):
        self.inputs = np.asarray(inputs, dtype=self.w.dtype)
        return self.inputs * self.w

    def backward(self, output_grad):
        factor = 2 if self.double_grad else 1
        self.w_grad += factor * np.sum(output_grad * self.inputs)
        return output_grad * self.w

    def parameters(self):
        return [self.w]

    def gradients(self):
        return [self.w_grad]

    def config(self):
        return {"w": float(self.w[0]), "dtype": self.w.dtype.name}


class WrongScaleGrad(Scale):
    double_grad = True


class NoDtypeScale(Scale):
    """Has a parameter but no ``dtype`` argument, so it cannot be checked in float64."""

    def __init__(self, w: float = 1.0) -> None:
        super().__init__(w)

    def config(self):
        return {"w": float(self.w[0])}


class Forgetful(Module):
    """``y = factor * x``; its config() forgets ``factor``, so a rebuilt layer differs."""

    check_examples: ClassVar[list[dict]] = [{"factor": 3.0}]

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor

    def forward(self, inputs):
        return self.factor * np.asarray(inputs)

    def backward(self, output_grad):
        return self.factor * np.asarray(output_grad)


class NeedsArguments(Module):
    def __init__(self, size: int) -> None:
        self.size = size


class BadExamples(Module):
    check_examples = {"size": 3}


class Exploding(Module):
    def forward(self, inputs):
        raise FloatingPointError("exploded")


class UpsideDownMSE(MSE):
    def loss_prime(self, y_true, y_pred):
        return -super().loss_prime(y_true, y_pred)


class Ascent(Optimizer):
    """Gradient *ascent*: every step increases the loss."""

    def step(self):
        for param, grad in zip(self.module.parameters(), self.module.gradients(), strict=True):
            param += 0.01 * grad


class UnnormalisedBackend(NumpyBackend):
    """Softmax without the division: rows don't sum to one."""

    name = "unnormalised"

    def softmax(self, x):
        return np.exp(x - x.max(axis=1, keepdims=True))


class TwinBackend(NumpyBackend):
    name = "twin"


# --- the built-ins pass -------------------------------------------------------------------------


def test_nnplug_own_components_conform():
    for name in BUILTIN_PLUGINS:
        testing.assert_plugin_conforms(name)
    report = testing.check_plugins()
    assert report.passed, "\n".join(map(str, report.failures))
    checked = {(result.kind, result.component) for result in report}
    assert {("layer", "linear"), ("layer", "sequential"), ("loss", "cross_entropy")} <= checked
    assert {("optimizer", "adam"), ("backend", "numpy")} <= checked


def test_every_backend_kernel_has_a_conformance_case():
    assert set(testing.KERNELS) == Backend.__abstractmethods__


def test_linear_is_checked_with_its_examples():
    report = testing.check_layer("linear")
    examples = {result.example for result in report}
    assert examples == {"input_size=4, output_size=3", 'input_size=3, output_size=2, init="he"'}
    checks = {(r.component, r.check) for r in report}
    for mode in ("eval", "training"):
        assert ("linear", f"gradient (float64, {mode})") in checks
        assert ("linear", f"contract ({mode})") in checks


def test_a_second_backend_is_compared_with_the_reference():
    with registered("twin-plugin", nnplug_backends={"twin": TwinBackend}):
        report = testing.check_plugins()
    assert report.passed, "\n".join(map(str, report.failures))
    parity = {(r.kind, r.component) for r in report if r.check.startswith("parity twin")}
    assert {("layer", "softmax"), ("loss", "mse"), ("optimizer", "sgd")} <= parity


# --- broken components fail, naming the component and the check ---------------------------------


def test_a_wrong_backward_fails_the_gradient_check():
    with registered("bad-plugin", nnplug_layers={"wrong_tanh": WrongTanh}):
        report = testing.check_plugin("bad-plugin")
        with pytest.raises(AssertionError) as caught:
            testing.assert_plugin_conforms("bad-plugin")
    assert failures(report) == {
        ("wrong_tanh", "gradient (float64, eval)"),
        ("wrong_tanh", "gradient (float64, training)"),
    }
    assert "layer 'wrong_tanh': gradient (float64, eval): WrongTanh(): input gradient" in str(
        caught.value
    )


def test_a_wrong_parameter_gradient_fails_the_gradient_check():
    with registered("bad-plugin", nnplug_layers={"scale": Scale, "bad_scale": WrongScaleGrad}):
        report = testing.check_plugin("bad-plugin")
    assert failures(report) == {
        ("bad_scale", "gradient (float64, eval)"),
        ("bad_scale", "gradient (float64, training)"),
    }
    failure = report.failures[0]
    assert "gradient of parameter 0" in failure.detail and failure.example == "w=0.5"


@pytest.mark.parametrize(
    ("cls", "check", "detail"),
    [
        (NoDtypeScale, "gradient (float64, eval)", "must take a 'dtype' argument"),
        (Forgetful, "spec round trip", "output: rebuilt differs from the reference"),
        (NeedsArguments, "build", "missing a required argument: 'size'"),
        (BadExamples, "examples", "check_examples must be a list of dicts"),
        (Exploding, "contract (eval)", "FloatingPointError: exploded"),
    ],
)
def test_broken_layers_fail_the_check_they_break(cls, check, detail):
    with registered("bad-plugin", nnplug_layers={"broken": cls}):
        report = testing.check_layer("broken")
    assert ("broken", check) in failures(report)
    failure = next(f for f in report.failures if f.check == check)
    assert detail in failure.detail and failure.kind == "layer"


def test_a_wrong_loss_gradient_fails():
    with registered("bad-plugin", nnplug_losses={"upside_down": UpsideDownMSE}):
        report = testing.check_plugin("bad-plugin")
    assert failures(report) == {("upside_down", "gradient (float64)")}


def test_an_optimizer_that_climbs_fails():
    with registered("bad-plugin", nnplug_optimizers={"ascent": Ascent}):
        report = testing.check_plugin("bad-plugin")
    assert failures(report) == {("ascent", "steps decrease the loss")}


def test_a_wrong_backend_kernel_fails_and_so_does_parity_with_it():
    with registered("bad-plugin", nnplug_backends={"unnormalised": UnnormalisedBackend}):
        backend_report = testing.check_plugin("bad-plugin")
        layer_report = testing.check_layer("softmax")
    assert failures(backend_report) == {("unnormalised", "kernel softmax")}
    assert "rows do not sum to 1" in backend_report.failures[0].detail
    assert failures(layer_report) == {
        ("softmax", "parity unnormalised (eval)"),
        ("softmax", "parity unnormalised (training)"),
    }


def test_an_unknown_plugin_is_a_failure_listing_the_known_ones():
    report = testing.check_plugin("no-such-plugin")
    assert failures(report) == {("no-such-plugin", "load")}
    assert "registered plugins: " in report.failures[0].detail
    assert "nnplug.default_plugins.layers" in report.failures[0].detail


def test_a_plugin_with_load_problems_fails():
    previous = plugins.host()
    install_host(load_entry_points=False)
    try:
        broken = types.SimpleNamespace(nnplug_layers=nnplug.hookimpl(lambda: ["not", "a", "map"]))
        nnplug.register_plugin(broken, "listy")
        with pytest.warns(plugins.PluginWarning):
            report = testing.check_plugin("listy")
    finally:
        plugins.reset(previous)
    assert failures(report) == {("listy", "load")}
    assert "must return a mapping" in report.failures[0].detail
