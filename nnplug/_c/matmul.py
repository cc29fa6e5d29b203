"""Wrappers of csrc/matmul.c: the matrix products of a dense layer, in float32."""

from __future__ import annotations

import numpy as np

from nnplug._c._checks import ensure, no_overlap, out_pointer, pointer, require_float32
from nnplug._native import lib

__all__ = [
    "isa_level",
    "linear_forward",
    "linear_input_grad",
    "linear_param_grads",
    "set_max_isa_level",
]


def linear_forward(x: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Return ``x @ weights.T + bias``: x (n, in), weights (out, in), bias (out,) -> (n, out)."""
    require_float32("linear_forward: x", x, ndim=2)
    require_float32("linear_forward: weights", weights, ndim=2)
    n, n_in = x.shape
    n_out = weights.shape[0]
    if weights.shape[1] != n_in:
        raise ValueError(
            f"linear_forward: x has shape {x.shape} but weights has shape {weights.shape}; "
            "weights must be (out_features, in_features) with in_features = x.shape[1]"
        )
    require_float32("linear_forward: bias", bias, shape=(n_out,))
    y = np.empty((n, n_out), dtype=np.float32)
    status = lib.nnp_linear_forward(
        n,
        n_in,
        n_out,
        pointer(x),
        n_in,
        pointer(weights),
        n_in,
        pointer(bias),
        out_pointer(y),
        n_out,
    )
    ensure(status, "nnp_linear_forward")
    return y


def linear_input_grad(grad: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return ``grad @ weights``: grad (n, out), weights (out, in) -> (n, in)."""
    require_float32("linear_input_grad: grad", grad, ndim=2)
    require_float32("linear_input_grad: weights", weights, ndim=2)
    n, n_out = grad.shape
    n_in = weights.shape[1]
    if weights.shape[0] != n_out:
        raise ValueError(
            f"linear_input_grad: grad has shape {grad.shape} but weights has shape "
            f"{weights.shape}; weights must be (out_features, in_features) with "
            "out_features = grad.shape[1]"
        )
    dx = np.empty((n, n_in), dtype=np.float32)
    status = lib.nnp_linear_input_grad(
        n, n_in, n_out, pointer(grad), n_out, pointer(weights), n_in, out_pointer(dx), n_in
    )
    ensure(status, "nnp_linear_input_grad")
    return dx


def linear_param_grads(
    grad: np.ndarray, x: np.ndarray, weights_grad: np.ndarray, bias_grad: np.ndarray
) -> None:
    """Accumulate ``grad.T @ x`` into ``weights_grad`` and ``grad.sum(0)`` into ``bias_grad``.

    grad is (n, out), x (n, in), weights_grad (out, in), bias_grad (out,); both gradients
    are updated in place.
    """
    kernel = "linear_param_grads"
    require_float32(f"{kernel}: grad", grad, ndim=2)
    require_float32(f"{kernel}: x", x, ndim=2)
    n, n_out = grad.shape
    n_in = x.shape[1]
    if x.shape[0] != n:
        raise ValueError(
            f"{kernel}: grad has shape {grad.shape} but x has shape {x.shape}; "
            f"both need the same number of rows"
        )
    require_float32(f"{kernel}: weights_grad", weights_grad, shape=(n_out, n_in), writable=True)
    require_float32(f"{kernel}: bias_grad", bias_grad, shape=(n_out,), writable=True)
    no_overlap(kernel, "weights_grad", weights_grad, "grad", grad)
    no_overlap(kernel, "weights_grad", weights_grad, "x", x)
    no_overlap(kernel, "weights_grad", weights_grad, "bias_grad", bias_grad)
    no_overlap(kernel, "bias_grad", bias_grad, "grad", grad)
    no_overlap(kernel, "bias_grad", bias_grad, "x", x)
    status = lib.nnp_linear_param_grads(
        n,
        n_in,
        n_out,
        pointer(grad),
        n_out,
        pointer(x),
        n_in,
        out_pointer(weights_grad),
        n_in,
        out_pointer(bias_grad),
    )
    ensure(status, "nnp_linear_param_grads")


def isa_level() -> int:
    """The instruction-set level the matrix kernels run at: 4 AVX-512, 3 AVX2, 2 SSE/NEON, 1 C."""
    return int(lib.nnp_isa_level())


def set_max_isa_level(level: int) -> int:
    """Cap the matrix kernels' instruction-set level (0: no cap); return the level now used.

    For tests, which run every copy of the kernels on one machine.
    """
    return int(lib.nnp_set_max_isa_level(level))
