"""Turning raw datasets into what a model takes: flat float images and one-hot labels."""

from __future__ import annotations

import numpy as np


def one_hot(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Return ``(N, num_classes)`` float32 rows with a 1 at each label (the article's encoding).

    ``num_classes`` defaults to the largest label plus one.
    """
    values = np.asarray(labels)
    if values.dtype.kind not in "iu" and not (
        values.dtype.kind == "f" and np.all(np.mod(values, 1) == 0)
    ):
        raise TypeError(f"one_hot: labels must be integers, got dtype {values.dtype}")
    values = values.astype(np.int64).ravel()
    if values.size and values.min() < 0:
        raise ValueError(f"one_hot: labels must be >= 0, got {values.min()}")
    classes = int(num_classes) if num_classes is not None else int(values.max(initial=-1)) + 1
    if values.size and values.max() >= classes:
        raise ValueError(f"one_hot: label {values.max()} does not fit in {classes} classes")
    encoded = np.zeros((values.size, classes), dtype=np.float32)
    encoded[np.arange(values.size), values] = 1
    return encoded


def flatten_images(images: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """Return images ``(N, H, W)`` as float32 rows ``(N, H*W)`` divided by ``scale``."""
    array = np.asarray(images)
    if array.ndim < 2:
        raise ValueError(f"flatten_images: expected images shaped (N, H, W), got {array.shape}")
    return array.reshape(array.shape[0], -1).astype(np.float32) / np.float32(scale)
