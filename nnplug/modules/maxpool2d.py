"""2-D max pooling: the largest value of each window of each channel."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from nnplug.backends.plan import KernelStep
from nnplug.modules.images import as_images, check_grad, compact, image_numbers, pair, shape_of
from nnplug.modules.module import Module, keeps_methods


class MaxPool2D(Module):
    """Keeps the maximum of every ``kernel_size`` window, windows ``stride`` apart.

    ``stride`` defaults to ``kernel_size`` (windows that tile the image); windows that do
    not fit at the right and bottom edges are left out. Inputs are images
    ``(batch, channels, height, width)``, or, with ``input_shape=(channels, height,
    width)``, rows of ``channels * height * width`` features. The gradient of a window
    goes to the first (row-major) position of its maximum.
    """

    takes_images: ClassVar[bool] = True
    check_examples: ClassVar[list[dict[str, Any]]] = [
        {"kernel_size": 2, "input_shape": [2, 4, 4]},
        {"kernel_size": [2, 3], "stride": 1, "input_shape": [1, 3, 5]},
    ]

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        *,
        input_shape: tuple[int, int, int] | None = None,
    ) -> None:
        self.kernel_size = pair("MaxPool2D", "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else pair("MaxPool2D", "stride", stride, 1)
        self._stride_given = stride is not None
        self.input_shape = None
        if input_shape is not None:
            self.input_shape = shape_of("MaxPool2D", "input_shape", input_shape, 3)
            self._check_image_size(self.input_shape)
        self.inputs: np.ndarray | None = None
        self.outputs: np.ndarray | None = None
        self._came_as_rows = False

    @property
    def input_size(self) -> int | None:
        """The number of input features when ``input_shape`` is known, else None."""
        return math.prod(self.input_shape) if self.input_shape else None

    def _check_image_size(self, shape: tuple[int, ...]) -> None:
        if shape[-2] < self.kernel_size[0] or shape[-1] < self.kernel_size[1]:
            raise ValueError(
                f"{self!r}: expected images of at least {self.kernel_size[0]}x"
                f"{self.kernel_size[1]} pixels; got shape {shape}"
            )

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Return the pooled images ``(batch, channels, out_h, out_w)``."""
        images, self._came_as_rows = as_images(
            inputs, self, channels=None, input_shape=self.input_shape
        )
        self._check_image_size(images.shape)
        self.inputs = images
        self.outputs = self.backend.maxpool2d_forward(images, self.kernel_size, self.stride)
        return self.outputs

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        """Return the gradient for the inputs: each window's gradient goes to its maximum."""
        if self.inputs is None or self.outputs is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        grad = check_grad(self, output_grad, self.outputs)
        input_grad = self.backend.maxpool2d_backward(
            self.inputs, grad, self.kernel_size, self.stride
        )
        return input_grad.reshape(len(input_grad), -1) if self._came_as_rows else input_grad

    def kernel_steps(self) -> list[KernelStep | Module] | None:
        if not keeps_methods(self, MaxPool2D, "forward", "backward"):
            return None
        numbers = image_numbers(self.kernel_size, self.stride, self.input_shape)
        return [KernelStep("maxpool2d", numbers=numbers)]

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"kernel_size": compact(self.kernel_size)}
        if self._stride_given:
            config["stride"] = compact(self.stride)
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config
