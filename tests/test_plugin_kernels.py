"""Plugin layers' own C kernels (nnplug_plugin.h): the header, registration and its checks,
the training plan's extern step, and the conformance kit.

The test plugins are compiled here with cffi into a temporary directory, against the header
``nnplug.get_include()`` gives, as a plugin's build would."""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import nnplug
from nnplug import cli, losses, modules, optimizers, plugin_kernels, trainer
from nnplug.backends.plan import KernelStep, PythonStep
from nnplug.planner import training_plan
from nnplug.plugin_kernels import ElementwiseKernels
from nnplug.plugins import PluginWarning
from nnplug.testing import check_plugin

pytestmark = pytest.mark.skipif(
    "c" not in nnplug.registry.backends, reason="the C extension is not built"
)

CFLAGS = os.environ.get("NNPLUG_CFLAGS", "")
LDFLAGS = os.environ.get("NNPLUG_LDFLAGS", "")

# y = a x^2, in several variants: right, with a wrong backward, built against another ABI
# version, failing on large sizes, and counting its calls.
SOURCE = r"""
#include "nnplug_plugin.h"

static long calls;
long square_calls(void) { return __atomic_load_n(&calls, __ATOMIC_RELAXED); }

NNPLUG_PLUGIN_ABI_VERSION_FUNCTION(square)
int square_forward(ptrdiff_t size, const float *x, float *y, const double *params)
{
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED); /* threads call it at once */
    for (ptrdiff_t i = 0; i < size; i++) y[i] = (float)params[0] * x[i] * x[i];
    return 0;
}
int square_backward(ptrdiff_t size, const float *x, const float *y, const float *dy,
                    float *dx, const double *params)
{
    (void)y;
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    for (ptrdiff_t i = 0; i < size; i++) dx[i] = dy[i] * 2.0f * (float)params[0] * x[i];
    return 0;
}

NNPLUG_PLUGIN_ABI_VERSION_FUNCTION(wrong)
int wrong_forward(ptrdiff_t size, const float *x, float *y, const double *params)
{
    return square_forward(size, x, y, params);
}
int wrong_backward(ptrdiff_t size, const float *x, const float *y, const float *dy,
                   float *dx, const double *params)
{
    (void)y;
    for (ptrdiff_t i = 0; i < size; i++) dx[i] = dy[i] * (float)params[0] * x[i];
    return 0;
}

int stale_abi_version(void) { return NNPLUG_PLUGIN_ABI_VERSION + 1; }
int stale_forward(ptrdiff_t size, const float *x, float *y, const double *params)
{
    return square_forward(size, x, y, params);
}
int stale_backward(ptrdiff_t size, const float *x, const float *y, const float *dy,
                   float *dx, const double *params)
{
    return square_backward(size, x, y, dy, dx, params);
}

NNPLUG_PLUGIN_ABI_VERSION_FUNCTION(fragile)
int fragile_forward(ptrdiff_t size, const float *x, float *y, const double *params)
{
    return size > 64 ? 5 : square_forward(size, x, y, params);
}
int fragile_backward(ptrdiff_t size, const float *x, const float *y, const float *dy,
                     float *dx, const double *params)
{
    return square_backward(size, x, y, dy, dx, params);
}
"""
CDEF = "long square_calls(void);\n" + "\n".join(
    f"""int {name}_abi_version(void);
int {name}_forward(ptrdiff_t, const float *, float *, const double *);
int {name}_backward(ptrdiff_t, const float *, const float *, const float *, float *,
                    const double *);"""
    for name in ("square", "wrong", "stale", "fragile")
)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The test plugins' cffi module, compiled against the installed header."""
    cffi = pytest.importorskip("cffi")
    builder = cffi.FFI()
    builder.cdef(CDEF)
    builder.set_source(
        "nnplug_test_square_kernels",
        SOURCE,
        include_dirs=[nnplug.get_include()],
        # The sanitizer job's flags, when it runs these tests.
        extra_compile_args=["-Wall", "-Wextra", "-Werror", *shlex.split(CFLAGS)],
        extra_link_args=shlex.split(LDFLAGS),
    )
    directory = tmp_path_factory.mktemp("kernels")
    path = builder.compile(tmpdir=str(directory))
    spec = importlib.util.spec_from_file_location("nnplug_test_square_kernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def square_class(compiled, prefix: str) -> type:
    """A plugin layer ``a * x**2`` whose C kernels are ``<prefix>_*``."""
    kernels = ElementwiseKernels.from_library(compiled.ffi, compiled.lib, prefix)

    class Square(modules.Module):
        c_kernels = kernels

        def __init__(self, a: float = 0.5, dtype: str = "float32") -> None:
            self.a = float(a)
            self.dtype = np.dtype(dtype)

        def forward(self, inputs):
            self.inputs = np.asarray(inputs, dtype=self.dtype)
            return (self.a * self.inputs * self.inputs).astype(self.dtype)

        def backward(self, output_grad):
            return (np.asarray(output_grad) * 2 * self.a * self.inputs).astype(self.dtype)

        def kernel_params(self):
            return (self.a,) if self.dtype == np.float32 else None

        def config(self):
            return {"a": self.a}

    Square.__name__ = Square.__qualname__ = f"Square_{prefix}"
    return Square


class Plugin:
    """A plugin registering one layer class under ``name``."""

    def __init__(self, name: str, cls: type) -> None:
        self.name, self.cls = name, cls

    @nnplug.hookimpl
    def nnplug_layers(self):
        return {self.name: self.cls}


_registered = iter(range(1_000_000))


@pytest.fixture
def register(compiled):
    """register(prefix) registers the layer with kernels ``prefix`` as plugin ``prefix``
    (with a number, new in every test, since plugin problems are reported once per text):
    the class's ``layer`` and ``plugin`` attributes say under which names."""
    names = []

    def register(prefix: str) -> type:
        cls = square_class(compiled, prefix)
        number = next(_registered)
        cls.layer, cls.plugin = f"{prefix}sq{number}", f"{prefix}plug{number}"
        nnplug.register_plugin(Plugin(cls.layer, cls), cls.plugin)
        names.append(cls.plugin)
        return cls

    yield register
    for name in names:
        nnplug.unregister_plugin(name)


def model(layer: modules.Module, seed: int = 0) -> modules.Sequential:
    nnplug.seed(seed)
    return modules.Sequential(
        [modules.Linear(10, 9), layer, modules.Linear(9, 3), modules.Softmax()]
    )


def data(samples: int = 203):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((samples, 10)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, samples)]
    return x, y


