"""Layers and models: the article's ``modules``, batched and backend-driven."""

from nnplug.modules.activations import Activation, ReLU, Sigmoid, Tanh
from nnplug.modules.conv2d import Conv2D
from nnplug.modules.dropout import Dropout
from nnplug.modules.linear import Linear
from nnplug.modules.maxpool2d import MaxPool2D
from nnplug.modules.module import Module
from nnplug.modules.reshape import Flatten, Reshape
from nnplug.modules.sequential import Sequential
from nnplug.modules.softmax import Softmax

__all__ = [
    "Activation",
    "Conv2D",
    "Dropout",
    "Flatten",
    "Linear",
    "MaxPool2D",
    "Module",
    "ReLU",
    "Reshape",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
