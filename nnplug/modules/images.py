"""Reading inputs as a batch of images ``(batch, channels, height, width)``.

The image layers also take ``(batch, channels * height * width)`` rows when they are told
their ``input_shape``, so that a model can start with one of them and be fed the rows
that datasets, the trainer and the CLI use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnplug.backends.plan import IMAGE_AXES
from nnplug.modules.layout import as_float_array, describe

Pair = tuple[int, int]


def pair(owner: str, name: str, value: object, minimum: int) -> Pair:
    """Return ``value`` (an int or a pair of ints, each >= ``minimum``) as a pair."""
    items = value if isinstance(value, (list, tuple)) else (value, value)
    if len(items) != 2 or not all(_is_int(item) and item >= minimum for item in items):
        raise ValueError(
            f"{owner}: {name} must be an integer >= {minimum} or a pair of them, got {value!r}"
        )
    return int(items[0]), int(items[1])


def positive(owner: str, name: str, value: Any) -> int:
    """Return ``value`` if it is a positive int, else raise."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def shape_of(owner: str, name: str, value: object, length: int | None = None) -> tuple[int, ...]:
    """Return ``value`` as a tuple of positive ints (of ``length`` items, when given)."""
    if (
        not isinstance(value, (list, tuple))
        or not value
        or (length is not None and len(value) != length)
        or not all(_is_int(item) and item >= 1 for item in value)
    ):
        count = f"{length} " if length is not None else ""
        raise ValueError(
            f"{owner}: {name} must be a list of {count}positive integers, got {value!r}"
        )
    return tuple(int(item) for item in value)


def compact(value: Pair) -> int | list[int]:
    """A pair as a config value: one int when both are the same, else a list."""
    return value[0] if value[0] == value[1] else list(value)


def as_images(
    value: object,
    owner: object,
    *,
    channels: int | None,
    input_shape: Sequence[int] | None,
    dtype: np.dtype | None = None,
) -> tuple[np.ndarray, bool]:
    """Return ``value`` as contiguous float images and whether it came as rows.

    Raises ValueError, naming ``owner``, unless ``value`` is 4-D with ``channels`` channels
    (and of ``input_shape`` when given), or rows of ``prod(input_shape)`` features.
    """
    array = as_float_array(value, dtype, owner, "inputs")
    if input_shape is not None:
        if array.ndim == 2 and array.shape[1] == math.prod(input_shape):
            return array.reshape(len(array), *input_shape), True
        if array.ndim == 4 and array.shape[1:] == tuple(input_shape):
            return array, False
        expected = (
            f"images (batch, {', '.join(map(str, input_shape))}) "
            f"or rows (batch, {math.prod(input_shape)})"
        )
    else:
        if array.ndim == 4 and (channels is None or array.shape[1] == channels):
            return array, False
        channel = channels if channels is not None else "channels"
        expected = (
            f"images (batch, {channel}, height, width) (give the layer an input_shape, or "
            "put a Reshape before it, to feed rows)"
        )
    raise ValueError(
        f"{describe(owner)}: expected inputs shaped {expected}; got shape {array.shape}"
    )


def check_grad(owner: object, value: object, outputs: np.ndarray) -> np.ndarray:
    """Return an output gradient as a contiguous array shaped like ``outputs``, else raise."""
    grad = as_float_array(value, outputs.dtype, owner, "output_grad")
    if grad.shape != outputs.shape:
        raise ValueError(
            f"{describe(owner)}: output_grad must have the shape of the outputs, "
            f"{outputs.shape}; got shape {grad.shape}"
        )
    return grad


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def image_numbers(
    kernel_size: tuple[int, int], stride: tuple[int, int], input_shape: tuple[int, ...] | None
) -> dict[str, float]:
    """A window's size and stride as a training plan's step gives them, with the input's
    ``channels``, ``height`` and ``width`` when the layer knows them."""
    numbers: dict[str, float] = {
        "kernel_h": kernel_size[0],
        "kernel_w": kernel_size[1],
        "stride_h": stride[0],
        "stride_w": stride[1],
    }
    if input_shape is not None:
        numbers.update(zip(IMAGE_AXES, input_shape, strict=True))
    return numbers
