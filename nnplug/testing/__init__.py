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

import functools
import re
from collections.abc import Callable, Iterable

from nnplug import plugins, registry
from nnplug.testing.backends import KERNELS, check_backend
from nnplug.testing.compare import REFERENCE_BACKEND
from nnplug.testing.examples import examples_of
from nnplug.testing.layers import check_layer
from nnplug.testing.losses import check_loss
from nnplug.testing.optimizers import check_optimizer
from nnplug.testing.results import Checker, CheckResult, Report, fail, skip

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
                checker = Checker(report, match.group(1) if match else "-", "plugin")
                checker.run("load", functools.partial(fail, problem))
    return report


def check_plugin(plugin_name: str) -> Report:
    """Check every component the plugin ``plugin_name`` registers, and that it loaded cleanly."""
    report = Report()
    checker = Checker(report, plugin_name, "plugin")
    known = plugin_names()
    problems = [p for p in registry.problems() if p.startswith(f"plugin {plugin_name!r}")]
    if plugin_name not in known and not problems:
        checker.run(
            "load",
            lambda: fail(
                f"no plugin named {plugin_name!r} is registered; registered plugins: "
                f"{', '.join(known) or 'none'}"
            ),
        )
        return report
    checker.run("load", lambda: fail("; ".join(problems)) if problems else None)
    found = 0
    for kind, check in _KIND_CHECKS:
        for name in kind:
            if kind.provider(name).name == plugin_name:
                found += 1
                report.extend(check(name))
    if not found and not problems:
        checker.run("components", lambda: skip("registers no components in this environment"))
    return report


def assert_plugin_conforms(plugin_name: str) -> None:
    """Fail (AssertionError, listing every failed check) unless ``plugin_name`` conforms."""
    report = check_plugin(plugin_name)
    if not report.passed:
        lines = "\n".join(f"  - {failure}" for failure in report.failures)
        raise AssertionError(f"plugin {plugin_name!r} does not conform:\n{lines}")


_KIND_CHECKS: tuple[tuple[registry.Registry, Callable[[str], Report]], ...] = (
    (registry.layers, check_layer),
    (registry.losses, check_loss),
    (registry.optimizers, check_optimizer),
    (registry.backends, check_backend),
)
