"""The NumPy backend: the executable specification every other backend is checked against."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnplug.backends.base import ActivationKind, Backend

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on uint64 (arithmetic wraps)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def dropout_mask(shape: tuple[int, ...], rate: float, key: int, counter: int) -> np.ndarray:
    """The float32 mask of inverted dropout: ``1 / (1 - rate)`` where an element is kept,
    0 where it is dropped.

    Element ``i`` (in C order) is kept when the top 24 bits of
    ``mix(mix(key + counter * G) + (i + 1) * G)`` are at least ``round(rate * 2**24)``,
    with ``G = 0x9E3779B97F4A7C15`` and ``mix`` the splitmix64 finaliser: a pure function
    of its arguments, so every backend and thread split draws the same mask.
    """
    size = int(np.prod(shape))
    stream = _mix64(np.array([(key + counter * int(_GOLDEN)) % 2**64], dtype=np.uint64))
    index = np.arange(1, size + 1, dtype=np.uint64)
    bits = _mix64(stream + index * _GOLDEN)
    keep = (bits >> np.uint64(40)) >= np.uint64(round(rate * 2**24))
    scale = np.float32(1.0 / (1.0 - rate))
    return np.where(keep, scale, np.float32(0)).reshape(shape)


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

    def rmsprop_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        mean_square: np.ndarray,
        learning_rate: float,
        decay: float,
        epsilon: float,
    ) -> None:
        mean_square *= decay
        mean_square += (1 - decay) * grad * grad
        param -= learning_rate * grad / (np.sqrt(mean_square) + epsilon)

    def squared_error(self, predictions: np.ndarray, targets: np.ndarray) -> float:
        difference = predictions.astype(np.float64) - targets
        return float(np.sum(difference * difference))

    def squared_error_grad(
        self, predictions: np.ndarray, targets: np.ndarray, scale: float
    ) -> np.ndarray:
        out = predictions - targets
        out *= scale
        return out

    def dropout_forward(
        self, x: np.ndarray, rate: float, key: int, counter: int
    ) -> tuple[np.ndarray, np.ndarray]:
        mask = dropout_mask(x.shape, rate, key, counter).astype(x.dtype)
        return x * mask, mask

    def dropout_backward(self, mask: np.ndarray, output_grad: np.ndarray) -> np.ndarray:
        return output_grad * mask

    # --- convolution and pooling ------------------------------------------------------
    # A convolution is one matrix product over "patches": row (n, i, j) of the patch
    # matrix holds the (channel, kh, kw) window of image n under output pixel (i, j).

    def conv2d_forward(
        self,
        x: np.ndarray,
        weights: np.ndarray,
        bias: np.ndarray,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> np.ndarray:
        kernel = weights.shape[2:]
        patches = _windows(_pad(x, padding), kernel, stride)
        n, out_h, out_w = patches.shape[:3]
        filters = weights.reshape(len(weights), -1)
        rows = patches.reshape(n * out_h * out_w, filters.shape[1]) @ filters.T
        rows += bias
        images = rows.reshape(n, out_h, out_w, len(weights))
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))

    def conv2d_input_grad(
        self,
        grad: np.ndarray,
        weights: np.ndarray,
        image_size: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> np.ndarray:
        n, _, out_h, out_w = grad.shape
        channels, kh, kw = weights.shape[1:]
        rows = grad.transpose(0, 2, 3, 1).reshape(n * out_h * out_w, len(weights))
        patch_grads = (rows @ weights.reshape(len(weights), -1)).reshape(
            n, out_h, out_w, channels, kh, kw
        )
        height, width = image_size
        padded = np.zeros(
            (n, channels, height + 2 * padding[0], width + 2 * padding[1]), dtype=grad.dtype
        )
        for i in range(kh):
            for j in range(kw):
                rows_hit = slice(i, i + stride[0] * out_h, stride[0])
                cols_hit = slice(j, j + stride[1] * out_w, stride[1])
                padded[:, :, rows_hit, cols_hit] += patch_grads[..., i, j].transpose(0, 3, 1, 2)
        return np.ascontiguousarray(
            padded[:, :, padding[0] : padding[0] + height, padding[1] : padding[1] + width]
        )

    def conv2d_param_grads(
        self,
        grad: np.ndarray,
        x: np.ndarray,
        weights_grad: np.ndarray,
        bias_grad: np.ndarray,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> None:
        kernel = weights_grad.shape[2:]
        patches = _windows(_pad(x, padding), kernel, stride)
        rows = grad.transpose(0, 2, 3, 1).reshape(-1, grad.shape[1])
        patch_matrix = patches.reshape(len(rows), weights_grad[0].size)
        weights_grad += (rows.T @ patch_matrix).reshape(weights_grad.shape)
        bias_grad += grad.sum(axis=(0, 2, 3))

    def maxpool2d_forward(
        self, x: np.ndarray, kernel_size: tuple[int, int], stride: tuple[int, int]
    ) -> np.ndarray:
        windows = sliding_window_view(x, kernel_size, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
        return np.ascontiguousarray(windows.max(axis=(4, 5)))

    def maxpool2d_backward(
        self,
        x: np.ndarray,
        grad: np.ndarray,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
    ) -> np.ndarray:
        kh, kw = kernel_size
        windows = sliding_window_view(x, kernel_size, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
        out_h, out_w = windows.shape[2:4]
        winner = windows.reshape(*windows.shape[:4], kh * kw).argmax(axis=4)
        dx = np.zeros_like(x, dtype=grad.dtype)
        for i in range(kh):
            for j in range(kw):
                rows_hit = slice(i, i + stride[0] * out_h, stride[0])
                cols_hit = slice(j, j + stride[1] * out_w, stride[1])
                dx[:, :, rows_hit, cols_hit] += grad * (winner == i * kw + j)
        return dx


def _pad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Return images ``x`` with ``padding`` rows and columns of zeros around each."""
    if padding == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Return the patches of images ``x``: (batch, out_h, out_w, channels, kh, kw)."""
    windows = sliding_window_view(x, kernel, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    return np.ascontiguousarray(windows.transpose(0, 2, 3, 1, 4, 5))
