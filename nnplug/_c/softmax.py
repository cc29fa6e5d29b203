"""Wrappers of csrc/softmax.c: softmax, its backward pass, cross-entropy and squared error, in
float32."""

from __future__ import annotations

import numpy as np

from nnplug._c._checks import ensure, out_pointer, pointer, require_float32, same_shape
from nnplug._native import ffi, lib

__all__ = [
    "cross_entropy",
    "softmax",
    "softmax_backward",
    "softmax_cross_entropy_grad",
    "squared_error",
    "squared_error_grad",
]


def softmax(x: np.ndarray) -> np.ndarray:
    """Return the row-wise softmax of the 2-D ``x``; finite for any finite input."""
    require_float32("softmax: x", x, ndim=2)
    n, m = x.shape
    if m == 0:
        raise ValueError(f"softmax: x has shape {x.shape}; a row with no entries has no softmax")
    y = np.empty_like(x)
    ensure(lib.nnp_softmax_forward(n, m, pointer(x), m, out_pointer(y), m), "nnp_softmax_forward")
    return y


def softmax_backward(outputs: np.ndarray, output_grad: np.ndarray) -> np.ndarray:
    """Return the input gradient of a row-wise softmax from its ``outputs`` and ``output_grad``."""
    require_float32("softmax_backward: outputs", outputs, ndim=2)
    require_float32("softmax_backward: output_grad", output_grad, ndim=2)
    same_shape("softmax_backward", outputs, output_grad, "outputs and output_grad")
    n, m = outputs.shape
    dx = np.empty_like(outputs)
    status = lib.nnp_softmax_backward(
        n, m, pointer(outputs), m, pointer(output_grad), m, out_pointer(dx), m
    )
    ensure(status, "nnp_softmax_backward")
    return dx


def cross_entropy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Return ``-sum(targets * log(max(probs, tiny)))`` over all entries, any shape."""
    require_float32("cross_entropy: probs", probs)
    require_float32("cross_entropy: targets", targets)
    same_shape("cross_entropy", probs, targets, "probs and targets")
    loss = ffi.new("double *")
    size = probs.size
    status = lib.nnp_cross_entropy(1, size, pointer(probs), size, pointer(targets), size, loss)
    ensure(status, "nnp_cross_entropy")
    return float(loss[0])


def softmax_cross_entropy_grad(probs: np.ndarray, targets: np.ndarray, scale: float) -> np.ndarray:
    """Return ``(probs - targets) * scale``, the fused softmax + cross-entropy gradient."""
    require_float32("softmax_cross_entropy_grad: probs", probs)
    require_float32("softmax_cross_entropy_grad: targets", targets)
    same_shape("softmax_cross_entropy_grad", probs, targets, "probs and targets")
    dx = np.empty_like(probs)
    size = probs.size
    status = lib.nnp_softmax_cross_entropy_grad(
        1, size, pointer(probs), size, pointer(targets), size, float(scale), out_pointer(dx), size
    )
    ensure(status, "nnp_softmax_cross_entropy_grad")
    return dx


def squared_error(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Return ``sum((predictions - targets) ** 2)`` over all entries, any shape."""
    require_float32("squared_error: predictions", predictions)
    require_float32("squared_error: targets", targets)
    same_shape("squared_error", predictions, targets, "predictions and targets")
    loss = ffi.new("double *")
    size = predictions.size
    status = lib.nnp_squared_error(
        1, size, pointer(predictions), size, pointer(targets), size, loss
    )
    ensure(status, "nnp_squared_error")
    return float(loss[0])


def squared_error_grad(predictions: np.ndarray, targets: np.ndarray, scale: float) -> np.ndarray:
    """Return ``(predictions - targets) * scale``."""
    require_float32("squared_error_grad: predictions", predictions)
    require_float32("squared_error_grad: targets", targets)
    same_shape("squared_error_grad", predictions, targets, "predictions and targets")
    dx = np.empty_like(predictions)
    size = predictions.size
    status = lib.nnp_squared_error_grad(
        1, size, pointer(predictions), size, pointer(targets), size, scale, out_pointer(dx), size
    )
    ensure(status, "nnp_squared_error_grad")
    return dx
