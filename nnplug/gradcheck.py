"""Finite-difference checks of backward passes, in float64.

Used by nnplug's own tests and by the plugin conformance kit (``nnplug.testing``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from nnplug.losses import Loss
from nnplug.modules.module import Module
from nnplug.rng import generator


@dataclass(frozen=True)
class GradientMismatch:
    """Where an analytic gradient disagreed with the finite-difference one."""

    what: str
    max_abs_error: float
    max_rel_error: float

    def __str__(self) -> str:
        return (
            f"{self.what}: analytic and numerical gradients differ "
            f"(max abs error {self.max_abs_error:.3g}, max rel error {self.max_rel_error:.3g})"
        )


def numerical_gradient(
    f: Callable[[], float], array: np.ndarray, epsilon: float = 1e-6
) -> np.ndarray:
    """Return d f() / d array by central differences, perturbing ``array`` in place."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + epsilon
        plus = f()
        flat[i] = original - epsilon
        minus = f()
        flat[i] = original
        flat_grad[i] = (plus - minus) / (2 * epsilon)
    return grad


def _compare(
    what: str, analytic: np.ndarray, numerical: np.ndarray, tolerance: float
) -> GradientMismatch | None:
    error = np.abs(np.asarray(analytic, dtype=np.float64) - numerical)
    scale = np.maximum(np.abs(numerical), 1.0)
    if analytic.shape != numerical.shape:
        return GradientMismatch(
            f"{what} has shape {analytic.shape}, expected {numerical.shape}",
            float("inf"),
            float("inf"),
        )
    if error.size and not np.all(error <= tolerance * scale):
        return GradientMismatch(what, float(error.max()), float((error / scale).max()))
    return None


def _modules(module: Module) -> Iterator[Module]:
    yield module
    for child in module.children():
        yield from _modules(child)


def replayer(module: Module) -> Callable[[], None]:
    """Return a function that puts ``module`` (all but its parameters and gradients) and
    nnplug's generator back in the state they are in now.

    A layer that draws random numbers in training mode then draws the same ones on every
    forward call made after a replay, so its training-mode function can be checked.
    """
    arrays = {id(array) for array in (*module.parameters(), *module.gradients())}
    saved = [
        (
            part,
            copy.deepcopy(
                {
                    name: value
                    for name, value in vars(part).items()
                    if id(value) not in arrays
                    and not isinstance(value, Module)
                    and not (isinstance(value, list) and any(isinstance(v, Module) for v in value))
                }
            ),
        )
        for part in _modules(module)
    ]
    state = generator().bit_generator.state

    def replay() -> None:
        generator().bit_generator.state = state
        for part, attributes in saved:
            for name, value in copy.deepcopy(attributes).items():
                setattr(part, name, value)

    return replay


def check_module(
    module: Module,
    inputs: np.ndarray,
    *,
    seed: int = 0,
    tolerance: float = 1e-5,
    replay: bool = False,
) -> list[GradientMismatch]:
    """Check ``module.backward`` (input and parameter gradients) against finite differences.

    The scalar checked is ``sum(forward(inputs) * R)`` for a fixed random ``R``. ``module``
    and ``inputs`` should be float64. With ``replay``, every forward call starts from the
    module's state at the start (see ``replayer``), for layers that are random in training
    mode. Returns the mismatches (empty when all agree).
    """
    x = np.array(inputs, dtype=np.float64)
    restore = replayer(module) if replay else lambda: None
    weights = np.random.default_rng(seed).standard_normal(np.shape(module.forward(x)))

    def objective() -> float:
        restore()
        return float(np.sum(module.forward(x) * weights))

    module.zero_gradients()
    restore()
    module.forward(x)
    input_grad = np.asarray(module.backward(weights.copy()))
    analytic_params = [grad.copy() for grad in module.gradients()]
    mismatches = [
        _compare(
            f"{module!r}: input gradient", input_grad, numerical_gradient(objective, x), tolerance
        )
    ]
    for index, (param, grad) in enumerate(zip(module.parameters(), analytic_params, strict=True)):
        mismatches.append(
            _compare(
                f"{module!r}: gradient of parameter {index}",
                grad,
                numerical_gradient(objective, param),
                tolerance,
            )
        )
    module.zero_gradients()
    return [m for m in mismatches if m is not None]


def check_loss(
    loss: Loss, y_true: np.ndarray, y_pred: np.ndarray, *, tolerance: float = 1e-5
) -> list[GradientMismatch]:
    """Check ``loss.loss_prime`` against finite differences of ``loss.loss`` (use float64)."""
    pred = np.array(y_pred, dtype=np.float64)
    true = np.asarray(y_true, dtype=np.float64)
    analytic = np.asarray(loss.loss_prime(true, pred))
    numerical = numerical_gradient(lambda: float(loss.loss(true, pred)), pred)
    mismatch = _compare(f"{loss!r}: loss_prime", analytic, numerical, tolerance)
    return [mismatch] if mismatch else []
