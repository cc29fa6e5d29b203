"""Which exporter turns a layer into ONNX nodes: nnplug's table, or a plugin's hook.

nnplug's own layers use ``nnplug.onnx_export.layers.BUILTIN``. Any other layer uses the
exporter that a plugin's ``nnplug_onnx_exporters()`` hook gives for its registry name. Each
hook implementation is called on its own: one that raises or returns something malformed is
skipped with a PluginWarning naming its plugin, and a name claimed twice keeps its first
exporter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nnplug import errors, plugins, registry
from nnplug.modules.module import Module
from nnplug.onnx_export.graph import Exporter
from nnplug.onnx_export.layers import BUILTIN

HOOK = "nnplug_onnx_exporters"
DOCS = "docs/onnx.md"


@dataclass(frozen=True)
class ExporterTable:
    """The exporters of one export: nnplug's built-ins and those plugins give, by layer name."""

    builtin: Mapping[str, Exporter]
    from_plugins: Mapping[str, tuple[Exporter, plugins.PluginInfo]]

    def find(self, module: Module, path: str) -> tuple[str, Exporter, str]:
        """Return the registry name, exporter and its origin for the layer ``module`` at ``path``.

        Raises ExportError naming the layer and the plugin behind it when it has none.
        """
        cls = type(module)
        name = registry.layers.name_of(cls)
        if name is None:
            raise errors.ExportError(
                f"{path}: {cls.__module__}.{cls.__qualname__} is not a registered layer, so it "
                f"has no ONNX exporter; register it from a plugin's nnplug_layers() hook and "
                f"give its exporter from the plugin's {HOOK}() hook (see {DOCS})"
            )
        provider = registry.layers.provider(name)
        if provider.distribution == "nnplug" and name in self.builtin:
            return name, self.builtin[name], "nnplug"
        if name in self.from_plugins:
            exporter, origin = self.from_plugins[name]
            return name, exporter, origin.describe()
        if provider.distribution == "nnplug":
            raise errors.ExportError(
                f"{path}: nnplug's layer {name!r} has no ONNX exporter yet, and no plugin's "
                f"{HOOK}() hook gives one"
            )
        raise errors.ExportError(
            f"{path}: layer {name!r} has no ONNX exporter: {provider.describe()}, which "
            f"provides it, gives none from a {HOOK}() hook (see {DOCS})"
        )


def exporters() -> ExporterTable:
    """Collect nnplug's exporters and those of every registered plugin."""
    return ExporterTable(BUILTIN, _from_plugins(plugins.host()))


def _from_plugins(host: plugins.PluginHost) -> dict[str, tuple[Exporter, plugins.PluginInfo]]:
    found: dict[str, tuple[Exporter, plugins.PluginInfo]] = {}
    for impl in getattr(host.manager.hook, HOOK).get_hookimpls():
        info = host.info.get(impl.plugin_name) or plugins.PluginInfo(
            impl.plugin_name, None, None, None
        )
        where = f"{info.describe()}: {HOOK}()"
        try:
            result = impl.function()
        except Exception as error:  # a broken plugin must not break nnplug
            host.warn(f"{where} raised {error!r}; its ONNX exporters were skipped")
            continue
        if not isinstance(result, Mapping):
            host.warn(
                f"{where} must return a mapping of layer names to exporter functions, "
                f"got {type(result).__name__}; skipped"
            )
            continue
        for name, exporter in result.items():
            if not isinstance(name, str) or not name or not callable(exporter):
                host.warn(
                    f"{where} gave {exporter!r} under {name!r}: expected a layer name and a "
                    f"function; skipped"
                )
            elif name in found and found[name][0] is not exporter:
                host.warn(
                    f"{info.describe()} gives an ONNX exporter for {name!r}, which "
                    f"{found[name][1].describe()} already gives; keeping "
                    f"{found[name][1].name!r}'s"
                )
            else:
                found.setdefault(name, (exporter, info))
    return found
