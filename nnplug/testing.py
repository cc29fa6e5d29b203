"""The conformance kit: checks that a plugin's components keep nnplug's contracts.

Use it from a plugin's own pytest suite::

    from nnplug.testing import assert_plugin_conforms

    def test_conforms():
        assert_plugin_conforms("swish")

or from the shell with ``nnplug check [PLUGIN ...]``. What is checked:

- layers: the module contract (shapes, dtypes, gradients aligned with parameters),
  ``backward`` against finite differences in float64, forward/backward parity of every
  installed backend with the ``numpy`` reference in float32, the spec round trip, and
  ``save``/``load``; for a layer with C kernels (``c_kernels``, nnplug.plugin_kernels),
  their outputs and gradients against its own ``forward``/``backward`` on the ``numpy``
  backend (float32 tolerance, empty batches, odd sizes), and training with them inside
  the C backend's plan against training layer by layer on ``numpy``;
- losses: ``loss_prime`` against finite differences of ``loss``, backend parity, spec round
  trip;
- optimizers: steps on a small regression problem decrease its loss, backend parity, spec
  round trip;
- backends: every kernel of ``nnplug.backends.base.Backend``, in float32 and float64, against
  the ``numpy`` reference backend.

Example arguments: the kit builds each component from a spec, ``{"type": name, **example}``,
for every ``example`` in the class attribute ``check_examples`` (a list of dicts of JSON
constructor arguments; default ``[{}]``, no arguments). For the float64 gradient check it
adds ``"dtype": "float64"`` to every component whose constructor takes ``dtype``; a layer
with parameters must take one. Layers get inputs shaped ``(3, input_size)`` when the built
layer has an ``input_size`` attribute, else ``(3, 4)``. Losses get probability rows and one-hot
targets shaped ``(3, 4)``; optimizers train a ``Linear(4, 2)``.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnplug import gradcheck, plugin_kernels, plugins, registry
from nnplug.backends import (
    ACTIVATION_KINDS,
    Backend,
    current_backend,
    get_backend,
    use_backend,
)
from nnplug.backends.plan import ExternKernels
from nnplug.losses import MSE, Loss
from nnplug.modules.linear import Linear
from nnplug.modules.module import Module
from nnplug.modules.sequential import Sequential
from nnplug.optimizers import SGD, Optimizer
from nnplug.planner import training_plan
from nnplug.serialization import load, save
from nnplug.spec import CHILDREN, build, build_loss, build_optimizer, spec_of
from nnplug.trainer import train

__all__ = [
    "KERNELS",
    "REFERENCE_BACKEND",
    "CheckResult",
    "Report",
    "assert_plugin_conforms",
    "check_backend",
    "check_layer",
    "check_loss",
    "check_optimizer",
    "check_plugin",
    "check_plugins",
    "examples_of",
    "plugin_names",
]

REFERENCE_BACKEND = "numpy"
"""The backend every other one is compared with: the executable specification."""

# Float32 results of different backends differ by rounding; float64 ones by far less.
_TOLERANCE: dict[np.dtype, tuple[float, float]] = {
    np.dtype(np.float32): (1e-4, 1e-5),
    np.dtype(np.float64): (1e-9, 1e-12),
}
_BATCH = 3
_FEATURES = 4


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check of one component."""

    component: str
    kind: str
    check: str
    passed: bool
    detail: str = ""
    skipped: bool = False
    example: str = ""

    @property
    def status(self) -> str:
        """``pass``, ``FAIL`` or ``skip``."""
        return "skip" if self.skipped else ("pass" if self.passed else "FAIL")

    def __str__(self) -> str:
        what = f"{self.kind} {self.component!r}{f' ({self.example})' if self.example else ''}"
        return f"{what}: {self.check}{f': {self.detail}' if self.detail else ''}"


