"""The C backend: nnplug's compiled kernels for float32, the NumPy reference for the rest."""

from __future__ import annotations

import numpy as np
from nnplug_numpy.backend import NumpyBackend

from nnplug._c import activations, conv, dropout, matmul, optim, softmax
from nnplug._c._checks import FLOAT32, OverlapError
from nnplug.backends.base import ACTIVATION_KINDS, ActivationKind, PlanRunner
from nnplug.backends.plan import TrainingPlan

_contiguous = np.ascontiguousarray


def _float32(array: object) -> bool:
    """Whether ``array`` is a float32 ndarray (of any layout)."""
    return isinstance(array, np.ndarray) and array.dtype == FLOAT32


def _updatable(array: object) -> bool:
    """Whether C can update ``array`` in place: a C-contiguous, writable float32 ndarray."""
    return (
        isinstance(array, np.ndarray)
        and array.dtype == FLOAT32
        and array.flags.c_contiguous
        and array.flags.writeable
    )


class CBackend(NumpyBackend):
    """Every kernel of the contract in C, for float32 arrays.

    Anything else goes to the NumPy reference this class extends: other dtypes (float64
    gradient checks, say), shapes outside the contract (which NumPy may broadcast), and
    buffers that share memory. Non-contiguous float32 inputs are copied to be contiguous;
    buffers updated in place must already be contiguous, writable float32, or the update
    runs in NumPy, so that the caller's arrays are the ones that change.
    """

    name = "c"

    # --- dense layers -------------------------------------------------------------

    def linear_forward(self, x: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        if (
            _float32(x)
            and _float32(weights)
            and _float32(bias)
            and x.ndim == 2
            and weights.ndim == 2
            and bias.shape == weights.shape[:1]
        ):
            return matmul.linear_forward(_contiguous(x), _contiguous(weights), _contiguous(bias))
        return super().linear_forward(x, weights, bias)

    def linear_input_grad(self, grad: np.ndarray, weights: np.ndarray) -> np.ndarray:
        if _float32(grad) and _float32(weights) and grad.ndim == 2 and weights.ndim == 2:
            return matmul.linear_input_grad(_contiguous(grad), _contiguous(weights))
        return super().linear_input_grad(grad, weights)

    def linear_param_grads(
        self, grad: np.ndarray, x: np.ndarray, weights_grad: np.ndarray, bias_grad: np.ndarray
    ) -> None:
        if (
            _float32(grad)
            and _float32(x)
            and _updatable(weights_grad)
            and _updatable(bias_grad)
            and grad.ndim == 2
            and x.ndim == 2
            and weights_grad.shape == (grad.shape[1], x.shape[1])
            and bias_grad.shape == grad.shape[1:]
        ):
            try:
                matmul.linear_param_grads(
                    _contiguous(grad), _contiguous(x), weights_grad, bias_grad
                )
                return
            except OverlapError:
                pass
        super().linear_param_grads(grad, x, weights_grad, bias_grad)

    # --- element-wise activations ----------------------------------------------------

    def activation_forward(self, kind: ActivationKind, x: np.ndarray) -> np.ndarray:
        if kind in ACTIVATION_KINDS and _float32(x):
            return activations.activation_forward(kind, _contiguous(x))
        return super().activation_forward(kind, x)

    def activation_backward(
        self, kind: ActivationKind, outputs: np.ndarray, output_grad: np.ndarray
    ) -> np.ndarray:
        if (
            kind in ACTIVATION_KINDS
            and _float32(outputs)
            and _float32(output_grad)
            and outputs.shape == output_grad.shape
        ):
            return activations.activation_backward(
                kind, _contiguous(outputs), _contiguous(output_grad)
            )
        return super().activation_backward(kind, outputs, output_grad)

    # --- softmax and cross-entropy ----------------------------------------------------

    def softmax(self, x: np.ndarray) -> np.ndarray:
        if _float32(x) and x.ndim == 2 and x.shape[1] > 0:
            return softmax.softmax(_contiguous(x))
        return super().softmax(x)

    def softmax_backward(self, outputs: np.ndarray, output_grad: np.ndarray) -> np.ndarray:
        if (
            _float32(outputs)
            and _float32(output_grad)
            and outputs.ndim == 2
            and outputs.shape == output_grad.shape
        ):
            return softmax.softmax_backward(_contiguous(outputs), _contiguous(output_grad))
        return super().softmax_backward(outputs, output_grad)

    def cross_entropy(self, probs: np.ndarray, targets: np.ndarray) -> float:
        if _float32(probs) and _float32(targets) and probs.shape == targets.shape:
            return softmax.cross_entropy(_contiguous(probs), _contiguous(targets))
        return super().cross_entropy(probs, targets)

    def softmax_cross_entropy_grad(
        self, probs: np.ndarray, targets: np.ndarray, scale: float
    ) -> np.ndarray:
        if _float32(probs) and _float32(targets) and probs.shape == targets.shape:
            return softmax.softmax_cross_entropy_grad(
                _contiguous(probs), _contiguous(targets), scale
            )
        return super().softmax_cross_entropy_grad(probs, targets, scale)

    # --- optimizer updates --------------------------------------------------------------

    def sgd_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        velocity: np.ndarray,
        learning_rate: float,
        momentum: float,
    ) -> None:
        if (
            _updatable(param)
            and _updatable(velocity)
            and _float32(grad)
            and param.shape == grad.shape == velocity.shape
        ):
            try:
                optim.sgd_step(param, _contiguous(grad), velocity, learning_rate, momentum)
                return
            except OverlapError:
                pass
        super().sgd_step(param, grad, velocity, learning_rate, momentum)

    def adam_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        m: np.ndarray,
        v: np.ndarray,
        learning_rate: float,
        beta1: float,
        beta2: float,
        epsilon: float,
        step: int,
    ) -> None:
        if (
            _updatable(param)
            and _updatable(m)
            and _updatable(v)
            and _float32(grad)
            and param.shape == grad.shape == m.shape == v.shape
            and step >= 1
            and beta1 != 1.0
            and beta2 != 1.0
        ):
            try:
                optim.adam_step(
                    param, _contiguous(grad), m, v, learning_rate, beta1, beta2, epsilon, step
                )
                return
            except OverlapError:
                pass
        super().adam_step(param, grad, m, v, learning_rate, beta1, beta2, epsilon, step)

    def rmsprop_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        mean_square: np.ndarray,
        learning_rate: float,
        decay: float,
        epsilon: float,
    ) -> None:
        if (
            _updatable(param)
            and _updatable(mean_square)
            and _float32(grad)
            and param.shape == grad.shape == mean_square.shape
        ):
            try:
                optim.rmsprop_step(
                    param, _contiguous(grad), mean_square, learning_rate, decay, epsilon
                )
                return
            except OverlapError:
                pass
        super().rmsprop_step(param, grad, mean_square, learning_rate, decay, epsilon)

    # --- losses -------------------------------------------------------------------------

    def squared_error(self, predictions: np.ndarray, targets: np.ndarray) -> float:
        if _float32(predictions) and _float32(targets) and predictions.shape == targets.shape:
            return softmax.squared_error(_contiguous(predictions), _contiguous(targets))
        return super().squared_error(predictions, targets)

    def squared_error_grad(
        self, predictions: np.ndarray, targets: np.ndarray, scale: float
    ) -> np.ndarray:
        if _float32(predictions) and _float32(targets) and predictions.shape == targets.shape:
            return softmax.squared_error_grad(_contiguous(predictions), _contiguous(targets), scale)
        return super().squared_error_grad(predictions, targets, scale)

    # --- dropout --------------------------------------------------------------------------

    def dropout_forward(
        self, x: np.ndarray, rate: float, key: int, counter: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if _float32(x):
            return dropout.dropout_forward(_contiguous(x), rate, key, counter)
        return super().dropout_forward(x, rate, key, counter)

    def dropout_backward(self, mask: np.ndarray, output_grad: np.ndarray) -> np.ndarray:
        if _float32(mask) and _float32(output_grad) and mask.shape == output_grad.shape:
            return dropout.dropout_backward(_contiguous(mask), _contiguous(output_grad))
        return super().dropout_backward(mask, output_grad)

    # --- training plans -----------------------------------------------------------------

    def plan_runner(self, plan: TrainingPlan) -> PlanRunner | None:
        """Run ``plan`` in csrc/plan.c, one C call per run of batches."""
        from nnplug._c.plan import CPlanRunner

        return CPlanRunner.build(plan)

    # --- convolution and pooling ------------------------------------------------------

    def conv2d_forward(
        self,
        x: np.ndarray,
        weights: np.ndarray,
        bias: np.ndarray,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> np.ndarray:
        if (
            _float32(x)
            and _float32(weights)
            and _float32(bias)
            and x.ndim == 4
            and weights.ndim == 4
            and bias.shape == weights.shape[:1]
        ):
            return conv.conv2d_forward(
                _contiguous(x), _contiguous(weights), _contiguous(bias), stride, padding
            )
        return super().conv2d_forward(x, weights, bias, stride, padding)

    def conv2d_input_grad(
        self,
        grad: np.ndarray,
        weights: np.ndarray,
        image_size: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> np.ndarray:
        if _float32(grad) and _float32(weights) and grad.ndim == 4 and weights.ndim == 4:
            return conv.conv2d_input_grad(
                _contiguous(grad),
                _contiguous(weights),
                (image_size[0], image_size[1]),
                stride,
                padding,
            )
        return super().conv2d_input_grad(grad, weights, image_size, stride, padding)

    def conv2d_param_grads(
        self,
        grad: np.ndarray,
        x: np.ndarray,
        weights_grad: np.ndarray,
        bias_grad: np.ndarray,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> None:
        if (
            _float32(grad)
            and _float32(x)
            and _updatable(weights_grad)
            and _updatable(bias_grad)
            and grad.ndim == 4
            and x.ndim == 4
            and weights_grad.ndim == 4
            and bias_grad.shape == weights_grad.shape[:1]
        ):
            try:
                conv.conv2d_param_grads(
                    _contiguous(grad), _contiguous(x), weights_grad, bias_grad, stride, padding
                )
                return
            except OverlapError:
                pass
        super().conv2d_param_grads(grad, x, weights_grad, bias_grad, stride, padding)

    def maxpool2d_forward(
        self, x: np.ndarray, kernel_size: tuple[int, int], stride: tuple[int, int]
    ) -> np.ndarray:
        if _float32(x) and x.ndim == 4:
            return conv.maxpool2d_forward(_contiguous(x), kernel_size, stride)
        return super().maxpool2d_forward(x, kernel_size, stride)

    def maxpool2d_backward(
        self,
        x: np.ndarray,
        grad: np.ndarray,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
    ) -> np.ndarray:
        if _float32(x) and _float32(grad) and x.ndim == 4 and grad.ndim == 4:
            return conv.maxpool2d_backward(_contiguous(x), _contiguous(grad), kernel_size, stride)
        return super().maxpool2d_backward(x, grad, kernel_size, stride)
