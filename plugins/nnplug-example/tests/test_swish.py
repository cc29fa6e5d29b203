"""nnplug-swish's own tests: the layer's maths, the conformance kit, and the plugin installed.

The tests marked ``installed`` need ``pip install`` of this directory (nnplug finds it through
its entry point); the others register the plugin in code when it is not installed.
"""

from __future__ import annotations

import importlib.metadata

import nnplug_swish
import numpy as np
import pytest
from nnplug_swish import Swish

import nnplug
from nnplug import cli, registry
from nnplug.testing import assert_plugin_conforms, check_plugin

PLUGIN = "swish"


def _distribution() -> importlib.metadata.Distribution | None:
    try:
        return importlib.metadata.distribution("nnplug-swish")
    except importlib.metadata.PackageNotFoundError:
        return None


installed = pytest.mark.skipif(
    _distribution() is None,
    reason="nnplug-swish is not installed: pip install plugins/nnplug-example",
)


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


def test_forward_is_x_times_sigmoid_beta_x():
    x = np.linspace(-6, 6, 13).reshape(1, -1)
    expected = x / (1 + np.exp(-0.5 * x))
    np.testing.assert_allclose(Swish(beta=0.5, dtype="float64")(x), expected, rtol=1e-12)


def test_bad_arguments_name_the_layer():
    with pytest.raises(ValueError, match="Swish: beta must be a finite number"):
        Swish(beta=float("nan"))
    with pytest.raises(nnplug.spec.SpecError, match=r"spec.layers\[1\] \(layer 'swish'\)"):
        nnplug.build(
            {"type": "sequential", "layers": [{"type": "tanh"}, {"type": "swish", "b": 1}]}
        )


def test_passes_the_conformance_kit():
    assert_plugin_conforms(PLUGIN)
    report = check_plugin(PLUGIN)
    checks = {(result.component, result.check) for result in report}
    assert ("swish", "gradient (float64, eval)") in checks
    assert ("swish", "gradient (float64, training)") in checks
    assert ("swish", "save/load") in checks


def test_nnplug_check_passes(capsys):
    assert cli.main(["check", PLUGIN]) == 0
    assert "0 failed" in capsys.readouterr().out


def test_builds_by_name_trains_saves_and_loads(tmp_path):
    nnplug.seed(0)
    spec = {
        "type": "sequential",
        "layers": [
            {"type": "linear", "input_size": 2, "output_size": 8},
            {"type": "swish", "trainable": True},
            {"type": "linear", "input_size": 8, "output_size": 1},
        ],
    }
    model = nnplug.build(spec)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    optimizer = nnplug.optimizers.Adam(model, learning_rate=0.05)
    errors = nnplug.trainer.train(
        model, x, y, nnplug.losses.MSE(), optimizer, epochs=300, batch_size=4, verbose=False
    )
    assert errors[-1] < errors[0] / 10
    assert model[1].beta[0] != 1.0  # beta was learned

    path = tmp_path / "xor.nnp"
    nnplug.save(model, path)
    loaded = nnplug.load(path)
    assert nnplug.spec_of(loaded) == nnplug.spec_of(model)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


@installed
def test_found_through_its_entry_point():
    info = registry.layers.provider("swish")
    assert info.name == PLUGIN
    assert info.distribution == "nnplug-swish"
    assert info.version == _distribution().version
    assert info.entry_point == "nnplug_swish"


@installed
def test_listed_by_nnplug_plugins(capsys):
    assert cli.main(["plugins"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    expected = ["swish", "layer", PLUGIN, "nnplug-swish", _distribution().version]
    (row,) = [row for row in rows if row[:5] == expected]
    assert row[5] == ("yes" if nnplug_swish.swish.KERNELS is not None else "-")
