"""The base class of every layer and model."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnplug.backends import Backend, current_backend


class Module:
    """A layer or a model: ``forward`` computes outputs, ``backward`` gradients.

    ``backward(output_grad)`` receives the gradient of the loss with respect to the outputs
    of the latest ``forward`` call, *adds* the gradients of the parameters into
    ``gradients()`` and returns the gradient with respect to the inputs. Gradients
    accumulate until the optimizer's ``zero_gradients()`` clears them (the trainer calls
    it after every step).
    """

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Return the outputs for ``inputs`` and keep what ``backward`` needs."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        """Accumulate parameter gradients and return the gradient with respect to the inputs."""
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def parameters(self) -> list[np.ndarray]:
        """Return the trainable arrays, updated in place by optimizers."""
        return []

    def gradients(self) -> list[np.ndarray]:
        """Return the gradient arrays, one per parameter and in the same order."""
        return []

    def zero_gradients(self) -> None:
        """Set every gradient to zero."""
        for grad in self.gradients():
            grad.fill(0)

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments that rebuild this module (JSON values)."""
        return {}

    @property
    def backend(self) -> Backend:
        """The backend this module's computations run on (the current one)."""
        return current_backend()

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        return self.forward(inputs)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"{type(self).__name__}({args})"
