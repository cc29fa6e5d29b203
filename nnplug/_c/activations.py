"""Wrappers of csrc/activations.c: tanh, sigmoid and relu, forward and backward, in float32."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nnplug._c._checks import ensure, out_pointer, pointer, require_float32, same_shape
from nnplug._native import lib

__all__ = ["activation_backward", "activation_forward"]

_FORWARD: dict[str, tuple[str, Callable[..., int]]] = {
    "tanh": ("nnp_tanh_forward", lib.nnp_tanh_forward),
    "sigmoid": ("nnp_sigmoid_forward", lib.nnp_sigmoid_forward),
    "relu": ("nnp_relu_forward", lib.nnp_relu_forward),
}
_BACKWARD: dict[str, tuple[str, Callable[..., int]]] = {
    "tanh": ("nnp_tanh_backward", lib.nnp_tanh_backward),
    "sigmoid": ("nnp_sigmoid_backward", lib.nnp_sigmoid_backward),
    "relu": ("nnp_relu_backward", lib.nnp_relu_backward),
}


def _lookup(table: dict[str, tuple[str, Callable[..., int]]], kind: str) -> tuple[str, Callable]:
    try:
        return table[kind]
    except KeyError:
        raise ValueError(
            f"unknown activation kind {kind!r}; expected one of {sorted(table)}"
        ) from None


def activation_forward(kind: str, x: np.ndarray) -> np.ndarray:
    """Return activation ``kind`` (tanh, sigmoid or relu) of ``x``, element-wise, any shape."""
    name, function = _lookup(_FORWARD, kind)
    require_float32("activation_forward: x", x)
    y = np.empty_like(x)
    ensure(function(x.size, pointer(x), out_pointer(y)), name)
    return y


def activation_backward(kind: str, outputs: np.ndarray, output_grad: np.ndarray) -> np.ndarray:
    """Return the input gradient of activation ``kind`` from its ``outputs`` and ``output_grad``."""
    name, function = _lookup(_BACKWARD, kind)
    require_float32("activation_backward: outputs", outputs)
    require_float32("activation_backward: output_grad", output_grad)
    same_shape("activation_backward", outputs, output_grad, "outputs and output_grad")
    dx = np.empty_like(outputs)
    ensure(function(outputs.size, pointer(outputs), pointer(output_grad), out_pointer(dx)), name)
    return dx