@dataclass
class Report:
    """Every check run, in order; true when all passed."""

    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        """The checks that failed."""
        return [result for result in self.results if not result.passed]

    def summary(self) -> str:
        """One line, e.g. ``41 checks: 40 passed, 1 failed, 0 skipped``."""
        skipped = sum(result.skipped for result in self.results)
        failed = len(self.failures)
        passed = len(self.results) - failed - skipped
        return f"{len(self.results)} checks: {passed} passed, {failed} failed, {skipped} skipped"

    def extend(self, other: Report) -> None:
        """Append the results of ``other``."""
        self.results.extend(other.results)

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.results)


class _Checker:
    """Collects results for one component and example; a failing check never stops the others."""

    def __init__(self, report: Report, component: str, kind: str, example: str = "") -> None:
        self.report, self.component, self.kind, self.example = report, component, kind, example

    def run(self, check: str, function: Callable[[], object]) -> bool:
        """Run ``function`` as one check: it fails by raising, and may return a detail string."""
        try:
            result = function()
        except _Skip as skip:
            self._add(check, True, str(skip), skipped=True)
            return True
        except Exception as error:  # the kit reports plugin failures, it must not crash
            self._add(check, False, _describe_error(error))
            return False
        self._add(check, True, result if isinstance(result, str) else "")
        return True

    def _add(self, check: str, passed: bool, detail: str, skipped: bool = False) -> None:
        self.report.results.append(
            CheckResult(self.component, self.kind, check, passed, detail, skipped, self.example)
        )


class _Skip(Exception):
    """A check that does not apply here (a single backend installed, say)."""


class _Failed(AssertionError):
    """A check's own failure, reported with its message."""


def _describe_error(error: Exception) -> str:
    if isinstance(error, _Failed):
        return str(error)
    return f"{type(error).__name__}: {error}"


# --- plugins --------------------------------------------------------------------------------


def plugin_names() -> list[str]:
    """Return the names of every registered plugin, nnplug's built-ins included."""
    registry.problems()  # loads the plugins
    return sorted(plugins.host().info)


def check_plugins(names: Iterable[str] | None = None) -> Report:
    """Check the named plugins (default: every registered plugin and every plugin problem)."""
    report = Report()
    selected = plugin_names() if names is None else list(names)
    for name in selected:
        report.extend(check_plugin(name))
    if names is None:
        for problem in registry.problems():
            if not any(problem.startswith(f"plugin {name!r}") for name in selected):
                # Problems start with PluginInfo.describe(): "plugin 'name' (...)".
                match = re.match(r"plugin '([^']+)'", problem)
                checker = _Checker(report, match.group(1) if match else "-", "plugin")
                checker.run("load", functools.partial(_fail, problem))
    return report


def check_plugin(plugin_name: str) -> Report:
    """Check every component the plugin ``plugin_name`` registers, and that it loaded cleanly."""
    report = Report()
    checker = _Checker(report, plugin_name, "plugin")
    known = plugin_names()
    problems = [p for p in registry.problems() if p.startswith(f"plugin {plugin_name!r}")]
    if plugin_name not in known and not problems:
        checker.run(
            "load",
            lambda: _fail(
                f"no plugin named {plugin_name!r} is registered; registered plugins: "
                f"{', '.join(known) or 'none'}"
            ),
        )
        return report
    checker.run("load", lambda: _fail("; ".join(problems)) if problems else None)
    found = 0
    for kind, check in _KIND_CHECKS:
        for name in kind:
            if kind.provider(name).name == plugin_name:
                found += 1
                report.extend(check(name))
    if not found and not problems:
        checker.run("components", lambda: _skip("registers no components in this environment"))
    return report


def assert_plugin_conforms(plugin_name: str) -> None:
    """Fail (AssertionError, listing every failed check) unless ``plugin_name`` conforms."""
    report = check_plugin(plugin_name)
    if not report.passed:
        lines = "\n".join(f"  - {failure}" for failure in report.failures)
        raise AssertionError(f"plugin {plugin_name!r} does not conform:\n{lines}")


# --- examples -------------------------------------------------------------------------------


def examples_of(cls: type) -> list[dict[str, Any]]:
    """Return the example spec arguments the kit builds ``cls`` with (``check_examples``)."""
    examples = getattr(cls, "check_examples", [{}])
    if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
        raise TypeError(
            f"{cls.__qualname__}.check_examples must be a list of dicts of constructor "
            f"arguments, got {examples!r}"
        )
    return examples


