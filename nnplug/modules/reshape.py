"""Layers that change the shape of each sample, not its values: Flatten and Reshape."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from nnplug.backends.plan import IMAGE_AXES, KernelStep
from nnplug.modules.images import check_grad, shape_of
from nnplug.modules.layout import as_float_array
from nnplug.modules.module import Module, keeps_methods


class Flatten(Module):
    """Turns each sample, of any shape, into one row: ``(batch, ...)`` -> ``(batch, features)``."""

    takes_images: ClassVar[bool] = True
    check_examples: ClassVar[list[dict[str, Any]]] = [{}]

    def __init__(self) -> None:
        self.input_shape: tuple[int, ...] | None = None
        self.outputs: np.ndarray | None = None

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        array = as_float_array(inputs, None, self, "inputs")
        if array.ndim < 2:
            raise ValueError(
                f"{self!r}: expected inputs shaped (batch, ...) with at least 2 dimensions; "
                f"got shape {array.shape}"
            )
        self.input_shape = array.shape
        self.outputs = array.reshape(len(array), -1)
        return self.outputs

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        if self.input_shape is None or self.outputs is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return check_grad(self, output_grad, self.outputs).reshape(self.input_shape)

    def kernel_steps(self) -> list[KernelStep | Module] | None:
        if not keeps_methods(self, Flatten, "forward", "backward"):
            return None
        return [KernelStep("flatten")]


class Reshape(Module):
    """Gives each sample the ``shape``: ``(batch, 784)`` -> ``(batch, 1, 28, 28)``, say.

    Any input with ``prod(shape)`` values per sample is accepted, rows or images.
    """

    takes_images: ClassVar[bool] = True
    check_examples: ClassVar[list[dict[str, Any]]] = [{"shape": [1, 2, 2]}, {"shape": [3, 2]}]

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape_of("Reshape", "shape", shape)
        self.input_shape: tuple[int, ...] | None = None
        self.outputs: np.ndarray | None = None

    @property
    def input_size(self) -> int:
        """The number of values per sample."""
        return math.prod(self.shape)

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        array = as_float_array(inputs, None, self, "inputs")
        if array.ndim < 2 or math.prod(array.shape[1:]) != self.input_size:
            raise ValueError(
                f"{self!r}: expected inputs shaped (batch, {self.input_size}) or with "
                f"{self.input_size} values per sample; got shape {array.shape}"
            )
        self.input_shape = array.shape
        self.outputs = array.reshape(len(array), *self.shape)
        return self.outputs

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        if self.input_shape is None or self.outputs is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return check_grad(self, output_grad, self.outputs).reshape(self.input_shape)

    def config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}

    def kernel_steps(self) -> list[KernelStep | Module] | None:
        if not keeps_methods(self, Reshape, "forward", "backward"):
            return None
        image = self.shape if len(self.shape) == 3 else ()
        return [KernelStep("reshape", numbers=dict(zip(IMAGE_AXES, image, strict=False)))]
