"""Turning raw data into what a model takes: flat float images, one-hot labels, and a photo
of a digit made into an MNIST image."""

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


MNIST_SIZE = 28
DIGIT_BOX = 20
WORKING_SIZE = 1024  # larger images are reduced to at most this many pixels a side first


def mnist_digit(image: np.ndarray, *, invert: bool | None = None) -> np.ndarray:
    """Return a greyscale picture of one digit as MNIST was made: a ``(28, 28)`` uint8 image.

    The digit is made light on dark (a light ground, read from the border, is inverted;
    ``invert`` forces the choice), the ground is subtracted and the contrast stretched, the
    image is cropped to the digit, scaled so its longer side is 20 pixels, and placed in
    28x28 with its centre of mass at the centre. Raises ValueError if no digit stands out.
    """
    from PIL import Image

    grey = np.asarray(image)
    if grey.ndim != 2 or grey.dtype != np.uint8 or grey.size == 0:
        raise ValueError(
            f"mnist_digit: expected a non-empty 2-D uint8 image, got {grey.dtype}{grey.shape}"
        )
    if max(grey.shape) > WORKING_SIZE:  # a photo: shrink it first, keeping memory small
        factor = -(-max(grey.shape) // WORKING_SIZE)
        grey = np.asarray(Image.fromarray(grey).reduce(factor))
    values = grey.astype(np.float32)
    if invert is None:
        border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
        invert = bool(np.median(border) > 127)
    if invert:
        values = 255 - values
    ground = float(np.median(values))
    values = np.clip(values - ground, 0, None)
    top = float(values.max())
    if top < 32:  # nothing stands out from the ground by an eighth of the range
        raise ValueError("mnist_digit: no digit found: the image has no contrast")
    # Below a quarter of the ink's darkness is paper texture and noise; the rest is stretched.
    values = np.clip((values * (255 / top) - 64) * (255 / 191), 0, 255)
    rows, columns = np.nonzero(values)
    digit = values[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    height, width = digit.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    box = np.asarray(
        Image.fromarray(digit.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    ).clip(0, 255)
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    mass = box.sum()
    centre_row = (box.sum(axis=1) @ np.arange(box.shape[0])) / mass
    centre_column = (box.sum(axis=0) @ np.arange(box.shape[1])) / mass
    # MNIST's centres of mass sit at pixel (14, 14), counting from 0.
    top_row = int(round(MNIST_SIZE / 2 - centre_row))
    left = int(round(MNIST_SIZE / 2 - centre_column))
    top_row = min(max(top_row, 0), MNIST_SIZE - box.shape[0])
    left = min(max(left, 0), MNIST_SIZE - box.shape[1])
    canvas[top_row : top_row + box.shape[0], left : left + box.shape[1]] = box
    return np.rint(canvas).astype(np.uint8)
