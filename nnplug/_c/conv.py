"""Wrappers of csrc/conv.c: convolution and max-pooling kernels for float32 images.

The convolutions use up to ``nnplug.threads.get_num_threads()`` threads on large batches.
"""

from __future__ import annotations

import numpy as np

from nnplug._c._checks import ensure, no_overlap, out_pointer, pointer, require_float32
from nnplug._native import lib
from nnplug.threads import get_num_threads

__all__ = [
    "conv2d_forward",
    "conv2d_input_grad",
    "conv2d_param_grads",
    "maxpool2d_backward",
    "maxpool2d_forward",
]

_CONV_ERRORS = {lib.NNP_CONV_NOMEM: "no memory for the patch buffer"}


def _pair(kernel: str, name: str, value: object, minimum: int) -> tuple[int, int]:
    """Return ``value`` if it is a pair of Python or NumPy ints >= ``minimum``, else raise."""
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(
            isinstance(item, (int, np.integer)) and not isinstance(item, bool) and item >= minimum
            for item in value
        )
    ):
        raise ValueError(f"{kernel}: {name} must be a pair of integers >= {minimum}, got {value!r}")
    return int(value[0]), int(value[1])


def _output_size(
    kernel: str,
    image: tuple[int, int],
    window: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> tuple[int, int]:
    """Return the output (rows, columns) of windows over padded images, or raise."""
    padded = (image[0] + 2 * padding[0], image[1] + 2 * padding[1])
    if padded[0] < window[0] or padded[1] < window[1]:
        raise ValueError(
            f"{kernel}: images of {image[0]}x{image[1]} pixels padded by {padding} are smaller "
            f"than the {window[0]}x{window[1]} window"
        )
    return (padded[0] - window[0]) // stride[0] + 1, (padded[1] - window[1]) // stride[1] + 1


def _conv_geometry(
    kernel: str,
    weights: np.ndarray,
    channels: int,
    image: tuple[int, int],
    stride: object,
    padding: object,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Check the weights against ``channels``; return stride, padding and output size."""
    require_float32(f"{kernel}: weights", weights, ndim=4)
    if weights.shape[1] != channels:
        raise ValueError(
            f"{kernel}: weights has shape {weights.shape} but the images have {channels} "
            "channels; weights must be (out_channels, in_channels, kh, kw)"
        )
    strides = _pair(kernel, "stride", stride, 1)
    paddings = _pair(kernel, "padding", padding, 0)
    out = _output_size(kernel, image, weights.shape[2:], strides, paddings)
    return strides, paddings, out


def conv2d_forward(
    x: np.ndarray, weights: np.ndarray, bias: np.ndarray, stride: object, padding: object
) -> np.ndarray:
    """Return the convolution of ``x`` (n, c, h, w) with ``weights`` (oc, c, kh, kw) plus
    ``bias`` (oc,): (n, oc, oh, ow)."""
    kernel = "conv2d_forward"
    require_float32(f"{kernel}: x", x, ndim=4)
    n, c, h, w = x.shape
    strides, paddings, (oh, ow) = _conv_geometry(kernel, weights, c, (h, w), stride, padding)
    oc, _, kh, kw = weights.shape
    require_float32(f"{kernel}: bias", bias, shape=(oc,))
    y = np.empty((n, oc, oh, ow), dtype=np.float32)
    status = lib.nnp_conv2d_forward(
        n,
        c,
        h,
        w,
        oc,
        kh,
        kw,
        *strides,
        *paddings,
        pointer(x),
        pointer(weights),
        pointer(bias),
        out_pointer(y),
        get_num_threads(),
    )
    ensure(status, "nnp_conv2d_forward", _CONV_ERRORS)
    return y


def conv2d_input_grad(
    grad: np.ndarray,
    weights: np.ndarray,
    image_size: tuple[int, int],
    stride: object,
    padding: object,
) -> np.ndarray:
    """Return the input gradient (n, c, h, w), ``image_size`` = (h, w), of a convolution
    from ``grad`` (n, oc, oh, ow) at its outputs."""
    kernel = "conv2d_input_grad"
    h, w = _pair(kernel, "image_size", tuple(image_size), 1)
    require_float32(f"{kernel}: weights", weights, ndim=4)
    oc, c, kh, kw = weights.shape
    strides, paddings, out = _conv_geometry(kernel, weights, c, (h, w), stride, padding)
    require_float32(f"{kernel}: grad", grad, ndim=4)
    n = grad.shape[0]
    if grad.shape[1:] != (oc, *out):
        raise ValueError(
            f"{kernel}: grad must have shape (batch, {oc}, {out[0]}, {out[1]}) for these "
            f"weights and images of {h}x{w}, not {grad.shape}"
        )
    dx = np.empty((n, c, h, w), dtype=np.float32)
    status = lib.nnp_conv2d_input_grad(
        n,
        c,
        h,
        w,
        oc,
        kh,
        kw,
        *strides,
        *paddings,
        pointer(grad),
        pointer(weights),
        out_pointer(dx),
        get_num_threads(),
    )
    ensure(status, "nnp_conv2d_input_grad", _CONV_ERRORS)
    return dx


def conv2d_param_grads(
    grad: np.ndarray,
    x: np.ndarray,
    weights_grad: np.ndarray,
    bias_grad: np.ndarray,
    stride: object,
    padding: object,
) -> None:
    """Accumulate a convolution's weight gradient into ``weights_grad`` (oc, c, kh, kw) and
    ``grad.sum((0, 2, 3))`` into ``bias_grad`` (oc,), from ``x`` (n, c, h, w) and ``grad``
    (n, oc, oh, ow); both gradients are updated in place."""
    kernel = "conv2d_param_grads"
    require_float32(f"{kernel}: x", x, ndim=4)
    n, c, h, w = x.shape
    require_float32(f"{kernel}: weights_grad", weights_grad, ndim=4, writable=True)
    strides, paddings, out = _conv_geometry(kernel, weights_grad, c, (h, w), stride, padding)
    oc, _, kh, kw = weights_grad.shape
    require_float32(f"{kernel}: grad", grad, shape=(n, oc, *out))
    require_float32(f"{kernel}: bias_grad", bias_grad, shape=(oc,), writable=True)
    no_overlap(kernel, "weights_grad", weights_grad, "grad", grad)
    no_overlap(kernel, "weights_grad", weights_grad, "x", x)
    no_overlap(kernel, "weights_grad", weights_grad, "bias_grad", bias_grad)
    no_overlap(kernel, "bias_grad", bias_grad, "grad", grad)
    no_overlap(kernel, "bias_grad", bias_grad, "x", x)
    status = lib.nnp_conv2d_param_grads(
        n,
        c,
        h,
        w,
        oc,
        kh,
        kw,
        *strides,
        *paddings,
        pointer(grad),
        pointer(x),
        out_pointer(weights_grad),
        out_pointer(bias_grad),
        get_num_threads(),
    )
    ensure(status, "nnp_conv2d_param_grads", _CONV_ERRORS)


def _pool_geometry(
    kernel: str, x: np.ndarray, kernel_size: object, stride: object
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    require_float32(f"{kernel}: x", x, ndim=4)
    window = _pair(kernel, "kernel_size", kernel_size, 1)
    strides = _pair(kernel, "stride", stride, 1)
    return window, strides, _output_size(kernel, x.shape[2:], window, strides, (0, 0))


def maxpool2d_forward(x: np.ndarray, kernel_size: object, stride: object) -> np.ndarray:
    """Return the maximum of every ``kernel_size`` window of ``x`` (n, c, h, w), windows
    ``stride`` apart: (n, c, oh, ow)."""
    window, strides, out = _pool_geometry("maxpool2d_forward", x, kernel_size, stride)
    y = np.empty((*x.shape[:2], *out), dtype=np.float32)
    status = lib.nnp_maxpool2d_forward(*x.shape, *window, *strides, pointer(x), out_pointer(y))
    ensure(status, "nnp_maxpool2d_forward")
    return y


def maxpool2d_backward(
    x: np.ndarray, grad: np.ndarray, kernel_size: object, stride: object
) -> np.ndarray:
    """Return the input gradient (n, c, h, w) of that max pool from ``x`` and ``grad``
    (n, c, oh, ow) at its outputs."""
    kernel = "maxpool2d_backward"
    window, strides, out = _pool_geometry(kernel, x, kernel_size, stride)
    require_float32(f"{kernel}: grad", grad, shape=(*x.shape[:2], *out))
    dx = np.empty(x.shape, dtype=np.float32)
    status = lib.nnp_maxpool2d_backward(
        *x.shape, *window, *strides, pointer(x), pointer(grad), out_pointer(dx)
    )
    ensure(status, "nnp_maxpool2d_backward")
    return dx
