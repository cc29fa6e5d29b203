"""The kit's checks of an optimizer, on a small regression problem."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from nnplug import registry
from nnplug.backends import Backend, use_backend
from nnplug.losses import MSE
from nnplug.modules.linear import Linear
from nnplug.modules.module import Module
from nnplug.optimizers import Optimizer
from nnplug.spec import build_optimizer, spec_of
from nnplug.testing.compare import compare_all, reference, run_parity
from nnplug.testing.examples import each_example
from nnplug.testing.results import Checker, Failed, Report


def check_optimizer(name: str) -> Report:
    """Check the optimizer registered as ``name`` with each of its example arguments."""
    report = Report()
    for checker, spec in each_example(report, name, "optimizer", registry.optimizers[name]):
        _check_optimizer_example(checker, spec)
    return report


def _check_optimizer_example(checker: Checker, spec: dict[str, Any]) -> None:
    if not checker.run("build", lambda: _small_optimizer(spec)):
        return
    checker.run("steps decrease the loss", lambda: _optimizer_descent(spec))
    run_parity(checker, lambda backend: _optimizer_parity(spec, backend))
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
    _, losses = _trained(spec, reference(), steps=20)
    if not np.all(np.isfinite(losses)) or not losses[-1] < losses[0]:
        raise Failed(f"the loss went from {losses[0]:.4g} to {losses[-1]:.4g} in 20 steps")
    return f"loss {losses[0]:.4g} -> {losses[-1]:.4g} in 20 steps"


def _optimizer_parity(spec: dict[str, Any], backend: str) -> None:
    expected, _ = _trained(spec, reference(), steps=3)
    actual, _ = _trained(spec, backend, steps=3)
    names = [f"parameter {i} after 3 steps" for i in range(len(expected.parameters()))]
    compare_all(names, actual.parameters(), expected.parameters(), backend)


def _small_optimizer(spec: dict[str, Any]) -> Optimizer:
    """The optimizer ``spec`` describes, for a fresh ``Linear(4, 2)``."""
    return build_optimizer(spec, Linear(4, 2, rng=np.random.default_rng(4)))


def _optimizer_round_trip(spec: dict[str, Any]) -> None:
    optimizer = _small_optimizer(spec)
    described = spec_of(optimizer)
    rebuilt = build_optimizer(json.loads(json.dumps(described)), optimizer.module)
    if spec_of(rebuilt) != described:
        raise Failed(f"build_optimizer({described!r}) describes itself as {spec_of(rebuilt)!r}")
