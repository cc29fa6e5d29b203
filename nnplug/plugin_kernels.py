"""C kernels that plugin layers bring with them, for nnplug's training plan.

A plugin layer class declares its kernels as ``c_kernels = ElementwiseKernels.from_library(
ffi, lib, "swish")`` (its own cffi module, compiled against ``get_include()``'s
``nnplug_plugin.h``) and gives each instance's scalar hyperparameters with
``kernel_params()``. Before a plan uses them nnplug checks, once per class, the ABI version
the plugin was built against, and once per set of params, a probe against the layer's own
``forward``/``backward`` on the NumPy backend, which stay the definition. Kernels that fail
are refused with one ``PluginWarning`` naming the plugin, and the layer runs from Python.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnplug import registry
from nnplug.backends.plan import ExternKernels
from nnplug.plugins import PluginWarning

if TYPE_CHECKING:
    from nnplug.modules.module import Module

__all__ = [
    "PROBE_SHAPE",
    "ElementwiseKernels",
    "abi_problem",
    "compare_kernels",
    "extern_kernels",
    "get_include",
    "kernels_for",
    "probe",
    "registration_problem",
]

# float32 tolerances between a plugin's C kernels and its NumPy definition.
RTOL = 1e-4
ATOL = 1e-5

PROBE_SHAPE = (1, 7)
"""The inputs of the probe before first use: one row of an odd number of elements."""


def get_include() -> str:
    """The directory holding ``nnplug_plugin.h``, for a plugin's C build (``include_dirs``)."""
    return str(Path(__file__).resolve().parent / "include")


@dataclass(frozen=True)
class ElementwiseKernels:
    """A plugin layer's element-wise C kernels (nnplug_plugin.h, ABI 1).

    ``forward``, ``backward`` and ``abi_version`` are C function pointers from the plugin's
    own cffi module (``ffi.addressof(lib, "swish_forward")``) or their addresses; the
    ``*_name`` fields say which functions they are in warnings and check reports.
    """

    forward: Any
    backward: Any
    abi_version: Any
    forward_name: str = "forward"
    backward_name: str = "backward"

    @classmethod
    def from_library(cls, ffi: Any, lib: Any, prefix: str) -> ElementwiseKernels:
        """The kernels ``<prefix>_forward``, ``<prefix>_backward`` and
        ``<prefix>_abi_version`` of the compiled cffi module ``lib``."""
        names = [f"{prefix}_{part}" for part in ("forward", "backward", "abi_version")]
        forward, backward, version = (ffi.addressof(lib, name) for name in names)
        return cls(forward, backward, version, names[0], names[1])


def _declared(cls: type) -> ElementwiseKernels | None:
    return getattr(cls, "c_kernels", None)


def _owner(cls: type) -> str:
    """The layer's registered name and the plugin that provides it, for messages."""
    name = registry.layers.name_of(cls)
    if name is None:
        return f"layer {cls.__module__}.{cls.__qualname__}"
    return f"layer {name!r} of {registry.layers.provider(name).describe()}"


_abi_problems: dict[type, str | None] = {}
_probed: dict[tuple[type, tuple[float, ...]], ExternKernels | str] = {}
_warned: set[type] = set()


def abi_problem(cls: type, owner: str | None = None) -> str | None:
    """Why the C kernels ``cls`` declares cannot be used at all (None: they can), checked
    once per class: the declaration, the native extension, the pointers and the ABI version.
    ``owner`` names the layer and its plugin in the message (default: looked up)."""
    if cls not in _abi_problems:
        _abi_problems[cls] = _check_abi(cls, owner or _owner(cls))
    return _abi_problems[cls]


def registration_problem(cls: type, name: str, plugin: str) -> str | None:
    """What the registry reports, once, when layer ``name`` of ``plugin`` registers: why its
    declared C kernels are refused, or None (none declared, no C extension, or they pass).
    A problem reported here is not warned about again at first use."""
    if _declared(cls) is None:
        return None
    try:
        import nnplug._c.plugin_kernels  # noqa: F401
    except ImportError:  # no plan runs C kernels then; nothing to refuse
        return None
    problem = abi_problem(cls, f"layer {name!r} of {plugin}")
    if problem is not None:
        _warned.add(cls)
    return problem


registry.checks("layers", registration_problem)


def _check_abi(cls: type, owner: str) -> str | None:
    declared = _declared(cls)
    if not isinstance(declared, ElementwiseKernels):
        return (
            f"the C kernels of {owner} are refused: c_kernels must be an "
            f"nnplug.plugin_kernels.ElementwiseKernels, got {declared!r}"
        )
    try:
        from nnplug._c import plugin_kernels as c_kernels
    except ImportError:
        return f"the C kernels of {owner} are unused: nnplug's C extension is not built"
    try:
        version_address = c_kernels.address_of(declared.abi_version, "abi_version")
        c_kernels.address_of(declared.forward, declared.forward_name)
        c_kernels.address_of(declared.backward, declared.backward_name)
    except ValueError as error:
        return f"the C kernels of {owner} are refused: {error}"
    theirs, ours = c_kernels.reported_abi_version(version_address), c_kernels.abi_version()
    if theirs != ours:
        return (
            f"the C kernels of {owner} are refused: they were built against "
            f"nnplug_plugin.h ABI version {theirs}, but this nnplug has ABI version {ours}; "
            "rebuild (reinstall) the plugin against this nnplug. Its NumPy path is used."
        )
    return None


