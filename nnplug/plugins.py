"""Finding plugins: nnplug's built-ins, the ``nnplug`` entry-point group, and code registrations.

Nothing is loaded at import time; the first registry lookup loads everything once. Set
``NNPLUG_DISABLE_PLUGIN_AUTOLOAD=1`` to skip entry points, or ``NNPLUG_LOAD_PLUGINS`` to a
comma-separated list of entry-point names to load only those. The built-ins, the NumPy
backend among them, are always registered. A plugin that fails to load (by raising anything
but KeyboardInterrupt, ``SystemExit`` included) is skipped with one warning naming it;
nnplug keeps working.

Precedence, when two plugins register the same component name: nnplug's built-ins come
first, whatever a plugin's hook ordering (``tryfirst``/``trylast``) says; then every other
plugin in alphabetical order of its plugin name (the entry-point name, or the name given to
``register_plugin``). The first keeps the name; each later claim is skipped with a warning
naming both plugins. Entry points are read sorted by name and distribution, so the result
does not depend on the order of ``sys.path``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import warnings
from dataclasses import dataclass

import pluggy

from nnplug import hookspecs

ENTRY_POINT_GROUP = "nnplug"
DEFAULT_PLUGINS = (
    "nnplug.default_plugins.layers",
    "nnplug.default_plugins.losses",
    "nnplug.default_plugins.optimizers",
    "nnplug.default_plugins.c_backend",
    "nnplug_numpy",
)


class PluginWarning(UserWarning):
    """A plugin could not be loaded or registered something invalid; it was skipped."""


@dataclass(frozen=True)
class PluginInfo:
    """Where a registered plugin comes from."""

    name: str
    distribution: str | None
    version: str | None
    entry_point: str | None

    def describe(self) -> str:
        """A human-readable origin, e.g. ``plugin 'swish' (nnplug-swish 1.0, entry point ...)``."""
        parts = []
        if self.distribution:
            parts.append(f"{self.distribution} {self.version or ''}".strip())
        if self.entry_point:
            parts.append(f"entry point {self.entry_point}")
        origin = f" ({', '.join(parts)})" if parts else ""
        return f"plugin {self.name!r}{origin}"


class PluginHost:
    """One plugin manager with what it loaded, where each plugin came from, and what failed."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.manager.add_hookspecs(hookspecs)
        self.info: dict[str, PluginInfo] = {}
        self.problems: list[str] = []
        self.generation = 0
        version = _nnplug_version()
        for module_name in DEFAULT_PLUGINS:
            self.register(
                importlib.import_module(module_name),
                module_name,
                PluginInfo(module_name, "nnplug", version, None),
            )
        self.manager.check_pending()
        if load_entry_points and not _env_flag("NNPLUG_DISABLE_PLUGIN_AUTOLOAD"):
            self._load_entry_points()

    def register(self, plugin: object, name: str, info: PluginInfo | None = None) -> None:
        """Register ``plugin`` under ``name``; registering the same object twice is harmless."""
        if self.manager.is_registered(plugin):
            return
        self.manager.register(plugin, name=name)
        self.info[name] = info or PluginInfo(name, None, None, None)
        self.generation += 1

    def unregister(self, name: str) -> None:
        """Remove the plugin registered under ``name``."""
        self.manager.unregister(name=name)
        self.info.pop(name, None)
        self.generation += 1

    def precedence(self, name: str) -> tuple[int, int, str]:
        """The sort key that decides which plugin keeps a contested name: lowest first."""
        if name in DEFAULT_PLUGINS:
            return (0, DEFAULT_PLUGINS.index(name), name)
        return (1, 0, name)

    def warn(self, message: str) -> None:
        """Record a plugin problem and show it as a PluginWarning, once per message."""
        if message in self.problems:
            return
        self.problems.append(message)
        warnings.warn(message, PluginWarning, stacklevel=2)

    def _load_entry_points(self) -> None:
        allowed = _allow_list()
        found = [
            (
                entry_point,
                PluginInfo(
                    entry_point.name, dist.metadata["Name"], dist.version, entry_point.value
                ),
            )
            for dist in importlib.metadata.distributions()
            for entry_point in dist.entry_points
            if entry_point.group == ENTRY_POINT_GROUP
            and (allowed is None or entry_point.name in allowed)
        ]
        found.sort(key=lambda pair: (pair[1].name, pair[1].distribution or "", pair[1].entry_point))
        for entry_point, info in found:
            if self.manager.get_plugin(entry_point.name) is not None:
                if self.info.get(entry_point.name) != info:
                    self.warn(
                        f"{info.describe()} skipped: the plugin name {entry_point.name!r} "
                        f"is already taken by {self.info[entry_point.name].describe()}"
                    )
                continue
            try:
                plugin = entry_point.load()
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # a broken plugin, even one calling sys.exit
                self.warn(f"{info.describe()} failed to import and was skipped: {error!r}")
                continue
            self._register_checked(plugin, entry_point.name, info)

    def _register_checked(self, plugin: object, name: str, info: PluginInfo) -> None:
        """Register an entry-point plugin, or skip it with a warning if its hooks are malformed.

        A misspelled hook or one taking arguments no spec offers would otherwise fail later,
        for every plugin at once.
        """
        try:
            self.register(plugin, name, info)
            self.manager.check_pending()
        except pluggy.PluginValidationError as error:
            if self.manager.is_registered(plugin):
                self.unregister(name)
            self.warn(f"{info.describe()} was skipped: {error}")


def _nnplug_version() -> str | None:
    try:
        return importlib.metadata.version("nnplug")
    except importlib.metadata.PackageNotFoundError:
        return None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _allow_list() -> set[str] | None:
    value = os.environ.get("NNPLUG_LOAD_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


_host: PluginHost | None = None


def host() -> PluginHost:
    """Return the process-wide plugin host, loading plugins on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host


def reset(new_host: PluginHost | None = None) -> None:
    """Replace the plugin host (None: load plugins afresh on next use)."""
    global _host
    _host = new_host


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Register a plugin object or module from code, without an entry point."""
    host().register(plugin, name or getattr(plugin, "__name__", None) or repr(plugin))


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered under ``name``."""
    host().unregister(name)
