"""Plugin loading and the registries: built-ins, code and entry-point plugins, and every fault case.

Each test gets a fresh plugin host, so nothing registered here leaks into other tests.
"""

from __future__ import annotations

import importlib.metadata
import sys
import types
from dataclasses import dataclass, field

import pytest

import nnplug
from nnplug import errors, plugins, registry
from nnplug.modules import Module
from nnplug.plugins import PluginHost, PluginInfo, PluginWarning


class Cube(Module):
    """A layer no built-in plugin provides."""


class OtherCube(Module):
    """A second class, to claim the same name as Cube."""


def make_plugin(**hooks: object) -> types.SimpleNamespace:
    """A plugin object whose hooks return the given values (or raise them, if exceptions)."""

    def hook_returning(value: object):
        def hook():
            if isinstance(value, BaseException):
                raise value
            return value

        return hook

    return types.SimpleNamespace(
        **{name: nnplug.hookimpl(hook_returning(value)) for name, value in hooks.items()}
    )


def install_host(**kwargs: bool) -> PluginHost:
    """Make a new PluginHost the process-wide one."""
    host = PluginHost(**kwargs)
    plugins.reset(host)
    return host


@pytest.fixture
def host(monkeypatch):
    """A fresh plugin host with only nnplug's built-ins, in place of the process-wide one."""
    monkeypatch.delenv("NNPLUG_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("NNPLUG_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    previous = plugins.host()
    try:
        yield install_host(load_entry_points=False)
    finally:
        plugins.reset(previous)


@dataclass
class FakeDistribution:
    """Just enough of importlib.metadata.Distribution for the plugin host."""

    name: str
    version: str
    entry_points: list[importlib.metadata.EntryPoint] = field(default_factory=list)

    @property
    def metadata(self) -> dict[str, str]:
        return {"Name": self.name}


def entry_point(name: str, module: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=module, group="nnplug")


@pytest.fixture
def distributions(monkeypatch):
    """Replace the installed distributions with fakes; returns the list to fill."""
    fakes: list[FakeDistribution] = []
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: list(fakes))
    return fakes


@pytest.fixture
def cube_module(monkeypatch):
    """An importable plugin module, ``fake_cube_plugin``, providing the layer 'cube'."""
    module = types.ModuleType("fake_cube_plugin")
    module.nnplug_layers = make_plugin(nnplug_layers={"cube": Cube}).nnplug_layers
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


# --- the built-ins and code registration --------------------------------------------------------


def test_builtins_come_through_the_hooks(host):
    assert {"linear", "tanh", "sigmoid", "relu", "softmax", "sequential"} <= set(registry.layers)
    assert {"mse", "cross_entropy"} <= set(registry.losses)
    assert {"sgd", "adam"} <= set(registry.optimizers)
    provider = registry.layers.provider("linear")
    assert provider.name == "nnplug.default_plugins.layers"
    assert provider.distribution == "nnplug"
    assert registry.layers["linear"] is nnplug.modules.Linear
    assert registry.layers.name_of(nnplug.modules.Linear) == "linear"
    assert registry.layers.name_of(Cube) is None


def test_registries_are_read_only(host):
    with pytest.raises(TypeError):
        registry.layers["cube"] = Cube  # type: ignore[index]


def test_a_plugin_registered_in_code_appears_and_disappears(host):
    nnplug.register_plugin(make_plugin(nnplug_layers={"cube": Cube}), "cubes")
    try:
        assert registry.layers["cube"] is Cube
        assert registry.layers.provider("cube").name == "cubes"
    finally:
        nnplug.unregister_plugin("cubes")
    assert "cube" not in registry.layers


def test_unknown_names_list_the_known_ones_and_suggest_a_close_one(host):
    with pytest.raises(errors.UnknownLayerError) as caught:
        registry.layers["lineer"]
    message = str(caught.value)
    assert "no layer named 'lineer'" in message
    assert "Did you mean 'linear'?" in message
    assert (
        "Available: conv2d, dropout, flatten, linear, maxpool2d, relu, reshape, sequential, "
        "sigmoid, softmax, tanh." in message
    )
    assert isinstance(caught.value, KeyError)
    with pytest.raises(errors.UnknownLossError, match="Did you mean 'mse'"):
        registry.losses["mes"]
    with pytest.raises(errors.UnknownOptimizerError, match="Available: adam, rmsprop, sgd"):
        registry.optimizers["zzz"]


