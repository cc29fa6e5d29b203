"""Wrapper of plugin kernels (nnplug/include/nnplug_plugin.h): the one module that calls a
plugin's own C functions, always on arrays it has checked first.

A plugin hands over function pointers from its own cffi module (``ffi.addressof(lib, name)``)
or plain addresses; they become nnplug's own function pointer types here.
"""

from __future__ import annotations

import numpy as np

from nnplug._c._checks import require_float32
from nnplug._native import ffi, lib
from nnplug.backends.plan import ExternKernels

__all__ = [
    "abi_version",
    "address_of",
    "call_backward",
    "call_forward",
    "extern_elementwise",
    "reported_abi_version",
]

FORWARD = "int(*)(ptrdiff_t, const float *, float *, const double *)"
BACKWARD = "int(*)(ptrdiff_t, const float *, const float *, const float *, float *, const double *)"
ABI_VERSION = "int(*)(void)"


def abi_version() -> int:
    """The NNPLUG_PLUGIN_ABI_VERSION nnplug itself was compiled with."""
    return int(lib.nnp_plugin_abi_version())


def address_of(pointer: object, what: str) -> int:
    """The address of a C function: ``pointer`` is a cffi function pointer (from any FFI) or
    a positive int; ValueError names ``what`` otherwise."""
    if isinstance(pointer, int) and not isinstance(pointer, bool):
        address = pointer
    elif isinstance(pointer, ffi.CData) and ffi.typeof(pointer).kind == "function":
        address = int(ffi.cast("uintptr_t", pointer))
    else:
        raise ValueError(
            f"{what} must be a C function pointer (ffi.addressof(lib, name)) or an address; "
            f"got {pointer!r}"
        )
    if address <= 0 or address >= 2 ** (8 * ffi.sizeof("uintptr_t")):
        raise ValueError(f"{what} must be a non-NULL function pointer, got address {address}")
    return address


def reported_abi_version(address: int) -> int:
    """Call the plugin's ``<name>_abi_version()`` at ``address`` and return its answer."""
    return int(ffi.cast(ABI_VERSION, address)())


def _params(kernels: ExternKernels) -> object:
    return ffi.new("double[]", list(kernels.params)) if kernels.params else ffi.NULL


def call_forward(kernels: ExternKernels, x: np.ndarray) -> tuple[int, np.ndarray]:
    """Run the plugin's forward on ``x`` (float32, C-contiguous, any shape); return its status
    and the outputs."""
    require_float32(f"{kernels.name} forward: x", x)
    y = np.zeros_like(x)
    params = _params(kernels)
    status = ffi.cast(FORWARD, kernels.forward)(
        x.size, ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", y), params
    )
    return int(status), y


def call_backward(
    kernels: ExternKernels, x: np.ndarray, y: np.ndarray, dy: np.ndarray
) -> tuple[int, np.ndarray]:
    """Run the plugin's backward; return its status and the gradient at ``x``."""
    for what, array in (("x", x), ("y", y), ("dy", dy)):
        require_float32(f"{kernels.name} backward: {what}", array, shape=x.shape)
    dx = np.zeros_like(x)
    params = _params(kernels)
    status = ffi.cast(BACKWARD, kernels.backward)(
        x.size,
        ffi.from_buffer("float[]", x),
        ffi.from_buffer("float[]", y),
        ffi.from_buffer("float[]", dy),
        ffi.from_buffer("float[]", dx),
        params,
    )
    return int(status), dx


def extern_elementwise(kernels: ExternKernels) -> tuple[object, object]:
    """A ``struct nnp_extern_elementwise`` for a plan step, and the params array it points to
    (keep both alive while the plan is)."""
    struct = ffi.new("struct nnp_extern_elementwise *")
    address_of(kernels.forward, f"{kernels.name} forward")
    address_of(kernels.backward, f"{kernels.name} backward")
    struct.forward = ffi.cast(FORWARD, kernels.forward)
    struct.backward = ffi.cast(BACKWARD, kernels.backward)
    params = _params(kernels)
    struct.params = params
    return struct, params
