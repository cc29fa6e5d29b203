"""Optimizers: read each parameter's gradient and update the parameter in place."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnplug.arrays import aligned_zeros
from nnplug.backends import Backend, current_backend
from nnplug.modules.module import Module


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

    @property
    def backend(self) -> Backend:
        """The backend the updates run on (the current one)."""
        return current_backend()

    def _state(self) -> list[np.ndarray]:
        return [aligned_zeros(param.shape, param.dtype) for param in self.module.parameters()]

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"{type(self).__name__}({args})"


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