# --- faults in a plugin's hooks -------------------------------------------------------------------


def test_a_hook_that_raises_is_skipped_with_a_warning_naming_the_plugin(host):
    host.register(make_plugin(nnplug_layers=RuntimeError("boom")), "broken")
    with pytest.warns(PluginWarning, match=r"plugin 'broken': nnplug_layers\(\) raised .*boom"):
        assert "linear" in registry.layers
    assert any("plugin 'broken'" in problem for problem in registry.problems())


def test_a_hook_that_returns_no_mapping_is_skipped(host):
    host.register(make_plugin(nnplug_losses=["cube"]), "listy")
    with pytest.warns(PluginWarning, match="plugin 'listy'.*must return a mapping.*got list"):
        assert set(registry.losses) == {"cross_entropy", "mse"}


def test_values_that_are_not_classes_of_the_right_kind_are_skipped(host):
    host.register(make_plugin(nnplug_layers={"three": 3, "dict": dict, "cube": Cube}), "mixed")
    with pytest.warns(PluginWarning) as caught:
        assert registry.layers["cube"] is Cube
    messages = [str(w.message) for w in caught]
    assert any("'three' as 3, which is not a subclass of" in m for m in messages)
    assert any("'dict' as <class 'dict'>" in m for m in messages)
    assert "three" not in registry.layers and "dict" not in registry.layers


def test_a_layer_registered_as_an_optimizer_is_refused(host):
    host.register(make_plugin(nnplug_optimizers={"cube": Cube}), "confused")
    with pytest.warns(PluginWarning, match="not a subclass of nnplug.optimizers.Optimizer"):
        assert "cube" not in registry.optimizers


def test_names_must_be_nonempty_strings(host):
    host.register(make_plugin(nnplug_layers={"": Cube, 7: Cube}), "nameless")
    with pytest.warns(PluginWarning, match="names must be non-empty strings"):
        assert Cube not in registry.layers.values()


def test_a_duplicate_name_keeps_the_first_and_the_warning_names_both(host):
    host.register(make_plugin(nnplug_layers={"cube": Cube}), "first")
    host.register(make_plugin(nnplug_layers={"cube": OtherCube}), "second")
    with pytest.warns(PluginWarning) as caught:
        winner = registry.layers["cube"]
    assert winner is Cube and registry.layers.provider("cube").name == "first"
    (warning,) = [str(w.message) for w in caught]
    assert "plugin 'second'" in warning and "plugin 'first'" in warning


def test_the_same_class_under_the_same_name_twice_is_harmless(host, recwarn):
    host.register(make_plugin(nnplug_layers={"cube": Cube}), "one")
    host.register(make_plugin(nnplug_layers={"cube": Cube}), "two")
    assert registry.layers["cube"] is Cube
    assert not [w for w in recwarn if issubclass(w.category, PluginWarning)]


def test_registering_the_same_plugin_object_twice_is_harmless(host, recwarn):
    plugin = make_plugin(nnplug_layers={"cube": Cube})
    nnplug.register_plugin(plugin, "cubes")
    nnplug.register_plugin(plugin, "cubes")
    assert registry.layers["cube"] is Cube
    assert not [w for w in recwarn if issubclass(w.category, PluginWarning)]


def test_each_problem_is_reported_once(host):
    host.register(make_plugin(nnplug_layers=RuntimeError("boom")), "broken")
    with pytest.warns(PluginWarning):
        list(registry.layers)
    nnplug.register_plugin(make_plugin(nnplug_losses={}), "other")  # forces a rebuild
    list(registry.layers)
    assert len([p for p in registry.problems() if "boom" in p]) == 1


# --- entry points ---------------------------------------------------------------------------------


def test_entry_point_plugins_are_loaded_with_their_distribution(
    host, distributions, cube_module, recwarn
):
    distributions.append(
        FakeDistribution("nnplug-cube", "2.0", [entry_point("cube", "fake_cube_plugin")])
    )
    install_host()
    assert registry.layers["cube"] is Cube
    assert registry.layers.provider("cube") == PluginInfo(
        "cube", "nnplug-cube", "2.0", "fake_cube_plugin"
    )
    assert not [w for w in recwarn if issubclass(w.category, PluginWarning)]


