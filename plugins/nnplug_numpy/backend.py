"""The NumPy backend: the executable specification every other backend is checked against."""

from __future__ import annotations

import numpy as np

from nnplug.backends.base import ActivationKind, Backend


class NumpyBackend(Backend):
    """Every kernel in a few lines of NumPy; float32 and float64."""

    name = "numpy"

    def linear_forward(self, x: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        out = x @ weights.T
        out += bias
        return out

    def linear_input_grad(self, grad: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return grad @ weights

    def linear_param_grads(
        self, grad: np.ndarray, x: np.ndarray, weights_grad: np.ndarray, bias_grad: np.ndarray
    ) -> None:
        weights_grad += grad.T @ x
        bias_grad += grad.sum(axis=0)

    def activation_forward(self, kind: ActivationKind, x: np.ndarray) -> np.ndarray:
        if kind == "tanh":
            return np.tanh(x)
        if kind == "sigmoid":
            # Written with tanh so that large |x| neither overflows exp nor loses precision.
            return 0.5 * (np.tanh(0.5 * x) + 1)
        if kind == "relu":
            return np.maximum(x, 0)
        raise ValueError(f"unknown activation kind {kind!r}")

    def activation_backward(
        self, kind: ActivationKind, outputs: np.ndarray, output_grad: np.ndarray
    ) -> np.ndarray:
        if kind == "tanh":
            return output_grad * (1 - outputs * outputs)
        if kind == "sigmoid":
            return output_grad * outputs * (1 - outputs)
        if kind == "relu":
            return output_grad * (outputs > 0)
        raise ValueError(f"unknown activation kind {kind!r}")

    def softmax(self, x: np.ndarray) -> np.ndarray:
        # Subtracting the row max leaves the result unchanged and keeps exp() from overflowing.
        # A row whose max is +inf is uniform over its +inf entries, a row of only -inf is
        # uniform, and -inf entries elsewhere give 0 (the limits for finite logits); a NaN
        # anywhere in a row makes the row NaN.
        top = x.max(axis=1, keepdims=True, initial=-np.inf)
        infinite = np.isinf(top)
        shifted = x - np.where(infinite, 0, top)
        if infinite.any():
            shifted = np.where(infinite, np.where(x == top, 0, -np.inf), shifted)
        out = np.exp(shifted)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def softmax_backward(self, outputs: np.ndarray, output_grad: np.ndarray) -> np.ndarray:
        # The Jacobian (diag(y) - y y^T) applied to dy, without building it.
        dot = (outputs * output_grad).sum(axis=1, keepdims=True)
        return outputs * (output_grad - dot)

    def cross_entropy(self, probs: np.ndarray, targets: np.ndarray) -> float:
        # Clipping at the smallest normal number keeps log(0) finite (about -87 in float32).
        clipped = np.maximum(probs, np.finfo(probs.dtype).tiny)
        return float(-(targets * np.log(clipped)).sum())

    def softmax_cross_entropy_grad(
        self, probs: np.ndarray, targets: np.ndarray, scale: float
    ) -> np.ndarray:
        out = probs - targets
        out *= scale
        return out

    def sgd_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        velocity: np.ndarray,
        learning_rate: float,
        momentum: float,
    ) -> None:
        velocity *= momentum
        velocity += learning_rate * grad
        param -= velocity

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
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        m_hat_scale = 1 / (1 - beta1**step)
        v_hat_scale = 1 / (1 - beta2**step)
        param -= learning_rate * (m * m_hat_scale) / (np.sqrt(v * v_hat_scale) + epsilon)
