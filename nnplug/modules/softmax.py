"""Softmax: turns each row of scores into a probability distribution."""

from __future__ import annotations

import numpy as np

from nnplug.backends.plan import KernelStep
from nnplug.modules.layout import Layout, as_rows, grad_as_rows
from nnplug.modules.module import Module, keeps_methods


class Softmax(Module):
    """Row-wise softmax, stable for any finite input.

    Placed last in a ``Sequential`` trained with ``CrossEntropy``, the trainer takes the
    fused gradient ``y_pred - y_true`` at its inputs instead of going through ``backward``.
    """

    def __init__(self) -> None:
        self.outputs: np.ndarray | None = None
        self._layout = Layout.ROWS

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        rows, self._layout = as_rows(inputs, self)
        if rows.shape[0] and not rows.shape[1]:
            raise ValueError(
                f"{self!r}: a softmax needs at least one entry per row; got shape "
                f"{np.shape(inputs)}"
            )
        self.outputs = self.backend.softmax(rows)
        return self._layout.restore(self.outputs)

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        if self.outputs is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        grad = grad_as_rows(output_grad, self.outputs, self._layout, self)
        return self._layout.restore(self.backend.softmax_backward(self.outputs, grad))

    def kernel_steps(self) -> list[KernelStep | Module] | None:
        if not keeps_methods(self, Softmax, "forward", "backward"):
            return None
        return [KernelStep("softmax")]