def test_other_entry_point_groups_are_ignored(host, distributions, cube_module):
    other = importlib.metadata.EntryPoint("cube", "fake_cube_plugin", "console_scripts")
    distributions.append(FakeDistribution("nnplug-cube", "2.0", [other]))
    install_host()
    assert "cube" not in registry.layers


def test_a_plugin_that_fails_to_import_is_skipped_and_nnplug_still_works(host, distributions):
    distributions.append(
        FakeDistribution("nnplug-broken", "0.1", [entry_point("broken", "no_such_module_xyz")])
    )
    with pytest.warns(PluginWarning) as caught:
        install_host()
    (message,) = [str(w.message) for w in caught]
    assert "plugin 'broken' (nnplug-broken 0.1, entry point no_such_module_xyz)" in message
    assert "failed to import" in message and "no_such_module_xyz" in message
    assert "linear" in registry.layers
    assert message in registry.problems()


def test_an_entry_point_name_taken_by_another_distribution_is_skipped(
    host, distributions, cube_module
):
    distributions.extend(
        [
            FakeDistribution("nnplug-cube", "2.0", [entry_point("cube", "fake_cube_plugin")]),
            FakeDistribution("nnplug-cube-fork", "9.9", [entry_point("cube", "fake_cube_plugin")]),
        ]
    )
    with pytest.warns(PluginWarning, match="nnplug-cube-fork 9.9.*already taken by.*nnplug-cube"):
        install_host()
    assert registry.layers.provider("cube").distribution == "nnplug-cube"


def test_a_distribution_seen_twice_is_harmless(host, distributions, cube_module, recwarn):
    """Two copies of one install on sys.path list the same entry point twice."""
    dist = FakeDistribution("nnplug-cube", "2.0", [entry_point("cube", "fake_cube_plugin")])
    distributions.extend([dist, dist])
    install_host()
    assert registry.layers["cube"] is Cube
    assert not [w for w in recwarn if issubclass(w.category, PluginWarning)]


def test_nnplug_load_plugins_loads_only_the_named_entry_points(
    host, distributions, cube_module, monkeypatch
):
    distributions.extend(
        [
            FakeDistribution("nnplug-cube", "2.0", [entry_point("cube", "fake_cube_plugin")]),
            FakeDistribution("nnplug-broken", "0.1", [entry_point("broken", "no_such_module")]),
        ]
    )
    monkeypatch.setenv("NNPLUG_LOAD_PLUGINS", "cube")
    install_host()  # 'broken' is never imported, so no warning
    assert "cube" in registry.layers
    monkeypatch.setenv("NNPLUG_LOAD_PLUGINS", "")
    install_host()
    assert "cube" not in registry.layers
    assert "linear" in registry.layers


def test_nnplug_disable_plugin_autoload_skips_entry_points(
    host, distributions, cube_module, monkeypatch
):
    distributions.append(
        FakeDistribution("nnplug-cube", "2.0", [entry_point("cube", "fake_cube_plugin")])
    )
    monkeypatch.setenv("NNPLUG_DISABLE_PLUGIN_AUTOLOAD", "1")
    install_host()
    assert "cube" not in registry.layers
    nnplug.register_plugin(cube_module, "cube")  # registering in code still works
    assert "cube" in registry.layers


def _no_layers():
    return {}


def _no_layers_from(extra):
    return {}


@pytest.mark.parametrize(
    ("attribute", "function"),
    [("nnplug_layer", _no_layers), ("nnplug_layers", _no_layers_from)],
    ids=["misspelled hook", "hook with an argument the spec lacks"],
)
def test_a_plugin_with_a_malformed_hook_does_not_break_nnplug(
    host, distributions, monkeypatch, attribute, function
):
    module = types.ModuleType("fake_malformed_plugin")
    setattr(module, attribute, nnplug.hookimpl(function))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    distributions.append(
        FakeDistribution("nnplug-typo", "1.0", [entry_point("typo", "fake_malformed_plugin")])
    )
    with pytest.warns(PluginWarning, match="plugin 'typo'"):
        install_host()
    assert "linear" in registry.layers


