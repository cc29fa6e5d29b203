"""A 2-D convolution layer (a cross-correlation, as in every deep-learning library)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from nnplug.arrays import aligned_zeros
from nnplug.backends.plan import KernelStep
from nnplug.modules.images import (
    as_images,
    check_grad,
    compact,
    image_numbers,
    pair,
    positive,
    shape_of,
)
from nnplug.modules.module import Module, keeps_methods
from nnplug.rng import generator as default_generator

INITIALISERS = ("he", "glorot")


class Conv2D(Module):
    """Slides ``out_channels`` filters of ``kernel_size`` over images of ``in_channels``.

    Inputs are images ``(batch, in_channels, height, width)``; outputs are
    ``(batch, out_channels, out_h, out_w)`` with
    ``out_h = (height + 2 * padding_h - kernel_h) // stride_h + 1`` (likewise ``out_w``).
    ``kernel_size``, ``stride`` and ``padding`` are an int or a ``(rows, columns)`` pair;
    padding adds zeros. ``weights`` is ``(out_channels, in_channels, kh, kw)``, ``bias``
    ``(out_channels,)``. With ``input_shape=(in_channels, height, width)`` the layer also
    takes rows of ``in_channels * height * width`` features (its input gradient then comes
    back as rows). ``init="he"`` (normal, suited to ReLU; the default) or ``"glorot"``
    (uniform); biases start at zero. ``rng`` defaults to nnplug's generator.
    """

    takes_images: ClassVar[bool] = True
    check_examples: ClassVar[list[dict[str, Any]]] = [
        {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "input_shape": [2, 5, 5]},
        {
            "in_channels": 1,
            "out_channels": 2,
            "kernel_size": [2, 3],
            "stride": [2, 1],
            "padding": 1,
            "input_shape": [1, 4, 5],
            "init": "glorot",
        },
    ]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        *,
        input_shape: tuple[int, int, int] | None = None,
        init: str = "he",
        dtype: str | np.dtype = "float32",
        rng: np.random.Generator | None = None,
    ) -> None:
        self.in_channels = positive("Conv2D", "in_channels", in_channels)
        self.out_channels = positive("Conv2D", "out_channels", out_channels)
        self.kernel_size = pair("Conv2D", "kernel_size", kernel_size, 1)
        self.stride = pair("Conv2D", "stride", stride, 1)
        self.padding = pair("Conv2D", "padding", padding, 0)
        if init not in INITIALISERS:
            raise ValueError(f"Conv2D: init must be one of {INITIALISERS}, got {init!r}")
        self.init = init
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"Conv2D: dtype must be float32 or float64, got {self.dtype}")
        self.input_shape = None
        if input_shape is not None:
            self.input_shape = shape_of("Conv2D", "input_shape", input_shape, 3)
            if self.input_shape[0] != self.in_channels:
                raise ValueError(
                    f"Conv2D: input_shape {list(self.input_shape)} must start with "
                    f"in_channels = {self.in_channels}"
                )
            self._check_image_size(self.input_shape[1:], self.input_shape)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.weights = aligned_zeros(shape, self.dtype)
        self.weights[...] = self._initial_weights(rng if rng is not None else default_generator())
        self.bias = aligned_zeros(self.out_channels, self.dtype)
        self.weights_grad = aligned_zeros(shape, self.dtype)
        self.bias_grad = aligned_zeros(self.out_channels, self.dtype)
        self.inputs: np.ndarray | None = None
        self.outputs: np.ndarray | None = None
        self._came_as_rows = False

    @property
    def input_size(self) -> int | None:
        """The number of input features when ``input_shape`` is known, else None."""
        return math.prod(self.input_shape) if self.input_shape else None

    def _initial_weights(self, generator: np.random.Generator) -> np.ndarray:
        shape = self.weights.shape
        fan_in = self.in_channels * math.prod(self.kernel_size)
        if self.init == "he":
            weights = generator.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)
        else:
            fan_out = self.out_channels * math.prod(self.kernel_size)
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            weights = generator.uniform(-limit, limit, size=shape)
        return weights.astype(self.dtype)

    def _check_image_size(self, size: tuple[int, ...], shape: tuple[int, ...]) -> None:
        padded = [size[axis] + 2 * self.padding[axis] for axis in (0, 1)]
        if padded[0] < self.kernel_size[0] or padded[1] < self.kernel_size[1]:
            raise ValueError(
                f"{self!r}: expected images of at least {self.kernel_size[0]}x"
                f"{self.kernel_size[1]} pixels once padded by {self.padding}; got shape {shape}"
            )

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Return the convolved images ``(batch, out_channels, out_h, out_w)``."""
        images, self._came_as_rows = as_images(
            inputs, self, channels=self.in_channels, input_shape=self.input_shape, dtype=self.dtype
        )
        self._check_image_size(images.shape[2:], np.shape(inputs))
        self.inputs = images
        self.outputs = self.backend.conv2d_forward(
            images, self.weights, self.bias, self.stride, self.padding
        )
        return self.outputs

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        """Accumulate weight and bias gradients; return the gradient for the inputs."""
        if self.inputs is None or self.outputs is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        grad = check_grad(self, output_grad, self.outputs)
        self.backend.conv2d_param_grads(
            grad, self.inputs, self.weights_grad, self.bias_grad, self.stride, self.padding
        )
        input_grad = self.backend.conv2d_input_grad(
            grad, self.weights, self.inputs.shape[2:], self.stride, self.padding
        )
        return input_grad.reshape(len(input_grad), -1) if self._came_as_rows else input_grad

    def kernel_steps(self) -> list[KernelStep | Module] | None:
        if self.dtype != np.float32 or not keeps_methods(self, Conv2D, "forward", "backward"):
            return None
        arrays = self._weight_arrays()
        numbers = {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "padding_h": self.padding[0],
            "padding_w": self.padding[1],
            **image_numbers(self.kernel_size, self.stride, self.input_shape),
        }
        return [KernelStep("conv2d", arrays, numbers)]

    def parameters(self) -> list[np.ndarray]:
        return [self.weights, self.bias]

    def gradients(self) -> list[np.ndarray]:
        return [self.weights_grad, self.bias_grad]

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": compact(self.kernel_size),
        }
        if self.stride != (1, 1):
            config["stride"] = compact(self.stride)
        if self.padding != (0, 0):
            config["padding"] = compact(self.padding)
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        if self.init != "he":
            config["init"] = self.init
        if self.dtype != np.float32:
            config["dtype"] = self.dtype.name
        return config
