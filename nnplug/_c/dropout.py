"""Wrappers of csrc/dropout.c: inverted dropout with counter-based masks, in float32."""

from __future__ import annotations

import numpy as np

from nnplug._c._checks import ensure, out_pointer, pointer, require_float32, same_shape
from nnplug._native import lib

__all__ = ["dropout_backward", "dropout_forward", "threshold_and_scale"]

_U64 = 2**64


def threshold_and_scale(rate: float) -> tuple[int, np.float32]:
    """The kernel's integer keep threshold and the float32 scale of kept elements."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
    return round(rate * 2**24), np.float32(1.0 / (1.0 - rate))


def _check_seed(key: int, counter: int) -> None:
    for name, value in (("key", key), ("counter", counter)):
        if not 0 <= value < _U64:
            raise ValueError(f"dropout: {name} must be in [0, 2**64), got {value!r}")


def dropout_forward(
    x: np.ndarray, rate: float, key: int, counter: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x * mask, mask)`` for the mask that ``key`` and ``counter`` define."""
    require_float32("dropout_forward: x", x)
    threshold, scale = threshold_and_scale(rate)
    _check_seed(key, counter)
    mask = np.empty_like(x)
    y = np.empty_like(x)
    status = lib.nnp_dropout_forward(
        x.size, pointer(x), out_pointer(mask), out_pointer(y), key, counter, 0, threshold, scale
    )
    ensure(status, "nnp_dropout_forward")
    return y, mask


def dropout_backward(mask: np.ndarray, output_grad: np.ndarray) -> np.ndarray:
    """Return ``output_grad * mask``."""
    require_float32("dropout_backward: mask", mask)
    require_float32("dropout_backward: output_grad", output_grad)
    same_shape("dropout_backward", mask, output_grad, "mask and output_grad")
    dx = np.empty_like(mask)
    status = lib.nnp_dropout_backward(
        mask.size, pointer(mask), pointer(output_grad), out_pointer(dx)
    )
    ensure(status, "nnp_dropout_backward")
    return dx