# --- hostile plugins and precedence (issue 13) ---------------------------------------------------


def test_a_hook_that_calls_sys_exit_is_skipped_and_nnplug_keeps_working(host):
    host.register(make_plugin(nnplug_layers=SystemExit(3)), "quitter")
    with pytest.warns(
        PluginWarning, match=r"plugin 'quitter': nnplug_layers\(\) raised SystemExit"
    ):
        assert "linear" in registry.layers


def test_keyboard_interrupt_in_a_hook_is_not_swallowed(host):
    host.register(make_plugin(nnplug_layers=KeyboardInterrupt()), "ctrl_c")
    with pytest.raises(KeyboardInterrupt):
        list(registry.layers)


def test_a_plugin_that_calls_sys_exit_at_import_is_skipped(host, distributions, monkeypatch):
    class Exiting(types.ModuleType):
        def __getattr__(self, name):
            raise SystemExit(1)

    monkeypatch.setitem(sys.modules, "fake_exiting_plugin", Exiting("fake_exiting_plugin"))
    distributions.append(
        FakeDistribution("nnplug-exit", "1.0", [entry_point("exit", "fake_exiting_plugin:x")])
    )
    with pytest.warns(PluginWarning, match="plugin 'exit'.*failed to import.*SystemExit"):
        install_host()
    assert "linear" in registry.layers


@pytest.mark.parametrize("order", [{"trylast": True}, {"tryfirst": True}, {}])
@pytest.mark.parametrize(
    ("hook", "name"), [("nnplug_layers", "linear"), ("nnplug_backends", "numpy")]
)
def test_builtins_keep_their_names_whatever_the_hook_order(host, order, hook, name):
    from nnplug.backends.base import Backend

    cls = type("Impostor", (Module if hook == "nnplug_layers" else Backend,), {"name": "x"})
    plugin = types.SimpleNamespace(**{hook: nnplug.hookimpl(**order)(lambda: {name: cls})})
    host.register(plugin, "impostor")
    kind = registry.layers if hook == "nnplug_layers" else registry.backends
    with pytest.warns(PluginWarning) as caught:
        assert kind[name] is not cls
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("plugin 'impostor' tried to register")
    assert kind.provider(name).distribution == "nnplug"


@pytest.mark.parametrize("registration_order", [("zeta", "alpha"), ("alpha", "zeta")])
def test_a_contested_name_goes_to_the_first_plugin_by_name(host, registration_order):
    classes = {"alpha": Cube, "zeta": OtherCube}
    for name in registration_order:
        host.register(make_plugin(nnplug_layers={"cube": classes[name]}), name)
    with pytest.warns(PluginWarning, match="plugin 'zeta' tried to register.*plugin 'alpha'"):
        assert registry.layers["cube"] is Cube


def test_entry_points_are_read_in_a_fixed_order(host, distributions, cube_module, monkeypatch):
    fork = types.ModuleType("fake_cube_fork")
    fork.nnplug_layers = make_plugin(nnplug_layers={"cube": OtherCube}).nnplug_layers
    monkeypatch.setitem(sys.modules, "fake_cube_fork", fork)
    modules = {"a": "fake_cube_plugin", "b": "fake_cube_fork"}
    for order in (("b", "a"), ("a", "b")):
        distributions[:] = [
            FakeDistribution(f"nnplug-{d}", "1.0", [entry_point(f"cube_{d}", modules[d])])
            for d in order
        ]
        with pytest.warns(PluginWarning, match="plugin 'cube_b'.* tried to register"):
            install_host()
            assert registry.layers["cube"] is Cube


@pytest.mark.parametrize(
    "env",
    [
        {"NNPLUG_DISABLE_PLUGIN_AUTOLOAD": "1"},
        {"NNPLUG_LOAD_PLUGINS": ""},
        {"NNPLUG_LOAD_PLUGINS": "x"},
    ],
)
def test_the_numpy_backend_is_always_there(host, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    install_host()
    assert "numpy" in registry.backends
    assert registry.backends.provider("numpy").distribution == "nnplug"
