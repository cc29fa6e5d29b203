"""The kit's checks of a plugin layer's own C kernels (nnplug.plugin_kernels): against the
layer's NumPy definition, and inside the C backend's training plan."""

from __future__ import annotations

import copy

import numpy as np

from nnplug import plugin_kernels, registry
from nnplug.backends import use_backend
from nnplug.backends.plan import ExternKernels
from nnplug.losses import MSE
from nnplug.modules.linear import Linear
from nnplug.modules.module import Module
from nnplug.modules.sequential import Sequential
from nnplug.optimizers import SGD
from nnplug.planner import training_plan
from nnplug.testing.compare import REFERENCE_BACKEND, compare_all
from nnplug.testing.results import Skip, fail, skip
from nnplug.trainer import train

# Shapes the C kernels are compared on: an empty batch, single elements, odd sizes, and
# sizes past any vector width or unrolling.
C_KERNEL_SHAPES = ((0, 5), (1, 1), (1, 7), (3, 5), (4, 33), (2, 1001), (1, 4099))


def _checked_kernels(module: Module) -> ExternKernels:
    problem = plugin_kernels.abi_problem(type(module))
    if problem is not None:
        fail(problem)
    kernels = plugin_kernels.extern_kernels(module)
    if kernels is None:
        raise Skip("no C kernels for these arguments (kernel_params() returned None)")
    if module.parameters():
        fail(
            "C kernels are declared for a layer with parameters, whose gradients they "
            "cannot compute; kernel_params() must return None then"
        )
    return kernels


def layer_c_kernels(module: Module) -> str:
    """The plugin's C kernels against the layer's own forward and backward on NumPy."""
    kernels = _checked_kernels(module)
    for seed in (0, 1):
        mismatch = plugin_kernels.compare_kernels(module, kernels, C_KERNEL_SHAPES, seed=seed)
        if mismatch is not None:
            fail(mismatch)
    return f"{kernels.name} on shapes {', '.join(map(str, C_KERNEL_SHAPES))}"


def layer_c_kernels_planned(module: Module) -> str:
    """Training with the kernels inside the C backend's plan, against training layer by
    layer on the reference backend."""
    kernels = _checked_kernels(module)
    if "c" not in registry.backends or REFERENCE_BACKEND not in registry.backends:
        skip("needs the c and numpy backends")
    refusal = plugin_kernels.probe(module)
    if isinstance(refusal, str):
        fail(f"the plan would not run them: {refusal}")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 6)).astype(np.float32)
    y = rng.standard_normal((37, 3)).astype(np.float32)
    start = Sequential([Linear(6, 5), copy.deepcopy(module).train(True), Linear(5, 3)])
    trained = []
    for backend in ("c", REFERENCE_BACKEND):
        model = copy.deepcopy(start)
        with use_backend(backend):
            if backend == "c":
                plan = training_plan(model, MSE(), SGD(model, 0.05, momentum=0.9), 6, 3)
                steps = [] if plan is None else [getattr(s, "kernel", None) for s in plan.steps]
                if "extern_elementwise" not in steps:
                    fail(f"the training plan does not run {kernels.name} (steps: {steps})")
            optimizer = SGD(model, 0.05, momentum=0.9)
            train(model, x, y, MSE(), optimizer, 2, batch_size=8, verbose=False)
        trained.append(model.parameters())
    names = [f"parameter {i}" for i in range(len(trained[0]))]
    compare_all(names, trained[0], trained[1], f"the plan with {kernels.name}")
    return f"2 epochs of a Linear-layer-Linear model, {kernels.name} in the plan"
