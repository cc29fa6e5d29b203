"""Assembling a training plan from what a model, its loss and its optimizer say they do.

Every part is asked for its own kernels (``Module.kernel_steps``, ``Loss.kernel_loss``,
``Optimizer.kernel_update``); a part without them takes part through Python calls between
the kernels, so one plugin layer or optimizer costs only its own time. No class is
recognised by type here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from nnplug.backends.base import Backend
from nnplug.backends.plan import (
    IMAGE_AXES,
    IMAGE_KERNELS,
    LAYOUT_KERNELS,
    KernelStep,
    LossKernel,
    PythonLoss,
    PythonStep,
    PythonUpdate,
    Step,
    TrainingPlan,
    Update,
    output_width,
)
from nnplug.losses import Loss
from nnplug.modules.module import Module
from nnplug.modules.sequential import name_the_plugin
from nnplug.optimizers import Optimizer
from nnplug.plugin_kernels import kernels_for

FLOAT32 = np.dtype(np.float32)


def training_plan(
    model: Module, loss: Loss, optimizer: Optimizer, inputs: int, outputs: int
) -> TrainingPlan | None:
    """Return the plan that trains ``model`` on rows of ``inputs`` features against targets of
    ``outputs``, or None when it has nothing to gain over calling the parts one by one (no
    kernels at all, float64 parameters, or shapes that do not chain)."""
    parameters = tuple(model.parameters())
    gradients = tuple(model.gradients())
    if len(parameters) != len(gradients) or any(
        array.dtype != FLOAT32 for array in (*parameters, *gradients)
    ):
        return None
    steps = _steps(model, inputs)
    if steps is None or output_width(steps, inputs=inputs) != outputs:
        return None
    plan_loss = _loss(loss, steps)
    update = _update(model, optimizer, parameters)
    if plan_loss is None or update is None:
        return None
    if not any(isinstance(step, KernelStep) for step in steps) and (
        isinstance(plan_loss, PythonLoss) and isinstance(update, PythonUpdate)
    ):
        return None
    return TrainingPlan(tuple(steps), plan_loss, parameters, gradients, update, inputs)


Image = tuple[int, int, int]


def _steps(model: Module, inputs: int) -> list[Step] | None:
    described = model.kernel_steps()
    parts = described if described is not None else [model]
    steps: list[Step] = []
    width = inputs
    image: Image | None = None  # how the current features are seen as an image, if known
    for part in parts:
        if isinstance(part, KernelStep):
            if part.kernel in LAYOUT_KERNELS:
                image = _layout(part, width)
                continue
            if part.kernel in IMAGE_KERNELS:
                resolved = _image_step(part, width, image)
                if resolved is None:
                    return None
                part, image = resolved
            elif part.kernel not in ("tanh", "sigmoid", "relu", "dropout", "extern_elementwise"):
                image = None
            if part.inputs is not None and part.inputs != width:
                return None
            steps.append(part)
            width = part.outputs if part.outputs is not None else width
            continue
        image = None
        extern = _plugin_kernels(part)
        if extern is not None:
            steps.append(extern)
            continue
        probed = _probe_width(part, width)
        if probed is None:
            return None
        steps.append(
            PythonStep(
                repr(part), _noted(part, "forward"), _noted(part, "backward"), outputs=probed
            )
        )
        width = probed
    return steps or None


def _plugin_kernels(part: Module) -> KernelStep | None:
    """The step of a plugin layer's own element-wise C kernels, once they pass nnplug's
    checks, on a backend that runs plans (the NumPy backend never calls them)."""
    backend = part.backend
    if getattr(type(part), "c_kernels", None) is None or (
        type(backend).plan_runner is Backend.plan_runner
    ):
        return None
    kernels = kernels_for(part)
    return KernelStep("extern_elementwise", extern=kernels) if kernels else None


def _layout(step: KernelStep, width: int) -> Image | None:
    """The image shape a reshape gives the features (None after a flatten)."""
    if step.kernel == "flatten":
        return None
    shape = tuple(int(step.numbers.get(name, 0)) for name in IMAGE_AXES)
    return (shape[0], shape[1], shape[2]) if np.prod(shape) == width > 0 else None


def _image_step(
    step: KernelStep, width: int, image: Image | None
) -> tuple[KernelStep, Image] | None:
    """``step`` with its input shape and sizes filled in, and its output's image shape."""
    numbers = dict(step.numbers)
    declared = tuple(int(numbers[name]) for name in IMAGE_AXES if name in numbers)
    if len(declared) == 3:
        if image is not None and declared != image:
            return None
        image = (declared[0], declared[1], declared[2])
    if image is None or int(np.prod(image)) != width:
        return None
    channels, height, width_px = image
    out_channels = int(numbers.get("out_channels", channels))
    if int(numbers.get("in_channels", channels)) != channels:
        return None
    sizes = []
    for size, axis in ((height, "h"), (width_px, "w")):
        kernel, stride = int(numbers[f"kernel_{axis}"]), int(numbers[f"stride_{axis}"])
        padding = int(numbers.get(f"padding_{axis}", 0))
        if size + 2 * padding < kernel:
            return None
        sizes.append((size + 2 * padding - kernel) // stride + 1)
    numbers.update(channels=channels, height=height, width=width_px, out_channels=out_channels)
    out = (out_channels, sizes[0], sizes[1])
    resolved = dataclasses.replace(step, numbers=numbers, inputs=width, outputs=int(np.prod(out)))
    return resolved, out


def _probe_width(part: Module, width: int) -> int | None:
    """The output width of a part without kernels, from one row of zeros in eval mode."""
    was_training = part.training
    part.eval()
    try:
        out = np.asarray(part.forward(np.zeros((1, width), dtype=FLOAT32)))
    except Exception:  # the layer-by-layer path will show the part's own error
        return None
    finally:
        part.train(was_training)
    return out.shape[1] if out.ndim == 2 and out.shape[0] == 1 and out.shape[1] > 0 else None


def _noted(part: Module, method: str) -> Callable[[np.ndarray], np.ndarray]:
    """``part.method``, with errors noted with the plugin that provided the part."""
    function = getattr(part, method)

    def call(rows: np.ndarray) -> np.ndarray:
        try:
            return function(rows)
        except Exception as error:
            name_the_plugin(error, part, method)
            raise

    return call


def _loss(loss: Loss, steps: list[Step]) -> LossKernel | PythonLoss | None:
    kernel = loss.kernel_loss()
    ends_in_softmax = isinstance(steps[-1], KernelStep) and steps[-1].kernel == "softmax"
    if kernel == "cross_entropy" and ends_in_softmax:
        return kernel
    if kernel == "mse":
        return kernel
    if ends_in_softmax and hasattr(loss, "softmax_input_grad"):
        # The layer-by-layer path takes this loss's own fused gradient at the softmax
        # inputs; a plan would send loss_prime through the softmax instead.
        return None
    return PythonLoss(loss.loss, loss.loss_prime)


def _update(
    model: Module, optimizer: Optimizer, parameters: tuple[np.ndarray, ...]
) -> Update | PythonUpdate | None:
    update = optimizer.kernel_update() if optimizer.module is model else None
    if update is not None and all(
        len(state) == len(parameters)
        and all(
            s.shape == p.shape and s.dtype == FLOAT32
            for s, p in zip(state, parameters, strict=True)
        )
        for state in update.state
    ):
        return update

    def step() -> None:
        optimizer.step()
        optimizer.zero_gradients()

    return PythonUpdate(step)
