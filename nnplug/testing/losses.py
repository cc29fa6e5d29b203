"""The kit's checks of a loss."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from nnplug import gradcheck, registry
from nnplug.backends import use_backend
from nnplug.losses import Loss
from nnplug.spec import build_loss, spec_of
from nnplug.testing.compare import compare_all, reference, run_parity
from nnplug.testing.examples import BATCH, FEATURES, each_example
from nnplug.testing.results import Checker, Failed, Report


def check_loss(name: str) -> Report:
    """Check the loss registered as ``name`` with each of its example arguments."""
    report = Report()
    for checker, spec in each_example(report, name, "loss", registry.losses[name]):
        _check_loss_example(checker, spec)
    return report


def _check_loss_example(checker: Checker, spec: dict[str, Any]) -> None:
    built: list[Loss] = []
    if not checker.run("build", lambda: built.append(build_loss(spec))):
        return
    (loss,) = built
    checker.run("gradient (float64)", lambda: _loss_gradient(loss))
    run_parity(checker, lambda backend: _loss_parity(loss, backend))
    checker.run("spec round trip", lambda: _loss_round_trip(loss))


def _loss_inputs(dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """One-hot targets and probability rows (a softmax of random scores)."""
    rng = np.random.default_rng(2)
    scores = rng.standard_normal((BATCH, FEATURES))
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    targets = np.eye(FEATURES)[rng.integers(0, FEATURES, BATCH)]
    return targets.astype(dtype), probs.astype(dtype)


def _loss_values(loss: Loss, dtype: type) -> list[np.ndarray]:
    targets, probs = _loss_inputs(dtype)
    return [np.asarray(loss.loss(targets, probs)), np.asarray(loss.loss_prime(targets, probs))]


def _loss_gradient(loss: Loss) -> None:
    with use_backend(reference()):
        mismatches = gradcheck.check_loss(loss, *_loss_inputs(np.float64))
    if mismatches:
        raise Failed("; ".join(str(m) for m in mismatches))


def _loss_parity(loss: Loss, backend: str) -> None:
    with use_backend(reference()):
        expected = _loss_values(loss, np.float32)
    with use_backend(backend):
        actual = _loss_values(loss, np.float32)
    compare_all(["loss", "loss_prime"], actual, expected, backend)


def _loss_round_trip(loss: Loss) -> None:
    spec = spec_of(loss)
    rebuilt = build_loss(json.loads(json.dumps(spec)))
    if spec_of(rebuilt) != spec:
        raise Failed(f"build_loss({spec!r}) describes itself as {spec_of(rebuilt)!r}")
    with use_backend(reference()):
        actual, expected = _loss_values(rebuilt, np.float64), _loss_values(loss, np.float64)
    compare_all(["loss", "loss_prime"], actual, expected, "rebuilt", np.float64)
