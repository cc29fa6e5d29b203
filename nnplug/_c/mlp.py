"""Wrapper of ``csrc/mlp.c``: the fused MLP trainer."""

from __future__ import annotations

import numpy as np

from nnplug._c._checks import ensure, require_float32
from nnplug._native import ffi, lib
from nnplug.fused import MlpPlan
from nnplug.threads import get_num_threads

_ACTIVATIONS = {
    None: lib.NNP_ACT_NONE,
    "tanh": lib.NNP_ACT_TANH,
    "sigmoid": lib.NNP_ACT_SIGMOID,
    "relu": lib.NNP_ACT_RELU,
}
_HEADS = {
    "softmax_cross_entropy": lib.NNP_HEAD_SOFTMAX_CROSS_ENTROPY,
    "mse": lib.NNP_HEAD_MSE,
}
_MLP_ERRORS = {
    lib.NNP_MLP_SHAPE: "layer sizes do not chain or do not fit the head",
    lib.NNP_MLP_ORDER: "a sample index is out of range",
    lib.NNP_MLP_WORKSPACE: "the workspace is too small",
}


def mlp_sgd_epoch(
    plan: MlpPlan,
    x: np.ndarray,
    targets: np.ndarray,
    order: np.ndarray | None,
    batch_size: int,
) -> tuple[float, int | None]:
    """Run SGD over ``x`` in batches for ``plan``; see ``Backend.mlp_sgd_epoch``."""
    net, keep_alive = _layers(plan)
    rows = x.shape[0]
    require_float32("x", x, ndim=2)
    require_float32("targets", targets, ndim=2)
    if x.shape[1] != plan.input_size or targets.shape != (rows, plan.output_size):
        raise ValueError(
            f"fused MLP: expected x (N, {plan.input_size}) and targets (N, {plan.output_size}); "
            f"got x {x.shape} and targets {targets.shape}"
        )
    if order is None:
        count, order_ptr = rows, ffi.NULL
    else:
        index = np.ascontiguousarray(order, dtype=np.int64)
        if index.ndim != 1 or (index.size and (index.min() < 0 or index.max() >= rows)):
            raise ValueError(f"fused MLP: sample order must be indices in [0, {rows})")
        count, order_ptr = index.size, ffi.from_buffer("long long[]", index)
        keep_alive.append(index)
    if isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"fused MLP: batch_size must be >= 1, got {batch_size}")
    layers = len(plan.layers)
    batch = min(batch_size, max(count, 1))
    threads = get_num_threads()
    floats = lib.nnp_mlp_workspace_floats(layers, net, batch, threads)
    ensure(0 if floats >= 0 else lib.NNP_MLP_SHAPE, "nnp_mlp_workspace_floats", _MLP_ERRORS)
    work = np.empty(floats, dtype=np.float32)
    loss_sum = ffi.new("double *")
    stopped = ffi.new("ptrdiff_t *")
    status = lib.nnp_mlp_sgd_epoch(
        layers,
        net,
        _HEADS[plan.head],
        count,
        rows,
        ffi.from_buffer("float[]", x),
        ffi.from_buffer("float[]", targets),
        order_ptr,
        batch,
        plan.optimizer.learning_rate,
        plan.optimizer.momentum,
        threads,
        ffi.from_buffer("float[]", work),
        floats,
        loss_sum,
        stopped,
    )
    if status == lib.NNP_MLP_NONFINITE:
        return loss_sum[0], int(stopped[0])
    ensure(status, "nnp_mlp_sgd_epoch", _MLP_ERRORS)
    return loss_sum[0], None


def _layers(plan: MlpPlan) -> tuple[object, list[object]]:
    """The C description of the plan's layers, and the buffers it points into."""
    net = ffi.new("struct nnp_dense_layer[]", len(plan.layers))
    keep_alive: list[object] = [net]
    for item, layer in zip(net, plan.layers, strict=True):
        linear = layer.linear
        shape = (linear.output_size, linear.input_size)
        arrays = {
            "w": (linear.weights, shape),
            "b": (linear.bias, shape[:1]),
            "dw": (linear.weights_grad, shape),
            "db": (linear.bias_grad, shape[:1]),
            "vw": (layer.weights_velocity, shape),
            "vb": (layer.bias_velocity, shape[:1]),
        }
        for field, (array, expected) in arrays.items():
            require_float32(f"{linear!r}.{field}", array, shape=expected, writable=True)
            pointer = ffi.from_buffer("float[]", array)
            setattr(item, field, pointer)
            keep_alive.append(pointer)
        item.n_in = linear.input_size
        item.n_out = linear.output_size
        item.activation = _ACTIVATIONS[layer.activation]
    return net, keep_alive