def _label(example: dict[str, Any]) -> str:
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in example.items())


def _each_example(
    report: Report, name: str, kind: str, cls: type
) -> Iterator[tuple[_Checker, dict[str, Any]]]:
    try:
        examples = examples_of(cls)
    except TypeError as error:
        message = str(error)
        _Checker(report, name, kind).run("examples", lambda: _fail(message))
        return
    for example in examples:
        yield _Checker(report, name, kind, _label(example)), {"type": name, **example}


def _with_dtype(spec: dict[str, Any], kind: registry.Registry, dtype: str) -> dict[str, Any]:
    """Return ``spec`` with ``dtype`` set on every component whose constructor takes one."""
    spec = dict(spec)
    cls = kind[spec["type"]]
    if "dtype" in inspect.signature(cls).parameters:
        spec["dtype"] = dtype
    if isinstance(spec.get(CHILDREN), list) and issubclass(cls, Sequential):
        spec[CHILDREN] = [_with_dtype(child, kind, dtype) for child in spec[CHILDREN]]
    return spec


# --- layers ---------------------------------------------------------------------------------


def check_layer(name: str) -> Report:
    """Check the layer registered as ``name`` with each of its example arguments."""
    report = Report()
    for checker, spec in _each_example(report, name, "layer", registry.layers[name]):
        _check_layer_example(checker, spec)
    return report


def _check_layer_example(checker: _Checker, spec: dict[str, Any]) -> None:
    """Checks in both modes; random draws are replayed so that training mode is checkable."""
    built: list[Module] = []
    if not checker.run("build", lambda: built.append(build(spec))):
        return
    (module,) = built
    inputs = _inputs(module, np.float32)
    for training, mode in ((False, "eval"), (True, "training")):
        module.train(training)
        checker.run(f"contract ({mode})", lambda: _layer_contract(module, inputs))
        checker.run(
            f"gradient (float64, {mode})",
            functools.partial(_layer_gradient, spec, training=training),
        )
        _run_parity(
            checker, lambda backend: _layer_parity(module, inputs, backend), suffix=f" ({mode})"
        )
    if getattr(type(module), "c_kernels", None) is not None:
        checker.run("C kernels", lambda: _layer_c_kernels(module))
        checker.run("C kernels in a training plan", lambda: _layer_c_kernels_planned(module))
    module.eval()
    checker.run("spec round trip", lambda: _layer_round_trip(module, inputs))
    checker.run("save/load", lambda: _layer_save_load(module, inputs))
    checker.run("mode not saved", lambda: _layer_mode_not_saved(module))


def _inputs(module: Module, dtype: type) -> np.ndarray:
    features = getattr(module, "input_size", None) or _FEATURES
    return np.random.default_rng(0).standard_normal((_BATCH, features)).astype(dtype)


def _forward_backward(module: Module, inputs: np.ndarray) -> list[np.ndarray]:
    """Run one forward and backward pass; return outputs, input gradient, parameter gradients."""
    module.zero_gradients()
    outputs = np.asarray(module.forward(inputs.copy()))
    output_grad = np.random.default_rng(1).standard_normal(outputs.shape).astype(outputs.dtype)
    input_grad = np.asarray(module.backward(output_grad))
    grads = [np.array(grad) for grad in module.gradients()]
    module.zero_gradients()
    return [outputs, input_grad, *grads]


def _layer_contract(module: Module, inputs: np.ndarray) -> None:
    with use_backend(_reference()):
        outputs, input_grad, *grads = _forward_backward(module, inputs)
    if outputs.dtype.kind != "f" or not np.all(np.isfinite(outputs)):
        raise _Failed(f"forward returned non-finite or non-float outputs ({outputs.dtype})")
    if input_grad.shape != inputs.shape:
        raise _Failed(
            f"backward returned shape {input_grad.shape}, the inputs' shape is {inputs.shape}"
        )
    params = module.parameters()
    if len(grads) != len(params):
        raise _Failed(f"{len(params)} parameters but {len(grads)} gradients")
    for index, (param, grad) in enumerate(zip(params, grads, strict=True)):
        if param.shape != grad.shape or param.dtype != grad.dtype:
            raise _Failed(
                f"gradient {index} is {grad.dtype}{list(grad.shape)}, "
                f"its parameter {param.dtype}{list(param.shape)}"
            )


