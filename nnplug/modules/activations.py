"""Element-wise activations: the article's ``Activation`` base and the built-in ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from nnplug.backends.base import ActivationKind
from nnplug.backends.plan import KernelStep
from nnplug.modules.layout import as_float_array
from nnplug.modules.module import Module, keeps_methods


class Activation(Module):
    """Applies a function element-wise; subclass it with ``activation`` and ``activation_prime``.

    As in the article, ``backward`` returns ``output_grad * activation_prime(inputs)``.
    """

    def activation(self, inputs: np.ndarray) -> np.ndarray:
        """Return the function applied to ``inputs``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement activation()")

    def activation_prime(self, inputs: np.ndarray) -> np.ndarray:
        """Return the derivative of the function at ``inputs``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement activation_prime()")

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        self.inputs = as_float_array(inputs, None, self, "inputs")
        return self.activation(self.inputs)

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        grad = as_float_array(output_grad, self.inputs.dtype, self, "output_grad")
        _check_same_shape(self, grad, self.inputs)
        return grad * self.activation_prime(self.inputs)


class BackendActivation(Activation):
    """An activation computed by a backend kernel, with its derivative taken from the outputs."""

    kind: ClassVar[ActivationKind]

    def activation(self, inputs: np.ndarray) -> np.ndarray:
        array = as_float_array(inputs, None, self, "inputs")
        return _elementwise(self.backend.activation_forward, self.kind, array)

    def activation_prime(self, inputs: np.ndarray) -> np.ndarray:
        outputs = self.activation(inputs)
        ones = np.ones_like(outputs)
        return _elementwise(self.backend.activation_backward, self.kind, outputs, ones)

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        self.inputs = as_float_array(inputs, None, self, "inputs")
        self.outputs = _elementwise(self.backend.activation_forward, self.kind, self.inputs)
        return self.outputs

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        if getattr(self, "outputs", None) is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        grad = as_float_array(output_grad, self.outputs.dtype, self, "output_grad")
        _check_same_shape(self, grad, self.outputs)
        return _elementwise(self.backend.activation_backward, self.kind, self.outputs, grad)

    def kernel_steps(self) -> list[KernelStep | Module] | None:
        if not keeps_methods(self, BackendActivation, "forward", "backward"):
            return None
        return [KernelStep(self.kind)]


class Tanh(BackendActivation):
    """Hyperbolic tangent."""

    kind = "tanh"


class Sigmoid(BackendActivation):
    """Logistic sigmoid, ``1 / (1 + exp(-x))``, computed without overflow."""

    kind = "sigmoid"


class ReLU(BackendActivation):
    """Rectified linear unit, ``max(x, 0)``."""

    kind = "relu"


def _check_same_shape(owner: Module, grad: np.ndarray, reference: np.ndarray) -> None:
    if grad.shape != reference.shape:
        raise ValueError(
            f"{owner!r}: output_grad must have the shape of the outputs, {reference.shape}; "
            f"got shape {grad.shape}"
        )


def _elementwise(kernel: Callable[..., np.ndarray], kind: str, *arrays: np.ndarray) -> np.ndarray:
    """Run an element-wise kernel, which takes 2-D arrays, on arrays of any shape."""
    shape = arrays[0].shape
    flat = [array.reshape(1, -1) for array in arrays]
    return kernel(kind, *flat).reshape(shape)
