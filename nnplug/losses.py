"""Loss functions: the article's ``loss`` / ``loss_prime`` pair, on batches.

The loss of a batch is the mean over its samples of the article's per-sample loss, so a
batch of one gives exactly the article's figures.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnplug import registry
from nnplug.backends import Backend, current_backend
from nnplug.backends.plan import LossKernel
from nnplug.modules.layout import Layout, as_float_array
from nnplug.modules.module import keeps_methods


class Loss:
    """Compares predictions with targets; subclass it with ``loss`` and ``loss_prime``."""

    def loss(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Return the loss of ``y_pred`` against ``y_true``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement loss()")

    def loss_prime(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Return the gradient of the loss with respect to ``y_pred``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement loss_prime()")

    def config(self) -> dict[str, Any]:
        """Return the constructor arguments that rebuild this loss (JSON values)."""
        return {}

    def kernel_loss(self) -> LossKernel | None:
        """Name the backend kernel that computes this loss and its gradient in a training
        plan, or None (the default): the plan then calls ``loss`` and ``loss_prime``."""
        return None

    @property
    def backend(self) -> Backend:
        """The backend this loss computes on (the current one)."""
        return current_backend()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


registry.accepts("losses", Loss)


def _pair(loss: Loss, y_true: object, y_pred: object) -> tuple[np.ndarray, np.ndarray, int]:
    """Return predictions and targets as same-shaped float arrays and the number of samples."""
    pred = as_float_array(y_pred, None, loss, "y_pred")
    true = as_float_array(y_true, pred.dtype, loss, "y_true")
    if true.shape != pred.shape:
        raise ValueError(
            f"{loss!r}: y_true and y_pred must have the same shape; "
            f"got y_true {true.shape} and y_pred {pred.shape}"
        )
    layout = Layout.of(pred)
    samples = 1 if layout in (Layout.COLUMN, Layout.VECTOR) else (pred.shape[0] if pred.ndim else 1)
    return true, pred, samples


class MSE(Loss):
    """Mean squared error over all entries."""

    def loss(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        true, pred, _ = _pair(self, y_true, y_pred)
        if not pred.size:
            return 0.0
        return self.backend.squared_error(_as_2d(pred), _as_2d(true)) / pred.size

    def loss_prime(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        true, pred, _ = _pair(self, y_true, y_pred)
        scale = 2.0 / max(pred.size, 1)
        return self.backend.squared_error_grad(_as_2d(pred), _as_2d(true), scale).reshape(
            pred.shape
        )

    def kernel_loss(self) -> LossKernel | None:
        return "mse" if keeps_methods(self, MSE, "loss", "loss_prime") else None


class CrossEntropy(Loss):
    """Cross-entropy ``-sum(y_true * log(y_pred))`` per sample, for probability outputs.

    Put a ``Softmax`` last in the model. ``log(0)`` is kept finite, so a confident wrong
    prediction gives a large loss, never ``inf`` or ``nan``.
    """

    def loss(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        true, pred, samples = _pair(self, y_true, y_pred)
        return self.backend.cross_entropy(_as_2d(pred), _as_2d(true)) / max(samples, 1)

    def loss_prime(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        true, pred, samples = _pair(self, y_true, y_pred)
        return -true / np.maximum(pred, np.finfo(pred.dtype).tiny) / max(samples, 1)

    def softmax_input_grad(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Return the gradient at the inputs of the Softmax that produced ``y_pred``.

        Equal to ``loss_prime`` sent back through the softmax, but exact and cheaper:
        ``(y_pred - y_true) / samples``.
        """
        true, pred, samples = _pair(self, y_true, y_pred)
        return self.backend.softmax_cross_entropy_grad(
            _as_2d(pred), _as_2d(true), 1.0 / max(samples, 1)
        ).reshape(pred.shape)

    def kernel_loss(self) -> LossKernel | None:
        methods = ("loss", "loss_prime", "softmax_input_grad")
        return "cross_entropy" if keeps_methods(self, CrossEntropy, *methods) else None


def _as_2d(array: np.ndarray) -> np.ndarray:
    """The 2-D view the backend kernels take: leading dimensions folded into rows."""
    if array.ndim == 0:
        return array.reshape(1, 1)
    return array.reshape(math.prod(array.shape[:-1]), array.shape[-1])