def _layer_gradient(spec: dict[str, Any], *, training: bool) -> None:
    module = build(_with_dtype(spec, registry.layers, "float64")).train(training)
    not_float64 = [p.dtype for p in module.parameters() if p.dtype != np.float64]
    if not_float64:
        raise _Failed(
            f"with dtype='float64' its parameters are still {not_float64[0]}: a layer with "
            f"parameters must take a 'dtype' argument so the kit can check it in float64"
        )
    inputs = _inputs(module, np.float64)
    with use_backend(_reference()):
        outputs = np.asarray(module.forward(inputs.copy()))
        if outputs.dtype != np.float64:
            raise _Failed(f"forward returned {outputs.dtype} for float64 inputs")
        mismatches = gradcheck.check_module(module, inputs, replay=training)
    if mismatches:
        raise _Failed("; ".join(str(m) for m in mismatches))


def _layer_parity(module: Module, inputs: np.ndarray, backend: str) -> None:
    replay = gradcheck.replayer(module)
    with use_backend(_reference()):
        expected = _forward_backward(module, inputs)
    replay()
    with use_backend(backend):
        actual = _forward_backward(module, inputs)
    names = ["output", "input gradient"] + [f"gradient {i}" for i in range(len(expected) - 2)]
    _compare_all(names, actual, expected, backend)


def _layer_round_trip(module: Module, inputs: np.ndarray) -> None:
    spec = spec_of(module)
    if json.loads(json.dumps(spec)) != spec:
        raise _Failed(f"spec_of gave {spec!r}, which changes through JSON")
    rebuilt = build(spec)
    if spec_of(rebuilt) != spec:
        raise _Failed(f"build({spec!r}) describes itself as {spec_of(rebuilt)!r}")
    _copy_parameters(module, rebuilt)
    rebuilt.train(module.training)
    with use_backend(_reference()):
        _compare_all(["output"], [rebuilt.forward(inputs)], [module.forward(inputs)], "rebuilt")


