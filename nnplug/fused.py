"""Recognising models that a backend can train in one fused call per run of batches.

A ``Sequential`` of ``Linear`` layers, each optionally followed by ``Tanh``, ``Sigmoid`` or
``ReLU``, ending in ``Softmax`` under ``CrossEntropy`` or trained with ``MSE``, optimized by
``SGD``: that is the article's model and most small MLPs. For it the trainer offers the
backend ``Backend.mlp_sgd_epoch``; a backend that implements it computes exactly what the
layers would, without a Python call per layer and batch. Exact types are required: a
subclass may change behaviour and goes through the general path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from nnplug.backends.base import ActivationKind
from nnplug.losses import MSE, CrossEntropy, Loss
from nnplug.modules.activations import ReLU, Sigmoid, Tanh
from nnplug.modules.linear import Linear
from nnplug.modules.module import Module
from nnplug.modules.sequential import Sequential
from nnplug.modules.softmax import Softmax
from nnplug.optimizers import SGD, Optimizer

Head = Literal["softmax_cross_entropy", "mse"]
_ACTIVATIONS: dict[type, ActivationKind] = {Tanh: "tanh", Sigmoid: "sigmoid", ReLU: "relu"}


@dataclass(frozen=True)
class DenseLayer:
    """A Linear layer, its SGD velocities, and the activation after it (None: identity)."""

    linear: Linear
    weights_velocity: np.ndarray
    bias_velocity: np.ndarray
    activation: ActivationKind | None


@dataclass(frozen=True)
class MlpPlan:
    """A model, loss and SGD optimizer that a fused MLP kernel can train."""

    layers: tuple[DenseLayer, ...]
    head: Head
    optimizer: SGD

    @property
    def input_size(self) -> int:
        """Features of one input sample."""
        return self.layers[0].linear.input_size

    @property
    def output_size(self) -> int:
        """Outputs (and target width) of one sample."""
        return self.layers[-1].linear.output_size


def mlp_plan(module: Module, loss: Loss, optimizer: Optimizer) -> MlpPlan | None:
    """Return the fused plan for this model, loss and optimizer, or None if they don't fit."""
    if type(module) is not Sequential or type(optimizer) is not SGD:
        return None
    if optimizer.module is not module:
        return None
    modules = list(module.modules)
    if type(loss) is CrossEntropy and modules and type(modules[-1]) is Softmax:
        head: Head = "softmax_cross_entropy"
        modules.pop()
    elif type(loss) is MSE:
        head = "mse"
    else:
        return None
    pairs = _dense_pairs(modules)
    if not pairs or (head == "softmax_cross_entropy" and pairs[-1][1] is not None):
        return None
    params = module.parameters()
    if len(optimizer.velocities) != len(params):
        return None
    layers = tuple(
        DenseLayer(linear, optimizer.velocities[2 * i], optimizer.velocities[2 * i + 1], kind)
        for i, (linear, kind) in enumerate(pairs)
    )
    return MlpPlan(layers, head, optimizer)


def _dense_pairs(modules: list[Module]) -> list[tuple[Linear, ActivationKind | None]] | None:
    pairs: list[tuple[Linear, ActivationKind | None]] = []
    for module in modules:
        kind = _ACTIVATIONS.get(type(module))
        if type(module) is Linear and module.dtype == np.float32:
            if pairs and pairs[-1][0].output_size != module.input_size:
                return None
            pairs.append((module, None))
        elif kind is not None and pairs and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], kind)
        else:
            return None
    return pairs
