"""nnplug: the neural-network library of the "Neural Network From Scratch" articles, made real.

    from nnplug import modules, losses, optimizers, trainer
    from nnplug.datasets import download_mnist

Importing nnplug loads no plugins and touches no files; plugins load on first use.
"""

from nnplug import errors, losses, modules, optimizers, registry, trainer
from nnplug.backends import current_backend, get_backend, set_backend, use_backend
from nnplug.hookspecs import hookimpl
from nnplug.onnx_export import export_onnx
from nnplug.plugin_kernels import get_include
from nnplug.plugins import register_plugin, unregister_plugin
from nnplug.rng import seed
from nnplug.serialization import load, save
from nnplug.spec import build, spec_of
from nnplug.threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "build",
    "current_backend",
    "errors",
    "export_onnx",
    "get_backend",
    "get_include",
    "get_num_threads",
    "hookimpl",
    "load",
    "losses",
    "modules",
    "optimizers",
    "register_plugin",
    "registry",
    "save",
    "seed",
    "set_backend",
    "set_num_threads",
    "spec_of",
    "trainer",
    "unregister_plugin",
    "use_backend",
]
