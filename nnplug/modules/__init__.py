"""Layers and models: the article's ``modules``, batched and backend-driven."""

from nnplug.modules.activations import Activation, ReLU, Sigmoid, Tanh
from nnplug.modules.dropout import Dropout
from nnplug.modules.linear import Linear
from nnplug.modules.module import Module
from nnplug.modules.sequential import Sequential
from nnplug.modules.softmax import Softmax

__all__ = [
    "Activation",
    "Dropout",
    "Linear",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
