"""Wrappers of csrc/optim.c: SGD with momentum, Adam and RMSprop updates, in place, in float32."""

from __future__ import annotations

import numpy as np

from nnplug._c._checks import ensure, no_overlap, out_pointer, pointer, require_float32
from nnplug._native import lib

__all__ = ["adam_step", "rmsprop_step", "sgd_step"]


def sgd_step(
    param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, learning_rate: float, momentum: float
) -> None:
    """Update in place: velocity = momentum * velocity + learning_rate * grad; param -= velocity."""
    require_float32("sgd_step: param", param, writable=True)
    require_float32("sgd_step: grad", grad, shape=param.shape)
    require_float32("sgd_step: velocity", velocity, shape=param.shape, writable=True)
    no_overlap("sgd_step", "param", param, "grad", grad)
    no_overlap("sgd_step", "param", param, "velocity", velocity)
    no_overlap("sgd_step", "velocity", velocity, "grad", grad)
    status = lib.nnp_sgd_step(
        param.size,
        out_pointer(param),
        pointer(grad),
        out_pointer(velocity),
        float(learning_rate),
        float(momentum),
    )
    ensure(status, "nnp_sgd_step")


def adam_step(
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
    """In place, one Adam update (with bias correction) at 1-based ``step``."""
    require_float32("adam_step: param", param, writable=True)
    require_float32("adam_step: grad", grad, shape=param.shape)
    require_float32("adam_step: m", m, shape=param.shape, writable=True)
    require_float32("adam_step: v", v, shape=param.shape, writable=True)
    written = {"param": param, "m": m, "v": v}
    for name, array in written.items():
        no_overlap("adam_step", name, array, "grad", grad)
    no_overlap("adam_step", "param", param, "m", m)
    no_overlap("adam_step", "param", param, "v", v)
    no_overlap("adam_step", "m", m, "v", v)
    if step < 1:
        raise ValueError(f"adam_step: step must be >= 1 (it counts from 1), got {step}")
    if beta1 == 1.0 or beta2 == 1.0:
        raise ValueError(
            f"adam_step: beta1 and beta2 must not be 1 (got {beta1}, {beta2}): "
            "the bias correction would divide by zero"
        )
    status = lib.nnp_adam_step(
        param.size,
        out_pointer(param),
        pointer(grad),
        out_pointer(m),
        out_pointer(v),
        float(learning_rate),
        float(beta1),
        float(beta2),
        float(epsilon),
        int(step),
    )
    ensure(status, "nnp_adam_step")


def rmsprop_step(
    param: np.ndarray,
    grad: np.ndarray,
    mean_square: np.ndarray,
    learning_rate: float,
    decay: float,
    epsilon: float,
) -> None:
    """In place, one RMSprop update."""
    require_float32("rmsprop_step: param", param, writable=True)
    require_float32("rmsprop_step: grad", grad, shape=param.shape)
    require_float32("rmsprop_step: mean_square", mean_square, shape=param.shape, writable=True)
    no_overlap("rmsprop_step", "param", param, "grad", grad)
    no_overlap("rmsprop_step", "param", param, "mean_square", mean_square)
    no_overlap("rmsprop_step", "mean_square", mean_square, "grad", grad)
    status = lib.nnp_rmsprop_step(
        param.size,
        out_pointer(param),
        pointer(grad),
        out_pointer(mean_square),
        float(learning_rate),
        float(decay),
        float(epsilon),
    )
    ensure(status, "nnp_rmsprop_step")
