"""The hooks through which plugins give nnplug layers, losses, optimizers, backends and exporters.

A plugin is a module (or object) with functions named after these hooks and marked with
``nnplug.hookimpl``. Each hook takes no arguments and returns a mapping of registry name to
class (to a function, for ``nnplug_onnx_exporters``). Hooks may gain optional arguments in
later versions, never lose them, so a plugin written today keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pluggy

hookspec = pluggy.HookspecMarker("nnplug")
hookimpl = pluggy.HookimplMarker("nnplug")
"""Mark a plugin's hook implementations with this: ``@nnplug.hookimpl``."""


# --- model components -------------------------------------------------------------------


@hookspec
def nnplug_layers() -> Mapping[str, type]:
    """Return the layers this plugin provides, as ``{name: Module subclass}``.

    Each class is built as ``cls(**kwargs)`` from a model spec; its constructor arguments
    must be JSON values (numbers, strings, booleans, lists).
    """


@hookspec
def nnplug_losses() -> Mapping[str, type]:
    """Return the losses this plugin provides, as ``{name: Loss subclass}``."""


@hookspec
def nnplug_optimizers() -> Mapping[str, type]:
    """Return the optimizers this plugin provides, as ``{name: Optimizer subclass}``.

    Each class is built as ``cls(module, **kwargs)``.
    """


# --- numerical backends ---------------------------------------------------------------


@hookspec
def nnplug_backends() -> Mapping[str, type]:
    """Return the backends this plugin provides, as ``{name: Backend subclass}``.

    Return an empty mapping when the backend cannot work here (a missing extension, say).
    """


# --- export ---------------------------------------------------------------------------------


@hookspec
def nnplug_onnx_exporters() -> Mapping[str, Callable[..., str]]:
    """Return ONNX exporters for layers, as ``{layer name: exporter}``.

    ``nnplug.export_onnx`` calls ``exporter(layer, graph, x)`` for each layer registered
    under that name: ``graph`` is an ``nnplug.onnx_export.OnnxGraph`` (add nodes with
    ``graph.node``, weights with ``graph.constant``), ``x`` the name of the layer's input
    value; it returns the name of the layer's output value. See docs/onnx.md.
    """
