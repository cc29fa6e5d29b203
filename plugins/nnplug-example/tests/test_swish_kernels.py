"""The Swish C kernels (csrc/swish.c): built at install, checked by nnplug, run in the plan.

Without a C compiler the plugin installs without them and these tests skip, unless
NNPLUG_REQUIRE_NATIVE=1 (as in CI), which makes missing kernels a failure.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from nnplug_swish import Swish, swish

import nnplug
from nnplug import losses, modules, optimizers, registry, trainer
from nnplug.backends.plan import KernelStep, PythonStep
from nnplug.planner import training_plan
from nnplug.testing import check_plugin

REQUIRED = os.environ.get("NNPLUG_REQUIRE_NATIVE", "").strip().lower() not in (
    "",
    "0",
    "false",
    "no",
)
built = pytest.mark.skipif(
    swish.KERNELS is None and not REQUIRED, reason="the Swish C kernels were not built"
)
needs_c = pytest.mark.skipif("c" not in registry.backends, reason="nnplug's C backend is absent")


def test_kernels_were_built_when_required():
    if REQUIRED:
        assert swish.KERNELS is not None, "NNPLUG_REQUIRE_NATIVE=1 but csrc/swish.c was not built"


@built
def test_kernels_report_the_abi_version_of_the_header_they_were_built_with():
    from nnplug_swish._kernels import lib

    from nnplug._c.plugin_kernels import abi_version

    assert lib.swish_abi_version() == abi_version()


@built
def test_kernels_match_the_definition_in_float64_at_extremes():
    from nnplug_swish._kernels import ffi, lib

    x = np.array([-100, -88, -30, -1e-3, 0, 1e-6, 0.5, 3, 30, 88, 100], dtype=np.float32)
    for beta in (1.0, 0.5, -1.25):
        exact_x = x.astype(np.float64)
        gate = 1 / (1 + np.exp(-beta * exact_x))
        params = ffi.new("double[]", [beta])
        y = np.empty_like(x)
        dx = np.empty_like(x)
        dy = np.ones_like(x)

        def ptr(a):
            return ffi.from_buffer("float[]", a)

        assert lib.swish_forward(x.size, ptr(x), ptr(y), params) == 0
        assert lib.swish_backward(x.size, ptr(x), ptr(y), ptr(dy), ptr(dx), params) == 0
        np.testing.assert_allclose(y, exact_x * gate, rtol=2e-6, atol=1e-30)
        slope = gate + beta * exact_x * gate * (1 - gate)
        np.testing.assert_allclose(dx, slope, rtol=2e-6, atol=1e-6)


@built
def test_the_kit_checks_the_kernels():
    report = check_plugin("swish")
    results = {(r.check, r.example): r for r in report}
    for example in ("", "beta=0.5"):
        assert results[("C kernels", example)].passed
        assert not results[("C kernels", example)].skipped
        assert results[("C kernels in a training plan", example)].passed
    assert results[("C kernels", "beta=1.5, trainable=true")].skipped


def _model(layer):
    nnplug.seed(0)
    return modules.Sequential(
        [modules.Linear(12, 10), layer, modules.Linear(10, 4), modules.Softmax()]
    )


@built
@needs_c
def test_the_plan_runs_the_kernels_for_a_fixed_beta_and_python_for_a_learned_one():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no refusal on the way
        with nnplug.use_backend("c"):
            for layer, kind in ((Swish(1.0), KernelStep), (Swish(trainable=True), PythonStep)):
                model = _model(layer)
                plan = training_plan(model, losses.CrossEntropy(), optimizers.SGD(model), 12, 4)
                assert isinstance(plan.steps[1], kind)


@built
@needs_c
def test_training_with_the_kernels_matches_the_numpy_backend():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((150, 12)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 150)]
    results = {}
    for backend in ("c", "numpy"):
        model = _model(Swish(0.8))
        with nnplug.use_backend(backend):
            errors = trainer.train(
                model,
                x,
                y,
                losses.CrossEntropy(),
                optimizers.SGD(model, 0.1, momentum=0.9),
                3,
                batch_size=32,
                verbose=False,
            )
        results[backend] = errors, model.parameters()
    np.testing.assert_allclose(results["c"][0], results["numpy"][0], rtol=1e-5)
    for got, want in zip(results["c"][1], results["numpy"][1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