def _layer_save_load(module: Module, inputs: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.nnp"
        save(module, path)
        loaded = load(path)
    if spec_of(loaded) != spec_of(module):
        raise _Failed(f"loaded as {spec_of(loaded)!r}, saved as {spec_of(module)!r}")
    for index, (saved, restored) in enumerate(
        zip(module.parameters(), loaded.parameters(), strict=True)
    ):
        if saved.dtype != restored.dtype or not np.array_equal(saved, restored):
            raise _Failed(f"parameter {index} changed through save/load")
    loaded.train(module.training)
    with use_backend(_reference()):
        _compare_all(["output"], [loaded.forward(inputs)], [module.forward(inputs)], "loaded")


def _layer_mode_not_saved(module: Module) -> None:
    module.eval()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.nnp"
        save(module, path)
        loaded = load(path)
    if not loaded.training:
        raise _Failed("saved in eval mode, it loads in eval mode: the mode must not be saved")


# Shapes the C kernels are compared on: an empty batch, single elements, odd sizes, and
# sizes past any vector width or unrolling.
C_KERNEL_SHAPES = ((0, 5), (1, 1), (1, 7), (3, 5), (4, 33), (2, 1001), (1, 4099))


def _checked_kernels(module: Module) -> ExternKernels:
    problem = plugin_kernels.abi_problem(type(module))
    if problem is not None:
        _fail(problem)
    kernels = plugin_kernels.extern_kernels(module)
    if kernels is None:
        raise _Skip("no C kernels for these arguments (kernel_params() returned None)")
    if module.parameters():
        _fail(
            "C kernels are declared for a layer with parameters, whose gradients they "
            "cannot compute; kernel_params() must return None then"
        )
    return kernels


def _layer_c_kernels(module: Module) -> str:
    """The plugin's C kernels against the layer's own forward and backward on NumPy."""
    kernels = _checked_kernels(module)
    for seed in (0, 1):
        mismatch = plugin_kernels.compare_kernels(module, kernels, C_KERNEL_SHAPES, seed=seed)
        if mismatch is not None:
            _fail(mismatch)
    return f"{kernels.name} on shapes {', '.join(map(str, C_KERNEL_SHAPES))}"


def _layer_c_kernels_planned(module: Module) -> str:
    """Training with the kernels inside the C backend's plan, against training layer by
    layer on the reference backend."""
    kernels = _checked_kernels(module)
    if "c" not in registry.backends or REFERENCE_BACKEND not in registry.backends:
        _skip("needs the c and numpy backends")
    refusal = plugin_kernels.probe(module)
    if isinstance(refusal, str):
        _fail(f"the plan would not run them: {refusal}")
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
                    _fail(f"the training plan does not run {kernels.name} (steps: {steps})")
            optimizer = SGD(model, 0.05, momentum=0.9)
            train(model, x, y, MSE(), optimizer, 2, batch_size=8, verbose=False)
        trained.append(model.parameters())
    names = [f"parameter {i}" for i in range(len(trained[0]))]
    _compare_all(names, trained[0], trained[1], f"the plan with {kernels.name}")
    return f"2 epochs of a Linear-layer-Linear model, {kernels.name} in the plan"


def _copy_parameters(source: Module, target: Module) -> None:
    params, others = source.parameters(), target.parameters()
    if len(params) != len(others):
        raise _Failed(f"rebuilt with {len(others)} parameters instead of {len(params)}")
    for index, (param, other) in enumerate(zip(params, others, strict=True)):
        if param.shape != other.shape or param.dtype != other.dtype:
            raise _Failed(
                f"parameter {index} is {other.dtype}{list(other.shape)} when rebuilt, "
                f"{param.dtype}{list(param.shape)} originally"
            )
        other[...] = param


# --- losses ---------------------------------------------------------------------------------


def check_loss(name: str) -> Report:
    """Check the loss registered as ``name`` with each of its example arguments."""
    report = Report()
    for checker, spec in _each_example(report, name, "loss", registry.losses[name]):
        _check_loss_example(checker, spec)
    return report


def _check_loss_example(checker: _Checker, spec: dict[str, Any]) -> None:
    built: list[Loss] = []
    if not checker.run("build", lambda: built.append(build_loss(spec))):
        return
    (loss,) = built
    checker.run("gradient (float64)", lambda: _loss_gradient(loss))
    _run_parity(checker, lambda backend: _loss_parity(loss, backend))
    checker.run("spec round trip", lambda: _loss_round_trip(loss))


def _loss_inputs(dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """One-hot targets and probability rows (a softmax of random scores)."""
    rng = np.random.default_rng(2)
    scores = rng.standard_normal((_BATCH, _FEATURES))
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    targets = np.eye(_FEATURES)[rng.integers(0, _FEATURES, _BATCH)]
    return targets.astype(dtype), probs.astype(dtype)


def _loss_values(loss: Loss, dtype: type) -> list[np.ndarray]:
    targets, probs = _loss_inputs(dtype)
    return [np.asarray(loss.loss(targets, probs)), np.asarray(loss.loss_prime(targets, probs))]


def _loss_gradient(loss: Loss) -> None:
    with use_backend(_reference()):
        mismatches = gradcheck.check_loss(loss, *_loss_inputs(np.float64))
    if mismatches:
        raise _Failed("; ".join(str(m) for m in mismatches))


def _loss_parity(loss: Loss, backend: str) -> None:
    with use_backend(_reference()):
        expected = _loss_values(loss, np.float32)
    with use_backend(backend):
        actual = _loss_values(loss, np.float32)
    _compare_all(["loss", "loss_prime"], actual, expected, backend)


def _loss_round_trip(loss: Loss) -> None:
    spec = spec_of(loss)
    rebuilt = build_loss(json.loads(json.dumps(spec)))
    if spec_of(rebuilt) != spec:
        raise _Failed(f"build_loss({spec!r}) describes itself as {spec_of(rebuilt)!r}")
    with use_backend(_reference()):
        actual, expected = _loss_values(rebuilt, np.float64), _loss_values(loss, np.float64)
    _compare_all(["loss", "loss_prime"], actual, expected, "rebuilt", np.float64)


# --- optimizers -----------------------------------------------------------------------------


def check_optimizer(name: str) -> Report:
    """Check the optimizer registered as ``name`` with each of its example arguments."""
    report = Report()
    for checker, spec in _each_example(report, name, "optimizer", registry.optimizers[name]):
        _check_optimizer_example(checker, spec)
    return report


def _check_optimizer_example(checker: _Checker, spec: dict[str, Any]) -> None:
    if not checker.run("build", lambda: _small_optimizer(spec)):
        return
    checker.run("steps decrease the loss", lambda: _optimizer_descent(spec))
    _run_parity(checker, lambda backend: _optimizer_parity(spec, backend))
    checker.run("spec round trip", lambda: _optimizer_round_trip(spec))


def _regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    return x, (x @ rng.standard_normal((2, 4)).T).astype(np.float32)


def _trained(
    spec: dict[str, Any], backend: str | Backend, steps: int
) -> tuple[Module, list[float]]:
    """Train a fresh ``Linear(4, 2)`` for ``steps`` full-batch steps; return it and its losses."""
    x, y = _regression()
    model, loss = Linear(4, 2, rng=np.random.default_rng(4)), MSE()
    losses = []
    with use_backend(backend):
        optimizer = build_optimizer(spec, model)
        for _ in range(steps + 1):
            outputs = model.forward(x)
            losses.append(loss.loss(y, outputs))
            model.backward(loss.loss_prime(y, outputs))
            optimizer.step()
            optimizer.zero_gradients()
    return model, losses


def _optimizer_descent(spec: dict[str, Any]) -> str:
    _, losses = _trained(spec, _reference(), steps=20)
    if not np.all(np.isfinite(losses)) or not losses[-1] < losses[0]:
        raise _Failed(f"the loss went from {losses[0]:.4g} to {losses[-1]:.4g} in 20 steps")
    return f"loss {losses[0]:.4g} -> {losses[-1]:.4g} in 20 steps"


def _optimizer_parity(spec: dict[str, Any], backend: str) -> None:
    expected, _ = _trained(spec, _reference(), steps=3)
    actual, _ = _trained(spec, backend, steps=3)
    names = [f"parameter {i} after 3 steps" for i in range(len(expected.parameters()))]
    _compare_all(names, actual.parameters(), expected.parameters(), backend)


def _small_optimizer(spec: dict[str, Any]) -> Optimizer:
    """The optimizer ``spec`` describes, for a fresh ``Linear(4, 2)``."""
    return build_optimizer(spec, Linear(4, 2, rng=np.random.default_rng(4)))


def _optimizer_round_trip(spec: dict[str, Any]) -> None:
    optimizer = _small_optimizer(spec)
    described = spec_of(optimizer)
    rebuilt = build_optimizer(json.loads(json.dumps(described)), optimizer.module)
    if spec_of(rebuilt) != described:
        raise _Failed(f"build_optimizer({described!r}) describes itself as {spec_of(rebuilt)!r}")


# --- backends -------------------------------------------------------------------------------

_Case = tuple[str, tuple[Any, ...]]


def _kernel_cases(dtype: np.dtype) -> dict[str, list[_Case]]:
    """Arguments for every kernel of the Backend contract, as ``(label, args)`` pairs."""
    rng = np.random.default_rng(5)

    def array(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(dtype)

    def adam_buffers() -> tuple[np.ndarray, ...]:
        """Parameter, gradient, first and second moments (the second is never negative)."""
        return array(4, 5), array(4, 5), array(4, 5), np.abs(array(4, 5))

    probs = np.abs(array(3, 4)) + 0.1
    probs /= probs.sum(axis=1, keepdims=True)
    targets = np.eye(4, dtype=dtype)[[0, 3, 1]]
    outputs = {
        "tanh": np.tanh(array(3, 5)),
        "sigmoid": 1 / (1 + np.exp(-array(3, 5))),
        "relu": np.maximum(array(3, 5), 0),
    }
    return {
        "linear_forward": [("", (array(3, 5), array(4, 5), array(4)))],
        "linear_input_grad": [("", (array(3, 4), array(4, 5)))],
        "linear_param_grads": [("", (array(3, 4), array(3, 5), array(4, 5), array(4)))],
        "activation_forward": [(kind, (kind, array(3, 5, scale=3))) for kind in ACTIVATION_KINDS],
        "activation_backward": [
            (kind, (kind, outputs[kind].astype(dtype), array(3, 5))) for kind in ACTIVATION_KINDS
        ],
        "softmax": [("", (array(3, 4),)), ("logits of 1e4", (array(3, 4, scale=1e4),))],
        "softmax_backward": [("", (probs.copy(), array(3, 4)))],
        "cross_entropy": [
            ("", (probs.copy(), targets.copy())),
            ("a zero probability", (targets[[1, 0, 2]].copy(), targets.copy())),
        ],
        "softmax_cross_entropy_grad": [("", (probs.copy(), targets.copy(), 1 / 3))],
        "sgd_step": [("", (array(4, 5), array(4, 5), array(4, 5), 0.1, 0.9))],
        "adam_step": [
            (f"step {step}", (*adam_buffers(), 0.01, 0.9, 0.999, 1e-8, step)) for step in (1, 7)
        ],
        "rmsprop_step": [("", (array(4, 5), array(4, 5), np.abs(array(4, 5)), 0.01, 0.9, 1e-7))],
        "squared_error": [("", (array(3, 4), array(3, 4)))],
        "squared_error_grad": [("", (array(3, 4), array(3, 4), 2 / 12))],
        "dropout_forward": [(f"rate {rate}", (array(3, 5), rate, 12345, 7)) for rate in (0.0, 0.3)],
        "dropout_backward": [
            ("", (np.where(array(3, 5) > 0, 2.0, 0.0).astype(dtype), array(3, 5)))
        ],
        # Images (2, 3, 5, 6), 3x2 filters, stride (2, 1), padding 1: outputs (2, 4, 3, 7).
        "conv2d_forward": [("", (array(2, 3, 5, 6), array(4, 3, 3, 2), array(4), (2, 1), (1, 1)))],
        "conv2d_input_grad": [("", (array(2, 4, 3, 7), array(4, 3, 3, 2), (5, 6), (2, 1), (1, 1)))],
        "conv2d_param_grads": [
            (
                "",
                (array(2, 4, 3, 7), array(2, 3, 5, 6), array(4, 3, 3, 2), array(4), (2, 1), (1, 1)),
            )
        ],
        "maxpool2d_forward": [("", (array(2, 3, 5, 6), (2, 2), (2, 2)))],
        "maxpool2d_backward": [("", (array(2, 3, 5, 6), array(2, 3, 2, 3), (2, 2), (2, 2)))],
    }


KERNELS = tuple(_kernel_cases(np.dtype(np.float64)))
"""The kernels the kit checks; the whole abstract surface of ``Backend``."""


def check_backend(name: str) -> Report:
    """Check every kernel of the backend registered as ``name`` against the reference."""
    report = Report()
    checker = _Checker(report, name, "backend")
    built: list[Backend] = []
    if not checker.run("build", lambda: built.append(get_backend(name))):
        return report
    reference = get_backend(REFERENCE_BACKEND) if REFERENCE_BACKEND in registry.backends else None
    for kernel in KERNELS:
        checker.run(
            f"kernel {kernel}", functools.partial(_kernel_parity, built[0], reference, kernel)
        )
    return report


def _kernel_parity(backend: Backend, reference: Backend | None, kernel: str) -> None:
    for dtype in _TOLERANCE:
        for label, args in _kernel_cases(dtype)[kernel]:
            where = f"{dtype}{f', {label}' if label else ''}"
            actual = _call_kernel(backend, kernel, args)
            _kernel_invariants(kernel, actual, args, where)
            if reference is not None:
                expected = _call_kernel(reference, kernel, args)
                results = len(expected) - len(args)
                names = [f"result {i}" if results > 1 else "result" for i in range(results)]
                names += [f"argument {i} after the call" for i in range(len(args))]
                names = [f"{name} ({where})" for name in names]
                _compare_all(names, actual, expected, backend.name, dtype)
    if reference is None:
        raise _Skip(f"the {REFERENCE_BACKEND!r} reference backend is not installed")


def _call_kernel(backend: Backend, kernel: str, args: tuple[Any, ...]) -> list[Any]:
    """Call ``kernel`` on copies of ``args``; return its result and the arguments afterwards."""
    copies = copy.deepcopy(args)
    result = getattr(backend, kernel)(*copies)
    results = list(result) if isinstance(result, tuple) else [result]
    return [*results, *copies]


def _kernel_invariants(kernel: str, actual: list[Any], args: tuple[Any, ...], where: str) -> None:
    result = actual[0]
    if isinstance(result, np.ndarray):
        dtype = next(a.dtype for a in args if isinstance(a, np.ndarray))
        if result.dtype != dtype or not np.all(np.isfinite(result)):
            raise _Failed(f"{kernel} ({where}) returned non-finite values or dtype {result.dtype}")
    if kernel == "softmax" and not np.allclose(result.sum(axis=1), 1, rtol=1e-5):
        raise _Failed(f"softmax ({where}): rows do not sum to 1")
    if kernel == "cross_entropy" and not np.isfinite(result):
        raise _Failed(f"cross_entropy ({where}) returned {result}")


# --- comparing --------------------------------------------------------------------------------


def _run_parity(checker: _Checker, check_one: Callable[[str], None], suffix: str = "") -> None:
    """Run ``check_one(backend)`` as a check for every installed backend but the reference."""
    if REFERENCE_BACKEND not in registry.backends:
        reason = f"the {REFERENCE_BACKEND!r} reference backend is not installed"
        checker.run(f"parity{suffix}", lambda: _skip(reason))
        return
    for backend in registry.backends:
        if backend != REFERENCE_BACKEND:
            checker.run(f"parity {backend}{suffix}", functools.partial(check_one, backend))


def _reference() -> str | Backend:
    """The reference backend, or the current one when the reference is not installed."""
    if REFERENCE_BACKEND in registry.backends:
        return REFERENCE_BACKEND
    return current_backend()


def _compare_all(
    names: list[str],
    actual: list[Any],
    expected: list[Any],
    source: str,
    dtype: type | np.dtype = np.float32,
) -> None:
    """Raise _Failed naming the first of ``actual`` not close to ``expected`` for ``dtype``."""
    if len(actual) != len(expected):
        raise _Failed(f"{source}: {len(actual)} results, the reference has {len(expected)}")
    for name, got, want in zip(names, actual, expected, strict=True):
        if not isinstance(want, (np.ndarray, float, np.floating)):
            continue
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            raise _Failed(f"{name}: {source} gives shape {got.shape}, the reference {want.shape}")
        rtol, atol = _TOLERANCE[np.dtype(dtype)]
        scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
        if not np.allclose(got, want, rtol=rtol, atol=atol * scale):
            error = float(np.max(np.abs(got.astype(np.float64) - want)))
            raise _Failed(
                f"{name}: {source} differs from the reference by up to {error:.3g} "
                f"(tolerance rtol={rtol:g}, atol={atol * scale:.3g})"
            )


def _fail(message: str) -> None:
    raise _Failed(message)


def _skip(message: str) -> None:
    raise _Skip(message)


_KIND_CHECKS: tuple[tuple[registry.Registry, Callable[[str], Report]], ...] = (
    (registry.layers, check_layer),
    (registry.losses, check_loss),
    (registry.optimizers, check_optimizer),
    (registry.backends, check_backend),
)
