"""``nnplug plugins``: every registered component and the plugin that provides it."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence

from nnplug import plugin_kernels, registry
from nnplug.plugins import PluginWarning

KINDS = (
    ("layer", registry.layers),
    ("loss", registry.losses),
    ("optimizer", registry.optimizers),
    ("backend", registry.backends),
)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``plugins`` command."""
    parser = commands.add_parser(
        "plugins", help="list every registered layer, loss, optimizer and backend"
    )
    parser.set_defaults(run=list_plugins)


def list_plugins(args: argparse.Namespace) -> int:
    """Print the components table, then any plugin problems; exit 0."""
    with warnings.catch_warnings():
        # The problems are printed below, once; no need for the warnings too.
        warnings.simplefilter("ignore", PluginWarning)
        problems = registry.problems()
        rows = [
            (
                name,
                kind,
                info.name,
                info.distribution or "-",
                info.version or "-",
                c_kernels(components[name]) if kind == "layer" else "-",
            )
            for kind, components in KINDS
            for name in components
            for info in [components.provider(name)]
        ]
    headers = ("NAME", "KIND", "PLUGIN", "DISTRIBUTION", "VERSION", "C KERNELS")
    print(format_table(headers, rows))
    if problems:
        print(f"\n{len(problems)} plugin problem{'s' if len(problems) > 1 else ''}:")
        for problem in problems:
            print(f"- {problem}")
    return 0


def c_kernels(cls: type) -> str:
    """The C kernels a plugin layer brings (nnplug_plugin.h): "yes", "refused" (the reason
    is among the plugin problems) or "-" (none)."""
    if getattr(cls, "c_kernels", None) is None:
        return "-"
    return "refused" if plugin_kernels.abi_problem(cls) else "yes"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return ``rows`` as left-aligned columns under ``headers``."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