def extern_kernels(layer: Module) -> ExternKernels | None:
    """The kernels ``layer`` declares, with its params, unchecked (None: it declares none,
    or this instance has no C path, as ``kernel_params()`` returning None says)."""
    declared = _declared(type(layer))
    if declared is None:
        return None
    params = layer.kernel_params()  # type: ignore[attr-defined]
    if params is None:
        return None
    params = tuple(float(value) for value in params)
    if not all(math.isfinite(value) for value in params):
        raise ValueError(f"{layer!r}: kernel_params() must be finite numbers, got {params}")
    from nnplug._c import plugin_kernels as c_kernels

    return ExternKernels(
        f"{declared.forward_name}/{declared.backward_name}",
        c_kernels.address_of(declared.forward, declared.forward_name),
        c_kernels.address_of(declared.backward, declared.backward_name),
        params,
    )


def kernels_for(layer: Module) -> ExternKernels | None:
    """The checked C kernels of ``layer`` for a training plan, or None: it has none, or they
    were refused (then one PluginWarning per layer class says why)."""
    cls = type(layer)
    if _declared(cls) is None:
        return None
    result = abi_problem(cls) or probe(layer)
    if not isinstance(result, str):
        return result
    if cls not in _warned:
        _warned.add(cls)
        warnings.warn(result, PluginWarning, stacklevel=2)
    return None


def probe(layer: Module) -> ExternKernels | str | None:
    """The layer's kernels once the probe before first use passed for its params (cached per
    class and params), or why they are refused (None: no C path for this instance)."""
    cls = type(layer)
    try:
        kernels = extern_kernels(layer)
    except (ValueError, TypeError) as error:
        return f"the C kernels of {_owner(cls)} are refused: {error}"
    if kernels is None:
        return None
    if layer.parameters():
        return (
            f"the C kernels of {_owner(cls)} are refused for {layer!r}: element-wise "
            "kernels cannot compute parameter gradients; return None from kernel_params() "
            "when the layer has parameters"
        )
    key = (cls, kernels.params)
    if key not in _probed:
        mismatch = compare_kernels(layer, kernels, [PROBE_SHAPE])
        _probed[key] = (
            kernels
            if mismatch is None
            else f"the C kernels of {_owner(cls)} are refused: {mismatch}. Its NumPy path is used."
        )
    return _probed[key]


def compare_kernels(
    layer: Module, kernels: ExternKernels, shapes: Iterable[tuple[int, ...]], seed: int = 0
) -> str | None:
    """Run ``kernels`` and ``layer``'s forward and backward on the NumPy backend on inputs of
    each shape; return the first disagreement (naming the kernel and the case), or None."""
    from nnplug._c import plugin_kernels as c_kernels
    from nnplug.backends import use_backend

    forward_name, backward_name = kernels.name.split("/")
    rng = np.random.default_rng(seed)
    for shape in shapes:
        case = f"inputs of shape {shape}"
        x = _inputs(rng, shape)
        dy = rng.standard_normal(shape).astype(np.float32)
        reference = copy.deepcopy(layer).train(True)
        with use_backend("numpy"):
            expected_y = np.asarray(reference.forward(x), dtype=np.float32)
            expected_dx = np.asarray(reference.backward(dy), dtype=np.float32)
        status, y = c_kernels.call_forward(kernels, x)
        if status != 0:
            return f"C kernel {forward_name} returned status {status} on {case}"
        problem = _disagreement(y, expected_y, "forward()")
        if problem:
            return f"C kernel {forward_name} disagrees with the layer's {problem} on {case}"
        status, dx = c_kernels.call_backward(kernels, x, np.ascontiguousarray(expected_y), dy)
        if status != 0:
            return f"C kernel {backward_name} returned status {status} on {case}"
        problem = _disagreement(dx, expected_dx, "backward()")
        if problem:
            return f"C kernel {backward_name} disagrees with the layer's {problem} on {case}"
    return None


def _inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Inputs spread over the range activations care about, with a few large values."""
    x = (rng.standard_normal(shape) * 3.0).astype(np.float32)
    flat = x.reshape(-1)
    for i, value in zip(range(0, flat.size, 5), (-30.0, 30.0, 0.0, -1e-3), strict=False):
        flat[i] = value
    return x


def _disagreement(got: np.ndarray, expected: np.ndarray, what: str) -> str | None:
    if got.shape != expected.shape:
        return f"{what}: shape {got.shape}, expected {expected.shape}"
    bad = ~np.isclose(got, expected, rtol=RTOL, atol=ATOL)
    if not bad.any():
        return None
    index = np.unravel_index(int(np.argmax(bad)), got.shape)
    return (
        f"{what} at {bad.sum()} of {got.size} elements (first at index {tuple(map(int, index))}"
        f": {float(got[index]):.8g} instead of {float(expected[index]):.8g})"
    )
