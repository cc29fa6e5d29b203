"""What a training plan is made of: plain data that layers, losses and optimizers describe
themselves with, and that a backend runs batch after batch.

Each built-in part describes its own work: a layer as ``KernelStep``s on its own arrays, a
loss by the name of its kernel, an optimizer as an ``Update`` on its own state. A part
without kernels becomes a ``PythonStep`` (or a Python loss or update), which the backend
calls once per batch between the kernel steps. Nothing here refers to a module, loss or
optimizer class: only arrays, numbers and callables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

StepKernel = Literal[
    "linear",
    "tanh",
    "sigmoid",
    "relu",
    "softmax",
    "dropout",
    "conv2d",
    "maxpool2d",
    "flatten",
    "reshape",
    "extern_elementwise",
]
STEP_KERNELS: tuple[StepKernel, ...] = get_args(StepKernel)
"""Every kernel a step may name."""


@dataclass(frozen=True)
class ExternKernels:
    """A plugin layer's element-wise C kernels, already checked (nnplug.plugin_kernels):
    the addresses of its ``forward`` and ``backward`` (signatures of nnplug_plugin.h), its
    scalar ``params``, and ``name``, which says whose kernels they are in errors."""

    name: str
    forward: int
    backward: int
    params: tuple[float, ...] = ()


LossKernel = Literal["cross_entropy", "mse"]
UpdateRule = Literal["sgd", "adam", "rmsprop"]


@dataclass(frozen=True)
class KernelStep:
    """One backend kernel of a layer, on the layer's own buffers.

    ``linear``: ``arrays`` holds ``weights``, ``bias`` and their ``weights_grad``,
    ``bias_grad``; ``inputs``/``outputs`` are its feature counts. Element-wise kernels
    (``tanh``, ``sigmoid``, ``relu``, ``softmax``, ``dropout``) keep the width they are
    given and leave ``inputs``/``outputs`` as None; so does ``extern_elementwise``, which runs
    a plugin's C kernels, ``extern``. ``dropout`` takes ``numbers["rate"]``,
    ``numbers["key"]`` and ``arrays["counter"]`` (one uint64, advanced once per batch).

    Image steps see each sample's features as an image ``(channels, height, width)``:
    ``conv2d`` has the arrays of ``linear`` (weights ``(out, in, kh, kw)``) and ``maxpool2d``
    none; both give ``numbers`` ``kernel_h``, ``kernel_w``, ``stride_h``, ``stride_w`` (and
    ``conv2d`` ``in_channels``, ``out_channels``, ``padding_h``, ``padding_w``), plus
    ``channels``, ``height``, ``width`` when they know their input's shape; the planner
    fills in the shape from the step before. ``reshape`` (``numbers`` ``channels``,
    ``height``, ``width``) and ``flatten`` move no data: they only say how the next image
    step should see the features.
    """

    kernel: StepKernel
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    numbers: Mapping[str, float] = field(default_factory=dict)
    inputs: int | None = None
    outputs: int | None = None
    extern: ExternKernels | None = None


IMAGE_AXES = ("channels", "height", "width")
"""The names image steps give each sample's sizes in ``numbers``."""
IMAGE_KERNELS = ("conv2d", "maxpool2d")
"""The steps that see each sample as an image."""
LAYOUT_KERNELS = ("flatten", "reshape")
"""The steps that move no data, only say which image shape the features have."""


@dataclass(frozen=True)
class PythonStep:
    """A part with no kernels: ``forward(rows)`` and ``backward(output_grad)`` on whole
    batches of rows, ``outputs`` features wide; ``name`` says which part it is in errors."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray], np.ndarray]
    outputs: int


Step = KernelStep | PythonStep


@dataclass(frozen=True)
class PythonLoss:
    """A loss with no kernel: ``value(targets, predictions)`` is the batch loss and
    ``gradient(targets, predictions)`` its gradient with respect to the predictions."""

    value: Callable[[np.ndarray, np.ndarray], float]
    gradient: Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Update:
    """An optimizer's update kernel and its state, one array per parameter in each of
    ``state`` (velocity; m and v; mean square). ``numbers`` holds the hyperparameters
    (``learning_rate``, ``momentum``, ``beta1``, ``beta2``, ``decay``, ``epsilon``) and,
    for Adam, ``step``: the updates taken so far. ``taken(n)``, if given, is told after a
    run that it applied ``n`` updates."""

    rule: UpdateRule
    numbers: Mapping[str, float]
    state: Sequence[Sequence[np.ndarray]]
    taken: Callable[[int], None] | None = None


@dataclass(frozen=True)
class PythonUpdate:
    """An optimizer with no kernel: ``step()`` updates every parameter and zeroes every
    gradient."""

    step: Callable[[], None]


@dataclass(frozen=True)
class TrainingPlan:
    """A model's steps, its loss, its parameters with their gradients, and the update.

    ``parameters[i]`` and ``gradients[i]`` are the model's own arrays, in the order the
    update's state follows.
    """

    steps: tuple[Step, ...]
    loss: LossKernel | PythonLoss
    parameters: tuple[np.ndarray, ...]
    gradients: tuple[np.ndarray, ...]
    update: Update | PythonUpdate
    inputs: int

    @property
    def outputs(self) -> int:
        """Features of the model's outputs (and of the targets)."""
        return output_width(self.steps, inputs=self.inputs)


def output_width(steps: Sequence[Step], *, inputs: int) -> int:
    """The features a chain of ``steps`` gives samples of ``inputs`` features."""
    width = inputs
    for step in steps:
        if step.outputs is not None:
            width = step.outputs
    return width


@dataclass(frozen=True)
class PlanOutcome:
    """What a run of batches did: the sum of batch losses times batch sizes, the batches
    whose update was applied, and the loss of the batch it stopped at because that loss was
    not finite (None: it did not stop)."""

    loss_sum: float
    batches: int
    stopped_loss: float | None
