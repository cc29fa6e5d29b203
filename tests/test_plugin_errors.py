"""An error raised inside a plugin's layer names the plugin."""

import sys

import numpy as np
import pytest

import nnplug
from nnplug import modules


class Exploding(modules.Module):
    def __init__(self, where: str) -> None:
        self.where = where

    def forward(self, inputs):
        if self.where == "forward":
            raise ValueError("boom in forward")
        return inputs

    def backward(self, output_grad):
        raise ArithmeticError("boom in backward")


class ExplodingPlugin:
    @nnplug.hookimpl
    def nnplug_layers(self):
        return {"exploding": Exploding}


@pytest.fixture
def exploding_plugin():
    nnplug.register_plugin(ExplodingPlugin(), "exploding-plugin")
    try:
        yield
    finally:
        nnplug.unregister_plugin("exploding-plugin")


pytestmark = pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes need 3.11")


@pytest.mark.parametrize(
    ("where", "error"), [("forward", ValueError), ("backward", ArithmeticError)]
)
def test_error_keeps_its_type_and_names_the_plugin(exploding_plugin, where, error):
    model = modules.Sequential([modules.Linear(2, 2), Exploding(where)])
    with pytest.raises(error) as info:
        model.backward(model.forward(np.ones((1, 2))))
    notes = "\n".join(info.value.__notes__)
    assert (
        f"raised in {where}() of layer 'exploding', provided by plugin 'exploding-plugin'" in notes
    )


def test_errors_of_nnplugs_own_layers_get_no_note():
    model = modules.Sequential([modules.Linear(2, 2)])
    with pytest.raises(ValueError) as info:
        model.forward(np.ones((1, 3)))
    assert not getattr(info.value, "__notes__", None)


def test_unregistered_layer_errors_pass_through_unchanged():
    model = modules.Sequential([Exploding("forward")])
    with pytest.raises(ValueError) as info:
        model.forward(np.ones((1, 2)))
    assert not getattr(info.value, "__notes__", None)