def trained(layer, backend, batch_size=16, epochs=2):
    net = model(layer)
    x, y = data()
    with nnplug.use_backend(backend):
        errors = trainer.train(
            net,
            x,
            y,
            losses.CrossEntropy(),
            optimizers.SGD(net, 0.1, momentum=0.9),
            epochs,
            batch_size=batch_size,
            verbose=False,
        )
    return errors, net.parameters()


def plan_steps(layer, backend="c"):
    net = model(layer)
    with nnplug.use_backend(backend):
        plan = training_plan(net, losses.CrossEntropy(), optimizers.SGD(net, 0.1), 10, 3)
    return plan.steps


# --- the header ---------------------------------------------------------------------------


def test_get_include_holds_the_header_of_the_version_nnplug_was_built_with():
    from nnplug._c.plugin_kernels import abi_version

    header = Path(nnplug.get_include()) / "nnplug_plugin.h"
    match = re.search(r"#define NNPLUG_PLUGIN_ABI_VERSION (\d+)", header.read_text())
    assert match and int(match.group(1)) == abi_version() == 1


# --- registration and the plan ---------------------------------------------------------------


def test_checked_kernels_run_inside_the_plan_and_match_the_numpy_path(register, compiled):
    cls = register("square")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        steps = plan_steps(cls())
        assert [getattr(s, "kernel", None) for s in steps][1] == "extern_elementwise"
        before = compiled.lib.square_calls()
        previous = nnplug.get_num_threads()
        for threads in (1, 2):
            nnplug.set_num_threads(threads)
            try:
                c_errors, c_params = trained(cls(), "c", batch_size=64)
            finally:
                nnplug.set_num_threads(previous)
            np_errors, np_params = trained(cls(), "numpy", batch_size=64)
            np.testing.assert_allclose(c_errors, np_errors, rtol=1e-5)
            for got, want in zip(c_params, np_params, strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # 2 epochs of 4 batches, a forward and a backward call each: on one thread, then on
    # two (each calls it on its own rows).
    assert compiled.lib.square_calls() - before == 2 * 4 * 2 * (1 + 2)


def test_the_numpy_backend_never_calls_the_kernels(register, compiled):
    cls = register("square")
    before = compiled.lib.square_calls()
    steps = plan_steps(cls(), backend="numpy")
    trained(cls(), "numpy")
    assert compiled.lib.square_calls() == before
    assert isinstance(steps[1], PythonStep)


def test_another_abi_version_is_refused_at_registration_naming_the_plugin(register, compiled):
    with pytest.warns(PluginWarning) as caught:
        cls = register("stale")
        assert cls.layer in nnplug.registry.layers
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert f"plugin {cls.plugin!r}" in messages[0] and repr(cls.layer) in messages[0]
    assert "ABI version 2" in messages[0] and "ABI version 1" in messages[0]
    assert messages[0] in nnplug.registry.problems()
    # The NumPy path still works, in the plan as a Python step, with no second warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(plan_steps(cls())[1], PythonStep)
        c_errors, _ = trained(cls(), "c")
    np.testing.assert_allclose(c_errors, trained(cls(), "numpy")[0], rtol=1e-5)


def test_kernels_that_disagree_with_the_numpy_definition_fall_back_with_one_warning(register):
    cls = register("wrong")
    with pytest.warns(PluginWarning) as caught:
        steps = plan_steps(cls())
        trained(cls(), "c")
        plan_steps(cls(a=0.5))
    assert isinstance(steps[1], PythonStep)
    (warning,) = caught
    message = str(warning.message)
    assert f"plugin {cls.plugin!r}" in message and "wrong_backward" in message
    assert "NumPy path" in message


def test_each_set_of_params_is_probed(register):
    """A probe passed for one beta says nothing about another; both are checked."""
    cls = register("square")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(plan_steps(cls(a=0.5))[1], KernelStep)
        assert isinstance(plan_steps(cls(a=-2.0))[1], KernelStep)
    assert {key[1] for key in plugin_kernels._probed if key[0] is cls} == {(0.5,), (-2.0,)}


def test_no_kernel_params_means_the_python_path(register):
    cls = register("square")
    assert isinstance(plan_steps(cls(dtype="float64"))[1], PythonStep)


def test_a_kernel_failing_inside_the_plan_stops_training_naming_it(register):
    cls = register("fragile")  # passes the small probe, fails on more than 64 elements
    with pytest.raises(RuntimeError, match=r"fragile_forward/fragile_backward.*error status"):
        trained(cls(), "c", batch_size=16)


def test_the_plan_refuses_an_extern_step_without_kernels():
    from nnplug._c.plan import CPlanRunner

    net = model(modules.Tanh())
    with nnplug.use_backend("c"):
        plan = training_plan(net, losses.CrossEntropy(), optimizers.SGD(net, 0.1), 10, 3)
    steps = list(plan.steps)
    steps[1] = KernelStep("extern_elementwise")
    bad = copy.copy(plan)
    object.__setattr__(bad, "steps", tuple(steps))
    with pytest.raises(ValueError, match="extern_elementwise.*no kernels"):
        CPlanRunner.build(bad)


def test_c_refuses_a_plan_whose_extern_step_has_null_kernels(register):
    from nnplug._native import ffi, lib

    from nnplug._c.plan import CPlanRunner

    cls = register("square")
    net = model(cls())
    with nnplug.use_backend("c"):
        plan = training_plan(net, losses.CrossEntropy(), optimizers.SGD(net, 0.1), 10, 3)
    runner = CPlanRunner.build(plan)
    runner._steps[1].ext = ffi.NULL  # past the Python checks: C checks again
    x, y = data(8)
    invalid = lib.NNP_PLAN_INVALID
    with pytest.raises(RuntimeError, match=f"nnp_plan_workspace_floats returned {invalid}"):
        runner.run(x, y, None, 4)


def test_declared_kernels_must_be_function_pointers():
    class Bogus(modules.Module):
        c_kernels = ElementwiseKernels(0, 12, "not a pointer")

        def kernel_params(self):
            return ()

    problem = plugin_kernels.abi_problem(Bogus)
    assert problem is not None and "Bogus" in problem and "function pointer" in problem


# --- the conformance kit ---------------------------------------------------------------------


def test_nnplug_check_passes_right_kernels(register, capsys):
    cls = register("square")
    assert cli.main(["check", cls.plugin]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"{cls.layer}\s+layer\s+C kernels\s+pass", out)
    assert re.search(rf"{cls.layer}\s+layer\s+C kernels in a training plan\s+pass", out)


def test_nnplug_check_fails_a_wrong_backward_naming_the_kernel(register, capsys):
    cls = register("wrong")
    report = check_plugin(cls.plugin)
    failures = {f.check: str(f) for f in report.failures}
    assert set(failures) == {"C kernels", "C kernels in a training plan"}
    assert re.search(
        r"C kernel wrong_backward disagrees .* on inputs of shape", failures["C kernels"]
    )
    assert "the plan would not run them" in failures["C kernels in a training plan"]
    assert "wrong_forward disagrees" not in " ".join(failures.values())
    assert cli.main(["check", cls.plugin]) == 1
    assert "wrong_backward" in capsys.readouterr().out


def test_nnplug_check_fails_an_abi_mismatch(register):
    with pytest.warns(PluginWarning):
        cls = register("stale")
        report = check_plugin(cls.plugin)
    assert any("ABI version 2" in str(f) for f in report.failures)


def test_nnplug_plugins_marks_layers_with_c_kernels(register, capsys):
    with pytest.warns(PluginWarning):
        good = register("square")
        stale = register("stale")
        assert cli.main(["plugins"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line}
    assert rows[good.layer][-1] == "yes"
    assert rows[stale.layer][-1] == "refused"
    assert rows["linear"][-1] == "-"


EXAMPLE = Path(__file__).resolve().parents[1] / "plugins" / "nnplug-example"


def example_build_module(monkeypatch):
    """The example plugin's build_ffi.py, imported from its directory."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    sys.modules.pop("build_ffi", None)
    try:
        import build_ffi
    finally:
        sys.modules.pop("build_ffi", None)
    return build_ffi


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_the_example_plugin_kernels_compile_without_warnings(tmp_path, monkeypatch):
    """csrc/swish.c under -Wall -Wextra -Werror with the example build's own flags."""
    example_build = example_build_module(monkeypatch)
    result = subprocess.run(
        ["gcc", *example_build._UNIX_ARGS, "-Werror", "-fPIC", "-I", nnplug.get_include()]
        + ["-c", str(EXAMPLE / "csrc" / "swish.c"), "-o", str(tmp_path / "swish.o")],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    assert result.returncode == 0, result.stderr


def test_the_example_plugin_header_is_found_outside_nnplug(monkeypatch):
    """The example plugin's build finds the header through $NNPLUG_INCLUDE first."""
    example_build = example_build_module(monkeypatch)
    assert example_build.nnplug_include({"NNPLUG_INCLUDE": "/somewhere"}) == "/somewhere"
    assert example_build.nnplug_include({}) == nnplug.get_include()
