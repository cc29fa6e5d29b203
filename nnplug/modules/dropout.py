"""Inverted dropout: zeroes a random fraction of the inputs while training."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from nnplug.backends.plan import KernelStep
from nnplug.modules.layout import as_float_array
from nnplug.modules.module import Module, keeps_methods
from nnplug.rng import generator as default_generator


class Dropout(Module):
    """Sets each input to zero with probability ``rate`` while training and scales the
    others by ``1 / (1 - rate)``, so that evaluation (where it passes inputs through
    unchanged) sees the same expected values.

    Masks come from a key drawn from ``rng`` (default nnplug's generator, see
    ``nnplug.seed``) and a count of the training batches seen so far, so a seeded run
    draws the same masks on every backend and thread count.
    """

    check_examples: ClassVar[list[dict[str, Any]]] = [{"rate": 0.5}, {"rate": 0.0}]

    def __init__(self, rate: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)):
            raise TypeError(f"Dropout: rate must be a number, got {type(rate).__name__}")
        if not (math.isfinite(rate) and 0 <= rate < 1):
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        generator = rng if rng is not None else default_generator()
        self.key = int(generator.integers(0, 2**64, dtype=np.uint64))
        self.counter = np.zeros(1, dtype=np.uint64)
        self.mask: np.ndarray | None = None

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """Return the inputs with dropout applied (training) or unchanged (evaluation)."""
        x = as_float_array(inputs, None, self, "inputs")
        if not self.training or self.rate == 0:
            self.mask = None
            return x
        y, self.mask = self.backend.dropout_forward(x, self.rate, self.key, int(self.counter[0]))
        self.counter[0] += 1
        return y

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        """Return the gradient at the inputs: ``output_grad`` where an input was kept."""
        grad = as_float_array(output_grad, None, self, "output_grad")
        if self.mask is None:
            return grad
        if grad.shape != self.mask.shape:
            raise ValueError(
                f"{self!r}: output_grad must have the shape of the outputs, {self.mask.shape}; "
                f"got shape {grad.shape}"
            )
        return self.backend.dropout_backward(self.mask, grad.astype(self.mask.dtype, copy=False))

    def kernel_steps(self) -> list[KernelStep | Module] | None:
        if not keeps_methods(self, Dropout, "forward", "backward"):
            return None
        if not self.training or self.rate == 0:
            return []
        step = KernelStep(
            "dropout", {"counter": self.counter}, {"rate": self.rate, "key": self.key}
        )
        return [step]

    def config(self) -> dict[str, Any]:
        return {"rate": self.rate}
