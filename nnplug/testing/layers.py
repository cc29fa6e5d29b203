"""The kit's checks of a layer, in eval and in training mode."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nnplug import gradcheck, registry
from nnplug.backends import use_backend
from nnplug.modules.module import Module
from nnplug.serialization import load, save
from nnplug.spec import build, spec_of
from nnplug.testing.compare import compare_all, reference, run_parity
from nnplug.testing.examples import BATCH, FEATURES, each_example, with_dtype
from nnplug.testing.layer_kernels import layer_c_kernels, layer_c_kernels_planned
from nnplug.testing.results import Checker, Failed, Report


def check_layer(name: str) -> Report:
    """Check the layer registered as ``name`` with each of its example arguments."""
    report = Report()
    for checker, spec in each_example(report, name, "layer", registry.layers[name]):
        _check_layer_example(checker, spec)
    return report


def _check_layer_example(checker: Checker, spec: dict[str, Any]) -> None:
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
        run_parity(
            checker, lambda backend: _layer_parity(module, inputs, backend), suffix=f" ({mode})"
        )
    if getattr(type(module), "c_kernels", None) is not None:
        checker.run("C kernels", lambda: layer_c_kernels(module))
        checker.run("C kernels in a training plan", lambda: layer_c_kernels_planned(module))
    module.eval()
    checker.run("spec round trip", lambda: _layer_round_trip(module, inputs))
    checker.run("save/load", lambda: _layer_save_load(module, inputs))
    checker.run("mode not saved", lambda: _layer_mode_not_saved(module))


def _inputs(module: Module, dtype: type) -> np.ndarray:
    features = getattr(module, "input_size", None) or FEATURES
    return np.random.default_rng(0).standard_normal((BATCH, features)).astype(dtype)


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
    with use_backend(reference()):
        outputs, input_grad, *grads = _forward_backward(module, inputs)
    if outputs.dtype.kind != "f" or not np.all(np.isfinite(outputs)):
        raise Failed(f"forward returned non-finite or non-float outputs ({outputs.dtype})")
    if input_grad.shape != inputs.shape:
        raise Failed(
            f"backward returned shape {input_grad.shape}, the inputs' shape is {inputs.shape}"
        )
    params = module.parameters()
    if len(grads) != len(params):
        raise Failed(f"{len(params)} parameters but {len(grads)} gradients")
    for index, (param, grad) in enumerate(zip(params, grads, strict=True)):
        if param.shape != grad.shape or param.dtype != grad.dtype:
            raise Failed(
                f"gradient {index} is {grad.dtype}{list(grad.shape)}, "
                f"its parameter {param.dtype}{list(param.shape)}"
            )


def _layer_gradient(spec: dict[str, Any], *, training: bool) -> None:
    module = build(with_dtype(spec, registry.layers, "float64")).train(training)
    not_float64 = [p.dtype for p in module.parameters() if p.dtype != np.float64]
    if not_float64:
        raise Failed(
            f"with dtype='float64' its parameters are still {not_float64[0]}: a layer with "
            f"parameters must take a 'dtype' argument so the kit can check it in float64"
        )
    inputs = _inputs(module, np.float64)
    with use_backend(reference()):
        outputs = np.asarray(module.forward(inputs.copy()))
        if outputs.dtype != np.float64:
            raise Failed(f"forward returned {outputs.dtype} for float64 inputs")
        mismatches = gradcheck.check_module(module, inputs, replay=training)
    if mismatches:
        raise Failed("; ".join(str(m) for m in mismatches))


def _layer_parity(module: Module, inputs: np.ndarray, backend: str) -> None:
    replay = gradcheck.replayer(module)
    with use_backend(reference()):
        expected = _forward_backward(module, inputs)
    replay()
    with use_backend(backend):
        actual = _forward_backward(module, inputs)
    names = ["output", "input gradient"] + [f"gradient {i}" for i in range(len(expected) - 2)]
    compare_all(names, actual, expected, backend)


def _layer_round_trip(module: Module, inputs: np.ndarray) -> None:
    spec = spec_of(module)
    if json.loads(json.dumps(spec)) != spec:
        raise Failed(f"spec_of gave {spec!r}, which changes through JSON")
    rebuilt = build(spec)
    if spec_of(rebuilt) != spec:
        raise Failed(f"build({spec!r}) describes itself as {spec_of(rebuilt)!r}")
    _copy_parameters(module, rebuilt)
    rebuilt.train(module.training)
    with use_backend(reference()):
        compare_all(["output"], [rebuilt.forward(inputs)], [module.forward(inputs)], "rebuilt")


def _layer_save_load(module: Module, inputs: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.nnp"
        save(module, path)
        loaded = load(path)
    if spec_of(loaded) != spec_of(module):
        raise Failed(f"loaded as {spec_of(loaded)!r}, saved as {spec_of(module)!r}")
    for index, (saved, restored) in enumerate(
        zip(module.parameters(), loaded.parameters(), strict=True)
    ):
        if saved.dtype != restored.dtype or not np.array_equal(saved, restored):
            raise Failed(f"parameter {index} changed through save/load")
    loaded.train(module.training)
    with use_backend(reference()):
        compare_all(["output"], [loaded.forward(inputs)], [module.forward(inputs)], "loaded")


def _layer_mode_not_saved(module: Module) -> None:
    module.eval()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.nnp"
        save(module, path)
        loaded = load(path)
    if not loaded.training:
        raise Failed("saved in eval mode, it loads in eval mode: the mode must not be saved")


def _copy_parameters(source: Module, target: Module) -> None:
    params, others = source.parameters(), target.parameters()
    if len(params) != len(others):
        raise Failed(f"rebuilt with {len(others)} parameters instead of {len(params)}")
    for index, (param, other) in enumerate(zip(params, others, strict=True)):
        if param.shape != other.shape or param.dtype != other.dtype:
            raise Failed(
                f"parameter {index} is {other.dtype}{list(other.shape)} when rebuilt, "
                f"{param.dtype}{list(param.shape)} originally"
            )
        other[...] = param
