"""``nnplug plugins`` and ``nnplug check``."""

from __future__ import annotations

import types
from contextlib import contextmanager

import numpy as np
import pytest

import nnplug
from nnplug import cli, plugins
from nnplug.modules import Activation, Module
from nnplug.plugins import PluginInfo


class Cube(Module):
    """``x ** 3``, element-wise."""

    def forward(self, inputs):
        self.inputs = np.asarray(inputs)
        return self.inputs**3

    def backward(self, output_grad):
        return 3 * self.inputs**2 * output_grad


class WrongCube(Cube):
    def backward(self, output_grad):
        return 2 * self.inputs**2 * output_grad


@contextmanager
def registered(name: str, info: PluginInfo | None = None, **hooks: object):
    """Register a plugin whose hooks return (or raise) ``hooks``, inside a ``with`` block."""

    def returning(value: object):
        def hook():
            if isinstance(value, Exception):
                raise value
            return value

        return nnplug.hookimpl(hook)

    plugin = types.SimpleNamespace(**{hook: returning(value) for hook, value in hooks.items()})
    plugins.host().register(plugin, name, info)
    try:
        yield
    finally:
        nnplug.unregister_plugin(name)


def install_host(**kwargs: bool) -> plugins.PluginHost:
    """Make a new PluginHost the process-wide one."""
    host = plugins.PluginHost(**kwargs)
    plugins.reset(host)
    return host


@pytest.fixture
def fresh_host():
    """A plugin host of its own, so that the problems a test causes don't outlive it."""
    previous = plugins.host()
    install_host(load_entry_points=False)
    try:
        yield
    finally:
        plugins.reset(previous)


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()]


def test_plugins_lists_every_component_with_its_plugin(capsys):
    assert cli.main(["plugins"]) == 0
    table = rows(capsys.readouterr().out)
    assert table[0] == ["NAME", "KIND", "PLUGIN", "DISTRIBUTION", "VERSION", "C", "KERNELS"]
    assert ["linear", "layer", "nnplug.default_plugins.layers", "nnplug"] in [
        row[:4] for row in table[2:]
    ]
    names = {(row[0], row[1]) for row in table[2:] if row}
    assert {("mse", "loss"), ("sgd", "optimizer"), ("numpy", "backend")} <= names


def test_plugins_shows_a_third_party_distribution_and_version(capsys):
    info = PluginInfo("cubes", "nnplug-cube", "2.0", "nnplug_cube")
    with registered("cubes", info, nnplug_layers={"cube": Cube}):
        assert cli.main(["plugins"]) == 0
    assert ["cube", "layer", "cubes", "nnplug-cube", "2.0", "-"] in rows(capsys.readouterr().out)


def test_plugins_ends_with_the_plugin_problems(capsys, fresh_host):
    with registered("broken", nnplug_layers=RuntimeError("boom")):
        assert cli.main(["plugins"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[-2] == "1 plugin problem:"
    assert lines[-1].startswith("- plugin 'broken': nnplug_layers() raised RuntimeError('boom')")
    assert "PluginWarning" not in captured.err  # printed once, in the list


def test_check_passes_on_nnplug_own_plugins(capsys):
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["COMPONENT", "KIND", "CHECK", "RESULT", "ARGUMENTS"]
    row = ["linear", "layer", "gradient", "(float64,", "eval)", "pass"]
    row += ["input_size=4,", "output_size=3"]
    assert row in [line.split() for line in out]
    assert " passed, 0 failed, " in out[-1]


def test_check_of_named_plugins_only_checks_those(capsys):
    assert cli.main(["check", "nnplug.default_plugins.losses"]) == 0
    components = {line.split()[0] for line in capsys.readouterr().out.splitlines()[2:] if line}
    assert {"cross_entropy", "mse"} <= components
    assert "linear" not in components


def test_check_fails_naming_the_component_and_the_check(capsys):
    with registered("bad-plugin", nnplug_layers={"wrong_cube": WrongCube, "cube": Cube}):
        status = cli.main(["check", "bad-plugin"])
    out = capsys.readouterr().out
    assert status == 1
    for mode in ("eval)", "training)"):
        assert ["wrong_cube", "layer", "gradient", "(float64,", mode, "FAIL"] in rows(out)
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2
    assert failed[0].startswith("FAILED layer 'wrong_cube': gradient (float64, eval): WrongCube()")


def test_check_of_an_unknown_plugin_fails(capsys):
    assert cli.main(["check", "nope"]) == 1
    assert "FAILED plugin 'nope': load: no plugin named 'nope' is registered" in (
        capsys.readouterr().out
    )


def test_check_of_all_plugins_reports_problems_of_plugins_that_did_not_load(capsys, fresh_host):
    with pytest.warns(plugins.PluginWarning):
        plugins.host().warn("plugin 'ghost' (nnplug-ghost 1.0) failed to import and was skipped")
    assert cli.main(["check"]) == 1
    assert "FAILED plugin 'ghost': load: plugin 'ghost' (nnplug-ghost 1.0) failed to import" in (
        capsys.readouterr().out
    )


def test_an_activation_subclass_from_a_plugin_is_checked_like_the_builtins(capsys):
    class Square(Activation):
        def activation(self, inputs):
            return inputs**2

        def activation_prime(self, inputs):
            return 2 * inputs

    with registered("squares", nnplug_layers={"square": Square}):
        assert cli.main(["check", "squares"]) == 0
    assert "0 failed" in capsys.readouterr().out
