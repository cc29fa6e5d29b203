"""The base class of every layer and model."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnplug import registry
from nnplug.backends import Backend, current_backend
from nnplug.backends.plan import KernelStep


class Module:
    """A layer or a model: ``forward`` computes outputs, ``backward`` gradients.

    ``backward(output_grad)`` receives the gradient of the loss with respect to the outputs
    of the latest ``forward`` call, *adds* the gradients of the parameters into
    ``gradients()`` and returns the gradient with respect to the inputs. Gradients
    accumulate until the optimizer's ``zero_gradients()`` clears them (the trainer calls
    it after every step).

    ``training`` says whether the module is being trained (True from construction):
    ``train()`` and ``eval()`` switch it, for the module and every module inside it. Layers
    that behave differently while training (dropout, say) read it in ``forward``.
    """

    training: bool = True

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

    def children(self) -> list[Module]:
        """Return the modules directly inside this one (containers override this)."""
        return []

    def train(self, mode: bool = True) -> Module:
        """Put this module and every module inside it in training mode (``mode`` False:
        evaluation mode); return the module."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Put this module and every module inside it in evaluation mode; return it."""
        return self.train(False)

    def kernel_steps(self) -> list[KernelStep | Module] | None:
        """Describe one training step of this module as backend kernels on its own arrays.

        Return None (the default) when it has none: the trainer then calls ``forward`` and
        ``backward`` from Python, once per batch, between the kernels of the other parts.
        A container returns its children's steps, with a child that has none in its place.
        A plugin layer that declares C kernels (``c_kernels``, see nnplug.plugin_kernels)
        needs nothing here: the planner runs them once they pass nnplug's checks.
        """
        return None

    def _weight_arrays(self) -> dict[str, np.ndarray]:
        """A weights-and-bias layer's arrays as its kernel steps name them."""
        weights, bias = self.parameters()
        weights_grad, bias_grad = self.gradients()
        return {
            "weights": weights,
            "bias": bias,
            "weights_grad": weights_grad,
            "bias_grad": bias_grad,
        }

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


registry.accepts("layers", Module)


def keeps_methods(obj: object, base: type, *names: str) -> bool:
    """Whether ``obj``'s class inherits ``names`` from ``base`` unchanged.

    A built-in's kernel description is only true of a subclass that leaves the methods it
    stands for alone.
    """
    return all(getattr(type(obj), name, None) is getattr(base, name) for name in names)
