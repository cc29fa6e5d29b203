"""Optimizers: read each parameter's gradient and update the parameter in place."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnplug import registry
from nnplug.arrays import aligned_zeros
from nnplug.backends import Backend, current_backend
from nnplug.backends.plan import Update
from nnplug.modules.module import Module, keeps_methods


class Optimizer:
    """Updates the parameters of ``module``; subclass it with ``step``."""

    def __init__(self, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}: expected the Module to optimize, "
                f"got {type(module).__name__}"
            )
        self.module = module

    def step(self) -> None:
        """Update every parameter from its gradient."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def zero_gradients(self) -> None:
        """Set the module's gradients to zero (the trainer calls this after each step)."""
        self.module.zero_gradients()

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments (besides the module) that rebuild this optimizer."""
        return {}

    def kernel_update(self) -> Update | None:
        """Describe ``step`` as a backend update kernel on this optimizer's state, one array
        per parameter of the module, or None (the default): a training plan then calls
        ``step`` and ``zero_gradients`` from Python after every batch."""
        return None

    @property
    def backend(self) -> Backend:
        """The backend the updates run on (the current one)."""
        return current_backend()

    def _state(self) -> list[np.ndarray]:
        return [aligned_zeros(param.shape, param.dtype) for param in self.module.parameters()]

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"{type(self).__name__}({args})"


registry.accepts("optimizers", Optimizer)


def _check_positive(owner: str, name: str, value: float, *, allow_zero: bool = False) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")
    return value


def _check_fraction(owner: str, name: str, value: float) -> float:
    value = float(value)
    if not 0 <= value < 1:
        raise ValueError(f"{owner}: {name} must be in [0, 1), got {value!r}")
    return value


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as in the article.

    ``velocity = momentum * velocity + learning_rate * grad``; ``param -= velocity``.
    """

    def __init__(self, module: Module, learning_rate: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(module)
        self.learning_rate = _check_positive("SGD", "learning_rate", learning_rate)
        self.momentum = _check_fraction("SGD", "momentum", momentum)
        self.velocities = self._state()

    def step(self) -> None:
        params, grads = self.module.parameters(), self.module.gradients()
        for param, grad, velocity in zip(params, grads, self.velocities, strict=True):
            self.backend.sgd_step(param, grad, velocity, self.learning_rate, self.momentum)

    def config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "momentum": self.momentum}

    def kernel_update(self) -> Update | None:
        if not keeps_methods(self, SGD, "step", "zero_gradients"):
            return None
        return Update("sgd", self.config(), [self.velocities])


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with bias correction."""

    def __init__(
        self,
        module: Module,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        super().__init__(module)
        self.learning_rate = _check_positive("Adam", "learning_rate", learning_rate)
        self.beta1 = _check_fraction("Adam", "beta1", beta1)
        self.beta2 = _check_fraction("Adam", "beta2", beta2)
        self.epsilon = _check_positive("Adam", "epsilon", epsilon)
        self.m = self._state()
        self.v = self._state()
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        params, grads = self.module.parameters(), self.module.gradients()
        for param, grad, m, v in zip(params, grads, self.m, self.v, strict=True):
            self.backend.adam_step(
                param,
                grad,
                m,
                v,
                self.learning_rate,
                self.beta1,
                self.beta2,
                self.epsilon,
                self.steps,
            )

    def config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
        }

    def kernel_update(self) -> Update | None:
        if not keeps_methods(self, Adam, "step", "zero_gradients"):
            return None
        numbers = {**self.config(), "step": self.steps}
        return Update("adam", numbers, [self.m, self.v], taken=self._count_steps)

    def _count_steps(self, steps: int) -> None:
        self.steps += steps


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton, 2012): each step divided by a running root mean square
    of the gradients, ``mean_square = decay * mean_square + (1 - decay) * grad**2``,
    ``param -= learning_rate * grad / (sqrt(mean_square) + epsilon)``."""

    def __init__(
        self,
        module: Module,
        learning_rate: float = 0.001,
        decay: float = 0.9,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(module)
        self.learning_rate = _check_positive("RMSprop", "learning_rate", learning_rate)
        self.decay = _check_fraction("RMSprop", "decay", decay)
        self.epsilon = _check_positive("RMSprop", "epsilon", epsilon)
        self.mean_squares = self._state()

    def step(self) -> None:
        params, grads = self.module.parameters(), self.module.gradients()
        for param, grad, mean_square in zip(params, grads, self.mean_squares, strict=True):
            self.backend.rmsprop_step(
                param, grad, mean_square, self.learning_rate, self.decay, self.epsilon
            )

    def config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "decay": self.decay, "epsilon": self.epsilon}

    def kernel_update(self) -> Update | None:
        if not keeps_methods(self, RMSprop, "step", "zero_gradients"):
            return None
        return Update("rmsprop", self.config(), [self.mean_squares])
