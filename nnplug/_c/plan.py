"""Wrapper of csrc/plan.c: runs a training plan, many batches per C call.

The plan's arrays are checked here (dtype, contiguity, shape, writability) before C sees a
pointer to any of them; the Python parts run in ``nnp_plan_python_callback``, on the calling
thread, with an exception kept and raised again once C has returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

import numpy as np

from nnplug._c._checks import ensure, no_overlap, require_float32
from nnplug._c.dropout import threshold_and_scale
from nnplug._c.plugin_kernels import extern_elementwise
from nnplug._native import ffi, lib
from nnplug.arrays import aligned_zeros
from nnplug.backends.plan import (
    KernelStep,
    PlanOutcome,
    PythonLoss,
    PythonStep,
    PythonUpdate,
    TrainingPlan,
)
from nnplug.threads import get_num_threads

__all__ = ["CPlanRunner"]

_STEPS = {
    "linear": lib.NNP_STEP_LINEAR,
    "tanh": lib.NNP_STEP_TANH,
    "sigmoid": lib.NNP_STEP_SIGMOID,
    "relu": lib.NNP_STEP_RELU,
    "softmax": lib.NNP_STEP_SOFTMAX,
    "dropout": lib.NNP_STEP_DROPOUT,
    "conv2d": lib.NNP_STEP_CONV2D,
    "maxpool2d": lib.NNP_STEP_MAXPOOL2D,
    "extern_elementwise": lib.NNP_STEP_EXTERN_ELEMENTWISE,
}
_WITH_PARAMETERS = ("linear", "conv2d")
_LOSSES = {"cross_entropy": lib.NNP_LOSS_CROSS_ENTROPY, "mse": lib.NNP_LOSS_MSE}
# Each rule's hyperparameters in the order of nnp_rule's a and b, and its state buffers.
_RULES = {
    "sgd": (lib.NNP_RULE_SGD, ("momentum", None), 1),
    "adam": (lib.NNP_RULE_ADAM, ("beta1", "beta2"), 2),
    "rmsprop": (lib.NNP_RULE_RMSPROP, ("decay", None), 1),
}
_PLAN_ERRORS = {
    lib.NNP_PLAN_INVALID: "the plan's steps, parameters or rule do not fit together",
    lib.NNP_PLAN_ORDER: "a sample index is out of range",
    lib.NNP_PLAN_WORKSPACE: "the workspace is too small or misaligned",
}
_U64 = 2**64


class CPlanRunner:
    """A ``TrainingPlan`` laid out as C structures over the plan's own arrays."""

    def __init__(self, plan: TrainingPlan) -> None:
        self.plan = plan
        self._keep: list[object] = []
        self._python_steps: list[tuple[PythonStep, int]] = []
        self._error: BaseException | None = None
        self._handle = ffi.new_handle(self)
        self._params = self._parameters(plan)
        self._steps = self._c_steps(plan)
        self._c = ffi.new("struct nnp_plan *")
        self._c.steps = len(plan.steps)
        self._c.step = self._steps
        self._c.params = len(plan.parameters)
        self._c.param = self._params
        self._c.callback = lib.nnp_plan_python_callback
        self._c.context = self._handle
        self._c.loss = self._c_loss(plan)
        self._c.rule = self._c_rule(plan)
        self._work: dict[tuple[int, int], np.ndarray] = {}

    @classmethod
    def build(cls, plan: TrainingPlan) -> CPlanRunner:
        """Check ``plan`` and lay it out; ValueError names what does not fit."""
        return cls(plan)

    # --- laying the plan out --------------------------------------------------------------

    def _parameters(self, plan: TrainingPlan) -> object:
        self._weights_of = self._kernel_parameters(plan)
        # A convolution's threads write private copies of its gradients, which are summed;
        # a Linear layer's threads take whole rows of its weights instead.
        threaded: set[int] = set()
        for number, first in self._weights_of.items():
            step = plan.steps[number]
            if isinstance(step, KernelStep) and step.kernel == "conv2d":
                threaded |= {first, first + 1}
        params = ffi.new("struct nnp_param[]", max(len(plan.parameters), 1))
        self._keep.append(params)
        states = plan.update.state if not isinstance(plan.update, PythonUpdate) else ()
        for i, (value, grad) in enumerate(zip(plan.parameters, plan.gradients, strict=True)):
            require_float32(f"plan parameter {i}", value, writable=True)
            require_float32(f"plan gradient {i}", grad, shape=value.shape, writable=True)
            item = params[i]
            item.size = value.size
            item.value = self._pointer(value)
            item.grad = self._pointer(grad)
            item.threaded = int(i in threaded)
            for field, state in zip(("state0", "state1"), states, strict=False):
                require_float32(
                    f"plan optimizer state {i}", state[i], shape=value.shape, writable=True
                )
                setattr(item, field, self._pointer(state[i]))
            buffers = {"value": value, "gradient": grad}
            buffers |= {f"optimizer state {k}": state[i] for k, state in enumerate(states)}
            for (name, array), (other_name, other) in combinations(buffers.items(), 2):
                no_overlap(f"plan parameter {i}", name, array, other_name, other)
        return params

    @staticmethod
    def _kernel_parameters(plan: TrainingPlan) -> dict[int, int]:
        """For each step that writes parameters (linear, convolution), the index of its weights
        among the plan's parameters (its bias is the next)."""
        index = {id(array): i for i, array in enumerate(plan.parameters)}
        used: dict[int, int] = {}
        taken: set[int] = set()
        for number, step in enumerate(plan.steps):
            if not isinstance(step, KernelStep) or step.kernel not in _WITH_PARAMETERS:
                continue
            weights = index.get(id(step.arrays.get("weights")))
            if (
                weights is None
                or weights + 1 >= len(plan.parameters)
                or plan.parameters[weights + 1] is not step.arrays.get("bias")
                or plan.gradients[weights] is not step.arrays.get("weights_grad")
                or plan.gradients[weights + 1] is not step.arrays.get("bias_grad")
            ):
                raise ValueError(
                    f"plan step {number} ({step.kernel}): its weights, bias and gradients must be "
                    "the model's parameters and gradients, weights then bias"
                )
            if any(
                weights in (first, first + 1) or weights + 1 == first for first in used.values()
            ):
                raise ValueError(
                    f"plan step {number} ({step.kernel}) shares parameters with another"
                )
            used[number] = weights
            taken |= {weights, weights + 1}
        return used

    def _c_steps(self, plan: TrainingPlan) -> object:
        steps = ffi.new("struct nnp_step[]", len(plan.steps))
        self._keep.append(steps)
        width = plan.inputs
        for number, (item, step) in enumerate(zip(steps, plan.steps, strict=True)):
            item.n_in = width
            if isinstance(step, PythonStep):
                item.kind = lib.NNP_STEP_PYTHON
                item.part = len(self._python_steps)
                self._python_steps.append((step, width))
                width = _positive(f"plan step {number} ({step.name}) outputs", step.outputs)
            else:
                item.kind = _lookup(_STEPS, step.kernel, f"plan step {number}")
                if step.kernel == "linear":
                    weights = step.arrays["weights"]
                    inputs = _positive(f"plan step {number} (linear) inputs", step.inputs)
                    width = _positive(f"plan step {number} (linear) outputs", step.outputs)
                    if inputs != item.n_in or weights.shape != (width, inputs):
                        raise ValueError(
                            f"plan step {number} (linear): expected weights ({width}, "
                            f"{item.n_in}) after {item.n_in} features; got inputs={inputs} "
                            f"and weights {weights.shape}"
                        )
                    require_float32(f"plan step {number} bias", step.arrays["bias"], shape=(width,))
                    item.param = self._weights_of[number]
                elif step.kernel == "dropout":
                    self._dropout(item, step, number)
                elif step.kernel in ("conv2d", "maxpool2d"):
                    width = self._image(item, step, number)
                    if step.kernel == "conv2d":
                        item.param = self._weights_of[number]
                elif step.kernel == "extern_elementwise":
                    item.ext = self._extern(step, number)
            item.n_out = width
        return steps

    @staticmethod
    def _image(item: Any, step: KernelStep, number: int) -> int:
        """Lay out a convolution's or max pool's geometry; return its output width."""
        where = f"plan step {number} ({step.kernel})"
        geometry = {}
        for name in (
            "channels",
            "height",
            "width",
            "out_channels",
            "kernel_h",
            "kernel_w",
            "stride_h",
            "stride_w",
            "padding_h",
            "padding_w",
        ):
            default = 0 if name.startswith("padding") and step.kernel == "maxpool2d" else None
            value = step.numbers.get(name, default)
            minimum = 0 if name.startswith("padding") else 1
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or value < minimum
            ):
                raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
            geometry[name] = int(value)
        sizes = []
        for axis, size in (("h", geometry["height"]), ("w", geometry["width"])):
            kernel, stride = geometry[f"kernel_{axis}"], geometry[f"stride_{axis}"]
            padded = size + 2 * geometry[f"padding_{axis}"]
            if padded < kernel:
                raise ValueError(f"{where}: a {kernel}-pixel window does not fit {padded} pixels")
            sizes.append((padded - kernel) // stride + 1)
        if step.kernel == "conv2d":
            weights = step.arrays["weights"]
            shape = (
                geometry["out_channels"],
                geometry["channels"],
                geometry["kernel_h"],
                geometry["kernel_w"],
            )
            if weights.shape != shape:
                raise ValueError(f"{where}: expected weights {shape}, got {weights.shape}")
            require_float32(f"{where} bias", step.arrays["bias"], shape=shape[:1])
        elif (
            geometry["out_channels"] != geometry["channels"]
            or geometry["padding_h"]
            or geometry["padding_w"]
        ):
            raise ValueError(f"{where}: a max pool keeps its channels and has no padding")
        inputs = geometry["channels"] * geometry["height"] * geometry["width"]
        if item.n_in != inputs:
            raise ValueError(f"{where}: images of {inputs} values after {item.n_in} features")
        item.channels, item.height, item.width = (
            geometry["channels"],
            geometry["height"],
            geometry["width"],
        )
        item.out_channels = geometry["out_channels"]
        item.kernel = [geometry["kernel_h"], geometry["kernel_w"]]
        item.stride = [geometry["stride_h"], geometry["stride_w"]]
        item.padding = [geometry["padding_h"], geometry["padding_w"]]
        return geometry["out_channels"] * sizes[0] * sizes[1]

    def _dropout(self, item: object, step: KernelStep, number: int) -> None:
        counter = step.arrays.get("counter")
        if not (
            isinstance(counter, np.ndarray)
            and counter.dtype == np.uint64
            and counter.shape == (1,)
            and counter.flags.writeable
        ):
            raise ValueError(
                f"plan step {number} (dropout): counter must be a writable uint64 (1,)"
            )
        key = step.numbers.get("key")
        if not isinstance(key, (int, np.integer)) or not 0 <= int(key) < _U64:
            raise ValueError(
                f"plan step {number} (dropout): key must be in [0, 2**64), got {key!r}"
            )
        threshold, scale = threshold_and_scale(float(step.numbers.get("rate", -1.0)))
        item.threshold = threshold
        item.scale = scale
        item.key = int(key)
        pointer = ffi.from_buffer("unsigned long long[]", counter, require_writable=True)
        self._keep.append(pointer)
        item.counter = pointer

    def _extern(self, step: KernelStep, number: int) -> object:
        if step.extern is None:
            raise ValueError(f"plan step {number} (extern_elementwise): no kernels given")
        kernels, params = extern_elementwise(step.extern)
        self._keep.extend((kernels, params))
        return kernels

    @staticmethod
    def _c_loss(plan: TrainingPlan) -> int:
        if isinstance(plan.loss, PythonLoss):
            return lib.NNP_LOSS_PYTHON
        return _lookup(_LOSSES, plan.loss, "plan loss")

    def _c_rule(self, plan: TrainingPlan) -> object:
        rule = ffi.new("struct nnp_rule *")
        update = plan.update
        if isinstance(update, PythonUpdate):
            rule.kind = lib.NNP_RULE_PYTHON
            return rule[0]
        kind, (first, second), states = _lookup(_RULES, update.rule, "plan update")
        if len(update.state) != states:
            raise ValueError(
                f"plan update {update.rule}: expected {states} state array(s) per parameter, "
                f"got {len(update.state)}"
            )
        rule.kind = kind
        rule.learning_rate = _number(update.numbers, "learning_rate")
        rule.a = _number(update.numbers, first)
        rule.b = _number(update.numbers, second) if second else 0.0
        rule.epsilon = _number(update.numbers, "epsilon") if update.rule != "sgd" else 0.0
        if update.rule == "adam":
            step = update.numbers.get("step", 0)
            if not isinstance(step, (int, np.integer)) or step < 0:
                raise ValueError(f"plan update adam: step must be an integer >= 0, got {step!r}")
            if rule.a == 1.0 or rule.b == 1.0:
                raise ValueError("plan update adam: beta1 and beta2 must not be 1")
            rule.step = int(step)
        return rule[0]

    def _pointer(self, array: np.ndarray) -> object:
        pointer = ffi.from_buffer("float[]", array, require_writable=True)
        self._keep.append(pointer)
        return pointer

    # --- running --------------------------------------------------------------------------

    def run(
        self, x: np.ndarray, targets: np.ndarray, order: np.ndarray | None, batch_size: int
    ) -> PlanOutcome:
        """Train over ``x``; see ``nnplug.backends.base.PlanRunner.run``."""
        plan = self.plan
        require_float32("plan run: x", x, ndim=2)
        require_float32("plan run: targets", targets, ndim=2)
        rows = x.shape[0]
        if x.shape[1] != plan.inputs or targets.shape != (rows, plan.outputs):
            raise ValueError(
                f"plan run: expected x (N, {plan.inputs}) and targets (N, {plan.outputs}); "
                f"got x {x.shape} and targets {targets.shape}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"plan run: batch_size must be a positive integer, got {batch_size!r}")
        if order is None:
            count, order_pointer, index = rows, ffi.NULL, None
        else:
            index = np.ascontiguousarray(order, dtype=np.int64)
            if index.ndim != 1 or (index.size and (index.min() < 0 or index.max() >= rows)):
                raise ValueError(f"plan run: the sample order must be indices in [0, {rows})")
            count, order_pointer = index.size, ffi.from_buffer("long long[]", index)
        batch = min(batch_size, max(count, 1))
        threads = get_num_threads()
        work = self._workspace(batch, threads)
        loss_sum = ffi.new("double *")
        batches = ffi.new("ptrdiff_t *")
        stopped_loss = ffi.new("double *")
        self._error = None
        status = lib.nnp_plan_run(
            self._c,
            count,
            rows,
            ffi.from_buffer("float[]", x),
            ffi.from_buffer("float[]", targets),
            order_pointer,
            batch,
            threads,
            ffi.from_buffer("float[]", work, require_writable=True),
            work.size,
            loss_sum,
            batches,
            stopped_loss,
        )
        del index
        done = int(batches[0])
        self._advance(done)
        if status == lib.NNP_PLAN_CALLBACK and self._error is not None:
            error, self._error = self._error, None
            raise error
        if status == lib.NNP_CONV_NOMEM:
            raise MemoryError("a training plan's convolution could not allocate its scratch memory")
        if status == lib.NNP_PLAN_NONFINITE:
            return PlanOutcome(loss_sum[0], done, stopped_loss[0])
        if status == lib.NNP_PLAN_EXTERN:
            names = sorted(
                {s.extern.name for s in plan.steps if isinstance(s, KernelStep) and s.extern}
            )
            raise RuntimeError(
                f"nnp_plan_run: a plugin's C kernel ({', '.join(names)}) returned an error "
                f"status; training stopped after {done} batch(es)"
            )
        ensure(status, "nnp_plan_run", _PLAN_ERRORS)
        return PlanOutcome(loss_sum[0], done, None)

    def _workspace(self, batch: int, threads: int) -> np.ndarray:
        key = (batch, threads)
        if key not in self._work:
            floats = lib.nnp_plan_workspace_floats(self._c, batch, threads)
            ensure(
                0 if floats >= 0 else lib.NNP_PLAN_INVALID,
                "nnp_plan_workspace_floats",
                _PLAN_ERRORS,
            )
            self._work = {key: aligned_zeros(max(floats, 1), "float32")}
        return self._work[key]

    def _advance(self, batches: int) -> None:
        """Tell the optimizer how many updates ran, and count them for the next run."""
        update = self.plan.update
        if isinstance(update, PythonUpdate) or batches == 0:
            return
        if update.rule == "adam":
            self._c.rule.step += batches
        if update.taken is not None:
            update.taken(batches)

    # --- the Python parts -----------------------------------------------------------------

    def event(self, event: int, part: int, rows: int, a: Any, b: Any, out: Any, loss: Any) -> None:
        """Run one Python part of the plan for the callback (see nnplug_plan.h)."""
        plan = self.plan
        if event == lib.NNP_EVENT_FORWARD:
            step, width = self._python_steps[part]
            result = step.forward(_view(a, rows, width))
            _copy_into(out, rows, step.outputs, result, f"{step.name}.forward()")
        elif event == lib.NNP_EVENT_BACKWARD:
            step, width = self._python_steps[part]
            result = step.backward(_view(a, rows, step.outputs))
            _copy_into(out, rows, width, result, f"{step.name}.backward()")
        elif event == lib.NNP_EVENT_LOSS:
            assert isinstance(plan.loss, PythonLoss)
            predictions = _view(a, rows, plan.outputs)
            targets = _view(b, rows, plan.outputs)
            loss[0] = float(plan.loss.value(targets, predictions))
            gradient = plan.loss.gradient(targets, predictions)
            _copy_into(out, rows, plan.outputs, gradient, "the loss's loss_prime()")
        elif event == lib.NNP_EVENT_UPDATE:
            assert isinstance(plan.update, PythonUpdate)
            plan.update.step()


@ffi.def_extern()
def nnp_plan_python_callback(context, event, part, rows, a, b, out, loss):  # noqa: ANN001
    """C calls this for the plan's Python parts; errors stop the run and are raised later."""
    runner = ffi.from_handle(context)
    try:
        runner.event(event, part, rows, a, b, out, loss)
    except BaseException as error:  # raised again by CPlanRunner.run, once C has returned
        runner._error = error
        return 1
    return 0


def _view(pointer: object, rows: int, width: int) -> np.ndarray:
    return np.frombuffer(ffi.buffer(pointer, rows * width * 4), dtype=np.float32).reshape(
        rows, width
    )


def _copy_into(pointer: object, rows: int, width: int, value: object, what: str) -> None:
    array = np.asarray(value)
    if array.shape != (rows, width):
        raise ValueError(
            f"{what} returned shape {array.shape} inside a training plan; expected "
            f"({rows}, {width}), as on the first row it was given"
        )
    np.copyto(_view(pointer, rows, width), array, casting="same_kind")


def _lookup(table: Mapping, name: object, what: str):  # noqa: ANN202
    try:
        return table[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"{what}: unknown kernel {name!r}; expected one of {sorted(table)}"
        ) from None


def _positive(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _number(numbers: Mapping[str, float], name: str) -> float:
    value = numbers.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise ValueError(f"plan update: {name} must be a number, got {value!r}")
    return float(value)
