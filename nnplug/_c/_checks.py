"""Argument checks shared by the wrappers of nnplug's C kernels, and the status check.

The wrappers are strict: C works on raw pointers and sizes, so every array must be exactly
what the kernel expects (a C-contiguous float32 ndarray of the right shape, writable if it
is written, not overlapping what the kernel reads). Anything else raises TypeError or
ValueError here, before a pointer is taken; CBackend decides what falls back to NumPy.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nnplug._native import ffi, lib

FLOAT32 = np.dtype(np.float32)

_STATUS_MEANINGS = {
    lib.NNP_ERR_SIZE: "a size is negative",
    lib.NNP_ERR_NULL: "a NULL pointer for a non-empty array",
    lib.NNP_ERR_LD: "a leading dimension smaller than the row length",
    lib.NNP_ERR_ALIAS: "an output overlaps an input",
    lib.NNP_ERR_VALUE: "a scalar argument is out of range",
}


class NativeKernelError(RuntimeError):
    """A C kernel refused arguments that its wrapper had accepted: a bug in nnplug."""


def ensure(status: int, kernel: str, meanings: Mapping[int, str] | None = None) -> None:
    """Raise NativeKernelError unless ``status``, returned by C function ``kernel``, is OK.

    ``meanings`` adds descriptions of a kernel's own status codes to the shared ones.
    """
    if status == lib.NNP_OK:
        return
    meaning = (meanings or {}).get(status) or _STATUS_MEANINGS.get(status, "an unknown status")
    raise NativeKernelError(
        f"{kernel} returned {status} ({meaning}) for arguments its wrapper accepted; "
        "this is a bug in nnplug"
    )


def require_float32(
    name: str,
    array: object,
    *,
    ndim: int | None = None,
    shape: tuple[int, ...] | None = None,
    writable: bool = False,
) -> np.ndarray:
    """Return ``array`` if it is a C-contiguous float32 ndarray, else raise.

    ``name`` starts every message (``"linear_forward: x"``). Optionally also require
    ``ndim`` dimensions, an exact ``shape``, and (for arrays the kernel writes) writability.
    """
    # One combined test for the common case: these checks run before every kernel call.
    if (
        type(array) is np.ndarray
        and array.dtype is FLOAT32
        and array.flags.c_contiguous
        and (ndim is None or array.ndim == ndim)
        and (shape is None or array.shape == shape)
        and (not writable or array.flags.writeable)
    ):
        return array
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, not {type(array).__name__}")
    if array.dtype != FLOAT32:
        raise TypeError(f"{name} must have dtype float32, not {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, but has shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {array.shape}")
    if not array.flags.c_contiguous:
        raise ValueError(
            f"{name} (shape {array.shape}) must be C-contiguous; "
            "np.ascontiguousarray makes a copy that is"
        )
    if writable and not array.flags.writeable:
        raise ValueError(f"{name} is read-only, but the kernel writes to it")
    return array


def same_shape(kernel: str, first: np.ndarray, second: np.ndarray, names: str) -> None:
    """Raise ValueError unless ``first`` and ``second`` (``names``: "a and b") agree in shape."""
    if first.shape != second.shape:
        raise ValueError(
            f"{kernel}: {names} must have the same shape, got {first.shape} and {second.shape}"
        )


class OverlapError(ValueError):
    """An array a kernel writes shares memory with another of its arguments."""


def no_overlap(kernel: str, out_name: str, out: np.ndarray, name: str, other: np.ndarray) -> None:
    """Raise OverlapError if ``out``, which the kernel writes, shares memory with ``other``."""
    if np.may_share_memory(out, other):
        raise OverlapError(
            f"{kernel}: {out_name} (shape {out.shape}) overlaps {name} (shape {other.shape}); "
            "the kernel needs separate arrays"
        )


def pointer(array: np.ndarray) -> object:
    """A ``float[]`` cdata for a checked float32 array the kernel only reads."""
    return ffi.from_buffer("float[]", array)


def out_pointer(array: np.ndarray) -> object:
    """A ``float[]`` cdata for a checked, writable float32 array the kernel writes."""
    return ffi.from_buffer("float[]", array, require_writable=True)
